"""What every command shares: the user-error type, stderr progress, and flag parsing.

Nothing here imports MLflow, TensorFlow, numpy or pandas, so that importing the
CLI for ``--help`` or an argument error stays instant.
"""

from __future__ import annotations

import sys

import click

ALLOW_UNSAFE_HELP = (
    "Load the graph even if it reaches file-system, Python-callback or network ops "
    "(see docs/trust-model.md). Only for models you trust."
)


class CliError(click.ClickException):
    """A user error: one ``Error: ...`` line on stderr, exit code 2, no traceback."""

    exit_code = 2

    def __init__(self, message: str):
        # MLflow and TensorFlow messages can span lines; a shell error should not.
        super().__init__(" ".join(line.strip() for line in message.splitlines() if line.strip()))


def status(message: str) -> None:
    """Progress on stderr, so stdout stays clean for results and ``--json``."""
    click.echo(message, err=True)


def load_tensorflow() -> None:
    """Imports TensorFlow, announced first: it takes seconds and the shell should say why."""
    if "tensorflow" not in sys.modules:
        status("Loading TensorFlow...")
        import tensorflow  # noqa: F401


def tag_list(value: str | None) -> list[str] | None:
    """``serve,gpu`` -> ``["serve", "gpu"]``; None keeps the library's default choice."""
    if value is None:
        return None
    tags = [t.strip() for t in value.split(",") if t.strip()]
    if not tags:
        raise CliError("--meta-graph-tags needs at least one tag, e.g. --meta-graph-tags serve.")
    return tags


def key_values(pairs: tuple[str, ...], flag: str = "--tags") -> dict[str, str]:
    """Repeated ``KEY=VALUE`` flags as a dict; the value may itself contain ``=``."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{flag} expects KEY=VALUE; got '{pair}'.")
        result[key.strip()] = value
    return result
