"""Split big requests into row chunks and join the answers.

A million-row request converted and run at once holds every intermediate
copy in memory; chunks keep the peak to one chunk's worth.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mlflow_tf1.metadata import SignatureInfo


def splittable(signature: SignatureInfo) -> bool:
    """Row-wise graphs only: every input and output has a leading batch dimension."""
    return _leading_dims(signature) == {-1}


def one_row_at_a_time(signature: SignatureInfo) -> bool:
    """A graph exported for batches of exactly one row (``[1, ...]`` in and out).

    Such graphs (mobile and detection exports) still answer row by row, so a
    request of several rows (a Spark batch, TF Serving ``instances``) runs one at a time.
    """
    return _leading_dims(signature) == {1}


def _leading_dims(signature: SignatureInfo) -> set[int | None]:
    """The first dimension of every tensor (None for sparse, unknown-rank or scalar ones)."""
    if not signature.inputs:
        return set()
    return {
        t.shape[0] if t.encoding == "dense" and t.shape else None
        for t in [*signature.inputs.values(), *signature.outputs.values()]
    }


def row_count(data: Any) -> int | None:
    """Rows in ``data`` when it is plainly row-shaped, else None (do not split)."""
    if isinstance(data, (pd.DataFrame, np.ndarray)) and np.ndim(data) >= 1:
        return len(data)
    if isinstance(data, list):
        return len(data)
    if isinstance(data, Mapping):
        lengths = {_rows(v) for v in data.values()} - {None}
        return lengths.pop() if len(lengths) == 1 else None
    return None


def _rows(value: Any) -> int | None:
    """Rows of one column; a sparse column (raw var-len feature) counts its dense rows."""
    if type(value) is np.ndarray:  # the common case first: every check below costs a call
        return len(value) if value.ndim else None
    if _is_sparse(value):
        return int(np.asarray(value.dense_shape)[0])
    if isinstance(value, (list, pd.Series)) or np.ndim(value):
        return len(value)
    return None


def _is_sparse(value: Any) -> bool:
    return isinstance(value, (tf.SparseTensor, tf.compat.v1.SparseTensorValue))


def _sparse_rows(value: Any, start: int, stop: int) -> tf.compat.v1.SparseTensorValue:
    """Rows ``start:stop`` of a sparse column; the other dimensions keep their size,
    so every chunk runs exactly as that row would in the whole batch."""
    indices, values = np.asarray(value.indices), np.asarray(value.values)
    shape = np.array(value.dense_shape, dtype=np.int64)
    keep = (indices[:, 0] >= start) & (indices[:, 0] < stop)
    kept = indices[keep].copy()
    kept[:, 0] -= start
    shape[0] = min(stop, shape[0]) - start
    return tf.compat.v1.SparseTensorValue(kept, values[keep], shape)


def chunks(data: Any, size: int) -> Iterator[Any]:
    total = row_count(data)
    for start in range(0, total, size):
        stop = start + size
        if isinstance(data, pd.DataFrame):
            yield data.iloc[start:stop]
        elif isinstance(data, Mapping):
            yield {
                k: _sparse_rows(v, start, stop) if _is_sparse(v) else v[start:stop]
                for k, v in data.items()
            }
        else:
            yield data[start:stop]


def join(parts: list[Any]) -> Any:
    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
