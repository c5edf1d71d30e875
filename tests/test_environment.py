"""A logged model needs nothing but its own requirements.txt: no mlflow_tf1 install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest

import mlflow_tf1
from tests import tf1_models
from tests.tf1_models import session_predict

pytestmark = pytest.mark.venv

BIN = os.path.dirname(sys.executable)


def _env() -> dict[str, str]:
    # MLflow and these tests call `uv` by name; it ships in the test virtualenv.
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, env=_env(), **kwargs
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def logged_model(tmp_path_factory) -> tuple[Path, np.ndarray]:
    export = tmp_path_factory.mktemp("env") / "export"
    tf1_models.build_pbtxt(export)
    uri = mlflow_tf1.log_model(str(export)).model_uri
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(export.parent / "m")))
    x = np.array([0.0, 1.0, 2.0], np.float32)
    return local, session_predict(export, feeds={"x": x})["y"]


def test_fresh_virtualenv_from_model_requirements(logged_model, tmp_path):
    model_dir, expected = logged_model
    requirements = (model_dir / "requirements.txt").read_text()
    assert "mlflow_tf1" not in requirements and "mlflow-tf1" not in requirements
    assert "tensorflow" in requirements
    venv = tmp_path / "venv"
    _run([f"{BIN}/uv", "venv", "--python", sys.executable, str(venv)])
    python = str(venv / "bin" / "python")
    _run(
        [
            f"{BIN}/uv",
            "pip",
            "install",
            "--python",
            python,
            "-r",
            str(model_dir / "requirements.txt"),
        ]
    )
    script = (
        "import importlib.util, json, sys, mlflow\n"
        "assert importlib.util.find_spec('mlflow_tf1') is None, 'flavor must not be installed'\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "print(json.dumps(model.predict({'x': [0.0, 1.0, 2.0]})['y'].tolist()))\n"
    )
    # Run outside the project so the project's own mlflow_tf1 cannot be imported.
    out = _run([python, "-c", script, str(model_dir)], cwd=tmp_path)
    np.testing.assert_allclose(json.loads(out.stdout.strip().splitlines()[-1]), expected)


def test_mlflow_models_predict_with_uv_env_manager(logged_model, tmp_path):
    model_dir, expected = logged_model
    request = tmp_path / "input.json"
    request.write_text(json.dumps({"inputs": {"x": [0.0, 1.0, 2.0]}}))
    out = _run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", str(model_dir),
         "-i", str(request), "-t", "json", "--env-manager", "uv"],
        cwd=tmp_path, timeout=1800,
    )  # fmt: skip
    payload = out.stdout.strip().splitlines()[-1]
    np.testing.assert_allclose(json.loads(payload)["predictions"]["y"], expected)
