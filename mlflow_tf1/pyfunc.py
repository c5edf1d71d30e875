"""The object ``mlflow.pyfunc.load_model`` wraps: one loaded graph, any signature."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow_tf1 import batching, logged_model
from mlflow_tf1.constants import DEFAULT_MAX_BATCH_SIZE, MAX_BATCH_PARAM, SIGNATURE_PARAM
from mlflow_tf1.errors import invalid
from mlflow_tf1.hooks import call_hook, load_hooks
from mlflow_tf1.plan import make_plans
from mlflow_tf1.quiet import quiet_tensorflow
from mlflow_tf1.runtime import LoadedSavedModel


class TF1PyfuncModel:
    """Predicts with the signature named by ``params["signature_name"]``.

    Every stateless signature is warmed up here, so no request pays for
    TensorFlow building its executor. Requests of more than ``max_batch_size``
    rows run in chunks of that size. Holds no per-request state, so concurrent
    ``predict`` calls are safe.
    """

    def __init__(
        self,
        model: LoadedSavedModel,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        hooks: dict[str, Callable] | None = None,
    ):
        self._model = model
        self._plans = make_plans(model)
        self._max_batch_size = max_batch_size
        self._preprocess = (hooks or {}).get("preprocess")
        self._postprocess = (hooks or {}).get("postprocess")
        with quiet_tensorflow():
            for plan in self._plans.values():
                plan.warm_up()

    def get_raw_model(self) -> LoadedSavedModel:
        """The native model: ``.signatures``, ``.backends``, ``.fallback_reasons``, ``.description``."""
        return self._model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._preprocess is not None:
            data = call_hook("preprocess", self._preprocess, data)
        predictions = self._predict(data, params)
        if self._postprocess is not None:
            predictions = call_hook("postprocess", self._postprocess, predictions)
        return predictions

    def _predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        name = (params or {}).get(SIGNATURE_PARAM) or None  # None: the default signature
        plan = self._plans[self._model.description.signature(name).key]
        limit = (params or {}).get(MAX_BATCH_PARAM)
        limit = self._max_batch_size if limit is None else int(limit)
        if limit < 1:
            raise invalid(f"{MAX_BATCH_PARAM} must be at least 1; got {limit}.")
        if plan.splittable:
            rows = batching.row_count(data)
            if rows is not None and rows > limit:
                return batching.join([plan.predict(c) for c in batching.chunks(data, limit)])
        return plan.predict(data)


def _load_pyfunc(path: str) -> TF1PyfuncModel:
    """MLflow's pyfunc loader hook; ``path`` is the model's local folder."""
    model = logged_model.read(path)
    loaded = logged_model.load_graph(model, model.pyfunc_backend)
    return TF1PyfuncModel(loaded, model.max_batch_size, load_hooks(path, model.hooks))
