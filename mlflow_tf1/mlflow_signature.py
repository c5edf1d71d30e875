"""The MLflow ``ModelSignature`` logged with a TF1 model.

No input schema on purpose: MLflow would enforce it before this flavor runs,
refusing float64 data for float32 tensors, lists, tf.Tensors, TF Serving's row
format and every signature but the default one. The flavor validates inputs
itself, per signature, and every signature's tensors are recorded in the
``tf1`` flavor of ``MLmodel``.

Outputs are described per row, as ``predict`` returns them for a DataFrame
(one column per output; ``[n, 1]`` tensors as scalars, wider ones as arrays):
``mlflow.pyfunc.spark_udf`` derives its default ``result_type`` from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

from mlflow_tf1.metadata import TensorInfo

_COLUMN_TYPES = {
    "float32": DataType.float,
    "float64": DataType.double,
    "int8": DataType.integer,
    "int16": DataType.integer,
    "int32": DataType.integer,
    "uint8": DataType.integer,
    "uint16": DataType.integer,
    "int64": DataType.long,
    "bool": DataType.boolean,
    "string": DataType.string,
}


def infer_signature(
    info: Any, signature_name: str, max_batch_size: int, with_outputs: bool = True
) -> ModelSignature:
    """Outputs of the default signature and the params.

    No outputs after a postprocess hook: what it returns is unknown until it runs.
    """
    dense = {
        k: t for k, t in info.signature(signature_name).outputs.items() if t.encoding == "dense"
    }
    outputs = _output_schema(dense) if dense and with_outputs else None
    params = ParamSchema(
        [
            ParamSpec("signature_name", "string", signature_name),
            ParamSpec("max_batch_size", "long", max_batch_size),
        ]
    )
    return ModelSignature(inputs=None, outputs=outputs, params=params)


def _output_schema(outputs: dict[str, TensorInfo]) -> Schema:
    columns = [_column(key, t) for key, t in outputs.items()]
    if all(c is not None for c in columns):
        return Schema(columns)
    return Schema([_tensor_spec(key, t) for key, t in outputs.items()])


def _column(key: str, info: TensorInfo) -> ColSpec | None:
    """A per-row column, or None where outputs are not one row per input row."""
    dtype = _COLUMN_TYPES.get(info.dtype)
    shape = info.shape
    if dtype is None or not shape or shape[0] != -1:
        return None
    rest = shape[1:]
    if rest in ((), (1,)):
        return ColSpec(dtype, key)
    element: DataType | Array = dtype
    for _ in rest:
        element = Array(element)
    return ColSpec(element, key)


def _tensor_spec(key: str, info: TensorInfo) -> TensorSpec:
    import tensorflow as tf

    dtype = np.dtype(object) if info.dtype == "string" else tf.as_dtype(info.dtype).as_numpy_dtype
    return TensorSpec(np.dtype(dtype), info.shape if info.shape is not None else (-1,), key)
