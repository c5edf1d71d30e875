"""A registry written by real MLflow 1.30.1, upgraded by today's MLflow, then migrated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import mlflow_tf1
from tests.conftest import corpus_path

pytestmark = pytest.mark.mlflow1x

# What MLflow 1.30.1 ran with (the side environment).
OLD_STACK = [
    "mlflow==1.30.1",
    "tensorflow-cpu==2.15.1",
    "numpy<1.25",
    "pandas<2",
    "protobuf<4.21",
    "setuptools<70",
]
LOG_WITH_MLFLOW_1 = """
import sys, mlflow, mlflow.tensorflow
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run():
    mlflow.tensorflow.log_model(
        tf_saved_model_dir=sys.argv[2], tf_meta_graph_tags=["serve"],
        tf_signature_def_key="serving_default", artifact_path="model",
        registered_model_name="hp2_from_1x",
    )
client = mlflow.tracking.MlflowClient()
client.update_model_version("hp2_from_1x", "1", description="logged by MLflow 1.30.1")
client.transition_model_version_stage("hp2_from_1x", "1", "Production")
print(mlflow.__version__)
"""


def _run(command: list[str], cwd: Path, what: str) -> str:
    # Today's MLflow exports MLFLOW_EXPERIMENT_ID on set_experiment; an earlier test's
    # experiment must not leak into the old registry.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    result = subprocess.run(
        command, cwd=cwd, env=env, check=False, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"{what} failed:\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def upgraded_registry(tmp_path_factory):
    """The sqlite registry MLflow 1.30.1 wrote, after ``mlflow db upgrade``."""
    root = tmp_path_factory.mktemp("mlflow1x")
    venv = root / "venv"
    # The uv binary, not `python -m uv`: that one installs into the calling interpreter.
    uv = [str(Path(sys.executable).parent / "uv")]
    made = subprocess.run(
        [*uv, "venv", "-q", "--python", "3.11", str(venv)], check=False, capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"no Python 3.11 for MLflow 1.30.1's side environment: {made.stderr[-300:]!r}")
    old_python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [*uv, "pip", "install", "-q", "--python", old_python, *OLD_STACK],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    if installed.returncode != 0:
        pytest.skip(f"cannot install MLflow 1.30.1's stack: {installed.stderr[-300:]}")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    source = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    version = _run([old_python, "-c", LOG_WITH_MLFLOW_1, uri, str(source)], root, "MLflow 1.x")
    assert version.strip() == "1.30.1"
    _run([sys.executable, "-m", "mlflow", "db", "upgrade", uri], root, "mlflow db upgrade")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    cwd = os.getcwd()
    os.chdir(root)  # MLflow 1.x stored artifacts under ./mlruns
    try:
        yield root
    finally:
        os.chdir(cwd)
        mlflow.set_tracking_uri(previous)


def test_real_mlflow_1x_version_is_migrated_and_predicts_floats(upgraded_registry):
    client = MlflowClient()
    source_files = _digests(upgraded_registry / "mlruns")
    report = mlflow_tf1.migrate_registered_model("hp2_from_1x", move_alias="champion")
    assert [(r.version, r.outcome, r.new_version) for r in report.rows] == [("1", "migrated", "2")]
    assert report.alias["moved"], report.alias
    model = mlflow.pyfunc.load_model("models:/hp2_from_1x@champion")
    prediction = model.predict(pd.DataFrame({"x": [1.0, 2.0, 5.0]}))
    np.testing.assert_allclose(prediction["y"], [2.5, 3.0, 4.5])
    migrated = client.get_model_version("hp2_from_1x", "2")
    assert migrated.description == "logged by MLflow 1.30.1"
    assert migrated.tags["mlflow_tf1.source_model_uri"] == "models:/hp2_from_1x/1"
    source = client.get_model_version("hp2_from_1x", "1")
    assert source.current_stage == "Production" and not source.aliases
    after = _digests(upgraded_registry / "mlruns")
    assert {k: v for k, v in after.items() if k in source_files} == source_files


def _digests(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
