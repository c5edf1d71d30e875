"""Which signatures ``mlflow.pyfunc`` runs on onnxruntime: converted, verified, then written.

``pyfunc_backend="onnx"`` is a request, not a promise: each stateless
signature is converted alone and used only when onnxruntime gives what the
Session gives on the same generated batches, within the tolerance; every
other signature stays on the Session, and ``MLmodel`` says why.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlflow_tf1 import samples
from mlflow_tf1.description import ModelDescription
from mlflow_tf1.routing import route
from mlflow_tf1.runtime import LoadedSavedModel

ONNX_SUBPATH = "onnx"
DEFAULT_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def select(
    model: LoadedSavedModel,
    meta_graph,
    description: ModelDescription,
    path: Path,
    tolerance: dict[str, float] | None = None,
    input_example: Any = None,
) -> dict[str, dict[str, Any]]:
    """Convert and verify each signature; write the ones that match under ``path/onnx``.

    The generated batches are small whole numbers; the user's ``input_example``
    (after the preprocess hook), routed as a request would be, is compared too
    for the default signature it goes to: real values are where float rounding
    shows. Returns the ``MLmodel`` record per signature: ``backend``, ``reason``
    (why not ONNX), ``file``, ``verification`` (largest differences; with
    ``input_example: true`` when it was compared), ``opset`` and the converter
    and runtime versions.
    """
    from mlflow_tf1 import onnx_backend

    tolerance = {**DEFAULT_TOLERANCE, **(tolerance or {})}
    records: dict[str, dict[str, Any]] = {}
    stateful = any(s.stateful for s in description.signatures.values())
    for key, signature in model.signatures.items():
        described = description.signatures[key]
        reason = _not_convertible(described, signature, stateful)
        if reason is None:
            converted = onnx_backend.convert(
                model.export_dir, meta_graph, signature.info, session=model.session
            )
            if isinstance(converted, str):
                reason = converted
        if reason is not None:
            records[key] = {"backend": "session", "reason": reason}
            continue
        candidate = onnx_backend.OnnxSignature(signature.info, converted)
        batches = [samples.tensor_batch(signature.info)]
        with_example = input_example is not None and key == description.default_signature
        if with_example:
            batches.append(route(input_example, described, signature.info, None)[1])
        verification = onnx_backend.verify(signature, candidate, batches, **tolerance)
        if with_example:
            verification["input_example"] = True
        record: dict[str, Any] = {
            "verification": verification,
            "opset": onnx_backend.opset(converted),
            "versions": onnx_backend.versions(),
        }
        if not verification["matches"]:
            record.update(backend="session", reason=f"verification: {verification['reason']}")
        else:
            file = f"{ONNX_SUBPATH}/{_file_name(key)}.onnx"
            (path / ONNX_SUBPATH).mkdir(exist_ok=True)
            (path / file).write_bytes(converted)
            record.update(backend="onnx", file=file)
        records[key] = record
    return records


def _not_convertible(described, signature, stateful_graph: bool) -> str | None:
    if stateful_graph:
        return "the graph has signatures that change state; ONNX would not share it"
    if signature.backend == "unavailable":
        return "the signature cannot run"
    if described.parser is not None:
        return "it takes serialized tf.Examples (strings), which onnxruntime can't parse"
    return None


def _file_name(key: str) -> str:
    """Signature keys may hold '/' (``tensorflow/serving/regress``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)
