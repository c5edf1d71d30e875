"""``mlflow-tf1 serve`` for real: TF Serving's REST API next to MLflow's, on loopback.

Expected answers are TF Serving's own (its api_rest page and REST handler tests, for the
corpus models they use), arithmetic (half_plus_two: y = 0.5x + 2, half_plus_three:
0.5x + 3), TF Serving's metadata test file, or a raw ``tf.compat.v1.Session``.
One server serves two registry versions logged by the commands docs/replacing-tf-serving.md
shows; a second one a Chicago taxi estimator from outside the registry.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import sys
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
import tensorflow as tf
from click.testing import CliRunner
from tensorflow.core.protobuf import saved_model_pb2

import mlflow_tf1
from mlflow_tf1.cli import cli
from tests import tf1_models
from tests.conftest import PROJECT_ROOT, corpus_path
from tests.server_processes import mlflow_tf1_serve
from tests.test_cli import in_fresh_process
from tests.test_tf_example import FLOAT, INT64, STRING, taxi_examples
from tests.tf1_models import session_predict

pytestmark = pytest.mark.serving

PAGE = PROJECT_ROOT / "docs" / "replacing-tf-serving.md"
HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"
HALF_PLUS_THREE = "tf_serving/saved_model_half_plus_three/00000123"
TAXI = "tfx/chicago_taxi_estimator/1646034756"
MODEL = "demo"  # the page's registered model: version 1 half_plus_three, 2 half_plus_two


def h2(*xs: float) -> list[float]:
    return [0.5 * x + 2.0 for x in xs]


def h3(*xs: float) -> list[float]:
    return [0.5 * x + 3.0 for x in xs]


def status(*versions: int) -> dict:
    ok = {"error_code": "OK", "error_message": ""}
    return {
        "model_version_status": [
            {"version": str(v), "state": "AVAILABLE", "status": ok} for v in versions
        ]
    }


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    """A TF Serving model base path: version folders linking to the corpus exports."""
    root = tmp_path_factory.mktemp("models") / MODEL
    root.mkdir()
    (root / "1").symlink_to(corpus_path(HALF_PLUS_THREE), target_is_directory=True)
    (root / "2").symlink_to(corpus_path(HALF_PLUS_TWO), target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def server(base_path):
    """The page's migration loop and alias, then its ``mlflow-tf1 serve`` command."""
    for version in sorted(p.name for p in base_path.iterdir()):
        result = CliRunner().invoke(
            cli,
            ["log", str(base_path / version), "--registered-model-name", MODEL,
             "--tags", f"tf_serving_version={version}"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"registered_model_uri: models:/{MODEL}/{version}" in result.output
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "stable", 1)
    with mlflow_tf1_serve("-m", f"models:/{MODEL}/1", "-m", f"models:/{MODEL}/2") as url:
        yield url


def call(url: str, method: str, path: str, body=None) -> requests.Response:
    data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return requests.request(method, url + path, data=data, timeout=60)


def ok(url: str, path: str, body=None) -> dict:
    response = call(url, "POST" if body is not None else "GET", path, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


# ---------------------------------------------------------------------------------------------
# The page: every curl it shows, its shown answer, the oracle's, and the server's.

ORACLE = {
    ("GET", f"/v1/models/{MODEL}", None): status(2, 1),
    ("POST", f"/v1/models/{MODEL}:predict", '{"instances": [1.0, 2.0, 5.0]}'): {
        "predictions": h2(1, 2, 5)
    },
    ("POST", f"/v1/models/{MODEL}:predict", '{"inputs": {"x": [[1.0], [2.0]]}}'): {
        "outputs": [[y] for y in h2(1, 2)]
    },
    ("POST", f"/v1/models/{MODEL}/versions/1:predict", '{"instances": [1.0, 2.0, 5.0]}'): {
        "predictions": h3(1, 2, 5)
    },
    ("POST", f"/v1/models/{MODEL}/labels/stable:predict", '{"instances": [1.0, 2.0]}'): {
        "predictions": h3(1, 2)
    },
    (
        "POST",
        f"/v1/models/{MODEL}/versions/1:regress",
        '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}',
    ): {"results": h3(1, 2)},
    (
        "POST",
        f"/v1/models/{MODEL}:classify",
        '{"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}, {"x": 10.0}]}',
    ): {"results": [[["", y]] for y in h2(20, 10)]},
    (
        "POST",
        f"/v1/models/{MODEL}:regress",
        '{"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}',
    ): {"results": h2(80)},
}


def documented_curls() -> list[tuple[tuple, dict]]:
    """``((method, path, body), shown answer)`` for each ``$ curl`` line of the page."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        if not line.startswith("$ curl "):
            continue
        words = shlex.split(line[2:])
        body = words[words.index("-d") + 1] if "-d" in words else None
        path = re.sub(r"^http://localhost:8501", "", words[-1])
        found.append((("POST" if body else "GET", path, body), json.loads(lines[number + 1])))
    return found


def test_the_page_shows_the_oracles_answers():
    shown = documented_curls()
    assert len(shown) == len(ORACLE)
    for request, answer in shown:
        assert request in ORACLE, f"no oracle for the documented request {request}"
        assert answer == ORACLE[request], request


@pytest.mark.parametrize("request_", list(ORACLE), ids=lambda r: f"{r[0]} {r[1]}")
def test_documented_requests_get_the_oracles_answers(server, request_):
    method, path, body = request_
    response = call(server, method, path, body)
    assert response.status_code == 200, response.text
    assert response.json() == ORACLE[request_]


# ---------------------------------------------------------------------------------------------
# TF Serving's REST handler tests (half_plus_two, its 2-version model and version label).


def test_handler_tests_predict_answers(server):
    # http_rest_api_handler_test.cc: Predict, on half_plus_two (version 2 here).
    for body, key, xs in [
        ({"instances": [1.0, 2.0]}, "predictions", (1, 2)),
        ({"signature_name": "serving_default", "instances": [3.0, 4.0]}, "predictions", (3, 4)),
        ({"signature_name": "serving_default", "inputs": [3.0, 4.0]}, "outputs", (3, 4)),
    ]:
        assert ok(server, f"/v1/models/{MODEL}/versions/2:predict", body) == {key: h2(*xs)}
    # Regress / Classify: {"results": [42]}, {"results": [[["", 12]]]}, [[["", 7]]].
    regress = {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}
    assert ok(server, f"/v1/models/{MODEL}:regress", regress) == {"results": [42.0]}
    classify = {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]}
    assert ok(server, f"/v1/models/{MODEL}:classify", classify) == {"results": [[["", 7.0]]]}


def test_paths_are_case_insensitive_as_tf_servings_regex(server):
    assert ok(server, f"/V1/MODELS/{MODEL}") == status(2, 1)
    body = {"instances": [1.0]}
    assert ok(server, f"/V1/Models/{MODEL}/Versions/1:PREDICT", body) == {"predictions": h3(1)}


def test_floats_are_written_with_tf_servings_digits(server):
    # json_tensor_test.cc: %.6g, or %.9g where 6 digits would not read back as the float32.
    response = call(server, "POST", f"/v1/models/{MODEL}:predict", {"instances": [0.1, -3.9994]})
    assert response.status_code == 200, response.text
    assert response.text == '{"predictions": [2.05, 0.000300049782]}'
    assert np.float32(response.json()["predictions"][1]) == np.float32(-3.9994) * 0.5 + 2


def test_shapes_follow_the_request(server):
    # Rows given at the signature's full rank come back at full rank.
    rows = {"instances": [[1.0], [2.0]]}
    assert ok(server, f"/v1/models/{MODEL}:predict", rows) == {"predictions": [[2.5], [3.0]]}
    assert ok(server, f"/v1/models/{MODEL}:predict", {"inputs": [2.0]}) == {"outputs": [3.0]}
    named = {"instances": [{"x": [1.0]}, {"x": [4.0]}]}
    assert ok(server, f"/v1/models/{MODEL}:predict", named) == {"predictions": [[2.5], [4.0]]}
    # The 0.5x + 3 signature takes x2 itself; regress_x_to_y2 reads feature x2 (default 0).
    x2 = {"signature_name": "regress_x2_to_y3", "instances": [4.0]}
    assert ok(server, f"/v1/models/{MODEL}:predict", x2) == {"predictions": h3(4)}


def test_context_is_shared_by_every_example(server):
    body = {
        "signature_name": "regress_x_to_y",
        "context": {"x": 4.0},
        "examples": [{"x2": 1.0}, {"x2": 2.0}],
    }
    assert ok(server, f"/v1/models/{MODEL}:regress", body) == {"results": h2(4, 4)}


def test_b64_examples_in_predict(server):
    def example(x: float) -> dict:
        proto = tf.train.Example()
        proto.features.feature["x"].float_list.value.append(x)
        return {"b64": base64.b64encode(proto.SerializeToString()).decode()}

    body = {"signature_name": "regress_x_to_y", "instances": [example(2.0), example(4.0)]}
    # The parser makes x [2, 1] from the protos: TF Serving answers [[3.0], [4.0]] too.
    answer = {"predictions": [[y] for y in h2(2, 4)]}
    assert ok(server, f"/v1/models/{MODEL}:predict", body) == answer


def test_status_of_versions_and_labels(server):
    assert ok(server, f"/v1/models/{MODEL}/versions/1") == status(1)
    assert ok(server, f"/v1/models/{MODEL}/labels/stable") == status(1)


# saved_model_half_plus_two_2_versions_metadata.json, TF Serving's GetModelMetadata test file.
TF_SERVING_SERVING_DEFAULT = {
    "inputs": {
        "x": {
            "dtype": "DT_FLOAT",
            "tensor_shape": {
                "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                "unknown_rank": False,
            },
            "name": "x:0",
        }
    },
    "outputs": {
        "y": {
            "dtype": "DT_FLOAT",
            "tensor_shape": {
                "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                "unknown_rank": False,
            },
            "name": "y:0",
        }
    },
    "method_name": "tensorflow/serving/predict",
    "defaults": {},
}
TF_SERVING_CLASSIFY = {
    "inputs": {
        "inputs": {
            "dtype": "DT_STRING",
            "tensor_shape": {"dim": [], "unknown_rank": True},
            "name": "tf_example:0",
        }
    },
    "outputs": {
        "scores": {
            "dtype": "DT_FLOAT",
            "tensor_shape": {
                "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                "unknown_rank": False,
            },
            "name": "y:0",
        }
    },
    "method_name": "tensorflow/serving/classify",
    "defaults": {},
}


def signature_keys(export_dir) -> set[str]:
    """The SignatureDef keys saved_model.pb holds, read with the protobuf alone."""
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    return set(proto.meta_graphs[0].signature_def)


def test_metadata_is_tf_servings(server):
    answer = ok(server, f"/v1/models/{MODEL}/metadata")
    assert answer["model_spec"] == {"name": MODEL, "signature_name": "", "version": "2"}
    defs = answer["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == signature_keys(corpus_path(HALF_PLUS_TWO))
    assert defs["serving_default"] == TF_SERVING_SERVING_DEFAULT
    assert defs["classify_x_to_y"] == TF_SERVING_CLASSIFY
    older = ok(server, f"/v1/models/{MODEL}/versions/1/metadata")
    assert older["model_spec"]["version"] == "1"
    assert set(older["metadata"]["signature_def"]["signature_def"]) == signature_keys(
        corpus_path(HALF_PLUS_THREE)
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "needle"),
    [
        ("POST", "/v1/models/nope:predict", {"instances": [1.0]}, 404, "Servable not found for request: Latest(nope)"),
        ("POST", f"/v1/models/{MODEL}/versions/99:predict", {"instances": [1.0]}, 404, f"Specific({MODEL}, 99)"),
        ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("GET", f"/v1/models/{MODEL}/versions/99", None, 404, "Could not find version 99"),
        ("GET", "/v1/models/nope/metadata", None, 404, "Servable not found"),
        ("POST", f"/v1/models/{MODEL}/labels/nope:predict", {"instances": [1.0]}, 400, "Unrecognized servable version label: nope"),
        ("GET", "/v1/foo", None, 400, "Malformed request: GET /v1/foo"),
        ("POST", "/v1/models", "", 400, "Malformed request"),
        ("GET", "/v1/models", None, 400, "Missing model name in request."),
        ("GET", f"/v1/models/{MODEL}:predict", None, 400, "Malformed request"),
        ("POST", f"/v1/models/{MODEL}/versions/HELLO:regress", "", 400, "Malformed request"),
        ("POST", f"/v1/models/{MODEL}/versions/18446744073709551615:regress", "", 400, "Failed to convert version"),
        ("POST", f"/v1/models/{MODEL}/metadata", "", 400, "Malformed request"),
        ("POST", f"/v1/models/{MODEL}:predict", "", 400, "JSON Parse error: The document is empty"),
        ("POST", f"/v1/models/{MODEL}:predict", "instances = [1, 2]", 400, "JSON Parse error"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": ["x", "y"]}, 400, "float32"),
        ("POST", f"/v1/models/{MODEL}:predict", {"signature_name": 100}, 400, "'signature_name' key must be a string value."),
        ("POST", f"/v1/models/{MODEL}:predict", {"signature_name": "nope", "instances": [1.0]}, 400, "serving_default"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [1.0], "inputs": [1.0]}, 400, "only one of 'inputs' or 'instances'"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": []}, 400, "No values in 'instances' array"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [{"x": [1.0]}, [2.0]]}, 400, "Expecting object but got list"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [[1.0], {"x": [2.0]}]}, 400, "Expecting value/list but got object"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [16777217]}, 400, "holds integers exactly only up to 16777216"),
        ("POST", f"/v1/models/{MODEL}:predict", {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances' key"),
        # TF Serving feeds [[1, 2]] to x [-1, 1] as is; here the signature's shape is checked.
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [[1.0, 2.0]]}, 400, "shape"),
        ("POST", f"/v1/models/{MODEL}:classify", {"examples": [{"x": 2.0}]}, 400, "method_name to be tensorflow/serving/classify"),
        ("POST", f"/v1/models/{MODEL}:regress", {"signature_name": "regress_x_to_y"}, 400, "'examples' is expected"),
        ("POST", f"/v1/models/{MODEL}:regress", {"signature_name": "regress_x_to_y", "examples": []}, 400, "empty array"),
        # A whole number is an int64 feature, as TF Serving builds it; the graph parses floats.
        ("POST", f"/v1/models/{MODEL}:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2}]}, 400, "Data types don't match"),
        ("POST", f"/v1/models/{MODEL}:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": [1.0, "a"]}]}, 400, "Unexpected element type in feature: x"),
        ("POST", f"/v1/models/{MODEL}:regress", {"signature_name": "regress_x_to_y", "context": {"x": 1.0}, "examples": [{"x": 2.0}]}, 400, "both 'context' and example 0"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [[1.0], [3.0], [5.0, 6.0]]}, 400, "Expecting shape [1] but got [2] at position 2"),
        ("POST", f"/v1/models/{MODEL}:predict", {"instances": [1.0, [1.0]]}, 400, "Expecting shape [] but got [1] at position 1"),
        ("POST", f"/v1/models/{MODEL}:predict", {"inputs": {"x": [[1.0], [[2.0]]]}}, 400, "input 'x' is not a regular array"),
        ("GET", "/nothing", None, 404, "Not found"),
        ("GET", "/v2/models/nope", None, 404, "Not found"),
        ("PUT", f"/v1/models/{MODEL}:predict", {"instances": [1.0]}, 400, "Malformed request: PUT"),
        ("DELETE", f"/v1/models/{MODEL}", None, 400, "Malformed request: DELETE"),
    ],
)  # fmt: skip
def test_errors_are_tf_servings_and_the_server_keeps_serving(
    server, method, path, body, code, needle
):
    response = call(server, method, path, body)
    assert response.status_code == code, response.text
    assert needle in response.json()["error"]
    assert ok(server, f"/v1/models/{MODEL}:predict", {"instances": [2.0]}) == {"predictions": [3.0]}


def test_labels_follow_the_registry_alias(server):
    client = mlflow.MlflowClient()
    path = f"/v1/models/{MODEL}/labels/canary:predict"
    try:
        client.set_registered_model_alias(MODEL, "canary", 2)
        assert ok(server, path, {"instances": [2.0]}) == {"predictions": h2(2)}
        client.set_registered_model_alias(MODEL, "canary", 1)
        assert ok(server, path, {"instances": [2.0]}) == {"predictions": h3(2)}
        # An alias on a version this server does not serve.
        mlflow_tf1.log_model(str(corpus_path(HALF_PLUS_TWO)), registered_model_name=MODEL)
        client.set_registered_model_alias(MODEL, "canary", 3)
        response = call(server, "POST", path, {"instances": [2.0]})
        assert response.status_code == 400
        assert "points to version 3, which this server does not serve" in response.json()["error"]
    finally:
        client.delete_registered_model_alias(MODEL, "canary")


def test_mlflow_routes_are_mlflows(server):
    assert requests.get(f"{server}/ping", timeout=10).status_code == 200
    assert requests.get(f"{server}/health", timeout=10).status_code == 200
    assert requests.get(f"{server}/version", timeout=10).text == mlflow.__version__
    response = requests.post(f"{server}/invocations", json={"instances": [2.0, 3.0]}, timeout=30)
    # The highest version (half_plus_two), answered in MLflow's shape.
    assert response.json() == {"predictions": {"y": [[y] for y in h2(2, 3)]}}
    split = {"dataframe_split": {"columns": ["x"], "data": [[1.0], [5.0]]}}
    response = requests.post(f"{server}/invocations", json=split, timeout=30)
    assert response.json() == {"predictions": [{"y": y} for y in h2(1, 5)]}


# ---------------------------------------------------------------------------------------------
# A real estimator outside the registry: classes and scores, several outputs, b64 protos.


@pytest.fixture(scope="module")
def taxi():
    export = corpus_path(TAXI)
    frame = pd.read_csv(corpus_path("tfx/chicago_taxi.csv")).head(3)
    with mlflow.start_run():
        uri = mlflow_tf1.log_model(str(export)).model_uri
    with mlflow_tf1_serve("-m", uri, "--model-name", "taxi") as url:
        yield url, export, frame


def json_examples(frame: pd.DataFrame) -> list[dict]:
    """The rows as TF Serving JSON examples: ints for int64 features, decimals for floats."""
    examples = []
    for row in frame.to_dict("records"):
        example = {}
        for key, value in row.items():
            if pd.isna(value) or key not in STRING | INT64 | FLOAT:
                continue
            example[key] = (
                str(value) if key in STRING else int(value) if key in INT64 else float(value)
            )
        examples.append(example)
    return examples


def test_classify_answers_label_score_pairs(taxi):
    url, export, frame = taxi
    expected = session_predict(export, "serving_default", {"inputs": taxi_examples(frame)})
    answer = ok(url, "/v1/models/taxi:classify", {"examples": json_examples(frame)})
    assert ok(url, "/v1/models/taxi")["model_version_status"][0]["version"] == "1"
    results = answer["results"]
    assert len(results) == 3
    for row, classes, scores in zip(results, expected["classes"], expected["scores"], strict=True):
        assert [label for label, _ in row] == [c.decode() for c in classes]
        np.testing.assert_allclose([score for _, score in row], scores, rtol=1e-6)
    np.testing.assert_allclose(results[0][0][1], 0.82460, atol=1e-5)  # the corpus README's


def test_several_outputs_by_row_and_by_column(taxi):
    url, export, frame = taxi
    protos = taxi_examples(frame)
    expected = session_predict(export, "predict", {"examples": protos})
    b64 = [{"b64": base64.b64encode(p).decode()} for p in protos]
    rows = ok(url, "/v1/models/taxi:predict", {"signature_name": "predict", "instances": b64})
    predictions = rows["predictions"]
    assert [set(p) for p in predictions] == [set(expected)] * 3
    np.testing.assert_allclose([p["logits"] for p in predictions], expected["logits"], rtol=1e-6)
    assert [p["classes"] for p in predictions] == [
        [c.decode() for c in r] for r in expected["classes"]
    ]
    columns = ok(url, "/v1/models/taxi:predict", {"signature_name": "predict", "inputs": b64})
    assert set(columns["outputs"]) == set(expected)
    np.testing.assert_allclose(columns["outputs"]["logits"], expected["logits"], rtol=1e-6)
    # Context features are merged into every example, as TF Serving merges them.
    first, *_ = json_examples(frame)
    context = {k: v for k, v in first.items() if k in STRING}
    examples = [
        {k: v for k, v in e.items() if k not in STRING} for e in json_examples(frame.head(1))
    ]
    merged = ok(url, "/v1/models/taxi:classify", {"context": context, "examples": examples})
    np.testing.assert_allclose(
        [s for _, s in merged["results"][0]], expected_scores(export, frame.head(1)), rtol=1e-6
    )


def expected_scores(export, frame: pd.DataFrame) -> np.ndarray:
    return session_predict(export, "serving_default", {"inputs": taxi_examples(frame)})["scores"][0]


def test_image_classifier_takes_b64_images_on_both_apis(tmp_path):
    """TF Serving's resnet client sends ``{"instances": [{"b64": jpeg}]}``; MLflow's
    ``/invocations`` takes the same body. Plain base64 text is refused with the fix."""
    tf1_models.build_image_classifier(tmp_path / "export")
    with mlflow.start_run():
        uri = mlflow_tf1.log_model(str(tmp_path / "export")).model_uri
    images = [tf.io.encode_jpeg(np.full((9, 6, 3), v, np.uint8)).numpy() for v in (30, 90)]
    feeds = {"image_bytes": np.array(images, dtype=object)}
    expected = session_predict(tmp_path / "export", feeds=feeds)["brightness"].tolist()
    b64 = [{"b64": base64.b64encode(image).decode()} for image in images]
    with mlflow_tf1_serve("-m", uri, "--model-name", "images") as url:
        rows = ok(url, "/v1/models/images:predict", {"instances": b64})["predictions"]
        np.testing.assert_allclose(rows, expected, rtol=1e-6)
        answer = requests.post(f"{url}/invocations", json={"instances": b64}, timeout=60)
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"]["brightness"], expected, rtol=1e-6)
        text = {"inputs": {"image_bytes": [b["b64"] for b in b64]}}
        refused = call(url, "POST", "/v1/models/images:predict", text)
        assert refused.status_code == 400
        assert 'in JSON as {"b64": "<base64>"}' in refused.json()["error"]


# ---------------------------------------------------------------------------------------------
# The command itself.


def test_serve_refuses_mixed_models_before_loading_anything(server):
    mlflow_tf1.log_model(str(corpus_path(HALF_PLUS_TWO)), registered_model_name="other_model")
    result = CliRunner().invoke(
        cli, ["serve", "-m", f"models:/{MODEL}/1", "-m", "models:/other_model/1"]
    )
    assert result.exit_code == 2
    assert "Every -m must be a version of one registered model" in result.output
    result = CliRunner().invoke(
        cli, ["serve", "-m", f"models:/{MODEL}/1", "-m", f"models:/{MODEL}@stable"]
    )
    assert result.exit_code == 2
    assert "Each version may be served once" in result.output


def test_help_is_fast_and_imports_no_heavy_library():
    result, loaded = in_fresh_process("serve", "--help")
    assert result.returncode == 0, result.stderr
    assert "mlflow-tf1 serve -m models:/half_plus_two/1" in result.stdout
    assert "-h, --host" in result.stdout
    assert loaded == []
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mlflow_tf1.cli", "serve", "--help"],
            check=True,
            capture_output=True,
        )
        timings.append(time.perf_counter() - start)
    assert min(timings) < 1.0, timings
