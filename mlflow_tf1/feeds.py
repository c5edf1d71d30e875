"""One user column (or array) to the value fed for one tensor.

Dense tensors get an array of the exact dtype and shape; sparse tensors and
var-len tf.Example features get COO parts laid out in C (pandas' ``explode``,
Arrow for text); sequence features are padded as the parser pads them;
missing feature values take the graph's default. Which column goes to which
tensor is `routing`'s job; this module converts one.
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

from mlflow_tf1.casting import cast, cast_rows, column_kind
from mlflow_tf1.errors import invalid
from mlflow_tf1.examples import is_sequence
from mlflow_tf1.metadata import TensorInfo

_PLAIN_TEXT = {"string", "bytes", "empty"}
_SCALARS = _PLAIN_TEXT | {"floating", "integer", "mixed-integer-float", "boolean"}


def absent(info: TensorInfo, rows: int) -> Any:
    """An optional feature nobody sent: every row takes the graph's default."""
    if info.encoding == "coo_sparse":
        return tf.compat.v1.SparseTensorValue(
            np.zeros((0, 2), np.int64), cast(np.zeros(0), info), np.array([rows, 0], np.int64)
        )
    default = np.asarray(info.default, dtype=object if info.dtype == "string" else None)
    return cast(np.broadcast_to(default.reshape(info.shape[1:]), (rows, *info.shape[1:])), info)


def convert(value: Any, info: TensorInfo) -> Any:
    if info.encoding == "coo_sparse":
        return _to_sparse(value, info)
    if is_sequence(info):
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
    rows = _numeric_rows(value, info)
    if rows is not None:
        return _fit_shape(cast_rows(rows, info), info)
    return convert_array(_to_array(value, info), info)


def convert_array(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    """A plain (non-object) array for a dense, required tensor: cast, then shaped."""
    return _fit_shape(cast(array, info), info)


def _numeric_rows(value: Any, info: TensorInfo) -> list[np.ndarray] | None:
    """The cells of a column of equal-shaped numeric arrays (a DataFrame of images), else None."""
    if info.dtype == "string":
        return None
    if isinstance(value, (pd.Series, np.ndarray)) and value.dtype == object and value.ndim == 1:
        rows = value.tolist()
    elif isinstance(value, list):
        rows = value
    else:
        return None
    if not rows:
        return None
    first = rows[0]
    if not isinstance(first, np.ndarray) or first.ndim == 0 or first.dtype.kind not in "iuf":
        return None
    shape, dtype = first.shape, first.dtype
    if all(isinstance(r, np.ndarray) and r.shape == shape and r.dtype == dtype for r in rows):
        return rows
    return None


def _to_array(value: Any, info: TensorInfo) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value  # the common case first: every check below costs a call
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value.numpy()
    if isinstance(value, tf.SparseTensor):
        raise invalid(f"Input '{info.key}' is dense; got a tf.SparseTensor.")
    if isinstance(value, (pd.Series, pd.Index)):
        value = _series_values(value)
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value
    # Object dtype keeps bytes intact (numpy's "S" dtype drops trailing NULs).
    dtype = object if info.dtype == "string" else None
    if dtype is object and column_kind(value) not in _PLAIN_TEXT:
        value = _unwrap_b64(value)
    if _is_list_cell(value) and len(value) and _is_list_cell(value[0]):
        # Cells holding lists or arrays: one row each (numpy stacks equal rows in C).
        with contextlib.suppress(ValueError):
            stacked = np.array(list(value), dtype=dtype)
            if stacked.ndim > 1 and (
                dtype is None or stacked.size == 0 or not _is_list_cell(stacked.flat[0])
            ):
                return stacked
        try:
            return np.stack([np.asarray(v, dtype=dtype) for v in value])
        except ValueError:
            shapes = sorted({np.shape(v) for v in value}, key=str)
            raise invalid(
                f"Rows of input '{info.key}' have different shapes {shapes[:5]}; "
                f"expected shape {_shape_text(info)}."
            ) from None
    return np.asarray(value, dtype=dtype)


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


def _is_list_cell(v: Any) -> bool:
    return isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim > 0)


def _unwrap_b64(v: Any) -> Any:
    """TF Serving's JSON spelling of bytes: ``{"b64": "<base64>"}``."""
    if isinstance(v, Mapping):
        if set(v) != {"b64"}:
            raise invalid(f'A JSON object in the input must be {{"b64": ...}}; got keys {list(v)}.')
        try:
            return base64.b64decode(v["b64"], validate=True)
        except (binascii.Error, TypeError) as e:
            raise invalid(f"Invalid base64 in a {{'b64': ...}} value: {e}") from None
    if isinstance(v, np.ndarray) and v.dtype == object:
        return _unwrap_b64(v.item()) if v.ndim == 0 else [_unwrap_b64(x) for x in v]
    if isinstance(v, (list, tuple)):
        return [_unwrap_b64(x) for x in v]
    return v


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
        raise invalid(
            f"Input '{info.key}' expects shape {list(shape)} ({info.dtype}); "
            f"got an array of shape {list(array.shape)}."
        )
    for expected, actual in zip(shape, array.shape, strict=True):
        if expected >= 0 and expected != actual:
            raise invalid(
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
        raise invalid(
            f"Feature '{info.key}' is required (the graph has no default) but is missing "
            f"in row(s) {rows[:10]}."
        )


def _pad_sequences(value: Any, info: TensorInfo) -> np.ndarray:
    """A sequence feature: each row's values (a list, one value, or none when missing),
    padded to the longest row with the graph's default, as the parser pads them."""
    if isinstance(value, pd.Series):
        value = _series_values(value)
    if not isinstance(value, (list, tuple, np.ndarray)) or np.ndim(value) == 0:
        raise invalid(f"Feature '{info.key}' is a sequence: pass one list of values per row.")
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
            raise invalid(
                f"Feature '{info.key}' is a sequence of values of shape {list(inner)}; "
                f"row {len(rows)} doesn't split into that shape."
            ) from None
    gaps = [
        i for i, r in enumerate(rows) if r is not None and r.dtype == object and pd.isna(r).any()
    ]
    if gaps:
        raise invalid(f"Feature '{info.key}' has missing values inside row(s) {gaps[:10]}.")
    lengths = np.array([0 if r is None else len(r) for r in rows], dtype=np.int64)
    present = [
        r for r in rows if r is not None and r.size
    ]  # an empty float64 row would round int64
    filled = cast(np.concatenate(present) if present else np.zeros((0, *inner)), info)
    pad = cast(np.asarray(info.default, dtype=object if text else None), info)[0]
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
    values = cast(_to_array(values, info) if values.dtype == object else values, info)
    return _one_per_row(np.flatnonzero(present), values, len(column))


def _one_per_row(rows: np.ndarray, values: np.ndarray, n: int) -> tf.compat.v1.SparseTensorValue:
    """COO parts of a sparse column holding one value in each of ``rows`` (of ``n``)."""
    indices = np.zeros((rows.size, 2), np.int64)
    indices[:, 0] = rows
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
        values = cast(np.asarray(value.values), info)
        dense_shape = np.asarray(value.dense_shape, np.int64)
        _check_dense_shape(dense_shape, info)
        return tf.compat.v1.SparseTensorValue(
            np.asarray(value.indices, np.int64), values, dense_shape
        )
    if info.shape is not None and len(info.shape) != 2:
        raise invalid(
            f"Input '{info.key}' is a rank-{len(info.shape)} sparse tensor (shape "
            f"{list(info.shape)}): pass a tf.SparseTensor or SparseTensorValue; columns of "
            "lists describe rank-2 rows only."
        )
    if isinstance(value, pd.Series):
        if info.dtype == "string" and _is_text_dtype(value.dtype):
            return _fit_width(_text_column_to_sparse(value), info)
        value = _series_values(value)
    if isinstance(value, list):
        if any(isinstance(v, (tf.SparseTensor, tf.compat.v1.SparseTensorValue)) for v in value):
            raise invalid(
                f"Input '{info.key}' is sparse: pass one tf.SparseTensor (or SparseTensorValue) "
                "holding every row, not a list of them."
            )
        value = np.array(value, dtype=object)
    if isinstance(value, (str, bytes, int, float, np.generic)):  # one row's one value
        value = np.array([value], dtype=object)
    if isinstance(value, np.ndarray) and value.ndim == 2:  # equal-length rows, one per line
        rows = np.empty(len(value), dtype=object)
        for i, row in enumerate(value):
            rows[i] = row
        value = rows
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        raise invalid(
            f"Input '{info.key}' is sparse: pass a tf.SparseTensor or a column whose cells "
            "are scalars, lists or missing values."
        )
    if value.dtype != object or column_kind(value) in _SCALARS:
        return _fit_width(_scalar_column_to_sparse(value, info), info)
    return _fit_width(_cells_to_sparse(value, info), info)


def _check_dense_shape(dense_shape: np.ndarray, info: TensorInfo) -> None:
    """A SparseTensor's dense_shape must agree with the one the graph declares:
    TensorFlow only checks it against the indices, not against the signature."""
    declared = info.shape
    if declared is None:
        return
    if dense_shape.shape != (len(declared),) or any(
        d >= 0 and d != int(n) for d, n in zip(declared, dense_shape, strict=True)
    ):
        raise invalid(
            f"Input '{info.key}' is a sparse tensor of shape {list(declared)} (-1: any size); "
            f"got dense_shape {dense_shape.tolist()}."
        )


def _fit_width(sp: tf.compat.v1.SparseTensorValue, info: TensorInfo):
    """Rows given as cells span the width the graph declares; the longest row only
    sets it when the graph declares none."""
    if info.shape is None or info.shape[1] < 0:
        return sp
    declared = info.shape[1]
    longer = sp.indices[:, 1] >= declared
    if longer.any():
        raise invalid(
            f"Input '{info.key}' holds at most {declared} values per row (shape "
            f"{list(info.shape)}); row(s) {np.unique(sp.indices[longer, 0])[:10].tolist()} "
            "have more."
        )
    sp.dense_shape[1] = declared
    return sp


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
        keep[i] = _is_list_cell(column[lines[i]]) and len(column[lines[i]]) > 0
    rows, values = lines[keep], flat[keep]
    if len(values) and column_kind(values) == "mixed":
        nested = [_is_list_cell(v) for v in values]
        if any(nested):
            raise invalid(
                f"Input '{info.key}' takes one list of values per row; row(s) "
                f"{np.unique(rows[nested])[:10].tolist()} hold nested lists."
            )
    gaps = pd.isna(values)
    if info.dtype == "string" and gaps.any():
        raise invalid(
            f"Feature '{info.key}' has missing values inside the list(s) of row(s) "
            f"{np.unique(rows[gaps])[:10].tolist()}."
        )
    positions = np.arange(len(rows)) - np.searchsorted(rows, np.arange(len(column)))[rows]
    values = cast(_to_array(values, info) if len(values) else np.zeros(0), info)
    width = int(positions.max()) + 1 if len(positions) else 0
    return tf.compat.v1.SparseTensorValue(
        np.stack([rows, positions], axis=1), values, np.array([len(column), width], np.int64)
    )
