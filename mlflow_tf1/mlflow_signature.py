"""The MLflow ``ModelSignature`` logged with a TF1 model.

No input schema by default: MLflow would enforce it before this flavor runs,
refusing float64 data for float32 tensors, lists, tf.Tensors, TF Serving's row
format and every signature but the default one. The flavor validates inputs
itself, per signature, and every signature's tensors are recorded in the
``tf1`` flavor of ``MLmodel``.

``infer_feature_signature`` is the opt-in column schema for tf.Example models: the
raw features by name, for the registry and the scoring server's JSON parsing.

Outputs are described per row, as ``predict`` returns them for a DataFrame
(one column per output; ``[n, 1]`` tensors as scalars, wider ones as arrays):
``mlflow.pyfunc.spark_udf`` derives its default ``result_type`` from them.
"""

from __future__ import annotations

import os

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import (
    AnyType,
    Array,
    ColSpec,
    DataType,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
)

from mlflow_tf1.constants import MAX_BATCH_PARAM, SIGNATURE_PARAM
from mlflow_tf1.description import ModelDescription
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
    description: ModelDescription,
    max_batch_size: int,
    with_outputs: bool = True,
    inputs: Schema | None = None,
) -> ModelSignature:
    """Outputs of the default signature and the params.

    No outputs after a postprocess hook: what it returns is unknown until it runs.
    """
    signature_name = description.default_signature
    outputs = description.signature(signature_name).info.outputs
    dense = {k: t for k, t in outputs.items() if t.encoding == "dense"}
    outputs = _output_schema(dense) if dense and with_outputs else None
    params = ParamSchema(
        [
            ParamSpec(SIGNATURE_PARAM, "string", signature_name),
            ParamSpec(MAX_BATCH_PARAM, "long", max_batch_size),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def infer_feature_signature(
    saved_model_dir: str | os.PathLike,
    *,
    meta_graph_tags: list[str] | None = None,
    signature_name: str | None = None,
) -> ModelSignature:
    """A column-based signature over a tf.Example model's raw features, for ``signature=``.

    Opt-in: the registry then lists the features, but MLflow checks every
    request before the flavor runs, and its check of ``Any`` columns is a
    Python loop per cell (about 18 µs per 17-feature row, 7x the taxi model
    itself on 10,000 rows; docs/tf-example.md); extra columns are dropped with
    a warning. Outputs are the default signature's; params are added at save.
    """
    from mlflow_tf1.description import describe
    from mlflow_tf1.metadata import inspect_saved_model

    info, meta_graph = inspect_saved_model(saved_model_dir, meta_graph_tags)
    description = describe(info, meta_graph, signature_name)
    signature = infer_signature(description, 0, inputs=feature_columns(description))
    return ModelSignature(inputs=signature.inputs, outputs=signature.outputs)


def feature_columns(description: ModelDescription) -> Schema:
    """One optional ``Any`` column per raw feature of every signature, plus each serialized input.

    Optional: MLflow cannot say "these features, or the serialized example
    instead"; the flavor names a missing required feature itself. ``Any``,
    because every narrower MLflow type refuses or corrupts rows users send:
    ``long`` refuses the float64 pandas makes of an int column with gaps and
    ``double`` an int64 column; in TF Serving's JSON formats ``string`` turns a
    null into the text "None" and ``binary`` turns ``{"b64": ...}`` into the
    bytes of its repr. The flavor checks each feature's dtype and shape.
    """
    names: dict[str, None] = {}
    serialized = False
    for key, signature in description.signatures.items():
        parser = signature.parser
        if parser is None:
            _refuse_tensors(key, signature.info.inputs)
            names.update(dict.fromkeys(signature.info.inputs))
        else:
            serialized = True
            names.update(dict.fromkeys(parser.features))
            names[parser.input_key] = None
    if not serialized:
        raise MlflowException(
            "A feature column schema is for models whose signatures parse tf.Examples; "
            f"none of {sorted(description.signatures)} does.",
            INVALID_PARAMETER_VALUE,
        )
    return Schema([ColSpec(AnyType(), name, required=False) for name in names])


def _refuse_tensors(signature: str, inputs: dict[str, TensorInfo]) -> None:
    wide = [t.describe() for t in inputs.values() if t.shape not in ((-1,), (-1, 1))]
    if wide:
        raise MlflowException(
            f"Signature '{signature}' takes tensors, not feature columns: {', '.join(wide)}. "
            "A feature column schema needs every signature to parse tf.Examples or take "
            "one value per row (shape [-1] or [-1, 1]); log this model without one.",
            INVALID_PARAMETER_VALUE,
        )


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
