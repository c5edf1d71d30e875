"""Recognise models MLflow 1.x logged with its ``tensorflow`` flavor.

MLflow 1.x's ``mlflow.tensorflow.log_model(tf_saved_model_dir=...)`` copied the
SavedModel under ``tfmodel/`` and wrote ``saved_model_dir``, ``meta_graph_tags``
and ``signature_def_key`` (older releases too, sometimes without ``code``).
"""

from __future__ import annotations

from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_tf1.constants import FLAVOR_NAME

LEGACY_FLAVOR = "tensorflow"
_LEGACY_KEYS = ("saved_model_dir", "signature_def_key")


def legacy_config(model: Model, uri: str) -> dict[str, Any]:
    """The 1.x ``tensorflow`` flavor config of ``model``; anything else is refused."""
    if reason := why_not_legacy(model):
        raise MlflowException(
            f"'{uri}' is not a TF1 SavedModel in MLflow 1.x's format: {reason}. Expected a "
            f"'{LEGACY_FLAVOR}' flavor with saved_model_dir, meta_graph_tags and "
            "signature_def_key, as mlflow.tensorflow.log_model(tf_saved_model_dir=...) wrote.",
            INVALID_PARAMETER_VALUE,
        )
    return model.flavors[LEGACY_FLAVOR]


def why_not_legacy(model: Model) -> str | None:
    """What keeps ``model`` from being a 1.x TF1 model, naming its flavors; None if it is one."""
    config = model.flavors.get(LEGACY_FLAVOR)
    if FLAVOR_NAME in model.flavors:
        reason = f"it already has the '{FLAVOR_NAME}' flavor"
    elif config is None:
        reason = f"it has no '{LEGACY_FLAVOR}' flavor"
    elif missing := [k for k in _LEGACY_KEYS if not config.get(k)]:
        reason = (
            f"its '{LEGACY_FLAVOR}' flavor has no {' or '.join(missing)} (keys: {sorted(config)})"
        )
    else:
        return None
    return f"{reason}; flavors: {sorted(model.flavors)}"
