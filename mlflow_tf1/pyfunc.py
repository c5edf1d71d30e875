"""The object ``mlflow.pyfunc.load_model`` wraps: one loaded graph, any signature."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_tf1 import batching
from mlflow_tf1.examples import serialize
from mlflow_tf1.hooks import call_hook, load_hooks
from mlflow_tf1.inputs import decode_base64_examples, format_outputs, prepare_feeds
from mlflow_tf1.runtime import LoadedSavedModel, _first_line_of

SIGNATURE_PARAM = "signature_name"
MAX_BATCH_PARAM = "max_batch_size"


class TF1PyfuncModel:
    """Predicts with the signature named by ``params["signature_name"]``.

    Requests of more than ``max_batch_size`` rows run in chunks of that size.
    Holds no per-request state, so concurrent ``predict`` calls are safe.
    """

    def __init__(
        self,
        model: LoadedSavedModel,
        default_signature: str,
        max_batch_size: int = batching.DEFAULT_MAX_BATCH_SIZE,
        hooks: dict[str, Callable] | None = None,
    ):
        self._model = model
        self._default = default_signature
        self._max_batch_size = max_batch_size
        self._preprocess = (hooks or {}).get("preprocess")
        self._postprocess = (hooks or {}).get("postprocess")
        _warm_up(model, default_signature)

    def get_raw_model(self) -> LoadedSavedModel:
        """The native model: ``.signatures``, ``.backends``, ``.fallback_reasons``."""
        return self._model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._preprocess is not None:
            data = call_hook("preprocess", self._preprocess, data)
        predictions = self._predict(data, params)
        if self._postprocess is not None:
            predictions = call_hook("postprocess", self._postprocess, predictions)
        return predictions

    def _predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        name = (params or {}).get(SIGNATURE_PARAM) or self._default
        signature = self._model.signatures.get(name)
        if signature is None:
            raise MlflowException(
                f"Unknown signature '{name}'. Available signatures: "
                f"{sorted(self._model.signatures)}.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        limit = (params or {}).get(MAX_BATCH_PARAM)
        limit = self._max_batch_size if limit is None else int(limit)
        if limit < 1:
            raise MlflowException(f"{MAX_BATCH_PARAM} must be at least 1; got {limit}.",
                                  error_code=INVALID_PARAMETER_VALUE)  # fmt: skip
        rows = batching.row_count(data)
        if rows is not None and rows > limit and batching.splittable(signature.info):
            parts = [self._predict_once(name, signature, c) for c in batching.chunks(data, limit)]
            return batching.join(parts)
        return self._predict_once(name, signature, data)

    def _predict_once(self, name: str, signature, data: Any) -> Any:
        try:
            outputs = self._run(name, signature, data)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
            # The graph itself refused the values (e.g. a malformed tf.Example).
            raise MlflowException(
                f"Signature '{name}' rejected the input: {_first_line_of(e.message)}",
                error_code=INVALID_PARAMETER_VALUE,
            ) from None
        return format_outputs(outputs, as_frame=isinstance(data, pd.DataFrame))

    def _run(self, name: str, signature, data: Any) -> dict[str, Any]:
        parser = self._model.parsers.get(name)
        if parser is None:
            why = self._model.protos_only.get(name)
            if why is not None:
                data = _serialized_examples(data, name, signature.info, why)
            return signature.run(prepare_feeds(data, signature.info))
        if _holds(data, parser.input_key):
            data = decode_base64_examples(data, parser.input_key, name)
            return signature.run(prepare_feeds(data, signature.info))
        # Raw feature columns for a tf.Example signature.
        direct = self._model.feature_signatures.get(name)
        if direct is not None:
            return direct.run(prepare_feeds(data, direct.info))
        feeds = prepare_feeds(data, parser.feature_signature(signature.info))
        return signature.run({parser.input_key: serialize(feeds, parser.features)})


def _warm_up(model: LoadedSavedModel, name: str) -> None:
    """Run the default signature once on an empty batch, so TensorFlow builds its
    executor at load and the first real request is not the slow one. Signatures
    that change state (a counter's increment) are left alone."""
    if name in model.stateful:
        return
    for signature in (model.signatures.get(name), model.feature_signatures.get(name)):
        feeds = _empty_feeds(signature.info) if signature is not None else None
        if feeds is not None:
            try:
                signature.run(feeds)
            except (tf.errors.OpError, ValueError, MlflowException):
                pass  # graphs that reject empty batches warm up on their first request


def _empty_feeds(info) -> dict[str, Any] | None:
    if not info.inputs:
        return None
    feeds = {}
    for key, t in info.inputs.items():
        if t.shape is None or not t.shape or t.shape[0] != -1:
            return None
        dtype = object if t.dtype == "string" else tf.as_dtype(t.dtype).as_numpy_dtype
        if t.encoding == "coo_sparse":
            rank = len(t.shape)
            feeds[key] = tf.compat.v1.SparseTensorValue(
                np.zeros((0, rank), np.int64), np.zeros(0, dtype), np.zeros(rank, np.int64)
            )
        else:
            feeds[key] = np.zeros((0, *[max(d, 0) for d in t.shape[1:]]), dtype)
    return feeds


def _serialized_examples(data: Any, name: str, info, why: str) -> Any:
    """Protos only: raw feature columns are refused with the reason, base64 text decoded."""
    (key,) = info.inputs
    if isinstance(data, pd.DataFrame) and data.shape[1] == 1 and _holds_protos(data.iloc[:, 0]):
        data = data.set_axis([key], axis=1)  # the one input, whatever its column is named
    if not _holds(data, key):
        raise MlflowException(
            f"Signature '{name}' takes serialized tf.Examples in '{key}'; raw feature columns "
            f"can't be fed to it because {why}. Send the serialized protos (bytes; base64 text "
            'or {"b64": ...} in JSON).',
            error_code=INVALID_PARAMETER_VALUE,
        )
    return decode_base64_examples(data, key, name)


def _holds_protos(column: pd.Series) -> bool:
    """Bytes, base64 text or ``{"b64": ...}``: what a serialized-example column holds."""
    kind = pd.api.types.infer_dtype(column, skipna=True)
    return kind in ("bytes", "string") or (kind == "mixed" and isinstance(column.iloc[0], dict))


def _holds(data: Any, key: str) -> bool:
    """Whether ``data`` carries the signature's own input rather than raw features."""
    if isinstance(data, pd.DataFrame):
        return key in data.columns
    if isinstance(data, dict):
        return key in data or set(data) == {"b64"}  # TF Serving rows of base64 protos
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return key in data[0]
    return True


def _load_pyfunc(path: str) -> TF1PyfuncModel:
    """MLflow's pyfunc loader hook; ``path`` is the model's local folder."""
    from mlflow_tf1.flavor import _load_from_local_path, config_backend

    model, config = _load_from_local_path(path, config_backend(path))
    max_batch = config.get(MAX_BATCH_PARAM, batching.DEFAULT_MAX_BATCH_SIZE)
    hooks = load_hooks(path, config.get("hooks"))
    return TF1PyfuncModel(model, config["signature_name"], max_batch, hooks)
