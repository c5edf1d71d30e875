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
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.tracking.artifact_utils import _download_artifact_from_uri

from mlflow_tf1 import logged_model, samples
from mlflow_tf1.equivalence import difference
from mlflow_tf1.errors import first_line, invalid
from mlflow_tf1.logged_model import LoggedModel
from mlflow_tf1.metadata import (
    PB_FILENAME,
    PBTXT_FILENAME,
    SignatureInfo,
    inspect_saved_model,
    read_saved_model,
)
from mlflow_tf1.reference_variables import lift_reference_variables

_logger = logging.getLogger(__name__)


def download_source(model_uri: str, dst: str | os.PathLike) -> LoggedModel:
    """Download ``model_uri`` into ``dst`` and read its ``tf1`` (or MLflow 1.x) flavor."""
    local = _download_artifact_from_uri(model_uri, output_path=str(dst))
    return logged_model.read(local, model_uri)


def _signature_infos(source: LoggedModel) -> dict[str, SignatureInfo]:
    return {k: s.info for k, s in source.description.signatures.items()}


def select_signatures(source: LoggedModel, signatures: Iterable[str] | None) -> list[str]:
    """The requested signature keys (all by default), each checked to exist."""
    available = _signature_infos(source)
    if isinstance(signatures, str):
        raise invalid(
            f"signatures= takes a list of signature names, e.g. [{signatures!r}]; "
            f"available signatures: {sorted(available)}."
        )
    keys = list(dict.fromkeys(available if signatures is None else signatures))
    unknown = [k for k in keys if k not in available]
    if unknown or not keys:
        raise invalid(
            f"Unknown signature(s) {unknown or '(none requested)'}; "
            f"available signatures: {sorted(available)}."
        )
    if sparse := [k for k in keys if _has_sparse(available[k])]:
        dense = [k for k in available if not _has_sparse(available[k])]
        raise invalid(
            f"Signature(s) {sparse} take or return sparse tensors; TF2 SavedModel signatures "
            f"carry dense tensors only. Signatures that can be converted: {dense or 'none'}."
        )
    return keys


def _has_sparse(info: SignatureInfo) -> bool:
    return any(t.encoding != "dense" for t in (*info.inputs.values(), *info.outputs.values()))


def load_as_tf2(source: LoggedModel, keys: list[str]) -> Any:
    """``tf.saved_model.load`` of the SavedModel reduced to ``keys``, variables lifted.

    Rewrites ``source``'s ``saved_model.pb`` in place: call it on a downloaded
    copy. The returned object reads the asset files there, so keep the folder
    while the object is in use or saved.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    tags = source.description.meta_graph_tags
    _, meta_graph = inspect_saved_model(source.export_dir, tags)
    meta_graph = lift_reference_variables(meta_graph, keys)
    proto = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    proto.meta_graphs.add().CopyFrom(meta_graph)
    (source.export_dir / PBTXT_FILENAME).unlink(missing_ok=True)
    (source.export_dir / PB_FILENAME).write_bytes(proto.SerializeToString())
    try:
        return tf.saved_model.load(str(source.export_dir), tags=tags)
    except Exception as e:  # noqa: BLE001 -- any TF error means TF2 cannot load this graph
        raise invalid(
            f"TF2 cannot load signatures {keys} of this model: {first_line(e)}. "
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
        raise invalid(
            f"'{out}' is not an empty folder; export_tf2 never overwrites. Pick a new or empty one."
        )
    with tempfile.TemporaryDirectory() as tmp:
        source = download_source(model_uri, tmp)
        keys = select_signatures(source, signatures)
        batches, unchecked = _reference_outputs(source, keys)
        loaded = load_as_tf2(source, keys)
        methods = {k: source.description.signatures[k].info.method_name for k in keys}
        _save_checked(loaded, out, methods, batches)
    if unchecked:
        _logger.warning("Exported without an output check: %s.", "; ".join(unchecked))
    return str(out)


def _reference_outputs(
    source: LoggedModel, keys: list[str]
) -> tuple[dict[str, tuple[dict, dict]], list[str]]:
    """``{key: (batch, TF1 outputs)}`` from a Session, and why others go unchecked."""
    model = logged_model.load_graph(source, "session")
    checks, unchecked = {}, []
    for key in keys:
        description = source.description.signatures[key]
        batch = samples.user_batch(description) if description.info.inputs else {}
        if description.stateful:
            unchecked.append(f"'{key}' (it changes state)")
        elif batch is None:
            unchecked.append(f"'{key}' (no sample input can be generated for it)")
        else:
            try:
                checks[key] = (batch, model.signatures[key].run(batch))
            except Exception as e:  # noqa: BLE001 -- the TF1 graph cannot be a reference here
                unchecked.append(
                    f"'{key}' (the TF1 graph fails on a generated sample: {first_line(e)})"
                )
    return checks, unchecked


def _save_checked(loaded: Any, out: Path, methods: dict[str, str], checks: dict) -> None:
    """Save, reload and compare; a failure leaves ``out`` as it was (absent or empty)."""
    import tensorflow as tf

    existed = out.exists()
    try:
        tf.saved_model.save(loaded, str(out), signatures={k: loaded.signatures[k] for k in methods})
        _restore_method_names(out, methods)
        reloaded = tf.saved_model.load(str(out))
        for key, (batch, expected) in checks.items():
            outputs = reloaded.signatures[key](**{k: tf.constant(v) for k, v in batch.items()})
            actual = {k: np.asarray(v) for k, v in outputs.items()}
            if found := difference(_arrays(expected), actual):
                raise MlflowException(
                    f"The TF2 export of signature '{key}' does not reproduce the TF1 model: "
                    f"{found.replace('legacy loader', 'TF1 graph')}. Nothing was written."
                )
    except BaseException as e:
        shutil.rmtree(out, ignore_errors=True)
        if existed:
            out.mkdir(parents=True)
        if isinstance(e, MlflowException) or not isinstance(e, Exception):
            raise
        raise MlflowException(f"TF2 could not export this model: {first_line(e)}") from None


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


def _arrays(outputs: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in outputs.items()}
