"""A logged TF1 model as a native TF2 SavedModel, checked against the TF1 graph.

TF2's loader (``tf.saved_model.load``) does the conversion once reference
variables are lifted (`mlflow_tf1.reference_variables`); this module picks the
signatures, saves, restores TF Serving's method names and compares outputs.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracking.artifact_utils import _download_artifact_from_uri

from mlflow_tf1.flavor import FLAVOR_NAME, _load_saved_model
from mlflow_tf1.legacy import legacy_config
from mlflow_tf1.metadata import (
    PB_FILENAME,
    PBTXT_FILENAME,
    SignatureInfo,
    TensorInfo,
    inspect_saved_model,
    read_saved_model,
)
from mlflow_tf1.reference_variables import lift_reference_variables

_logger = logging.getLogger(__name__)


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, INVALID_PARAMETER_VALUE)


@dataclass(frozen=True)
class LegacySource:
    """A downloaded model's SavedModel: where it is, its tags and default signature."""

    export_dir: Path
    meta_graph_tags: list[str]
    default_signature: str | None
    signatures: dict[str, SignatureInfo]


def download_source(model_uri: str, dst: str | os.PathLike) -> LegacySource:
    """Download ``model_uri`` into ``dst`` and read its ``tf1`` (or MLflow 1.x) flavor."""
    local = _download_artifact_from_uri(model_uri, output_path=str(dst))
    model = Model.load(local)
    config = model.flavors.get(FLAVOR_NAME)
    if config is None:
        config = legacy_config(model, model_uri)  # refuses, naming the flavors, if not 1.x TF1
    # MLflow 1.x wrote meta_graph_tags always; None lets the SavedModel's own tag set decide.
    info, _ = inspect_saved_model(
        Path(local) / config["saved_model_dir"], config.get("meta_graph_tags")
    )
    default = config.get("signature_name") or config.get("signature_def_key")
    return LegacySource(info.export_dir, info.meta_graph_tags, default, info.signatures)


def select_signatures(source: LegacySource, signatures: Iterable[str] | None) -> list[str]:
    """The requested signature keys (all by default), each checked to exist."""
    if isinstance(signatures, str):
        raise _invalid(
            f"signatures= takes a list of signature names, e.g. [{signatures!r}]; "
            f"available signatures: {sorted(source.signatures)}."
        )
    keys = list(dict.fromkeys(source.signatures if signatures is None else signatures))
    unknown = [k for k in keys if k not in source.signatures]
    if unknown or not keys:
        raise _invalid(
            f"Unknown signature(s) {unknown or '(none requested)'}; "
            f"available signatures: {sorted(source.signatures)}."
        )
    if sparse := [k for k in keys if _has_sparse(source.signatures[k])]:
        dense = [k for k in source.signatures if not _has_sparse(source.signatures[k])]
        raise _invalid(
            f"Signature(s) {sparse} take or return sparse tensors; TF2 SavedModel signatures "
            f"carry dense tensors only. Signatures that can be converted: {dense or 'none'}."
        )
    return keys


def _has_sparse(info: SignatureInfo) -> bool:
    return any(t.encoding != "dense" for t in (*info.inputs.values(), *info.outputs.values()))


def load_as_tf2(source: LegacySource, keys: list[str]) -> Any:
    """``tf.saved_model.load`` of the SavedModel reduced to ``keys``, variables lifted.

    Rewrites ``source``'s ``saved_model.pb`` in place: call it on a downloaded
    copy. The returned object reads the asset files there, so keep the folder
    while the object is in use or saved.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    _, meta_graph = inspect_saved_model(source.export_dir, source.meta_graph_tags)
    meta_graph = lift_reference_variables(meta_graph, keys)
    proto = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    proto.meta_graphs.add().CopyFrom(meta_graph)
    (source.export_dir / PBTXT_FILENAME).unlink(missing_ok=True)
    (source.export_dir / PB_FILENAME).write_bytes(proto.SerializeToString())
    try:
        return tf.saved_model.load(str(source.export_dir), tags=source.meta_graph_tags)
    except Exception as e:  # noqa: BLE001 -- any TF error means TF2 cannot load this graph
        raise _invalid(
            f"TF2 cannot load signatures {keys} of this model: {_tf_error(e)}. "
            "Export fewer signatures (signatures=[...]), or keep serving it as a TF1 model."
        ) from None


def export_tf2(model_uri: str, out_dir: str, *, signatures: list[str] | None = None) -> str:
    """Write ``model_uri`` as a native TF2 SavedModel in ``out_dir``; returns ``out_dir``.

    The result has the same signature names, keeps the variables as TF2
    resource variables and loads with ``tf.saved_model.load`` and TF Serving 2.
    ``signatures`` picks a subset (default: all of them).

    Before returning, the written model is reloaded and every signature's
    outputs are compared with the TF1 graph's (run on a ``tf.compat.v1.Session``)
    on a generated batch; a mismatch deletes what was written and raises.
    Signatures for which no batch can be generated (an input of unknown dtype),
    on which the TF1 graph itself fails, or that change state (counters) are
    exported unchecked, with a logged warning naming them.

    Refused with ``MlflowException``: a non-empty ``out_dir``, unknown or
    sparse signatures, and graphs whose exported signatures update reference
    variables (see the module docstring). The MetaGraph is tagged ``serve``.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise _invalid(
            f"'{out}' is not an empty folder; export_tf2 never overwrites. Pick a new or empty one."
        )
    with tempfile.TemporaryDirectory() as tmp:
        source = download_source(model_uri, tmp)
        keys = select_signatures(source, signatures)
        batches, unchecked = _reference_outputs(source, keys)
        loaded = load_as_tf2(source, keys)
        methods = {k: source.signatures[k].method_name for k in keys}
        _save_checked(loaded, out, methods, batches)
    if unchecked:
        _logger.warning("Exported without an output check: %s.", "; ".join(unchecked))
    return str(out)


def _reference_outputs(
    source: LegacySource, keys: list[str]
) -> tuple[dict[str, tuple[dict, dict]], list[str]]:
    """``{key: (batch, TF1 outputs)}`` from a Session, and why others go unchecked."""
    from mlflow_tf1.equivalence import generated_batch

    model, _ = _load_saved_model(source.export_dir, source.meta_graph_tags, "session")
    checks, unchecked = {}, []
    for key in keys:
        signature = model.signatures[key]
        info = signature.info
        batch = {} if not info.inputs else generated_batch(info, model.parsers.get(key))
        if key in model.stateful:
            unchecked.append(f"'{key}' (it changes state)")
        elif batch is None:
            unchecked.append(f"'{key}' (no sample input can be generated for it)")
        else:
            batch = {k: _fit_scalar(v, info.inputs.get(k)) for k, v in batch.items()}
            try:
                checks[key] = (batch, signature.run(batch))
            except Exception as e:  # noqa: BLE001 -- the TF1 graph cannot be a reference here
                unchecked.append(
                    f"'{key}' (the TF1 graph fails on a generated sample: {_tf_error(e)})"
                )
    return checks, unchecked


def _fit_scalar(column: np.ndarray, info: TensorInfo | None) -> np.ndarray:
    """A scalar input (shape ``()``) gets one value, not a column."""
    return column.reshape(-1)[:1].reshape(()) if info is not None and info.shape == () else column


def _save_checked(loaded: Any, out: Path, methods: dict[str, str], checks: dict) -> None:
    """Save, reload and compare; a failure leaves ``out`` as it was (absent or empty)."""
    import tensorflow as tf

    from mlflow_tf1.equivalence import _difference

    existed = out.exists()
    try:
        tf.saved_model.save(loaded, str(out), signatures={k: loaded.signatures[k] for k in methods})
        _restore_method_names(out, methods)
        reloaded = tf.saved_model.load(str(out))
        for key, (batch, expected) in checks.items():
            outputs = reloaded.signatures[key](**{k: tf.constant(v) for k, v in batch.items()})
            actual = {k: np.asarray(v) for k, v in outputs.items()}
            if difference := _difference(_arrays(expected), actual):
                raise MlflowException(
                    f"The TF2 export of signature '{key}' does not reproduce the TF1 model: "
                    f"{difference.replace('legacy loader', 'TF1 graph')}. Nothing was written."
                )
    except BaseException as e:
        shutil.rmtree(out, ignore_errors=True)
        if existed:
            out.mkdir(parents=True)
        if isinstance(e, MlflowException) or not isinstance(e, Exception):
            raise
        raise MlflowException(f"TF2 could not export this model: {_tf_error(e)}") from None


def _restore_method_names(out: Path, methods: dict[str, str]) -> None:
    """Give signatures back their TF1 method names (TF2 saves them all as ``predict``).

    TF Serving's Classify and Regress APIs only take signatures named so.
    """
    from tensorflow.python.saved_model import fingerprinting_utils

    proto = read_saved_model(out)
    signatures = proto.meta_graphs[0].signature_def
    changed = {k: m for k, m in methods.items() if m and signatures[k].method_name != m}
    if changed:
        for key, method in changed.items():
            signatures[key].method_name = method
        (out / PB_FILENAME).write_bytes(proto.SerializeToString())
        fingerprinting_utils.write_fingerprint(str(out))  # it checksums saved_model.pb


def _tf_error(error: Exception) -> str:
    """The informative line of a TF error, past autograph's "in user code:" header."""
    from mlflow_tf1.runtime import _first_line_of

    return _first_line_of(str(error).replace("in user code:", "")) or type(error).__name__


def _arrays(outputs: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in outputs.items()}
