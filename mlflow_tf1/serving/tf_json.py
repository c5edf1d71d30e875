"""TF Serving's REST JSON, in and out, as its ``json_tensor.cc`` reads and writes it.

Requests: ``signature_name``, ``instances`` (row format) or ``inputs``
(columnar), and ``examples`` plus ``context`` for classify and regress, whose
values become tf.Examples by their JSON type (a decimal is a float feature, a
whole number an int64 one, a string or ``{"b64": ...}`` bytes). Answers:
``predictions`` / ``outputs`` with the name dropped when there is one output,
``results`` for classify (``[label, score]`` pairs per example) and regress.
Refusals are ``invalid(...)``: the REST layer answers them with a 400.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf.json_format import MessageToDict

from mlflow_tf1.errors import invalid
from mlflow_tf1.metadata import TensorInfo
from mlflow_tf1.serving.calls import Classes

ROW, COLUMNAR = "instances", "inputs"
_BYTES_SUFFIX = "_bytes"  # TF Serving writes such string outputs as {"b64": ...}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64 = (-(2**63), 2**63 - 1)


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object (``NaN`` and ``Infinity`` accepted, as TF Serving does)."""
    if not body.strip():
        raise invalid("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid(f"JSON Parse error: {e}") from None
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {_short(doc)} Is not object")
    return doc


def signature_name(doc: Mapping[str, Any]) -> str | None:
    """The requested signature; None (absent or empty) means the model's default one."""
    name = doc.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise invalid(
            f"JSON Value: {_short(doc)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name or None


def predict_request(doc: Mapping[str, Any]) -> tuple[str, Any]:
    """``(format, value)``: the row (``instances``) or columnar (``inputs``) payload."""
    if ROW in doc and COLUMNAR in doc:
        raise invalid(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if ROW in doc:
        instances = doc[ROW]
        if not isinstance(instances, list):
            raise invalid("Excepting 'instances' to be an list/array")
        if not instances:
            raise invalid("No values in 'instances' array")
        named = _is_object(instances[0])
        if any(_is_object(row) != named for row in instances):
            # TF Serving's words (json_tensor.cc): every row is an object, or none is.
            raise invalid(
                "Expecting object but got list" if named else "Expecting value/list but got object"
            )
        return ROW, instances
    if COLUMNAR in doc:
        return COLUMNAR, doc[COLUMNAR]
    raise invalid("Missing 'inputs' or 'instances' key")


def refuse_ragged(form: str, value: Any) -> None:
    """Refuse a request whose rows disagree in length or depth, naming the first
    disagreement as TF Serving does ("Expecting shape ..."); returns if they agree.
    Only called once a parse failed: a regular request never pays for the walk."""
    if form == ROW and _is_object(value[0]):
        tensors = {k: [row.get(k) for row in value] for k in value[0]}
    elif _is_object(value):
        tensors = dict(value)
    else:
        tensors = {None: value}
    for key, tensor in tensors.items():
        try:
            _shape(tensor)
        except ValueError as e:
            where = "" if key is None else f" of input '{key}'"
            raise invalid(f"Tensor{where} is not a regular array: {e}.") from None


def _shape(value: Any) -> tuple[int, ...]:
    """The shape of a nested JSON list; a ValueError names where its parts disagree."""
    if not isinstance(value, list):
        return ()
    shapes = [_shape(v) for v in value]
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ValueError(
                f"Expecting shape {list(shapes[0])} but got {list(shape)} at position {i}"
            )
    return (len(value), *(shapes[0] if shapes else ()))


def given_ranks(form: str, value: Any) -> dict[str | None, int]:
    """The rank of each input tensor the request spells out (key None: the only input)."""
    if form == ROW:
        first = value[0]
        if _is_object(first):
            return {k: 1 + _depth(v) for k, v in first.items()}
        return {None: 1 + _depth(first)}
    if _is_object(value):
        return {k: _depth(v) for k, v in value.items()}
    return {None: _depth(value)}


def drops_trailing_one(ranks: dict[str | None, int], inputs: Mapping[str, TensorInfo]) -> bool:
    """Whether every input was sent without the trailing dimension of 1 its signature declares.

    TF Serving feeds such a tensor as sent (``[1.0, 2.0]`` for an ``x`` of shape
    ``[-1, 1]``); the graphs that accept it answer in the same smaller shape,
    so ``[2.5, 3.0]``. The flavor feeds the declared shape instead, and the
    answer drops the trailing 1 again to be what TF Serving returns.
    """
    if None in ranks:
        if len(inputs) != 1:
            return False
        ranks = {next(iter(inputs)): ranks[None]}
    known = [
        (rank, inputs[key].shape)
        for key, rank in ranks.items()
        if key in inputs and inputs[key].shape is not None and inputs[key].encoding == "dense"
    ]
    return bool(known) and all(
        len(shape) >= 2 and shape[-1] == 1 and rank == len(shape) - 1 for rank, shape in known
    )


def predict_answer(
    tensors: dict[str, np.ndarray], form: str, drop_trailing_one: bool
) -> dict[str, Any]:
    """``{"predictions": ...}`` (row format) or ``{"outputs": ...}`` (columnar)."""
    if not tensors:
        raise invalid("Cannot convert empty tensor map to JSON")
    if drop_trailing_one:
        tensors = {
            k: v[..., 0] if v.ndim >= 2 and v.shape[-1] == 1 else v for k, v in tensors.items()
        }
    values = {k: _jsonable(v, k) for k, v in tensors.items()}
    if form == COLUMNAR:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = None
    for key, tensor in tensors.items():
        if tensor.ndim == 0:
            raise invalid(f"Tensor name: {key} has no shape information ")
        if len(tensor) < 1:
            raise invalid(f"Tensor name: {key} has invalid batch size: {len(tensor)}")
        if batch is not None and len(tensor) != batch:
            raise invalid(
                f"Tensor name: {key} has inconsistent batch size: {len(tensor)} expecting: {batch}"
            )
        batch = len(tensor)
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    keys = list(values)
    return {
        "predictions": [
            dict(zip(keys, row, strict=True)) for row in zip(*values.values(), strict=True)
        ]
    }


def serialized_examples(doc: Mapping[str, Any]) -> np.ndarray:
    """``examples`` (each merged with ``context``) as serialized tf.Example protos."""
    context = doc.get("context")
    shared = _example(context) if context is not None else None
    examples = doc.get("examples")
    if examples is None:
        raise invalid("When method is classify, key 'examples' is expected and was not found")
    if not isinstance(examples, list):
        raise invalid("Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid("'examples' value is an empty array")
    serialized = np.empty(len(examples), dtype=object)
    for i, value in enumerate(examples):
        example = _example(value)
        if shared is not None:
            both = sorted(set(shared.features.feature) & set(example.features.feature))
            if both:
                raise invalid(
                    f"Feature(s) {both} appear in both 'context' and example {i}; "
                    "features in 'context' must not appear in 'examples'."
                )
            example.MergeFrom(shared)
        serialized[i] = example.SerializeToString()
    return serialized


def classify_answer(classes: Classes) -> dict[str, Any]:
    """``{"results": [[[label, score], ...] per example]}``; a missing part is ``""`` or 0."""
    examples, width = classes.shape
    labels = classes.labels
    scores = _jsonable(classes.scores, "scores") if classes.scores is not None else None
    return {
        "results": [
            [
                [labels[i][j] if labels else "", scores[i][j] if scores else 0.0]
                for j in range(width)
            ]
            for i in range(examples)
        ]
    }


def regress_answer(values: np.ndarray) -> dict[str, Any]:
    """``{"results": [value per example]}``."""
    return {"results": _jsonable(values, "outputs")}


def model_status(versions: list[int]) -> dict[str, Any]:
    """GetModelStatusResponse: every listed version AVAILABLE (only loaded versions are listed)."""
    return {
        "model_version_status": [
            {
                "version": str(v),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for v in versions
        ]
    }


def model_metadata(name: str, version: int, signature_defs: Mapping[str, Any]) -> dict[str, Any]:
    """GetModelMetadataResponse with its ``signature_def`` map (SignatureDef protos), as TF
    Serving prints it: every field, even empty ones, under its proto name."""
    printed = {
        key: MessageToDict(
            proto, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
        )
        for key, proto in signature_defs.items()
    }
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(version)},
        "metadata": {"signature_def": {"signature_def": printed}},
    }


def dumps(answer: Any) -> str:
    """JSON text; non-finite floats are written ``NaN``/``Infinity``, as TF Serving writes them."""
    return json.dumps(answer, allow_nan=True)


def _short(value: Any) -> str:
    text = json.dumps(value, allow_nan=True, default=str)
    return text if len(text) <= 200 else text[:200] + "..."


def _is_object(value: Any) -> bool:
    """A JSON object naming tensors (``{"b64": ...}`` is a value, not a name)."""
    return isinstance(value, dict) and not _is_b64(value)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _depth(value: Any) -> int:
    """The rank of a nested JSON list, read along its first elements."""
    depth = 0
    while isinstance(value, list):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def _jsonable(tensor: np.ndarray, key: str) -> Any:
    """Nested lists of JSON values; floats carry the digits TF Serving writes."""
    if tensor.dtype in (np.float32, np.float64):
        return _decimals(tensor)
    if tensor.dtype == np.float16:
        return tensor.astype(str).astype(np.float64).tolist()
    if tensor.dtype == object or tensor.dtype.kind in "SU":
        as_bytes = key.endswith(_BYTES_SUFFIX)
        flat = [_text(v, as_bytes) for v in tensor.reshape(-1).tolist()]
        if tensor.ndim == 0:
            return flat[0]
        nested = np.empty(tensor.shape, dtype=object)
        nested.reshape(-1)[:] = flat
        return nested.tolist()
    return tensor.tolist()


def _decimals(tensor: np.ndarray) -> Any:
    """As ``json_tensor.cc``'s WriteDecimal: ``%.6g`` for a float32 (``%.15g`` for a
    float64), or ``%.9g`` (``%.17g``) where fewer digits would not read back as the
    same value; so a client parsing the JSON as doubles gets TF Serving's numbers
    (``0.000300049782``, not the shortest ``0.00030004978``)."""
    if tensor.dtype == np.float32:
        short, full, same = "%.6g", "%.9g", np.float32
    else:
        short, full, same = "%.15g", "%.17g", float
    decimals = []
    for value in tensor.reshape(-1).tolist():
        text = short % value
        decimals.append(float(text if same(text) == value else full % value))
    return np.array(decimals).reshape(tensor.shape).tolist()


def _text(value: Any, as_bytes: bool) -> Any:
    """A string output: text, or ``{"b64": ...}`` for ``*_bytes`` outputs and non-UTF-8 bytes."""
    if as_bytes or (isinstance(value, bytes) and not _is_utf8(value)):
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return {"b64": base64.b64encode(raw).decode("ascii")}
    return value.decode() if isinstance(value, bytes) else value


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _example(value: Any) -> tf.train.Example:
    """One JSON object as a tf.Example, each feature typed by its JSON values."""
    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {_json_type(value)}")
    example = tf.train.Example()
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in content if isinstance(content, list) else [content]:
            _add_value(item, name, feature)
    return example


def _add_value(value: Any, name: str, feature: tf.train.Feature) -> None:
    """``AddValueToFeature``: one JSON value into a feature's list of its kind."""
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not _is_b64(value)):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}")
    if isinstance(value, bool):
        kind, item = "int64_list", int(value)
    elif isinstance(value, dict):
        try:
            kind, item = "bytes_list", base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise invalid("Unable to base64 decode") from None
    elif isinstance(value, str):
        kind, item = "bytes_list", value.encode()
    elif isinstance(value, float):
        if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
            raise invalid(f"Cannot convert JSON value: {value} to float without loss of precision.")
        kind, item = "float_list", value
    else:
        if not _INT64[0] <= value <= _INT64[1]:
            raise invalid(f"Feature: {name} has uint64 element. Only int64 is supported.")
        kind, item = "int64_list", value
    present = feature.WhichOneof("kind")
    if present not in (None, kind):
        raise invalid(
            f"Unexpected element type in feature: {name} expecting type: "
            f"{present.removesuffix('_list')}"
        )
    getattr(feature, kind).value.append(item)


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")
