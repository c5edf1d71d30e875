"""Graph outputs back to what the caller expects: named arrays, or a DataFrame for a DataFrame.

String tensors come back as ``str`` where they are valid UTF-8 (JSON can carry
them); other bytes are left as bytes.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


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
        # Wider outputs: one array per row, in an object column.
        columns[key] = v if v.ndim == 1 else np.fromiter(v, dtype=object, count=len(v))
    values = list(columns.values())
    if all(v.dtype == values[0].dtype for v in values):
        # One block of one dtype: about 8 µs against pandas' 50 µs for a dict of columns
        # (object columns: 4.3 against 4.9 ms for taxi's 10,000 rows of scores and classes).
        block = np.empty((len(values[0]), len(values)), dtype=values[0].dtype)
        for j, v in enumerate(values):
            block[:, j] = v
        return pd.DataFrame(block, columns=_column_index(tuple(columns)), copy=False)
    return pd.DataFrame(columns)


@functools.lru_cache(maxsize=256)
def _column_index(keys: tuple[str, ...]) -> pd.Index:
    """Output names as a column index, built once per signature (pandas builds it slowly)."""
    return pd.Index(keys)


def _decode_strings(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype == object and value.size:
        # Arrow checks and decodes the UTF-8 in C: taxi's 20,000 class labels
        # in 1.1 ms against 2.2 ms for a Python loop. One invalid value keeps
        # the whole output as bytes.
        try:
            text = pa.array(value.reshape(-1), type=pa.binary()).cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return value
        return text.to_numpy(zero_copy_only=False).reshape(value.shape)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value
