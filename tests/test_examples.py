"""The examples run as a new user runs them: from an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT


def run_example(name: str, folder) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}"
    script = PROJECT_ROOT / "examples" / name
    result = subprocess.run(
        [sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True,
        check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert (folder / "mlflow.db").exists()  # MLflow's embedded store, in the current folder
    return result.stdout


def test_quickstart_runs_from_an_empty_folder(tmp_path):
    out = run_example("quickstart.py", tmp_path)
    assert "mlflow models serve -m models:/quickstart-tf1/1" in out


@pytest.mark.serving
def test_estimator_style_example_serves_raw_rows(tmp_path):
    out = run_example("estimator_style.py", tmp_path)
    assert "raw rows and serialized examples give the export's own answers" in out


def test_inspect_example(tmp_path):
    out = run_example("inspect_model.py", tmp_path)
    assert "tf.Example features" in out and "Pyfunc backend          session" in out


@pytest.mark.spark
def test_spark_batch_scoring_example(tmp_path):
    out = run_example("spark_batch_scoring.py", tmp_path)
    assert "the scored Parquet matches in-process predictions on the same rows" in out
    assert (tmp_path / "scored.parquet").is_dir()


def test_tf2_and_keras_example(tmp_path):
    out = run_example("tf2_and_keras.py", tmp_path)
    assert "The TF2 export reproduces the TF1 Session; the Keras layers train as expected." in out
