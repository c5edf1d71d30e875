"""(f) Peak RSS of a loaded model, measured in child processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import fixtures
from benchmarks.harness import Goal, Row

CHILD = Path(__file__).resolve().parent / "rss_child.py"
# Linux carries the parent's peak RSS into ru_maxrss across fork + exec (exec
# folds the forked copy of the parent's memory map into the high-water mark).
# A shell that forks the child for us breaks the chain; "; exit" stops the
# shell from exec'ing the command in place.
_VIA_SHELL = ["/bin/sh", "-c", '"$@"; exit $?', "sh"]


def _loaded_mb(mode: str, model_dir: Path) -> float:
    """Peak RSS growth from load + one prediction, over the imports-only baseline."""
    result = subprocess.run(
        [*_VIA_SHELL, sys.executable, str(CHILD), mode, str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rss child ({mode}) failed: {result.stderr.strip()[-500:]}")
    marks = json.loads(result.stdout.strip().splitlines()[-1])
    return marks["loaded_mb"] - marks["baseline_mb"]


def rss_rows(flavored: Path) -> list[Row]:
    """The taxi export: the raw Session loader vs ``mlflow.pyfunc.load_model``.

    One child each, run one after the other (never both at once on a shared
    machine); the ratio is of the two growths.
    """
    raw = _loaded_mb("raw", fixtures.TAXI_EXPORT)
    pyfunc = _loaded_mb("pyfunc", flavored)
    case = "(f) taxi peak RSS, load + 1 predict"
    return [
        Row.judged(case, "raw Session loader **[raw]**", f"+{raw:.0f} MB", 1.0, None),
        Row.judged(case, "mlflow.pyfunc.load_model", f"+{pyfunc:.0f} MB", pyfunc / raw, Goal(1.2)),
    ]
