"""The text form of an ``inspect`` report: a header, then one block per signature.

Works from the report dict alone (the same one ``--json`` prints), so the text
never says more or less than the JSON; plain aligned columns, no dependency.
"""

from __future__ import annotations

import json
from typing import Any


def render(report: dict[str, Any]) -> str:
    """The human-readable form of an inspect report: a header, then one block per signature."""
    if report["source"] == "saved_model":
        header = [
            ("SavedModel", report["export_dir"]),
            ("Tag sets", ", ".join(_tags_text(t) for t in report["tag_sets"])),
            ("MetaGraph", _tags_text(report["meta_graph_tags"])),
            ("Written by TensorFlow", report["saved_with_tensorflow"]),
            ("Backends chosen by TensorFlow", report["tensorflow_version"]),
        ]
    else:
        header = [
            ("MLflow model", report["model_uri"]),
            ("MetaGraph", _tags_text(report.get("meta_graph_tags") or [])),
            ("Written by TensorFlow", report.get("saved_with_tensorflow", "unknown")),
            ("Logged with TensorFlow", report.get("tensorflow_version", "unknown")),
        ]
        if "pyfunc_backend" in report:
            header.append(("Pyfunc backend", report["pyfunc_backend"]))
    default = report.get("signature_name") or "none (several signatures, none 'serving_default')"
    header.append(("Default signature", default))
    if "op_audit" in report:
        header.append(("Op audit", audit_text(report["op_audit"])))
    blocks = [_table(header, headers=None)]
    backends = report.get("backends") or {}
    reasons = report.get("fallback_reasons") or {}
    verified = report.get("verified") or {}
    onnx = report.get("onnx") or {}
    for key, sig in (report.get("signatures") or {}).items():
        reason = reasons.get(key)
        if onnx.get(key, {}).get("reason"):
            reason = f"not ONNX: {onnx[key]['reason']}"
        block = _render_signature(key, sig, backends.get(key, "unknown"), reason)
        raw_rows = onnx.get(key, {}).get("raw_rows")
        if raw_rows:
            why = f" (not ONNX: {raw_rows['reason']})" if raw_rows.get("reason") else ""
            block += f"\n  raw feature rows: {raw_rows['backend']}{why}"
        if key in verified:
            block += f"\n  verified when logged: {_verified_text(verified[key])}"
        blocks.append(block)
    return "\n\n".join(blocks)


def _verified_text(record: dict[str, Any]) -> str:
    if "not_run" in record:
        return f"not run ({record['not_run']})"
    ran = ", ".join(record.get("ran") or []) or "nothing"
    text = f"ran {ran} on {record.get('backend', '?')}"
    if record.get("input_example"):
        text += ", and the input example"
    for outcome in ("rejected", "failed"):
        for kind, message in (record.get(outcome) or {}).items():
            text += f"; {kind} {message}"
    return text


def audit_text(op_audit: dict[str, list[str]]) -> str:
    """One line for the op audit; ``log`` reuses it in its refusal."""
    if not op_audit:
        return "clean (no file-system, Python-callback or network ops)"
    found = "; ".join(f"{key}: {', '.join(ops)}" for key, ops in sorted(op_audit.items()))
    return f"UNSAFE ops reachable: {found}"


def _render_signature(key: str, sig: dict[str, Any], backend: str, reason: str | None) -> str:
    lines = [f"Signature '{key}' ({sig.get('method_name') or 'no method name'})"]
    if sig.get("refused"):
        lines.append(f"  REFUSED: {sig['refused']}")
    else:
        lines.append(f"  backend: {backend}" + (f" ({reason})" if reason else ""))
    for direction in ("inputs", "outputs"):
        tensors = sig.get(direction) or {}
        if not tensors:
            lines.append(f"  {direction}: none")
            continue
        lines.append(f"  {direction}:")
        rows = [
            (
                k,
                t["dtype"],
                _shape_text(t.get("shape")),
                t.get("encoding", "dense"),
                _tensor_text(t),
            )
            for k, t in tensors.items()
        ]
        lines.append(_table(rows, ("KEY", "DTYPE", "SHAPE", "ENCODING", "TENSOR"), indent=4))
    features = sig.get("example_features")
    if features:
        lines.append("  tf.Example features (raw columns accepted in place of the protos):")
        rows = [
            (k, f["dtype"], f["kind"], _shape_text(f.get("shape", [])), _default_text(f))
            for k, f in features.items()
        ]
        lines.append(_table(rows, ("FEATURE", "DTYPE", "KIND", "SHAPE", "DEFAULT"), indent=4))
    if sig.get("raw_rows_refused"):
        lines.append(f"  tf.Example protos only: raw columns refused, {sig['raw_rows_refused']}")
    return "\n".join(lines)


def _tags_text(tags: list[str]) -> str:
    return "[" + ", ".join(tags) + "]"


def _shape_text(shape: list[int] | None) -> str:
    return "unknown rank" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _tensor_text(tensor: dict[str, Any]) -> str:
    if tensor.get("name"):
        return tensor["name"]
    parts = tensor.get("components") or {}
    return " ".join(f"{part}={name}" for part, name in parts.items()) or "-"


def _default_text(feature: dict[str, Any]) -> str:
    if feature["kind"] == "var_len":
        return "(absent: empty)"
    if feature["kind"] == "sequence":
        return f"(absent: empty; padded with {json.dumps(feature['default'][0])})"
    return "required" if feature.get("default") is None else json.dumps(feature["default"])


def _table(rows: list[tuple], headers: tuple[str, ...] | None, indent: int = 0) -> str:
    """Plain aligned columns: no dependency, and greppable."""
    rows = [tuple(str(c) for c in r) for r in ([headers] if headers else []) + list(rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    pad = " " * indent
    return "\n".join(
        pad + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
