"""Hand a logged model to TensorFlow Serving: its SavedModel in a numbered version folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.artifact.utils.models import get_model_name_and_version
from mlflow.tracking.artifact_utils import _download_artifact_from_uri

from mlflow_tf1.constants import FLAVOR_NAME
from mlflow_tf1.legacy import LEGACY_FLAVOR


def export_serving(model_uri: str, out_dir: str | os.PathLike, version: int | None = None) -> Path:
    """Copy the model's SavedModel, byte for byte, to ``out_dir/<version>/``.

    That is the layout TF Serving watches (``--model_base_path=out_dir``).
    ``version`` defaults to the registry version a ``models:/`` URI resolves
    to. A non-empty version folder is never overwritten. Returns the folder.
    """
    version = _serving_version(model_uri, version)
    target = Path(out_dir) / str(version)
    if target.exists() and any(target.iterdir()):
        raise MlflowException(
            f"{target} already holds a model version; TF Serving versions are immutable. "
            "Pick another version or an empty folder.",
            INVALID_PARAMETER_VALUE,
        )
    with tempfile.TemporaryDirectory() as tmp:
        local = _download_artifact_from_uri(model_uri, output_path=tmp)
        model = Model.load(local)
        config = model.flavors.get(FLAVOR_NAME) or model.flavors.get(LEGACY_FLAVOR) or {}
        if not config.get("saved_model_dir"):
            raise MlflowException(
                f"'{model_uri}' holds no SavedModel to export: flavors {sorted(model.flavors)}; "
                f"expected the '{FLAVOR_NAME}' flavor or MLflow 1.x's '{LEGACY_FLAVOR}' flavor.",
                INVALID_PARAMETER_VALUE,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(Path(local) / config["saved_model_dir"], target, dirs_exist_ok=True)
    return target


def _serving_version(model_uri: str, version: int | None) -> int:
    if version is None and model_uri.startswith("models:/"):
        resolved = get_model_name_and_version(MlflowClient(), model_uri)
        if len(resolved) == 2:
            version = int(resolved[1])
    if version is None:
        raise MlflowException(
            f"'{model_uri}' names no registry version; pass the TF Serving version number.",
            INVALID_PARAMETER_VALUE,
        )
    if int(version) < 1:
        raise MlflowException(
            f"TF Serving versions are positive integers; got {version}.", INVALID_PARAMETER_VALUE
        )
    return int(version)
