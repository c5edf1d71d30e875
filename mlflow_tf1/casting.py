"""Values to a tensor's dtype, refusing every value the cast would change.

JSON gives float64 and None, pandas gives NaN for gaps and Int64 with
``<NA>``; TF1 graphs want exact float32, int64, bool or bytes. A cast that
would overflow, round, truncate or invent a number is refused naming the input
and what is valid: a refusal beats a plausible wrong answer.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mlflow_tf1.errors import invalid
from mlflow_tf1.metadata import TensorInfo


@functools.lru_cache(maxsize=64)
def numpy_dtype(dtype: str) -> Any:
    """The numpy dtype a tensor dtype is fed as (``object`` for strings)."""
    return object if dtype == "string" else np.dtype(tf.as_dtype(dtype).as_numpy_dtype)


def cast(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    """``array`` as the tensor's dtype, refusing any value the cast would change."""
    if info.dtype == "string":
        return _to_bytes(array, info)
    np_type = numpy_dtype(info.dtype)
    if array.dtype == object or array.dtype.kind in "USV":
        array = _numeric_from_objects(array, info)
    if array.dtype.kind in _NO_NUMBER and array.dtype.kind != np_type.kind:
        raise invalid(
            f"Input '{info.key}' is {info.dtype}; got {_NO_NUMBER[array.dtype.kind]} "
            f"({array.dtype}), which a cast would silently change. Convert them to real "
            f"numbers first{_DATE_UNIT if array.dtype.kind in 'mM' else ''}."
        )
    if array.dtype.kind == "b" or np_type.kind == "b":
        return array if array.dtype == np_type else _to_bool(array, info, np_type)
    if np_type.kind in "iu":
        return array if array.dtype == np_type else _to_integers(array, info, np_type)
    out = _to_floats(array, info, np_type)
    if array.dtype.kind in "iu" and out.dtype.kind == "f":
        _refuse_rounded_integers(array, out, info)
    return out


# Kinds numpy would cast to a real number by dropping something: the imaginary
# part, or the unit (a date becomes nanoseconds since 1970, silently).
_NO_NUMBER = {"c": "complex numbers", "M": "dates/times", "m": "time spans"}
_DATE_UNIT = ", in the unit the model was trained on"


# Up to this many values (a batch-1 request), comparisons in Python prove a cast
# to floats safe in a third of the time numpy's reduction and errstate take.
_FEW_VALUES = 16


def _to_floats(array: np.ndarray, info: TensorInfo, np_type: Any) -> np.ndarray:
    """Cast; one sum proves there is no NaN and no overflow on the common path."""
    if array.size <= _FEW_VALUES and array.dtype.kind in "iuf":
        # Strictly inside the finite range (NaN fails both comparisons): the cast
        # can't overflow, so it needs no errstate; anything else takes the full path.
        limit = _finite_max(np_type)
        if all(-limit < v < limit for v in array.ravel().tolist()):
            return array if array.dtype == np_type else array.astype(np_type)
    if array.dtype != np_type and np_type.kind == "f":
        out = np.empty(array.shape, np_type)
        with np.errstate(over="ignore", invalid="ignore"):
            if _cast_into(array, out):
                return out
    with np.errstate(over="ignore", invalid="ignore"):
        out = array if array.dtype == np_type else array.astype(np_type)
        if out.dtype.kind != "f" or math.isfinite(np.add.reduce(out, axis=None)):
            return out
    # A tf.Example float_list may hold NaN (gaps were filled or refused before);
    # a dense tensor input's NaN is a JSON null or a pandas gap: missing.
    if not info.feature and np.isnan(out).any():
        rows = np.flatnonzero(np.isnan(out.reshape(len(out), -1)).any(axis=1)) if out.ndim else [0]
        raise invalid(
            f"Input '{info.key}' is {info.dtype}; got missing values (null/NaN) in row(s) "
            f"{np.asarray(rows)[:10].tolist()}. Send a number in every cell."
        )
    if array.dtype.kind in "iuf" and (np.isinf(out) & ~np.isinf(array)).any():
        limit = float(np.finfo(np_type).max)
        raise invalid(
            f"Input '{info.key}' is {info.dtype}; values must lie in [{-limit:g}, {limit:g}] "
            "(a larger value would become infinity)."
        )
    return out


def _refuse_rounded_integers(array: np.ndarray, out: np.ndarray, info: TensorInfo) -> None:
    """Integers the float dtype can't hold exactly (16777217 as float32) are refused, as
    TF Serving refuses them ("loss of precision"): a timestamp or an id would change."""
    exact = 2 ** (np.finfo(out.dtype).nmant + 1)
    if np.iinfo(array.dtype).max <= exact and np.iinfo(array.dtype).min >= -exact:
        return
    big = (array > exact) | (array < -exact)
    if not big.any():
        return
    pairs = zip(array[big].tolist(), out[big].tolist(), strict=True)
    changed = list(dict.fromkeys(v for v, c in pairs if int(c) != v))
    if changed:
        raise invalid(
            f"Input '{info.key}' is {info.dtype}, which holds integers exactly only up to "
            f"{exact} in magnitude; got {changed[:3]}, which would be rounded. Send them as "
            "floats if rounding is acceptable."
        )


@functools.lru_cache(maxsize=8)
def _finite_max(np_type: Any) -> float:
    return float(np.finfo(np_type).max)


def _to_integers(array: np.ndarray, info: TensorInfo, np_type: Any) -> np.ndarray:
    """Cast, proving nothing changed; the rest only finds the words for a refusal."""
    cast = np.empty(array.shape, np_type)
    with np.errstate(over="ignore", invalid="ignore"):
        if _cast_into(array, cast):
            return cast
    limits = np.iinfo(np_type)
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise invalid(f"Input '{info.key}' is {info.dtype}; got missing values (null/NaN).")
    if array.dtype.kind in "fc":
        with np.errstate(invalid="ignore"):
            bad = array[~np.isfinite(array) | (array != np.round(array))][:3]
        if bad.size:
            raise invalid(
                f"Input '{info.key}' is {info.dtype}; got non-integral values such as {bad.tolist()}."
            )
    raise invalid(
        f"Input '{info.key}' is {info.dtype}; values must lie in [{limits.min}, {limits.max}]."
    )


# Values per block of a large cast: a float64 block (256 kB) and its cast are
# still in the L2 cache when the check reads them back. Cast-then-check over a
# whole 6 MB image batch reads it from memory twice: measured 0.5-0.8 ms slower.
_BLOCK = 32768


def _cast_into(source: np.ndarray, out: np.ndarray, same: np.ndarray | None = None) -> bool:
    """Cast ``source`` into the fresh array ``out`` block by block; False as soon as a
    block's integers changed or its floats aren't all finite (one sum proves it).

    The caller holds ``np.errstate(over="ignore", invalid="ignore")`` and may lend
    ``same`` (bools, a block's worth): per image, both cost more than the cast.
    """
    source, flat = source.reshape(-1), out.reshape(-1)
    integral = out.dtype.kind in "iu"
    if same is None:
        same = np.empty(min(source.size, _BLOCK), np.bool_)
    for start in range(0, source.size, _BLOCK):
        block, cast = source[start : start + _BLOCK], flat[start : start + _BLOCK]
        np.copyto(cast, block, casting="unsafe")
        if integral:
            if not _all(np.equal(cast, block, out=same[: block.size])):
                return False
        elif not math.isfinite(np.add.reduce(cast)):
            return False
    return True


_all = np.logical_and.reduce  # ndarray.all() without its Python wrapper: ~1 us a call

# Values from which each DataFrame cell is cast straight into its place: below,
# numpy's per-call cost (about 3 us a cell) outweighs the float64 copy it saves.
_CELL_ALONE = 8192


def cast_rows(rows: list[np.ndarray], info: TensorInfo) -> np.ndarray:
    """Equal-shaped numeric rows (a DataFrame's cells) in the tensor's dtype, as one array.

    Large cells (images) are cast one by one into their place, never stacked as
    float64 first (6 MB for 64 images of 64x64x3) only to be cast down to uint8
    or float32. Medians for that batch, over runs in different machine states:
    0.66-0.94 ms against 0.70-1.39 ms stacked, 0.50-0.79 ms as one float64 array.
    """
    np_type = numpy_dtype(info.dtype)
    first = rows[0]
    if first.size < _CELL_ALONE or first.dtype == np_type or np_type.kind not in "iuf":
        return cast(np.stack(rows), info)
    out = np.empty((len(rows), *first.shape), np_type)
    same = np.empty(min(first.size, _BLOCK), np.bool_)
    with np.errstate(over="ignore", invalid="ignore"):
        for row, into in zip(rows, out, strict=True):
            if not _cast_into(row, into, same):
                # Refused with the whole batch's words (or valid after all: the check is strict).
                return cast(np.stack(rows), info)
    return out


def _numeric_from_objects(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    if any(isinstance(v, (str, bytes)) for v in array.flat):
        raise invalid(f"Input '{info.key}' is {info.dtype}; got strings.")
    if any(v is None or v is pd.NA for v in array.flat):
        raise invalid(
            f"Input '{info.key}' is {info.dtype}; got missing values (null/None). "
            "Send a number in every cell."
        )
    if array.dtype != object:
        return array
    try:
        if column_kind(array.reshape(-1)) == "integer":
            with contextlib.suppress(OverflowError):  # beyond int64: range-checked as floats
                return array.astype(np.int64)  # exact, unlike float64 beyond 2**53
        return array.astype(np.float64)
    except OverflowError:  # a JSON integer of hundreds of digits
        raise invalid(
            f"Input '{info.key}' is {info.dtype}; got a number beyond float64's range "
            f"(±{np.finfo(np.float64).max:.6g})."
        ) from None
    except (TypeError, ValueError) as e:
        raise invalid(f"Input '{info.key}' is {info.dtype}; could not read numbers: {e}") from None


def _to_bool(array: np.ndarray, info: TensorInfo, np_type: Any) -> np.ndarray:
    if np.issubdtype(np_type, np.bool_):
        if array.dtype.kind != "b" and not np.isin(array, (0, 1)).all():
            raise invalid(f"Input '{info.key}' is bool; got values other than 0/1/true/false.")
        return array.astype(np.bool_)
    raise invalid(f"Input '{info.key}' is {info.dtype}; got booleans.")


def _to_bytes(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    if array.dtype.kind == "S":
        return array.astype(object)
    missing = pd.isna(array)
    if missing.any():
        rows = np.flatnonzero(missing.reshape(len(missing), -1).any(axis=1)) if array.ndim else [0]
        raise invalid(
            f"Input '{info.key}' is a string tensor; got missing values (None/NaN) in "
            f"row(s) {np.asarray(rows)[:10].tolist()}."
        )
    kind = column_kind(array)
    if kind in ("bytes", "empty"):
        return array
    if kind == "string":
        out = np.empty(array.shape, dtype=object)
        out[:] = [v.encode("utf-8") for v in array.tolist()]
        return out
    if array.dtype.kind in "biufc" and array.size:
        raise invalid(
            f"Input '{info.key}' is a string tensor; got numbers ({array.dtype}, e.g. "
            f"{array.reshape(-1)[0].item()!r}). Send them as text: pandas reads a CSV column "
            f"of digits as numbers unless told otherwise (read_csv(..., dtype={{{info.key!r}: "
            "str}))."
        )
    out = np.empty(array.shape, dtype=object)
    flat_out = out.reshape(-1)
    for i, v in enumerate(array.reshape(-1)):
        if isinstance(v, bytes):
            flat_out[i] = v
        elif isinstance(v, str):
            flat_out[i] = v.encode("utf-8")
        else:
            raise invalid(
                f"Input '{info.key}' is a string tensor; got {type(v).__name__} "
                f"{v.item() if isinstance(v, np.generic) else v!r}. "
                'Pass str, bytes or {"b64": ...}.'
            )
    return out


def column_kind(values: Any) -> str:
    """pandas' vectorized guess of what a 1-D column holds ("string", "mixed", ...)."""
    if isinstance(values, np.ndarray) and values.ndim != 1:
        return "mixed"
    return pd.api.types.infer_dtype(values, skipna=True)
