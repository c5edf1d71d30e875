"""The logged-model reader: one typed view of a model folder's ``MLmodel``.

Reads this flavor's ``tf1`` config, or the ``tensorflow`` config MLflow 1.x
wrote (for migration and export), into a `LoggedModel`. Configs written before
the description was recorded in full are described from their SavedModel once,
here, so nothing downstream has to tell the versions apart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tensorflow as tf
import yaml
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.utils.model_utils import _add_code_from_conf_to_system_path

from mlflow_tf1.constants import (
    DEFAULT_BATCH_TIMEOUT_MICROS,
    DEFAULT_MAX_BATCH_SIZE,
    FLAVOR_NAME,
    FULL_DESCRIPTION_SINCE,
)
from mlflow_tf1.description import ModelDescription, describe
from mlflow_tf1.errors import invalid
from mlflow_tf1.legacy import LEGACY_FLAVOR, legacy_config
from mlflow_tf1.metadata import inspect_saved_model, read_saved_model, select_meta_graph
from mlflow_tf1.onnx_selection import onnx_files
from mlflow_tf1.quiet import quiet_tensorflow
from mlflow_tf1.runtime import LoadedSavedModel

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedModel:
    """A local model folder: where its SavedModel is and what it holds."""

    path: Path
    export_dir: Path
    description: ModelDescription
    metadata: Model  # the folder's MLmodel, as MLflow reads it
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    hooks: dict[str, str] = field(default_factory=dict)
    pyfunc_backend: str = "session"
    legacy: bool = False
    enable_batching: bool = False
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS
    # Signatures mlflow.pyfunc runs on onnxruntime: key -> .onnx file in the model folder.
    onnx_files: dict[str, str] = field(default_factory=dict)
    # tf.Example signatures whose part after the parser (raw feature rows) runs there.
    onnx_raw_row_files: dict[str, str] = field(default_factory=dict)
    # Signature -> the generated batches (`plan.BATCH_KINDS`) TensorFlow refused when
    # logged: the warm-up skips them, as running one again only logs TF's warning.
    refused_batches: dict[str, set[str]] = field(default_factory=dict)


def read(local_path: str | Path, uri: str | None = None) -> LoggedModel:
    """The model at ``local_path`` (``uri`` names it in errors)."""
    path = Path(local_path)
    model = _load_mlmodel(path)
    config = model.flavors.get(FLAVOR_NAME)
    if config is not None:
        _add_code_from_conf_to_system_path(str(path), config)
        return _from_tf1(path, model, config)
    if LEGACY_FLAVOR in model.flavors:
        return _from_legacy(path, model, legacy_config(model, uri or str(path)))
    raise invalid(
        f"'{uri or path}' is an MLflow model without the '{FLAVOR_NAME}' flavor "
        f"(its flavors: {sorted(model.flavors)})."
    )


def _load_mlmodel(path: Path) -> Model:
    """``Model.load`` of a local folder, parsed by libyaml where PyYAML has it.

    A model's description makes its MLmodel long (23 kB for the taxi
    Estimator): PyYAML's pure-Python parser takes 50 ms of each load, libyaml 8.
    """
    file = path / MLMODEL_FILE_NAME
    if not file.is_file():
        return Model.load(str(path))  # MLflow's own error for a folder without one
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return Model.from_dict(yaml.load(file.read_text(), Loader=loader))


def _from_tf1(path: Path, metadata: Model, config: dict[str, Any]) -> LoggedModel:
    export_dir = path / config["saved_model_dir"]
    if config.get("description_version", 1) >= FULL_DESCRIPTION_SINCE:
        description = ModelDescription.from_config(config)
    else:
        info, meta_graph = inspect_saved_model(export_dir, config["meta_graph_tags"])
        description = describe(info, meta_graph, config.get("signature_name"))
    return LoggedModel(
        path=path,
        export_dir=export_dir,
        description=description,
        metadata=metadata,
        max_batch_size=int(config.get("max_batch_size", DEFAULT_MAX_BATCH_SIZE)),
        hooks=dict(config.get("hooks") or {}),
        pyfunc_backend=config.get("pyfunc_backend", "session"),
        enable_batching=bool(config.get("enable_batching", False)),
        onnx_files=onnx_files(config.get("onnx") or {}),
        onnx_raw_row_files=onnx_files(config.get("onnx") or {}, "raw_rows"),
        batch_timeout_micros=int(config.get("batch_timeout_micros", DEFAULT_BATCH_TIMEOUT_MICROS)),
        refused_batches=_refused_batches(config.get("verified") or {}),
    )


def _refused_batches(verified: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    return {
        key: {*(record.get("rejected") or {}), *(record.get("failed") or {})}
        for key, record in verified.items()
        if record.get("rejected") or record.get("failed")
    }


def _from_legacy(path: Path, metadata: Model, config: dict[str, Any]) -> LoggedModel:
    """MLflow 1.x wrote ``saved_model_dir``, ``meta_graph_tags``, ``signature_def_key``."""
    info, meta_graph = inspect_saved_model(
        path / config["saved_model_dir"], config.get("meta_graph_tags")
    )
    description = describe(info, meta_graph, config.get("signature_def_key"))
    return LoggedModel(
        path=path,
        export_dir=info.export_dir,
        description=description,
        metadata=metadata,
        legacy=True,
    )


def load_graph(model: LoggedModel, backend: str) -> LoadedSavedModel:
    """The model's graph ready to run (`runtime.LoadedSavedModel`), timed and logged once."""
    start = time.perf_counter()
    meta_graph = select_meta_graph(
        read_saved_model(model.export_dir), model.description.meta_graph_tags
    )
    with quiet_tensorflow():
        loaded = LoadedSavedModel(model.export_dir, meta_graph, model.description, backend)
    _logger.info(
        "Loaded TF1 model '%s' in %.2f s; backends: %s.",
        model.path.name,
        time.perf_counter() - start,
        _backend_summary(loaded.backends),
    )
    return loaded


def load_into_session(model: LoggedModel, sess: Any):
    """The SavedModel imported into the user's ``sess`` (devices cleared, init ops
    run, as the flavor's own loader does); returns the default SignatureDef."""
    if not isinstance(sess, tf.compat.v1.Session):
        raise invalid(f"tf_sess must be a tf.compat.v1.Session; got {type(sess).__name__}.")
    key = model.description.signature(None).key
    with quiet_tensorflow():
        meta_graph = tf.compat.v1.saved_model.loader.load(
            sess, model.description.meta_graph_tags, str(model.export_dir), clear_devices=True
        )
    return meta_graph.signature_def[key]


def _backend_summary(backends: dict[str, str]) -> str:
    by_backend: dict[str, list[str]] = {}
    for key, backend in backends.items():
        by_backend.setdefault(backend, []).append(key)
    return "; ".join(f"{b} ({', '.join(keys)})" for b, keys in by_backend.items())
