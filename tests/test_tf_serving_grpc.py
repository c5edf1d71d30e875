"""``mlflow-tf1 serve --grpc-port``: TF Serving's gRPC API, called with tensorflow-serving-api's stubs.

One real server on loopback serves two registry versions (1: half_plus_three, 0.5x + 3;
2: half_plus_two, 0.5x + 2), with batching on, as a TF Serving client would reach it.
Expected values are arithmetic, TF Serving's own handler-test answers, the SavedModel's
protobuf, or a raw ``tf.compat.v1.Session`` (the Chicago taxi estimator).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import mlflow_tf1
from mlflow_tf1.tf_serving_protos import INSTALL_HINT
from tests.conftest import PROJECT_ROOT, corpus_path
from tests.server_processes import free_port, mlflow_tf1_serve
from tests.test_tf_example import taxi_examples
from tests.tf1_models import session_predict

pytestmark = pytest.mark.serving
grpc = pytest.importorskip("grpc", reason=INSTALL_HINT)
apis = pytest.importorskip("tensorflow_serving.apis", reason=INSTALL_HINT)
# Imported once importorskip has found the package.
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

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"
HALF_PLUS_THREE = "tf_serving/saved_model_half_plus_three/00000123"
TAXI = "tfx/chicago_taxi_estimator/1646034756"
MODEL = "grpc_demo"


def h2(*xs: float) -> list[float]:
    return [0.5 * x + 2.0 for x in xs]


def h3(*xs: float) -> list[float]:
    return [0.5 * x + 3.0 for x in xs]


class Client:
    """TF Serving's own stubs on one channel."""

    def __init__(self, port: int):
        self.channel_port = port
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)


@pytest.fixture(scope="module")
def client():
    mlflow_tf1.log_model(str(corpus_path(HALF_PLUS_THREE)), registered_model_name=MODEL)
    mlflow_tf1.log_model(str(corpus_path(HALF_PLUS_TWO)), registered_model_name=MODEL)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "stable", 1)
    port = free_port()
    with mlflow_tf1_serve(
        "-m", f"models:/{MODEL}/1", "-m", f"models:/{MODEL}/2",
        "--grpc-port", str(port), "--enable-batching",
    ):  # fmt: skip
        client = Client(port)
        yield client
        client.channel.close()


def predict_request(xs, version=None, label=None, signature="", key="x"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs[key].CopyFrom(tf.make_tensor_proto(np.array(xs, np.float32)))
    return request


def examples(*features: dict[str, float]) -> list[tf.train.Example]:
    protos = []
    for feature in features:
        proto = tf.train.Example()
        for name, value in feature.items():
            proto.features.feature[name].float_list.value.append(value)
        protos.append(proto)
    return protos


def examples_request(kind, signature, protos, context=None):
    request = kind()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    if context is None:
        request.input.example_list.examples.extend(protos)
    else:
        request.input.example_list_with_context.examples.extend(protos)
        request.input.example_list_with_context.context.CopyFrom(context)
    return request


def refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(request, timeout=60)
    return error.value


# ---------------------------------------------------------------------------------------------
# PredictionService.Predict


def test_predict_answers_tensors_with_the_model_spec_that_answered(client):
    response = client.predictions.Predict(predict_request([[1.0], [2.0], [5.0]]), timeout=60)
    y = tf.make_ndarray(response.outputs["y"])
    assert y.dtype == np.float32 and y.shape == (3, 1)
    np.testing.assert_array_equal(y[:, 0], h2(1, 2, 5))
    assert set(response.outputs) == {"y"}
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"


def test_versions_labels_and_signatures(client):
    older = client.predictions.Predict(predict_request([[1.0], [2.0]], version=1), timeout=60)
    np.testing.assert_array_equal(tf.make_ndarray(older.outputs["y"])[:, 0], h3(1, 2))
    assert older.model_spec.version.value == 1
    stable = client.predictions.Predict(predict_request([[4.0]], label="stable"), timeout=60)
    np.testing.assert_array_equal(tf.make_ndarray(stable.outputs["y"])[:, 0], h3(4))
    # regress_x2_to_y3 (0.5x + 3) takes x2 itself as its "inputs", answering "outputs".
    x2 = predict_request([[4.0]], signature="regress_x2_to_y3", key="inputs")
    response = client.predictions.Predict(x2, timeout=60)
    assert response.model_spec.signature_name == "regress_x2_to_y3"
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["outputs"])[:, 0], h3(4))


def test_concurrent_clients_each_get_their_own_rows(client):
    # Batching is on: requests in flight together are merged, and split back.
    def one(i: int) -> np.ndarray:
        xs = [[float(i)], [float(i) + 0.5]]
        response = client.predictions.Predict(predict_request(xs), timeout=60)
        return tf.make_ndarray(response.outputs["y"])[:, 0]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(32)))
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, h2(i, i + 0.5))


# ---------------------------------------------------------------------------------------------
# Classify and Regress: TF Serving's handler tests' answers (regress 80 -> 42, classify 10 -> 7).


def test_classify_and_regress(client):
    request = examples_request(
        classification_pb2.ClassificationRequest,
        "classify_x_to_y",
        examples({"x": 20.0}, {"x": 10.0}),
    )
    response = client.predictions.Classify(request, timeout=60)
    classes = [[(c.label, c.score) for c in r.classes] for r in response.result.classifications]
    assert classes == [[("", 12.0)], [("", 7.0)]]
    assert response.model_spec.signature_name == "classify_x_to_y"
    request = examples_request(
        regression_pb2.RegressionRequest, "regress_x_to_y", examples({"x": 80.0})
    )
    response = client.predictions.Regress(request, timeout=60)
    assert [r.value for r in response.result.regressions] == [42.0]
    assert response.model_spec.version.value == 2


def test_context_is_merged_into_every_example(client):
    (context,) = examples({"x": 4.0})
    request = examples_request(
        regression_pb2.RegressionRequest,
        "regress_x_to_y",
        examples({"x2": 1.0}, {"x2": 2.0}),
        context,
    )
    response = client.predictions.Regress(request, timeout=60)
    assert [r.value for r in response.result.regressions] == h2(4, 4)


# ---------------------------------------------------------------------------------------------
# PredictionService.MultiInference: the cases of TF Serving's multi_inference_test.cc

CLASSIFY_METHOD, REGRESS_METHOD = "tensorflow/serving/classify", "tensorflow/serving/regress"


def multi_request(tasks, protos, model=MODEL, version=None):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = model
        task.model_spec.signature_name = signature
        if version is not None:
            task.model_spec.version.value = version
    request.input.example_list.examples.extend(protos)
    return request


def test_multi_inference_runs_every_task_on_the_same_examples(client):
    protos = examples({"x": 2.0}, {"x": 10.0})
    tasks = [
        ("regress_x_to_y", REGRESS_METHOD),
        ("regress_x_to_y2", REGRESS_METHOD),
        ("classify_x_to_y", CLASSIFY_METHOD),
    ]
    response = client.predictions.MultiInference(multi_request(tasks, protos), timeout=60)
    first, second, third = response.results
    assert [r.value for r in first.regression_result.regressions] == h2(2, 10)
    assert [r.value for r in second.regression_result.regressions] == h3(2, 10)  # 0.5x + 3
    scores = [[c.score for c in r.classes] for r in third.classification_result.classifications]
    assert scores == [[v] for v in h2(2, 10)]
    specs = [(r.model_spec.name, r.model_spec.signature_name, r.model_spec.version.value)
             for r in response.results]  # fmt: skip
    assert specs == [(MODEL, key, 2) for key, _ in tasks]
    older = client.predictions.MultiInference(
        multi_request([("tensorflow/serving/regress", REGRESS_METHOD)], protos, version=1),
        timeout=60,
    )
    assert [r.value for r in older.results[0].regression_result.regressions] == h3(2, 10)


def test_multi_inference_refusals_are_tf_servings(client):
    x = examples({"x": 2.0})
    regress = ("regress_x_to_y", REGRESS_METHOD)
    other_model = multi_request([regress], x)
    other_model.tasks.add(method_name=REGRESS_METHOD).model_spec.name = "ModelDoesNotExist"
    cases = [
        (multi_request([regress], []), grpc.StatusCode.INVALID_ARGUMENT, "Input is empty"),
        (multi_request([("ThisSignatureDoesNotExist", REGRESS_METHOD)], x), grpc.StatusCode.INVALID_ARGUMENT, "regress_x_to_y2"),
        (other_model, grpc.StatusCode.INVALID_ARGUMENT, "must access the same model name"),
        (multi_request([regress, regress], x), grpc.StatusCode.INVALID_ARGUMENT, "Duplicate evaluation of signature: regress_x_to_y"),
        (multi_request([("serving_default", "tensorflow/serving/predict")], x), grpc.StatusCode.UNIMPLEMENTED, "Unsupported signature method_name"),
        (multi_request([regress, ("regress_x2_to_y3", REGRESS_METHOD)], examples({"x": 2.0, "x2": 2.0})), grpc.StatusCode.INVALID_ARGUMENT, "Input tensor must be the same"),
        (multi_request([("classify_x_to_y", REGRESS_METHOD)], x), grpc.StatusCode.INVALID_ARGUMENT, "method_name to be tensorflow/serving/regress"),
        (multi_request([regress], x, model="nope"), grpc.StatusCode.NOT_FOUND, "Latest(nope)"),
        (inference_pb2.MultiInferenceRequest(), grpc.StatusCode.INVALID_ARGUMENT, "no tasks"),
    ]  # fmt: skip
    for request, code, needle in cases:
        error = refused(client.predictions.MultiInference, request)
        assert error.code() == code, (needle, error.details())
        assert needle in error.details(), error.details()
    answer = client.predictions.MultiInference(multi_request([regress], x), timeout=60)
    assert [r.value for r in answer.results[0].regression_result.regressions] == h2(2)


# ---------------------------------------------------------------------------------------------
# GetModelMetadata and ModelService.GetModelStatus


def signature_defs(export_dir) -> dict:
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    return dict(proto.meta_graphs[0].signature_def)


def test_metadata_is_the_saved_models_signature_defs(client):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = MODEL
    response = client.predictions.GetModelMetadata(request, timeout=60)
    assert response.model_spec.name == MODEL and response.model_spec.version.value == 2
    defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(defs)
    assert dict(defs.signature_def) == signature_defs(corpus_path(HALF_PLUS_TWO))
    request.model_spec.version.value = 1
    response = client.predictions.GetModelMetadata(request, timeout=60)
    assert response.metadata["signature_def"].Unpack(defs)
    assert dict(defs.signature_def) == signature_defs(corpus_path(HALF_PLUS_THREE))


def status_of(client, **spec) -> list[tuple[int, int, int]]:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = spec.pop("name", MODEL)
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]
    response = client.models.GetModelStatus(request, timeout=60)
    return [(s.version, s.state, s.status.error_code) for s in response.model_version_status]


def test_model_status(client):
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status_of(client) == [(2, available, 0), (1, available, 0)]
    assert status_of(client, version=1) == [(1, available, 0)]
    assert status_of(client, label="stable") == [(1, available, 0)]


# ---------------------------------------------------------------------------------------------
# Errors: TF Serving's codes and messages; the server keeps serving.


def test_errors_are_status_codes_and_the_server_keeps_serving(client):
    stub = client.predictions
    nope = predict_request([[1.0]])
    nope.model_spec.name = "nope"
    cases = [
        (stub.Predict, nope, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
        (stub.Predict, predict_request([[1.0]], version=99), grpc.StatusCode.NOT_FOUND, f"Specific({MODEL}, 99)"),
        (stub.Predict, predict_request([[1.0]], label="nope"), grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: nope"),
        (stub.Predict, predict_request([[1.0]], signature="nope"), grpc.StatusCode.INVALID_ARGUMENT, "serving_default"),
        (stub.Predict, predict_request([[1.0, 2.0]]), grpc.StatusCode.INVALID_ARGUMENT, "shape"),
        (stub.Classify, examples_request(classification_pb2.ClassificationRequest, "", examples({"x": 1.0})), grpc.StatusCode.INVALID_ARGUMENT, "method_name to be tensorflow/serving/classify"),
        (stub.Regress, examples_request(regression_pb2.RegressionRequest, "regress_x_to_y", []), grpc.StatusCode.INVALID_ARGUMENT, "Input is empty"),
        (stub.GetModelMetadata, get_model_metadata_pb2.GetModelMetadataRequest(), grpc.StatusCode.INVALID_ARGUMENT, "at least one metadata_field"),
    ]  # fmt: skip
    strings = predict_request([[1.0]])
    strings.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[b"a"]], object)))
    cases.append((stub.Predict, strings, grpc.StatusCode.INVALID_ARGUMENT, "float32"))
    filtered = predict_request([[1.0]])
    filtered.output_filter.append("z")
    cases.append((stub.Predict, filtered, grpc.StatusCode.INVALID_ARGUMENT, "output tensor alias not found in signature: z"))  # fmt: skip
    for call, request, code, needle in cases:
        error = refused(call, request)
        assert error.code() == code, (needle, error.details())
        assert needle in error.details(), error.details()
        answer = stub.Predict(predict_request([[2.0]]), timeout=60)
        np.testing.assert_array_equal(tf.make_ndarray(answer.outputs["y"]), [[3.0]])
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "nope"
    assert refused(client.models.GetModelStatus, status).code() == grpc.StatusCode.NOT_FOUND
    status.model_spec.name = MODEL
    status.model_spec.version.value = 99
    error = refused(client.models.GetModelStatus, status)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "Could not find version 99" in error.details()


# ---------------------------------------------------------------------------------------------
# A real estimator outside the registry: labels and scores, several outputs, string tensors.


@pytest.fixture(scope="module")
def taxi():
    export = corpus_path(TAXI)
    frame = pd.read_csv(corpus_path("tfx/chicago_taxi.csv")).head(3)
    with mlflow.start_run():
        uri = mlflow_tf1.log_model(str(export)).model_uri
    port = free_port()
    with mlflow_tf1_serve("-m", uri, "--model-name", "taxi", "--grpc-port", str(port)):
        client = Client(port)
        yield client, export, taxi_examples(frame)
        client.channel.close()


def test_taxi_classify_and_predict(taxi):
    client, export, protos = taxi
    expected = session_predict(export, "serving_default", {"inputs": protos})
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "taxi"
    request.input.example_list.examples.extend(tf.train.Example.FromString(p) for p in protos)
    response = client.predictions.Classify(request, timeout=60)
    rows = response.result.classifications
    assert [[c.label for c in r.classes] for r in rows] == [
        [c.decode() for c in row] for row in expected["classes"]
    ]
    # Scores are float32 in the proto, as TF Serving sends them. The taxi graph runs without
    # Grappler's rewrites (docs/replacing-tf-serving.md), so a score may differ from the raw
    # Session's in its last bits: equal within float32's rounding, never more.
    np.testing.assert_allclose(
        [[c.score for c in r.classes] for r in rows], expected["scores"], rtol=1e-6
    )

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "taxi", "predict"
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(np.array(protos, object)))
    expected = session_predict(export, "predict", {"examples": protos})
    response = client.predictions.Predict(request, timeout=60)
    assert set(response.outputs) == set(expected)
    for key, value in expected.items():
        got = tf.make_ndarray(response.outputs[key])
        assert got.dtype == value.dtype or got.dtype == object, key
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, value, rtol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(got, value, err_msg=key)
    request.output_filter.append("logits")
    response = client.predictions.Predict(request, timeout=60)
    assert set(response.outputs) == {"logits"}


# ---------------------------------------------------------------------------------------------
# The page's client snippet, run as shown (on this server's port and model name).


def test_the_pages_grpc_client_gets_the_answer_it_shows(client):
    page = (PROJECT_ROOT / "docs" / "replacing-tf-serving.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    (snippet,) = [b for b in blocks if "PredictionServiceStub" in b]
    assert (
        "# float32 [2, 1]: 2.5 and 3.0" in snippet and "# 2: the version that answered" in snippet
    )
    port = client.channel_port
    namespace: dict = {}
    code = snippet.replace("localhost:8500", f"127.0.0.1:{port}").replace('"demo"', f'"{MODEL}"')
    exec(code, namespace)  # noqa: S102 -- the page's own client code, on the test server
    assert namespace["y"].dtype == np.float32
    np.testing.assert_array_equal(namespace["y"], [[y] for y in h2(1, 2)])
    assert namespace["response"].model_spec.version.value == 2
