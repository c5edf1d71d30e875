"""Any accepted input to the feeds of one signature: which tensors, from which columns.

Users send DataFrames, records, dicts of arrays, bare arrays, tensors, sparse
values, raw tf.Example feature rows or serialized protos. Here each is matched
to a signature's inputs (or its parser's features) by name, strictly: columns
that match nothing are refused with the names that would, never scored as an
empty example. `feeds` then converts each matched column.
"""

from __future__ import annotations

import base64
import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mlflow_tf1.description import SignatureDescription
from mlflow_tf1.errors import invalid
from mlflow_tf1.examples import serialize
from mlflow_tf1.feeds import absent, convert, convert_array
from mlflow_tf1.metadata import SignatureInfo, TensorInfo

_SPARK_HINT = (
    " These look like positional columns (mlflow.pyfunc.spark_udf names the columns of "
    "udf('a', 'b') 0, 1, ...): call the UDF with struct('a', 'b', ...), or name the columns."
)


def to_feeds(data: Any, signature: SignatureInfo) -> dict[str, Any]:
    """``{input_key: numpy array or SparseTensorValue}`` for ``signature`` from ``data``."""
    columns = _columns(data, signature)
    feeds = {
        key: convert(columns[key], info) for key, info in signature.inputs.items() if key in columns
    }
    if len(feeds) < len(signature.inputs):
        rows = len(data) if isinstance(data, (pd.DataFrame, list)) else _row_count(feeds)
        for key, info in signature.inputs.items():
            if key not in feeds:
                feeds[key] = absent(info, rows)
    return feeds


def holds(data: Any, key: str) -> bool:
    """Whether ``data`` carries the signature's own (serialized) input rather than raw features."""
    if isinstance(data, pd.DataFrame):
        return key in data.columns or (data.shape[1] == 1 and _positional(data.columns))
    if isinstance(data, Mapping):
        return key in data or set(data) == {"b64"}  # TF Serving rows of base64 protos
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return key in data[0] or set(data[0]) == {"b64"}
    return True


def decode_base64_examples(data: Any, key: str, signature: str) -> Any:
    """A column of text where serialized tf.Examples go is base64: JSON has no
    bytes, MLflow's dataframe formats carry them that way (MIME-wrapped by
    MLflow's own encoder), and a proto is never text."""
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        data = _records_to_columns(data)
    if isinstance(data, pd.DataFrame) and key not in data.columns and data.shape[1] == 1:
        data = data.set_axis([key], axis=1)  # the one positional column
    if isinstance(data, (pd.DataFrame, Mapping)):
        if key not in data:
            return data
        decoded = _base64_column(data[key], key, signature)
        if decoded is None:
            return data
        if isinstance(data, pd.DataFrame):
            return data.assign(**{key: decoded})
        return {**data, key: decoded}
    decoded = _base64_column(data, key, signature)  # the signature's one input, bare
    return data if decoded is None else decoded


def refuse_raw_rows(data: Any, signature: str, key: str, why: str) -> None:
    """Signatures parsing tf.Examples in ways raw columns can't feed take protos only."""
    if not holds(data, key):
        raise invalid(
            f"Signature '{signature}' takes serialized tf.Examples in '{key}'; raw feature "
            f"columns can't be fed to it because {why}. Send the serialized protos (bytes; "
            'base64 text or {"b64": ...} in JSON).'
        )


def _row_count(feeds: dict[str, Any]) -> int:
    for value in feeds.values():
        if isinstance(value, tf.compat.v1.SparseTensorValue):
            return int(value.dense_shape[0])
        return len(value) if np.ndim(value) else 1
    return 0


def _is_empty(data: Any) -> bool:
    if data is None:
        return True
    if isinstance(data, np.ndarray) and data.ndim == 0 and data.dtype == object:
        return data.item() is None  # JSON null, as MLflow's parser hands it over
    if isinstance(data, (pd.DataFrame, pd.Series, np.ndarray)):
        return data.size == 0
    return isinstance(data, (dict, list, tuple)) and len(data) == 0


def _columns(data: Any, signature: SignatureInfo) -> dict[str, Any]:
    """Map the user's data to one raw value per signature input."""
    keys = list(signature.inputs)
    if not keys:
        if not _is_empty(data):
            raise invalid(f"Signature '{signature.key}' takes no inputs; pass None or {{}}.")
        return {}
    if isinstance(data, pd.DataFrame):
        return _frame_columns(data, signature)
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        data = _records_to_columns(data)
    if isinstance(data, Mapping):
        return _mapping_columns(_b64_rows(data, keys), signature)
    if len(keys) == 1:
        return {keys[0]: data}
    raise invalid(
        f"Signature '{signature.key}' has several inputs: pass a dict or a DataFrame with "
        f"{_describe_inputs(signature)}; got a {type(data).__name__}."
    )


def _mapping_columns(data: Mapping, signature: SignatureInfo) -> dict[str, Any]:
    keys = list(signature.inputs)
    unknown = [k for k in data if k not in signature.inputs]
    if unknown and _is_feature_signature(signature):
        # Raw feature rows routinely carry extra columns (labels, ids), as tables do.
        if len(unknown) == len(data):
            _refuse_unmatched(signature, list(data))
        _refuse_misspelled(signature, list(data))
        data = {k: v for k, v in data.items() if k in signature.inputs}
    elif unknown:
        raise invalid(
            f"Unknown input(s) {unknown} for signature '{signature.key}'. "
            f"Valid inputs: {_describe_inputs(signature)}.{_hint(unknown)}"
        )
    _require(signature, keys, data.keys())
    return {k: _unbox(v) for k, v in data.items()}


def _frame_columns(frame: pd.DataFrame, signature: SignatureInfo) -> dict[str, Any]:
    keys = list(signature.inputs)
    present = [k for k in keys if k in frame.columns]
    if not present:
        if len(keys) == 1 and _positional(frame.columns) and not _is_feature_signature(signature):
            # An unnamed single input: one column, or each row a vector.
            only = frame.iloc[:, 0] if frame.shape[1] == 1 else frame.to_numpy()
            return {keys[0]: only}
        _refuse_unmatched(signature, list(frame.columns))
    if _is_feature_signature(signature) and len(present) < frame.shape[1]:
        _refuse_misspelled(signature, list(frame.columns))
    _require(signature, keys, frame.columns)
    return {k: frame[k] for k in present}


def _positional(names: Any) -> bool:
    """Columns named 0..n-1 (pandas' default, Spark UDF arguments): no name to match."""
    return [str(n) for n in names] == [str(i) for i in range(len(names))]


def _refuse_unmatched(signature: SignatureInfo, given: list) -> None:
    what = "feature" if _is_feature_signature(signature) else "input"
    expected = list(signature.inputs)
    shown = ", ".join(map(str, expected[:30])) + (" ..." if len(expected) > 30 else "")
    raise invalid(
        f"None of the columns {[str(g) for g in given][:20]} is a{'n' if what == 'input' else ''} "
        f"{what} of signature '{signature.key}'. Expected {what}s: {shown}.{_hint(given)}"
    )


def _refuse_misspelled(signature: SignatureInfo, given: list) -> None:
    """An extra column named like an absent feature (``Color``, ``colour`` for ``color``)
    is a typo, not a label: kept out, the feature would take its default in every row."""
    absent = {k.lower(): k for k in signature.inputs if k not in given}
    if not absent:
        return
    for column in given:
        if column in signature.inputs or not isinstance(column, str):
            continue
        close = difflib.get_close_matches(column.lower(), list(absent), n=1, cutoff=0.85)
        if close:
            feature = absent[close[0]]
            raise invalid(
                f"Column '{column}' is not a feature of signature '{signature.key}', and "
                f"feature '{feature}' is absent: rename the column to '{feature}' (or drop it "
                f"if it is something else). Features: {_describe_inputs(signature)}."
            )


def _hint(given: list) -> str:
    return _SPARK_HINT if given and _positional(given) else ""


def _b64_rows(data: Mapping, keys: list[str]) -> Mapping:
    """TF Serving's ``{"instances": [{"b64": ...}]}`` for a one-input signature.

    MLflow reads those rows as a column named ``b64``.
    """
    if len(keys) == 1 and set(data) == {"b64"} and "b64" not in keys:
        rows = _unbox(np.atleast_1d(np.asarray(data["b64"], dtype=object)))
        return {keys[0]: [{"b64": v} for v in rows]}
    return data


def _unbox(value: Any) -> Any:
    """Scalars for the 0-d arrays MLflow's JSON parser wraps each record cell in."""
    if not (isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 1):
        return value
    boxed = [isinstance(v, np.ndarray) and v.ndim == 0 for v in value]
    if not any(boxed):
        return value
    unboxed = np.empty(len(value), dtype=object)
    unboxed[:] = [v.item() if b else v for v, b in zip(value, boxed, strict=True)]
    return unboxed


def _is_feature_signature(signature: SignatureInfo) -> bool:
    return any(t.feature for t in signature.inputs.values())


def _records_to_columns(records: list[Mapping]) -> dict[str, list]:
    """Rows to columns; a key some rows lack is a missing value there."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    return {k: [r.get(k) for r in records] for k in keys}


def _require(signature: SignatureInfo, keys: list[str], given: Any) -> None:
    present = set(given)
    missing = [k for k in keys if k not in present and not signature.inputs[k].optional]
    if missing:
        what = "feature" if _is_feature_signature(signature) else "input"
        raise invalid(
            f"Missing {what}(s) {missing} for signature '{signature.key}': no column or key "
            f"is named so. Expected: {_describe_inputs(signature)}; got "
            f"{[str(g) for g in given][:20]}.{_hint(list(given))}"
        )


def _describe_inputs(signature: SignatureInfo) -> str:
    return ", ".join(t.describe() for t in signature.inputs.values()) or "no inputs"


def _base64_column(column: Any, key: str, signature: str) -> np.ndarray | None:
    """The decoded bytes, or None when ``column`` is not all text (bytes, gaps, ...)."""
    if isinstance(column, pd.Series):
        column = column.to_numpy()  # text dtypes infer as "string" even with gaps
    if isinstance(column, np.ndarray) and column.ndim != 1:
        return None
    if not isinstance(column, (np.ndarray, list)):
        return None
    if pd.api.types.infer_dtype(column, skipna=False) != "string":
        return None  # bytes (the common case, left as is), or gaps: `feeds` names them
    column = column.tolist() if isinstance(column, np.ndarray) else column
    decoded = np.empty(len(column), dtype=object)
    try:
        decoded[:] = [base64.b64decode("".join(v.split()), validate=True) for v in column]
    except ValueError as e:  # binascii.Error, or non-ASCII text
        raise invalid(
            f"Input '{key}' of signature '{signature}' takes serialized tf.Examples; "
            f"sent as text, they must be base64 ({e})."
        ) from None
    return decoded


def plain_inputs(
    signature: SignatureDescription, info: SignatureInfo
) -> dict[str, TensorInfo] | None:
    """The inputs, when all are plain dense tensors (no parser, no defaults, no features).

    Decided once per signature at load: then a dict of numeric arrays keyed by
    exactly those inputs takes `arrays_as_feeds`, a third of a small model's
    call shorter than `route` (whose other steps can't apply to it).
    """
    if signature.parser is not None or signature.protos_only is not None or not info.inputs:
        return None
    plain = all(
        t.encoding == "dense" and t.default is None and not t.feature for t in info.inputs.values()
    )
    return info.inputs if plain else None


def arrays_as_feeds(data: Any, inputs: dict[str, TensorInfo]) -> dict[str, Any] | None:
    """What `route` makes of a dict of numeric numpy arrays keyed by exactly ``inputs``,
    or of one such array for a one-input signature (TF Serving's ``instances``);
    else None: take `route`."""
    if type(data) is np.ndarray and len(inputs) == 1:
        data = dict.fromkeys(inputs, data)
    if type(data) is not dict or data.keys() != inputs.keys():
        return None
    feeds = {}
    for key, info in inputs.items():
        value = data[key]
        if type(value) is not np.ndarray or value.dtype == object:
            return None
        feeds[key] = convert_array(value, info)
    return feeds


def route(
    data: Any,
    signature: SignatureDescription,
    info: SignatureInfo,
    feature_info: SignatureInfo | None,
) -> tuple[bool, dict[str, Any]]:
    """Where ``data`` goes: ``(fed at the parser's outputs?, feeds)``.

    tf.Example signatures take their serialized input when ``data`` carries it,
    else raw feature columns: fed straight to the parser's outputs when nothing
    else reads the serialized input (``feature_info``), else serialized here.
    """
    parser = signature.parser
    if parser is None:
        if signature.protos_only is not None:
            (key,) = info.inputs
            refuse_raw_rows(data, signature.key, key, signature.protos_only)
            data = decode_base64_examples(data, key, signature.key)
        return False, to_feeds(data, info)
    if holds(data, parser.input_key):
        data = decode_base64_examples(data, parser.input_key, signature.key)
        return False, to_feeds(data, info)
    if feature_info is not None:
        return True, to_feeds(data, feature_info)
    features = to_feeds(data, parser.feature_signature(info))
    return False, {parser.input_key: serialize(features, parser.features)}
