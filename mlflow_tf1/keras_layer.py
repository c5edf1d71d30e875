"""One signature of a logged TF1 model as a Keras 3 layer, for feature extraction or fine-tuning.

The graph is lifted to TF2 as `mlflow_tf1.tf2_export.export_tf2` does, so
its variables are ``tf.Variable`` objects. Keras 3 tracks only its own
``keras.Variable``; each legacy variable is wrapped in one that shares the
same ``tf.Variable``, so ``model.fit`` and optimizers update the very
variables the TF1 graph reads.

Keras is imported on first use: importing ``mlflow_tf1`` stays free of it.
"""

from __future__ import annotations

import functools
import tempfile
from typing import TYPE_CHECKING, Any

from mlflow_tf1.errors import invalid
from mlflow_tf1.metadata import SignatureInfo
from mlflow_tf1.tf2_export import download_source, load_as_tf2, select_signatures

if TYPE_CHECKING:
    import keras


def keras_layer(
    model_uri: str,
    signature_name: str | None = None,
    output_key: str | None = None,
    trainable: bool = False,
) -> keras.layers.Layer:
    """A ``keras.layers.Layer`` computing one output of one signature of ``model_uri``.

    ``signature_name`` defaults to the model's default signature; ``output_key``
    may be left out only when the signature has one output. A one-input
    signature takes a tensor; several inputs take a dict keyed by input name.
    Inputs are cast to the signature's dtypes (no float autocasting).

    The layer's weights are the TF1 variables the output depends on.
    ``trainable=False`` (a frozen feature extractor) keeps them non-trainable;
    ``trainable=True`` makes those the TF1 graph trained trainable weights, so
    ``fit`` updates them. The graph runs as exported for serving: dropout stays
    off and batch normalization uses its stored statistics. Models whose
    signature cannot be lifted to TF2 are refused as by ``export_tf2``.
    """
    workdir = tempfile.TemporaryDirectory(prefix="mlflow_tf1_keras_")
    try:
        source = download_source(model_uri, workdir.name)
        [key] = select_signatures(source, [signature_name or source.description.default_signature])
        info = source.description.signatures[key].info
        output = _output_key(info, output_key)
        loaded = load_as_tf2(source, [key])
    except BaseException:
        workdir.cleanup()
        raise
    return _layer_class()(loaded, info, output, workdir, trainable=trainable)


def _output_key(info: SignatureInfo, output_key: str | None) -> str:
    available = sorted(info.outputs)
    if output_key is None and len(available) == 1:
        return available[0]
    if output_key is None:
        raise invalid(
            f"Signature '{info.key}' has several outputs; pass output_key= one of {available}."
        )
    if output_key not in info.outputs:
        raise invalid(
            f"Output '{output_key}' is not in signature '{info.key}'; "
            f"available outputs: {available}."
        )
    return output_key


@functools.cache
def _layer_class() -> type:
    """The layer class, built on first use so that Keras loads only when needed."""
    import keras
    import tensorflow as tf

    class LegacySignatureLayer(keras.layers.Layer):
        """One TF1 signature's output; the graph's variables are the layer's weights."""

        def __init__(
            self,
            loaded: Any,
            info: SignatureInfo,
            output_key: str,
            workdir: tempfile.TemporaryDirectory,
            trainable: bool,
        ):
            super().__init__(trainable=trainable, autocast=False)
            self._loaded = loaded  # owns the variables and tables the function captures
            self._workdir = workdir  # asset files the loaded object refers to
            self._signature = loaded.signatures[info.key]
            self._info = info
            self._output_key = output_key
            for variable in _variables_behind(self._signature, output_key):
                self._track_variable(
                    keras.Variable(
                        initializer=variable,  # shares the tf.Variable, no copy
                        trainable=variable.trainable,
                        dtype=variable.dtype,
                        shape=variable.shape,
                        name=variable.name.split(":")[0].replace("/", "_"),
                    )
                )
            self.built = True

        def call(self, inputs: Any) -> Any:
            feeds = self._feeds(inputs)
            return self._signature(**feeds)[self._output_key]

        def _feeds(self, inputs: Any) -> dict[str, Any]:
            keys = list(self._info.inputs)
            if not isinstance(inputs, dict):
                if len(keys) != 1:
                    raise invalid(f"Signature '{self._info.key}' takes inputs {keys}: pass a dict.")
                inputs = {keys[0]: inputs}
            if sorted(inputs) != sorted(keys):
                raise invalid(
                    f"Signature '{self._info.key}' takes inputs {keys}; got {sorted(inputs)}."
                )
            return {k: self._cast(v, k) for k, v in inputs.items()}

        def _cast(self, value: Any, key: str) -> Any:
            dtype = tf.as_dtype(self._info.inputs[key].dtype)
            value = tf.convert_to_tensor(value)
            return value if value.dtype == dtype else tf.cast(value, dtype)

    return LegacySignatureLayer


def _variables_behind(function: Any, output_key: str) -> list:
    """The function's variables that ``output_key`` depends on.

    A TF1 function captures every variable of the graph; tracking those the
    output never reads would only give Keras weights without gradients.
    """
    reached: set[str] = set()
    stack = [function.structured_outputs[output_key].op]
    while stack:
        op = stack.pop()
        if op.name not in reached:
            reached.add(op.name)
            stack.extend([t.op for t in op.inputs] + list(op.control_inputs))
    graph = function.graph
    read = {
        id(handle)
        for handle, placeholder in zip(
            graph.external_captures, graph.internal_captures, strict=True
        )
        if placeholder.op.name in reached
    }
    return [v for v in function.variables if id(v.handle) in read]
