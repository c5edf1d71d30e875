"""Shared test plumbing: the real-model corpus, a real local tracking store."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("MLFLOW_TF1_CORPUS", PROJECT_ROOT.parent / "shared" / "corpus"))


def corpus_path(relative: str) -> Path:
    """A path in the shared corpus of real TF1 models; skips the test where it is absent."""
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(f"corpus item '{relative}' not found under {CORPUS} (set MLFLOW_TF1_CORPUS)")
    return path


@pytest.fixture(scope="session", autouse=True)
def tracking_store(tmp_path_factory):
    """One real SQLite tracking store and registry (MLflow's embedded default) per run."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous_cwd, previous_env = os.getcwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(root)  # artifacts land in <root>/mlruns
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    yield uri
    os.chdir(previous_cwd)
    if previous_env is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous_env


@pytest.fixture(autouse=True)
def _no_dangling_run():
    yield
    while mlflow.active_run():
        mlflow.end_run()
