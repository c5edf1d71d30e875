"""User data in, signature feeds out; graph outputs back to user shapes.

Users hold DataFrames, dicts of arrays, lists, JSON-decoded values (numbers as
float64, bytes as ``{"b64": ...}``) and tensors; TF1 graphs want exact dtypes
and shapes. Every conversion rule lives here, and every refusal names the
input and what would be valid.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_tf1.metadata import SignatureInfo, TensorInfo


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def prepare_feeds(data: Any, signature: SignatureInfo) -> dict[str, Any]:
    """Convert ``data`` to ``{input_key: numpy array or SparseTensorValue}``."""
    columns = _columns(data, signature)
    feeds = {
        key: _convert(columns[key], info)
        for key, info in signature.inputs.items()
        if key in columns
    }
    if len(feeds) < len(signature.inputs):
        rows = len(data) if isinstance(data, (pd.DataFrame, list)) else _row_count(feeds)
        for key, info in signature.inputs.items():
            if key not in feeds:
                feeds[key] = _absent(info, rows)
    return feeds


def _row_count(feeds: dict[str, Any]) -> int:
    for value in feeds.values():
        if isinstance(value, tf.compat.v1.SparseTensorValue):
            return int(value.dense_shape[0])
        return len(value) if np.ndim(value) else 1
    return 0


def _absent(info: TensorInfo, rows: int) -> Any:
    """An optional feature nobody sent: every row takes the graph's default."""
    if info.encoding == "coo_sparse":
        return tf.compat.v1.SparseTensorValue(
            np.zeros((0, 2), np.int64), _cast(np.zeros(0), info), np.array([rows, 0], np.int64)
        )
    default = np.asarray(info.default, dtype=object if info.dtype == "string" else None)
    return _cast(np.broadcast_to(default.reshape(info.shape[1:]), (rows, *info.shape[1:])), info)


def _is_empty(data: Any) -> bool:
    if data is None:
        return True
    if isinstance(data, (pd.DataFrame, pd.Series, np.ndarray)):
        return data.size == 0
    return isinstance(data, (dict, list, tuple)) and len(data) == 0


def _columns(data: Any, signature: SignatureInfo) -> dict[str, Any]:
    """Map the user's data to one raw value per signature input."""
    keys = list(signature.inputs)
    if not keys:
        if not _is_empty(data):
            raise _invalid(f"Signature '{signature.key}' takes no inputs; pass None or {{}}.")
        return {}
    if isinstance(data, pd.DataFrame):
        return _frame_columns(data, signature)
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        data = _records_to_columns(data)
    if isinstance(data, Mapping):
        data = _b64_rows(data, keys)
        unknown = [k for k in data if k not in signature.inputs]
        if unknown and _is_feature_signature(signature):
            # Raw feature rows routinely carry extra columns (labels, ids), as tables do.
            data = {k: v for k, v in data.items() if k in signature.inputs}
        elif unknown:
            raise _invalid(
                f"Unknown input(s) {unknown} for signature '{signature.key}'. "
                f"Valid inputs: {_describe_inputs(signature)}."
            )
        _require(signature, keys, data.keys())
        return {k: _unbox(v) for k, v in data.items()}
    if len(keys) == 1:
        return {keys[0]: data}
    raise _invalid(
        f"Signature '{signature.key}' has several inputs: pass a dict or a DataFrame with "
        f"{_describe_inputs(signature)}; got a {type(data).__name__}."
    )


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


def _frame_columns(frame: pd.DataFrame, signature: SignatureInfo) -> dict[str, Any]:
    keys = list(signature.inputs)
    present = [k for k in keys if k in frame.columns]
    if len(keys) == 1 and not present:
        # An unnamed single input: one column, or each row a vector.
        only = frame.iloc[:, 0] if frame.shape[1] == 1 else frame.to_numpy()
        return {keys[0]: only}
    _require(signature, keys, frame.columns)
    return {k: frame[k] for k in present}


def _records_to_columns(records: list[Mapping]) -> dict[str, list]:
    """Rows to columns; a key some rows lack is a missing value there."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    return {k: [r.get(k) for r in records] for k in keys}


def _require(signature: SignatureInfo, keys: list[str], given: Any) -> None:
    missing = [k for k in keys if k not in set(given) and not signature.inputs[k].optional]
    if missing:
        raise _invalid(
            f"Missing input(s) {missing} for signature '{signature.key}'. "
            f"Expected: {_describe_inputs(signature)}; got {list(given)}.{_positional_hint(given)}"
        )


def _positional_hint(given: Any) -> str:
    """mlflow.pyfunc.spark_udf names the columns of ``udf("a", "b")`` 0, 1, ..."""
    names = [str(g) for g in given]
    if not names or names != [str(i) for i in range(len(names))]:
        return ""
    return " Spark UDFs get unnamed columns: call the UDF with struct('a', 'b', ...) instead."


def _describe_inputs(signature: SignatureInfo) -> str:
    return ", ".join(t.describe() for t in signature.inputs.values()) or "no inputs"


def _convert(value: Any, info: TensorInfo) -> Any:
    if info.encoding == "coo_sparse":
        return _to_sparse(value, info)
    if info.feature and info.shape is not None and info.shape[1:2] == (-1,):
        return _pad_sequences(value, info)
    if isinstance(value, pd.Series) and info.dtype == "string" and _is_text_dtype(value.dtype):
        text = _arrow_text(value).cast(pa.binary())
        if text.null_count and info.default is not None and len(info.default) == 1:
            default = info.default[0]
            default = default.encode() if isinstance(default, str) else default
            text = text.fill_null(pa.scalar(default, pa.binary()))
        value = text.to_numpy(zero_copy_only=False)
    if info.default is not None:
        value = _fill_missing(value, info)
    elif info.feature:
        _refuse_missing(value, info)
    array = _to_array(value, info)
    array = _cast(array, info)
    return _fit_shape(array, info)


def _to_array(value: Any, info: TensorInfo) -> np.ndarray:
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value.numpy()
    if isinstance(value, tf.SparseTensor):
        raise _invalid(f"Input '{info.key}' is dense; got a tf.SparseTensor.")
    if isinstance(value, (pd.Series, pd.Index)):
        value = _series_values(value)
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value
    # Object dtype keeps bytes intact (numpy's "S" dtype drops trailing NULs).
    dtype = object if info.dtype == "string" else None
    if dtype is object and _kind(value) not in _PLAIN_TEXT:
        value = _unwrap_b64(value)
    if _is_sequence(value) and len(value) and _is_sequence(value[0]):
        # Cells holding lists or arrays: one row each (numpy stacks equal rows in C).
        with contextlib.suppress(ValueError):
            stacked = np.array(list(value), dtype=dtype)
            if stacked.ndim > 1 and (
                dtype is None or stacked.size == 0 or not _is_sequence(stacked.flat[0])
            ):
                return stacked
        try:
            return np.stack([np.asarray(v, dtype=dtype) for v in value])
        except ValueError:
            shapes = sorted({np.shape(v) for v in value}, key=str)
            raise _invalid(
                f"Rows of input '{info.key}' have different shapes {shapes[:5]}; "
                f"expected shape {_shape_text(info)}."
            ) from None
    return np.asarray(value, dtype=dtype)


_PLAIN_TEXT = {"string", "bytes", "empty"}
_SCALARS = _PLAIN_TEXT | {"floating", "integer", "mixed-integer-float", "boolean"}


def _series_values(values: pd.Series | pd.Index) -> np.ndarray:
    """numpy values, exact for pandas' nullable dtypes (Int64, boolean, ...).

    Spark hands a pandas UDF the nullable columns of a struct as these. Their
    own ``to_numpy()`` turns Int64 with gaps into float64, which rounds int64
    values beyond 2**53; here they become Python ints, with None where missing.
    """
    dtype = values.dtype
    if not isinstance(dtype, pd.api.extensions.ExtensionDtype) or dtype.kind not in "iub":
        return values.to_numpy()
    if not values.hasnans:
        return values.to_numpy(dtype=dtype.numpy_dtype)
    return values.to_numpy(dtype=object, na_value=None)


def _kind(values: Any) -> str:
    """pandas' vectorized guess of what a 1-D column holds ("string", "mixed", ...)."""
    if isinstance(values, np.ndarray) and values.ndim != 1:
        return "mixed"
    return pd.api.types.infer_dtype(values, skipna=True)


def _is_sequence(v: Any) -> bool:
    return isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim > 0)


def _unwrap_b64(v: Any) -> Any:
    """TF Serving's JSON spelling of bytes: ``{"b64": "<base64>"}``."""
    if isinstance(v, Mapping):
        if set(v) != {"b64"}:
            raise _invalid(
                f'A JSON object in the input must be {{"b64": ...}}; got keys {list(v)}.'
            )
        try:
            return base64.b64decode(v["b64"], validate=True)
        except (binascii.Error, TypeError) as e:
            raise _invalid(f"Invalid base64 in a {{'b64': ...}} value: {e}") from None
    if isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.dtype == object):
        return [_unwrap_b64(x) for x in v]
    return v


def decode_base64_examples(data: Any, key: str, signature: str) -> Any:
    """A column of text where serialized tf.Examples go is base64: JSON has no
    bytes, MLflow's dataframe formats carry them that way (MIME-wrapped by
    MLflow's own encoder), and a proto is never text."""
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        data = _records_to_columns(data)
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


def _base64_column(column: Any, key: str, signature: str) -> np.ndarray | None:
    """The decoded bytes, or None when ``column`` is not all text (bytes, gaps, ...)."""
    if isinstance(column, pd.Series):
        column = column.to_numpy()  # text dtypes infer as "string" even with gaps
    if isinstance(column, np.ndarray) and column.ndim != 1:
        return None
    if not isinstance(column, (np.ndarray, list)):
        return None
    if pd.api.types.infer_dtype(column, skipna=False) != "string":
        return None  # bytes (the common case, left as is), or gaps: prepare_feeds names them
    column = column.tolist() if isinstance(column, np.ndarray) else column
    decoded = np.empty(len(column), dtype=object)
    try:
        decoded[:] = [base64.b64decode("".join(v.split()), validate=True) for v in column]
    except ValueError as e:  # binascii.Error, or non-ASCII text
        raise _invalid(
            f"Input '{key}' of signature '{signature}' takes serialized tf.Examples; "
            f"sent as text, they must be base64 ({e})."
        ) from None
    return decoded


def _cast(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    target = tf.as_dtype(info.dtype)
    if target == tf.string:
        return _to_bytes(array, info)
    np_type = target.as_numpy_dtype
    if array.dtype == np_type:
        return array
    if array.dtype == object or array.dtype.kind in "USV":
        array = _numeric_from_objects(array, info)
    if array.dtype.kind == "b" or np.issubdtype(np_type, np.bool_):
        return _to_bool(array, info, np_type)
    if np.issubdtype(np_type, np.integer):
        return _to_integers(array, info, np_type)
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, as in TF
        return array.astype(np_type)


def _to_integers(array: np.ndarray, info: TensorInfo, np_type: Any) -> np.ndarray:
    """Cast, then prove nothing changed: one pass on the common, valid path."""
    with np.errstate(invalid="ignore", over="ignore"):
        cast = array.astype(np_type)
    if array.dtype == cast.dtype or np.array_equal(cast, array):
        return cast
    limits = np.iinfo(np_type)
    if array.dtype.kind in "fc":
        with np.errstate(invalid="ignore"):
            bad = array[~np.isfinite(array) | (array != np.round(array))][:3]
        if bad.size:
            raise _invalid(
                f"Input '{info.key}' is {info.dtype}; got non-integral values such as {bad.tolist()}."
            )
    raise _invalid(
        f"Input '{info.key}' is {info.dtype}; values must lie in [{limits.min}, {limits.max}]."
    )


def _numeric_from_objects(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    if any(isinstance(v, (str, bytes)) for v in array.flat):
        raise _invalid(f"Input '{info.key}' is {info.dtype}; got strings.")
    if any(v is None or v is pd.NA for v in array.flat):
        raise _invalid(f"Input '{info.key}' is {info.dtype}; got missing values (None).")
    if array.dtype != object:
        return array
    try:
        if _kind(array.reshape(-1)) == "integer":
            with contextlib.suppress(OverflowError):  # beyond int64: range-checked as floats
                return array.astype(np.int64)  # exact, unlike float64 beyond 2**53
        return array.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise _invalid(f"Input '{info.key}' is {info.dtype}; could not read numbers: {e}") from None


def _to_bool(array: np.ndarray, info: TensorInfo, np_type: Any) -> np.ndarray:
    if np.issubdtype(np_type, np.bool_):
        if array.dtype.kind != "b" and not np.isin(array, (0, 1)).all():
            raise _invalid(f"Input '{info.key}' is bool; got values other than 0/1/true/false.")
        return array.astype(np.bool_)
    raise _invalid(f"Input '{info.key}' is {info.dtype}; got booleans.")


def _to_bytes(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    if array.dtype.kind == "S":
        return array.astype(object)
    missing = pd.isna(array)
    if missing.any():
        rows = np.flatnonzero(missing.reshape(len(missing), -1).any(axis=1)) if array.ndim else [0]
        raise _invalid(
            f"Input '{info.key}' is a string tensor; got missing values (None/NaN) in "
            f"row(s) {np.asarray(rows)[:10].tolist()}."
        )
    kind = _kind(array)
    if kind in ("bytes", "empty"):
        return array
    if kind == "string":
        out = np.empty(array.shape, dtype=object)
        out[:] = [v.encode("utf-8") for v in array.tolist()]
        return out
    out = np.empty(array.shape, dtype=object)
    flat_out = out.reshape(-1)
    for i, v in enumerate(array.reshape(-1)):
        if isinstance(v, bytes):
            flat_out[i] = v
        elif isinstance(v, str):
            flat_out[i] = v.encode("utf-8")
        else:
            raise _invalid(
                f"Input '{info.key}' is a string tensor; got {type(v).__name__} {v!r}. "
                'Pass str, bytes or {"b64": ...}.'
            )
    return out


def _shape_text(info: TensorInfo) -> str:
    return "unknown" if info.shape is None else str(list(info.shape))


def _fit_shape(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Match the signature's shape; add the dims TF Serving's row format leaves out."""
    shape = info.shape
    if shape is None:
        return array
    if array.ndim != len(shape):
        inner = shape[1:]
        if not shape:
            if array.size == 1:
                return array.reshape(())
        elif array.ndim < len(shape) and all(d >= 0 for d in inner):
            per_row = math.prod(inner)
            if per_row and array.size % per_row == 0 and (array.ndim or array.size == per_row):
                return array.reshape((-1, *inner))
        raise _invalid(
            f"Input '{info.key}' expects shape {list(shape)} ({info.dtype}); "
            f"got an array of shape {list(array.shape)}."
        )
    for expected, actual in zip(shape, array.shape, strict=True):
        if expected >= 0 and expected != actual:
            raise _invalid(
                f"Input '{info.key}' expects shape {list(shape)} ({info.dtype}); "
                f"got an array of shape {list(array.shape)}."
            )
    return array


def _refuse_missing(value: Any, info: TensorInfo) -> None:
    """A required feature (no graph default) must be in every row."""
    cells = _series_values(value) if isinstance(value, pd.Series) else value
    if isinstance(cells, np.ndarray) and cells.ndim == 1:
        rows = np.flatnonzero(pd.isna(cells)).tolist()
    elif isinstance(cells, (list, tuple)):
        rows = [i for i, v in enumerate(cells) if _is_missing(v)]
    else:
        return
    if rows:
        raise _invalid(
            f"Feature '{info.key}' is required (the graph has no default) but is missing "
            f"in row(s) {rows[:10]}."
        )


def _pad_sequences(value: Any, info: TensorInfo) -> np.ndarray:
    """A sequence feature: each row's values (a list, one value, or none when missing),
    padded to the longest row with the graph's default, as the parser pads them."""
    if isinstance(value, pd.Series):
        value = _series_values(value)
    if not isinstance(value, (list, tuple, np.ndarray)) or np.ndim(value) == 0:
        raise _invalid(f"Feature '{info.key}' is a sequence: pass one list of values per row.")
    inner = info.shape[2:]
    text = info.dtype == "string"
    rows: list[np.ndarray | None] = []
    for cell in value:
        if _is_missing(cell):
            rows.append(None)
            continue
        cell = np.asarray(_unwrap_b64(cell) if text else cell, dtype=object if text else None)
        try:
            rows.append(cell.reshape(-1, *inner))
        except ValueError:
            raise _invalid(
                f"Feature '{info.key}' is a sequence of values of shape {list(inner)}; "
                f"row {len(rows)} doesn't split into that shape."
            ) from None
    gaps = [
        i for i, r in enumerate(rows) if r is not None and r.dtype == object and pd.isna(r).any()
    ]
    if gaps:
        raise _invalid(f"Feature '{info.key}' has missing values inside row(s) {gaps[:10]}.")
    lengths = np.array([0 if r is None else len(r) for r in rows], dtype=np.int64)
    present = [
        r for r in rows if r is not None and r.size
    ]  # an empty float64 row would round int64
    filled = _cast(np.concatenate(present) if present else np.zeros((0, *inner)), info)
    pad = _cast(np.asarray(info.default, dtype=object if text else None), info)[0]
    out = np.full((len(rows), int(lengths.max(initial=0)), *inner), pad, dtype=filled.dtype)
    row_of = np.repeat(np.arange(len(rows)), lengths)
    position = np.arange(len(filled)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[row_of, position] = filled
    return out


def _fill_missing(value: Any, info: TensorInfo) -> Any:
    """None/NaN cells of a feature with a graph default take that default."""
    if isinstance(value, pd.Series):
        value = _series_values(value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and len(info.default) == 1:
        mask = np.isnan(value)
        return np.where(mask, info.default[0], value) if mask.any() else value
    if isinstance(value, (list, tuple)) or (
        isinstance(value, np.ndarray) and value.dtype == object
    ):
        default = info.default[0] if len(info.default) == 1 else list(info.default)
        if isinstance(value, np.ndarray) and value.ndim == 1 and len(info.default) == 1:
            mask = pd.isna(value)
            return np.where(mask, default, value) if mask.any() else value
        return [default if _is_missing(v) else v for v in value]
    return value


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _scalar_column_to_sparse(column: np.ndarray, info: TensorInfo):
    """At most one value per row: vectorized, as this is the hot path of raw rows."""
    present = ~pd.isna(column)
    values = column[present]
    values = _cast(_to_array(values, info) if values.dtype == object else values, info)
    return _one_per_row(np.flatnonzero(present), values, len(column))


def _one_per_row(rows: np.ndarray, values: np.ndarray, n: int) -> tf.compat.v1.SparseTensorValue:
    """COO parts of a sparse column holding one value in each of ``rows`` (of ``n``)."""
    indices = np.stack([rows, np.zeros_like(rows)], axis=1).astype(np.int64)
    return tf.compat.v1.SparseTensorValue(
        indices, values, np.array([n, int(rows.size > 0)], np.int64)
    )


def _is_text_dtype(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype) or (
        isinstance(dtype, pd.ArrowDtype)
        and (
            pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
        )
    )


def _arrow_text(column: pd.Series) -> pa.Array:
    text = pa.array(column)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _text_column_to_sparse(column: pd.Series) -> tf.compat.v1.SparseTensorValue:
    """pandas' text columns (the default for CSV text since pandas 3) are Arrow
    arrays: present rows and UTF-8 bytes come from Arrow in C, not per cell."""
    text = _arrow_text(column)
    rows = np.flatnonzero(text.is_valid().to_numpy(zero_copy_only=False))
    values = text.drop_null().cast(pa.binary()).to_numpy(zero_copy_only=False)
    return _one_per_row(rows, values, len(text))


def _to_sparse(value: Any, info: TensorInfo) -> tf.compat.v1.SparseTensorValue:
    """A SparseTensor, or a column of scalars / lists / missing values, as COO parts."""
    if isinstance(value, tf.SparseTensor):
        value = tf.compat.v1.SparseTensorValue(
            value.indices.numpy(), value.values.numpy(), value.dense_shape.numpy()
        )
    if isinstance(value, tf.compat.v1.SparseTensorValue):
        values = _cast(np.asarray(value.values), info)
        return tf.compat.v1.SparseTensorValue(
            np.asarray(value.indices, np.int64),
            values,
            np.asarray(value.dense_shape, np.int64),
        )
    if isinstance(value, pd.Series):
        if info.dtype == "string" and _is_text_dtype(value.dtype):
            return _text_column_to_sparse(value)
        value = _series_values(value)
    if isinstance(value, list):
        value = np.array(value, dtype=object)
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        raise _invalid(
            f"Input '{info.key}' is sparse: pass a tf.SparseTensor or a column whose cells "
            "are scalars, lists or missing values."
        )
    if value.dtype != object or _kind(value) in _SCALARS:
        return _scalar_column_to_sparse(value, info)
    return _cells_to_sparse(value, info)


def _cells_to_sparse(column: np.ndarray, info: TensorInfo) -> tf.compat.v1.SparseTensorValue:
    """Cells holding lists, single values or nothing: pandas' ``explode`` lays them out
    in C, one value per line labelled with its row."""
    odd = [i for i, v in enumerate(column) if isinstance(v, (Mapping, set, frozenset))]
    if odd:  # one value each ({"b64": ...}), not their keys
        column = column.copy()
        for i in odd:
            column[i] = [column[i]]
    exploded = pd.Series(column, dtype=object, copy=False).explode()
    flat = exploded.to_numpy()
    lines = np.asarray(exploded.index, dtype=np.int64)
    keep = np.ones(len(flat), dtype=bool)
    for i in np.flatnonzero(pd.isna(flat)):
        # A missing or empty cell explodes to one NA line; an NA inside a list is a value.
        keep[i] = _is_sequence(column[lines[i]]) and len(column[lines[i]]) > 0
    rows, values = lines[keep], flat[keep]
    gaps = pd.isna(values)
    if info.dtype == "string" and gaps.any():
        raise _invalid(
            f"Feature '{info.key}' has missing values inside the list(s) of row(s) "
            f"{np.unique(rows[gaps])[:10].tolist()}."
        )
    positions = np.arange(len(rows)) - np.searchsorted(rows, np.arange(len(column)))[rows]
    values = _cast(_to_array(values, info) if len(values) else np.zeros(0), info)
    width = int(positions.max()) + 1 if len(positions) else 0
    return tf.compat.v1.SparseTensorValue(
        np.stack([rows, positions], axis=1), values, np.array([len(column), width], np.int64)
    )


def format_outputs(outputs: dict[str, Any], as_frame: bool) -> Any:
    """Graph outputs as the user expects them.

    Always named: a dict ``{output_key: array}``; for DataFrame input a
    DataFrame with one column per output when every output has one row per
    input row (``[n, 1]`` outputs become scalar columns, wider ones hold one
    array per row). String outputs are ``str`` where valid UTF-8.
    """
    outputs = {k: _decode_strings(v) for k, v in outputs.items()}
    if not as_frame or not outputs:
        return outputs
    lengths = {np.shape(v)[0] if np.ndim(v) else None for v in outputs.values()}
    if (
        len(lengths) != 1
        or None in lengths
        or not all(isinstance(v, np.ndarray) for v in outputs.values())
    ):
        return outputs
    columns = {}
    for key, v in outputs.items():
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        columns[key] = v if v.ndim == 1 else list(v)
    return pd.DataFrame(columns)


def _decode_strings(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype == object and value.size:
        flat = value.reshape(-1).tolist()
        try:
            decoded = [v.decode("utf-8") if isinstance(v, bytes) else v for v in flat]
        except UnicodeDecodeError:
            return value
        out = np.empty(value.shape, dtype=object)
        out.reshape(-1)[:] = decoded
        return out
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value
