"""TF Serving's gRPC API on the served versions: PredictionService (Predict, Classify,
Regress, MultiInference, GetModelMetadata) and ModelService.GetModelStatus.

The messages and service stubs are ``tensorflow-serving-api``'s own, so TF Serving's
clients connect unchanged. Each call runs through `calls` on the version's pyfunc
model, as the REST API does; tensors cross with ``tf.make_ndarray`` /
``tf.make_tensor_proto``. Refusals are gRPC errors: an unknown model or version
``NOT_FOUND``, any other bad request ``INVALID_ARGUMENT``, with the REST API's message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
import tensorflow as tf
from mlflow.exceptions import MlflowException
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from mlflow_tf1.errors import invalid
from mlflow_tf1.serving import calls
from mlflow_tf1.serving.versions import ServedModel, ServedVersion

_logger = logging.getLogger(__name__)

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    501: grpc.StatusCode.UNIMPLEMENTED,
}
_TASK_VERBS = {
    "tensorflow/serving/classify": calls.CLASSIFY,
    "tensorflow/serving/regress": calls.REGRESS,
}
_METADATA_FIELD = "signature_def"
# Concurrent calls: each waits in TensorFlow (GIL released), and batching merges them.
_WORKERS = 32
# TF Serving accepts messages of any size (up to 2 GB); so does this server.
_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def start(served: ServedModel, host: str, port: int) -> grpc.Server:
    """A started gRPC server for ``served`` on ``host:port``; stop it with ``.stop(grace)``."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=_WORKERS), options=_OPTIONS)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService(served), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(served), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        raise invalid(f"Could not listen for gRPC on {address}: {e}") from None
    if bound == 0:
        raise invalid(f"Could not listen for gRPC on {address} (is the port in use?).")
    server.start()
    return server


def _answer(context: grpc.ServicerContext, name: str, call: Callable[[], Any]) -> Any:
    """``call()``'s response; a refusal aborts with its code and message, a bug with INTERNAL."""
    try:
        return call()
    except MlflowException as e:
        code = _CODES.get(e.get_http_status_code(), grpc.StatusCode.INTERNAL)
        message = e.message
    except Exception:  # a bug: logged with its traceback, and the server keeps serving
        _logger.exception("TF Serving gRPC call %s failed", name)
        code, message = grpc.StatusCode.INTERNAL, f"Internal error in {name}; see the server log."
    context.abort(code, message)


def _target(served: ServedModel, spec: Any) -> ServedVersion:
    version, label = _version_choice(spec)
    return served.version(spec.name, version, label)


def _version_choice(spec: Any) -> tuple[int | None, str | None]:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


def _model_spec(response_spec: Any, served: ServedModel, target: ServedVersion, key: str) -> None:
    """The response's model_spec: the model, the version that answered, the signature run."""
    response_spec.name = served.name
    response_spec.version.value = target.version
    response_spec.signature_name = key


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, served: ServedModel):
        self._served = served

    # The service's own method names (PascalCase), as the generated servicer declares them.
    def Predict(self, request, context):
        return _answer(context, "Predict", lambda: self._predict(request))

    def Classify(self, request, context):
        return _answer(context, "Classify", lambda: self._classify(request))

    def Regress(self, request, context):
        return _answer(context, "Regress", lambda: self._regress(request))

    def MultiInference(self, request, context):
        return _answer(context, "MultiInference", lambda: self._multi_inference(request))

    def GetModelMetadata(self, request, context):
        return _answer(context, "GetModelMetadata", lambda: self._metadata(request))

    def _predict(self, request) -> predict_pb2.PredictResponse:
        target = _target(self._served, request.model_spec)
        inputs = {key: _array(key, proto) for key, proto in request.inputs.items()}
        name = request.model_spec.signature_name or None
        signature, outputs = calls.predict(target.model, target.description, name, inputs)
        response = predict_pb2.PredictResponse()
        _model_spec(response.model_spec, self._served, target, signature.key)
        for key in calls.output_filter(signature, list(request.output_filter)):
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
        return response

    def _on_examples(self, request, method: str) -> tuple[Any, Any, dict[str, Any], int]:
        """What Classify and Regress share: the version, the signature run, its outputs, rows."""
        target = _target(self._served, request.model_spec)
        examples = calls.input_examples(request.input)
        name = request.model_spec.signature_name or None
        signature, outputs = calls.examples_call(
            target.model, target.description, name, method, examples
        )
        return target, signature, outputs, len(examples)

    def _classify(self, request) -> classification_pb2.ClassificationResponse:
        target, signature, outputs, rows = self._on_examples(request, calls.CLASSIFY)
        response = classification_pb2.ClassificationResponse()
        _model_spec(response.model_spec, self._served, target, signature.key)
        _classification_result(response.result, outputs, rows)
        return response

    def _regress(self, request) -> regression_pb2.RegressionResponse:
        target, signature, outputs, rows = self._on_examples(request, calls.REGRESS)
        response = regression_pb2.RegressionResponse()
        _model_spec(response.model_spec, self._served, target, signature.key)
        _regression_result(response.result, outputs, rows)
        return response

    def _multi_inference(self, request) -> inference_pb2.MultiInferenceResponse:
        tasks = request.tasks
        if not tasks:
            raise invalid(calls.NO_TASKS)
        if any(not task.model_spec.name for task in tasks):
            raise invalid("Found ModelSpec with an empty model name.")
        if len({task.model_spec.name for task in tasks}) > 1:
            raise invalid(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        target = _target(self._served, tasks[0].model_spec)
        answers, rows = calls.multi_inference(
            target.model,
            target.description,
            [(task.model_spec.signature_name or None, task.method_name) for task in tasks],
            request.input,
        )
        response = inference_pb2.MultiInferenceResponse()
        for key, verb, outputs in answers:
            result = response.results.add()
            _model_spec(result.model_spec, self._served, target, key)
            if verb == calls.CLASSIFY:
                _classification_result(result.classification_result, outputs, rows)
            else:
                _regression_result(result.regression_result, outputs, rows)
        return response

    def _metadata(self, request) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != _METADATA_FIELD:
                raise invalid(
                    f"Metadata field {field} is not supported; the one supported is "
                    f"'{_METADATA_FIELD}'."
                )
        target = _target(self._served, request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self._served.name
        response.model_spec.version.value = target.version
        defs = get_model_metadata_pb2.SignatureDefMap()
        for key, proto in target.signature_defs.items():
            defs.signature_def[key].CopyFrom(proto)
        response.metadata[_METADATA_FIELD].Pack(defs)
        return response


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, served: ServedModel):
        self._served = served

    def GetModelStatus(self, request, context):
        return _answer(context, "GetModelStatus", lambda: self._status(request))

    def _status(self, request) -> get_model_status_pb2.GetModelStatusResponse:
        spec = request.model_spec
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in self._served.status_versions(spec.name, *_version_choice(spec)):
            entry = response.model_version_status.add(
                version=version, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE
            )
            entry.status.SetInParent()  # error_code OK, as TF Serving sends it
        return response


def _classification_result(result: Any, outputs: dict[str, Any], rows: int) -> None:
    found = calls.classes(outputs, rows)
    rows, width = found.shape
    for i in range(rows):
        classifications = result.classifications.add()
        for j in range(width):
            entry = classifications.classes.add()
            if found.labels is not None:
                entry.label = found.labels[i][j]
            if found.scores is not None:
                entry.score = float(found.scores[i][j])


def _regression_result(result: Any, outputs: dict[str, Any], rows: int) -> None:
    for value in calls.regressions(outputs, rows):
        result.regressions.add(value=float(value))


def _array(key: str, proto: Any) -> Any:
    """A request's TensorProto as a numpy array (a malformed one is the request's fault)."""
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as e:
        raise invalid(f"Input '{key}' is not a valid TensorProto: {e}") from None
