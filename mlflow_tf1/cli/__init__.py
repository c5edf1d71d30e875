"""The ``mlflow-tf1`` command: inspect, log and batch-score TF1 SavedModels from the shell.

Every command is a thin layer over the library (``metadata``, ``examples``,
``runtime``, ``flavor``) and over MLflow's own serving parsers, so the shell
sees exactly what ``mlflow_tf1.log_model`` and ``mlflow models serve`` do. One
module per job: ``inspect`` (its text form in ``render``), ``log``, ``predict``
(its files in ``files``), ``migrate`` (with ``export-serving``), ``serve``. This module
holds the group: the global options, and the one place where the library's
user-facing errors become one ``Error: ...`` line and exit code 2.

MLflow, TensorFlow, numpy and pandas are imported inside the command bodies
only, so ``--help``, argument errors and bad paths never wait for them.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import click

from mlflow_tf1.cli import inspect, log, migrate, predict, serve
from mlflow_tf1.cli.common import CliError

__all__ = ["CliError", "cli"]

# TensorFlow's C++ start-up chatter would bury the command's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _Group(click.Group):
    """Turns the library's user-facing exceptions into `CliError` in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            message = _user_error_message(e)
            if message is None:
                raise  # a bug: keep the traceback
            raise CliError(message) from None


def _user_error_message(error: Exception) -> str | None:
    """The message of an error the user can fix (bad model, bad path, bad data), else None."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException):
        return error.message
    if isinstance(error, OSError):
        return str(error)
    return None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlflow-tf1")
@click.option(
    "-v", "--verbose", is_flag=True, help="Also show TensorFlow's warnings (hidden by default)."
)
def cli(verbose: bool) -> None:
    """Legacy TensorFlow 1.x SavedModels as MLflow models, from the shell.

    \b
    Examples:
      mlflow-tf1 inspect ./export/00000123
      mlflow-tf1 log ./export --registered-model-name half_plus_two
      mlflow-tf1 predict models:/half_plus_two/1 --input rows.csv --output scores.csv

    Models are logged to MLFLOW_TRACKING_URI (or MLflow's default store).
    User errors print one 'Error: ...' line and exit with code 2.
    """
    if not verbose:
        # TF1 graphs make TensorFlow warn once per reference variable and per
        # signature; those warnings would drown the command's own output.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


cli.add_command(inspect.inspect)
cli.add_command(log.log)
cli.add_command(predict.predict)
cli.add_command(migrate.migrate)
cli.add_command(migrate.export_serving)
cli.add_command(serve.serve)
