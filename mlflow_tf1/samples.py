"""Small valid batches generated from a signature's description, for warm-up and checks.

A load warms every stateless signature on one (an empty batch fails in many
graphs, so it would warm nothing); the migration check and the TF2 export
compare backends on one. Values lie within every dtype's range and vary across rows;
strings are small JPEGs for signatures that decode images (TF Serving's classifiers).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mlflow_tf1.casting import numpy_dtype
from mlflow_tf1.description import SignatureDescription
from mlflow_tf1.examples import serialize
from mlflow_tf1.metadata import SignatureInfo, TensorInfo

ROWS = 4


def tensor_batch(info: SignatureInfo, *, images: bool) -> dict[str, Any] | None:
    """Exactly typed arrays (or SparseTensorValues) for every input; None where one can't be made.

    ``images``: string values are JPEGs, for graphs that decode them.
    """
    # A graph exported for a fixed batch (often one row) gets that many rows.
    fixed = {t.shape[0] for t in info.inputs.values() if t.shape and t.shape[0] > 0}
    rows = fixed.pop() if len(fixed) == 1 else ROWS
    batch = {}
    for key, t in info.inputs.items():
        value = _sparse(t, images, rows) if t.encoding == "coo_sparse" else _dense(t, images, rows)
        if value is None:
            return None
        batch[key] = value
    return batch


def feature_rows(signature: SignatureDescription) -> dict[str, Any] | None:
    """Raw feature columns for a tf.Example signature (one value per row for var-len ones)."""
    if signature.parser is None:
        return None
    features = signature.parser.feature_signature(signature.info)
    return tensor_batch(features, images=signature.decodes_images)


def feature_frame(signature: SignatureDescription) -> pd.DataFrame | None:
    """`feature_rows` as a user's table: one column per feature, one value per row."""
    features = feature_rows(signature)
    if features is None:
        return None
    columns = {}
    for key, value in features.items():
        values = value.values if isinstance(value, tf.compat.v1.SparseTensorValue) else value
        columns[key] = list(values) if values.ndim > 1 else values
    return pd.DataFrame(columns)


def serialized_examples(signature: SignatureDescription) -> dict[str, np.ndarray] | None:
    """Serialized tf.Examples built from the parse spec, keyed by the signature's input."""
    parser = signature.parser
    features = feature_rows(signature)
    if parser is None or features is None:
        return None
    return {parser.input_key: serialize(features, parser.features)}


def user_batch(
    signature: SignatureDescription, info: SignatureInfo | None = None
) -> dict[str, Any] | None:
    """What a user would send: serialized examples for tf.Example signatures, else tensors.

    ``info`` may carry the graph's own shapes where the SignatureDef has none.
    """
    if signature.parser is not None:
        return serialized_examples(signature)
    return tensor_batch(info or signature.info, images=signature.decodes_images)


def as_users_send(batch: Any) -> list[Any]:
    """``batch`` and the other forms users send it in: numbers widened to what JSON and
    pandas hand over (float64, int64), and None for a signature without inputs.

    A request's numbers rarely come in the tensor's own dtype, so the cast and
    its range checks run on nearly every call; warming only the exact form
    would leave the first request's path cold.
    """
    if not isinstance(batch, dict):
        return [batch]
    if not batch:
        return [batch, None]
    widened = {key: _widened(value) for key, value in batch.items()}
    return [batch] if all(widened[k] is batch[k] for k in batch) else [batch, widened]


def _widened(value: Any) -> Any:
    wide = {"f": np.float64, "i": np.int64, "u": np.int64}.get(
        getattr(value, "dtype", np.dtype("O")).kind
    )
    return value if wide is None or value.dtype == wide else value.astype(wide)


def _dense(t: TensorInfo, images: bool, rows: int = ROWS) -> np.ndarray | None:
    if t.dtype in ("unknown", "resource", "variant"):
        return None
    if t.shape is None:  # unknown rank: a vector is the likeliest to fit
        dims: tuple[int, ...] = (rows,)
    elif t.shape == ():
        dims: tuple[int, ...] = ()
    else:
        dims = (rows, *[d if d > 0 else 1 for d in t.shape[1:]])
    count = int(np.prod(dims, dtype=np.int64))
    if t.dtype == "string":
        # Digits: also valid where a graph parses its strings as numbers.
        strings = [_jpeg(i % 3) if images else str(i % 3 + 1).encode() for i in range(count)]
        values = np.array(strings, dtype=object)
    elif t.dtype == "bool":
        values = np.arange(count) % 2 == 0
    else:
        try:
            values = (np.arange(count) % 7 + 1).astype(numpy_dtype(t.dtype))
        except TypeError:
            return None
    return values.reshape(dims)


def _sparse(t: TensorInfo, images: bool, rows: int) -> tf.compat.v1.SparseTensorValue | None:
    """One value in each row's first position."""
    rank = 2 if t.shape is None else len(t.shape)
    values = _dense(TensorInfo(t.key, t.dtype, (-1,)), images, rows)
    if values is None or rank < 1:
        return None
    indices = np.zeros((rows, rank), np.int64)
    indices[:, 0] = np.arange(rows)
    # The declared size where the graph fixes one (feeds check it), else the one value.
    shape = np.array([d if d > 0 else 1 for d in (t.shape or (-1, -1))], np.int64)
    shape[0] = rows
    return tf.compat.v1.SparseTensorValue(indices, values, shape)


@functools.cache
def _jpeg(shade: int) -> bytes:
    """A 32x32 RGB JPEG of one grey: every TF image decoder but DecodeBmp reads it.

    Encoded in a private graph, so it works with eager execution off and adds
    nothing to a graph the caller may be building.
    """
    pixels = np.full((32, 32, 3), 64 * (shade + 1), np.uint8)
    with tf.Graph().as_default() as graph:
        encoded = tf.io.encode_jpeg(pixels)
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run(encoded)
