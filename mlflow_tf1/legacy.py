"""MLflow 1.x's ``tensorflow`` flavor: its models and its keyword names.

MLflow 1.x's ``mlflow.tensorflow.log_model(tf_saved_model_dir=...)`` copied the
SavedModel under ``tfmodel/`` and wrote ``saved_model_dir``, ``meta_graph_tags``
and ``signature_def_key`` (older releases too, sometimes without ``code``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_tf1.constants import FLAVOR_NAME

LEGACY_FLAVOR = "tensorflow"
_LEGACY_KEYS = ("saved_model_dir", "signature_def_key")
# mlflow.tensorflow.save_model / log_model keywords in MLflow 1.x -> this flavor's.
RENAMED_KEYWORDS = {
    "tf_saved_model_dir": "saved_model_dir",
    "tf_meta_graph_tags": "meta_graph_tags",
    "tf_signature_def_key": "signature_name",
}
_F = TypeVar("_F", bound=Callable[..., Any])


def accepts_mlflow1_keywords(fn: _F) -> _F:
    """Migration scripts written for MLflow 1.x's ``mlflow.tensorflow`` keep running
    when pointed at this flavor; a FutureWarning names the keyword to use."""

    @functools.wraps(fn)
    def with_old_names(*args: Any, **kwargs: Any) -> Any:
        for old, new in RENAMED_KEYWORDS.items():
            if old not in kwargs:
                continue
            if new in kwargs:
                raise MlflowException(
                    f"Both {old}= and {new}= were given; {old} is MLflow 1.x's name for "
                    f"{new}: pass {new}= only.",
                    INVALID_PARAMETER_VALUE,
                )
            warnings.warn(
                f"{old}= is MLflow 1.x's name; {fn.__module__.split('.')[0]}.{fn.__name__} "
                f"calls it {new}=.",
                FutureWarning,
                stacklevel=2,
            )
            kwargs[new] = kwargs.pop(old)
        return fn(*args, **kwargs)

    return with_old_names  # type: ignore[return-value]


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
