"""The object ``mlflow.pyfunc.load_model`` wraps: one loaded graph, any signature."""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.pyfunc import PyFuncModel

from mlflow_tf1 import batching, logged_model, samples
from mlflow_tf1.constants import (
    BATCH_TIMEOUT_ENV,
    BATCHING_ENV,
    DEFAULT_MAX_BATCH_SIZE,
    MAX_BATCH_PARAM,
    SIGNATURE_PARAM,
)
from mlflow_tf1.errors import invalid
from mlflow_tf1.hooks import call_hook, load_hooks
from mlflow_tf1.plan import Merging, make_plans
from mlflow_tf1.quiet import quiet_tensorflow
from mlflow_tf1.runtime import LoadedSavedModel
from mlflow_tf1.warmup_files import replay as replay_warmup_file

_logger = logging.getLogger(__name__)

# Calls per generated batch at load: the first builds the executor, the rest warm the Python.
WARM_UP_CALLS = 3
# A warm call this slow isn't repeated: what repeating warms (CPU caches, MLflow's
# per-call Python) is tens of microseconds, noise beside it.
REPEAT_BELOW_SECONDS = 1e-3


class TF1PyfuncModel:
    """Predicts with the signature named by ``params["signature_name"]``.

    Every stateless signature is warmed up here, so no request pays for
    TensorFlow building its executor. Requests of more than ``max_batch_size``
    rows run in chunks of that size. Holds no per-request state, so concurrent
    ``predict`` calls are safe. With ``batch_timeout_micros`` set, concurrent
    requests for one stateless signature are merged into one run (`request_batching`).
    """

    def __init__(
        self,
        model: LoadedSavedModel,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        hooks: dict[str, Callable] | None = None,
        batch_timeout_micros: int | None = None,
    ):
        self._model = model
        merging = None
        if batch_timeout_micros is not None:
            merging = Merging(max_batch_size, batch_timeout_micros / 1e6)
        self._plans = make_plans(model, merging)
        self._max_batch_size = max_batch_size
        self._preprocess = (hooks or {}).get("preprocess")
        self._postprocess = (hooks or {}).get("postprocess")

    def warm_up(self, metadata: Model, refused: dict[str, set[str]]) -> None:
        """Run each stateless signature's generated batches through MLflow's own predict.

        The first pass builds TensorFlow's executors; the later ones run MLflow's
        checks, the routing and the output formatting once more, so that the
        first request's Python is as warm as a steady one's (without them the
        first half_plus_two call costs about 4x a steady one), in each form
        users send (`samples.as_users_send`; matrix_half_plus_two first call ÷
        steady 2.4-3.1 -> 1.8-2.4 with float64 added). The user's
        hooks are left out: they expect the user's data, not generated batches.
        ``refused``: per signature, the batches TensorFlow refused when the model
        was logged (the graph's own check on the values, an assertion); skipped, since running
        them again would only log TensorFlow's warning at every load.
        """
        door = PyFuncModel(metadata, self, predict_fn="_predict")
        with quiet_tensorflow():
            for plan in self._plans.values():
                params = {SIGNATURE_PARAM: plan.key}
                for kind, batch in plan.generated_batches().items():
                    if kind in refused.get(plan.key, ()):
                        continue
                    try:
                        for form, sent in enumerate(samples.as_users_send(batch)):
                            _call_until_warm(door, sent, params, builds=form == 0)
                    except MlflowException as door_error:
                        # e.g. a logged input schema of raw columns that a generated
                        # batch of protos doesn't meet: TensorFlow's part still warms.
                        try:
                            plan.outputs(batch)
                        except MlflowException as e:
                            _logger.debug(
                                "Warm-up of signature '%s' (%s) failed: %s; through "
                                "mlflow.pyfunc: %s",
                                plan.key,
                                kind,
                                e,
                                door_error,
                            )

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
        params = params or {}
        name = params.get(SIGNATURE_PARAM) or None  # None: the default signature
        plan = self._plans.get(name) or self._plans[self._model.description.signature(name).key]
        limit = params.get(MAX_BATCH_PARAM)
        limit = self._max_batch_size if limit is None else int(limit)
        if limit < 1:
            raise invalid(f"{MAX_BATCH_PARAM} must be at least 1; got {limit}.")
        if plan.splittable or plan.one_row:
            limit = 1 if plan.one_row else limit
            rows = batching.row_count(data)
            if rows is not None and rows > limit:
                return batching.join([plan.predict(c) for c in batching.chunks(data, limit)])
        return plan.predict(data)


# MLflow's PyFuncModel.predict calls inspect.signature(predict) on every request to
# see whether it takes params; computed once here, that costs ~1 µs instead of ~30.
TF1PyfuncModel.predict.__signature__ = inspect.signature(TF1PyfuncModel.predict)


def _load_pyfunc(path: str) -> TF1PyfuncModel:
    """MLflow's pyfunc loader hook; ``path`` is the model's local folder."""
    model = logged_model.read(path)
    loaded = logged_model.load_graph(model, model.pyfunc_backend)
    if model.onnx_files or model.onnx_raw_row_files:
        from mlflow_tf1.onnx_backend import OnnxSignature

        for key, file in model.onnx_files.items():
            loaded.use(key, OnnxSignature(loaded.signatures[key].info, model.path / file))
        for key, file in model.onnx_raw_row_files.items():
            info = loaded.feature_signatures[key].info
            loaded.use_features(key, OnnxSignature(info, model.path / file))
    hooks = load_hooks(path, model.hooks)
    pyfunc_model = TF1PyfuncModel(loaded, model.max_batch_size, hooks, _batch_timeout(model))
    pyfunc_model.warm_up(model.metadata, model.refused_batches)
    replay_warmup_file(pyfunc_model, model.export_dir)  # TF Serving's assets.extra warm-up
    return pyfunc_model


def _call_until_warm(door: PyFuncModel, data: Any, params: dict[str, Any], builds: bool) -> None:
    """Up to ``WARM_UP_CALLS`` calls, fewer for a slow one; ``builds``: the first call may
    be building an executor (the first of a batch kind), so its time says nothing."""
    for call in range(WARM_UP_CALLS):
        start = time.perf_counter()
        door.predict(data, params=params)
        if (call or not builds) and time.perf_counter() - start >= REPEAT_BELOW_SECONDS:
            return


def _batch_timeout(model: logged_model.LoggedModel) -> int | None:
    """Microseconds a batch may wait, when server-side batching is on (else None).

    The environment (``mlflow-tf1 serve --enable-batching`` sets it) overrides
    what the model was saved with, so one model serves either way.
    """
    switch = os.environ.get(BATCHING_ENV, "").strip().lower()
    if switch not in ("", *_ON, *_OFF):
        raise invalid(f"{BATCHING_ENV}={switch!r}: use one of {[*_ON, *_OFF]}.")
    enabled = switch in _ON if switch else model.enable_batching
    if not enabled:
        return None
    timeout = os.environ.get(BATCH_TIMEOUT_ENV, "").strip() or model.batch_timeout_micros
    try:
        micros = int(timeout)
    except ValueError:
        micros = -1
    if micros < 0:
        raise invalid(f"{BATCH_TIMEOUT_ENV}={timeout!r}: use a whole number of microseconds >= 0.")
    return micros


_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
