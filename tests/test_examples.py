"""The examples run as a new user runs them: from an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_quickstart_runs_from_an_empty_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    script = PROJECT_ROOT / "examples" / "quickstart.py"
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert "mlflow models serve -m models:/quickstart-tf1/1" in result.stdout
    assert (tmp_path / "mlflow.db").exists()
