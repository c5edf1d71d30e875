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
from mlflow_tf1.runtime import LoadedSavedModel, Signature

ONNX_SUBPATH = "onnx"
DEFAULT_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def select(
    model: LoadedSavedModel,
    meta_graph,
    description: ModelDescription,
    path: Path,
    tolerance: dict[str, float] | None = None,
    input_example: Any = None,
    example_signature: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Convert and verify each signature; write the ones that match under ``path/onnx``.

    The generated batches are small whole numbers; the user's ``input_example``
    (after the preprocess hook), routed as a request would be, is compared too
    for the signature it goes to (``example_signature``, else the default): real values are where float rounding
    shows. A tf.Example signature's serialized protos stay on the Session, but
    the part of its graph after the parser, which raw feature rows feed, is a
    candidate of its own (``raw_rows``). Returns the ``MLmodel`` record per
    signature: ``backend``, ``reason`` (why not ONNX), ``file``,
    ``verification`` (largest differences; ``input_example: true`` when it was
    compared), ``opset``, the converter and runtime versions, and ``raw_rows``.
    """
    tolerance = {**DEFAULT_TOLERANCE, **(tolerance or {})}
    records: dict[str, dict[str, Any]] = {}
    stateful = any(s.stateful for s in description.signatures.values())
    example_signature = example_signature or description.default_signature
    for key, signature in model.signatures.items():
        described = description.signatures[key]
        reason = _not_convertible(described, signature, stateful)
        if reason is not None:
            records[key] = {"backend": "session", "reason": reason}
        else:
            batches = [samples.tensor_batch(signature.info, images=described.decodes_images)]
            with_example = input_example is not None and key == example_signature
            if with_example:
                batches.append(route(input_example, described, signature.info, None)[1])
            records[key] = _candidate(model, meta_graph, signature, None, batches, tolerance)
            if with_example and "verification" in records[key]:
                records[key]["verification"]["input_example"] = True
        features = model.feature_signatures.get(key)
        if described.parser is not None and features is not None and not stateful:
            batches = [samples.tensor_batch(features.info, images=described.decodes_images)]
            records[key]["raw_rows"] = _candidate(
                model, meta_graph, signature, features, batches, tolerance
            )
    _write(records, path)
    return records


def _candidate(
    model: LoadedSavedModel,
    meta_graph,
    signature: Signature,
    features: Signature | None,
    batches: list[Any],
    tolerance: dict[str, float],
) -> dict[str, Any]:
    """One graph (a signature, or its part after the parser) converted and verified."""
    from mlflow_tf1 import onnx_backend

    target = features if features is not None else signature
    converted = onnx_backend.convert(
        model.export_dir,
        meta_graph,
        signature.info,
        feature_info=None if features is None else features.info,
        session=model.session,
    )
    if isinstance(converted, str):
        return {"backend": "session", "reason": converted}
    candidate = onnx_backend.OnnxSignature(target.info, converted)
    verification = onnx_backend.verify(target, candidate, batches, **tolerance)
    record: dict[str, Any] = {
        "verification": verification,
        "opset": onnx_backend.opset(converted),
        "versions": onnx_backend.versions(),
    }
    if not verification["matches"]:
        record.update(backend="session", reason=f"verification: {verification['reason']}")
    else:
        record.update(backend="onnx", model=converted)
    return record


def _write(records: dict[str, dict[str, Any]], path: Path) -> None:
    """``onnx/<signature>.onnx`` (and ``.raw_rows.onnx``) for every part that uses ONNX."""
    for key, record in records.items():
        for part, suffix in ((record, ""), (record.get("raw_rows"), ".raw_rows")):
            if part is None or "model" not in part:
                continue
            file = f"{ONNX_SUBPATH}/{_file_name(key)}{suffix}.onnx"
            (path / ONNX_SUBPATH).mkdir(exist_ok=True)
            (path / file).write_bytes(part.pop("model"))
            part["file"] = file


def onnx_files(records: dict[str, dict[str, Any]], part: str | None = None) -> dict[str, str]:
    """Signature key -> ``.onnx`` file, for signatures (or their ``raw_rows``) on ONNX."""
    chosen = {k: r.get(part) if part else r for k, r in records.items()}
    return {k: r["file"] for k, r in chosen.items() if r and r.get("backend") == "onnx"}


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
