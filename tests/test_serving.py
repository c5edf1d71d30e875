"""The stock ``mlflow models serve`` scoring server, for real, on loopback."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import mlflow
import pytest
import requests
import tensorflow as tf

import mlflow_tf1
from tests.conftest import corpus_path
from tests.server_processes import free_port, wait_until_answering

pytestmark = pytest.mark.serving


@contextlib.contextmanager
def serving(model_uri: str) -> Iterator[str]:
    """``mlflow models serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    # MLflow launches `uvicorn` by name: the interpreter's bin folder must be on PATH.
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
    }
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, url, "mlflow models serve", timeout=120)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    path = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    mlflow_tf1.log_model(str(path), registered_model_name="served_half_plus_two")
    version = mlflow.MlflowClient().get_latest_versions("served_half_plus_two")[0].version
    with serving(f"models:/served_half_plus_two/{version}") as url:
        yield url


def invoke(url: str, body: dict) -> requests.Response:
    return requests.post(f"{url}/invocations", json=body, timeout=30)


def predictions(url: str, body: dict):
    response = invoke(url, body)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def example_b64(x: float) -> dict:
    example = tf.train.Example()
    example.features.feature["x"].float_list.value.append(x)
    return {"b64": base64.b64encode(example.SerializeToString()).decode()}


def test_dataframe_formats(server):
    split = {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0], [5.0]]}}
    assert predictions(server, split) == [{"y": 2.5}, {"y": 3.0}, {"y": 4.5}]
    records = {"dataframe_records": [{"x": 1.0}, {"x": 2.0}]}
    assert predictions(server, records) == [{"y": 2.5}, {"y": 3.0}]


def test_tf_serving_row_and_columnar_formats(server):
    assert predictions(server, {"instances": [2.0, 3.0, 4.0]}) == {"y": [[3.0], [3.5], [4.0]]}
    rows = {"instances": [{"x": [2.0]}, {"x": [4.0]}]}
    assert predictions(server, rows) == {"y": [[3.0], [4.0]]}
    assert predictions(server, {"inputs": {"x": [[2.0], [3.0]]}}) == {"y": [[3.0], [3.5]]}
    assert predictions(server, {"inputs": [2.0]}) == {"y": [[3.0]]}


def test_params_choose_signature_with_base64_examples(server):
    body = {
        "inputs": {"inputs": [example_b64(2.0), example_b64(4.0)]},
        "params": {"signature_name": "regress_x_to_y"},
    }
    assert predictions(server, body) == {"outputs": [[3.0], [4.0]]}
    body["params"] = {"signature_name": "classify_x_to_y"}
    assert predictions(server, body) == {"scores": [[3.0], [4.0]]}
    # MLflow's dataframe formats carry bytes as base64 text.
    split = {"columns": ["inputs"], "data": [[example_b64(2.0)["b64"]], [example_b64(4.0)["b64"]]]}
    body = {"dataframe_split": split, "params": {"signature_name": "regress_x_to_y"}}
    assert predictions(server, body) == [{"outputs": 3.0}, {"outputs": 4.0}]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"inputs": {"z": [1.0]}}, "'z'"),
        ({"inputs": {"x": ["a", "b"]}}, "float32"),
        ({"inputs": {"x": [[1.0, 2.0]]}}, "shape"),
        ({"inputs": {"x": [1.0]}, "params": {"signature_name": "nope"}}, "serving_default"),
        ({"inputs": {"inputs": ["not a proto"]}, "params": {"signature_name": "regress_x_to_y"}}, "regress_x_to_y"),
        # A one-input signature never takes a differently named column.
        ({"dataframe_split": {"columns": ["z"], "data": [[1.0]]}}, "None of the columns ['z']"),
        ({"dataframe_records": [{"a": 1.0, "b": 2.0}]}, "Expected inputs: x"),
        # float64 beyond float32's range would have become Infinity.
        ({"inputs": {"x": [[1e39]]}}, "values must lie in"),
        # A null is missing in every request format.
        ({"dataframe_records": [{"x": None}]}, "missing values"),
        ({"dataframe_split": {"columns": ["x"], "data": [[1.0], [None]]}}, "row(s) [1]"),
        ({"inputs": {"x": None}}, "x"),
        ({"instances": [[1.0], [None]]}, "missing values"),
    ],
)  # fmt: skip
def test_bad_requests_get_4xx_and_server_keeps_serving(server, body, needle):
    response = invoke(server, body)
    assert 400 <= response.status_code < 500, response.text
    assert needle in response.json()["message"]
    assert predictions(server, {"inputs": {"x": [[1.0]]}}) == {"y": [[2.5]]}


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"dataframe_records": []}, []),
        ({"dataframe_split": {"columns": ["x"], "data": []}}, []),
        ({"instances": []}, {"y": []}),
        ({"inputs": {"x": []}}, {"y": []}),
    ],
)
def test_zero_rows_answer_zero_rows_in_every_format(server, body, answer):
    assert predictions(server, body) == answer


def test_raw_taxi_rows_with_nulls():
    import pandas as pd

    export = corpus_path("tfx/chicago_taxi_estimator")
    rows = pd.read_csv(corpus_path("tfx/chicago_taxi.csv")).head(3)
    records = [
        {k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows.to_dict("records")
    ]
    with serving(mlflow_tf1.log_model(str(export)).model_uri) as url:
        got = predictions(url, {"dataframe_records": records})
        scores = [row["scores"] for row in got]
        assert [round(s[1], 4) for s in scores] == [0.1754, 0.2121, 0.1937]
        assert got[0]["classes"] == ["0", "1"]
        # TF Serving's classify style: instances of feature dicts.
        body = {"instances": records, "params": {"signature_name": "regression"}}
        outputs = predictions(url, body)["outputs"]
        assert [round(o[0], 4) for o in outputs] == [0.1754, 0.2121, 0.1937]
        # Columns that match no feature were once scored as an all-default example (200).
        response = invoke(url, {"dataframe_records": [{"far": 5.85}]})
        assert response.status_code == 400, response.text
        assert "None of the columns ['far'] is a feature" in response.json()["message"]
        assert "fare" in response.json()["message"]


def test_tf_serving_row_form_base64_and_graph_errors(server):
    body = {"instances": [example_b64(2.0)], "params": {"signature_name": "regress_x_to_y"}}
    assert predictions(server, body) == {"outputs": [[3.0]]}
    nested = {"instances": [{"inputs": example_b64(4.0)}], "params": body["params"]}
    assert predictions(server, nested) == {"outputs": [[4.0]]}
    bad = {"inputs": {"inputs": [{"b64": "bm90IGEgcHJvdG8="}]}, "params": body["params"]}
    response = invoke(server, bad)
    assert response.status_code == 400
    assert "Graph execution error" not in response.json()["message"]


def test_soak_concurrent_clients_get_the_sequential_answers(server):
    """4 clients, 2,000 requests of 4 kinds, bounded to 120 s: no errors, no mixed-up answers."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [
        {"inputs": {"x": [[float(i)]]}} if i % 4 == 0
        else {"instances": [float(i), float(i) + 1]} if i % 4 == 1
        else {"dataframe_records": [{"x": float(i)}]} if i % 4 == 2
        else {"inputs": {"inputs": [example_b64(float(i))]}, "params": {"signature_name": "regress_x_to_y"}}
        for i in range(40)
    ]  # fmt: skip
    expected = [predictions(server, body) for body in bodies]
    deadline = time.monotonic() + 120

    def client(worker: int) -> int:
        session, errors = requests.Session(), 0
        for n in range(500):
            if time.monotonic() > deadline:
                break
            k = (worker * 7 + n) % len(bodies)
            response = session.post(f"{server}/invocations", json=bodies[k], timeout=30)
            errors += response.status_code != 200 or response.json()["predictions"] != expected[k]
        return errors

    with ThreadPoolExecutor(4) as pool:
        errors = list(pool.map(client, range(4)))
    assert errors == [0, 0, 0, 0]
    assert time.monotonic() <= deadline, "soak did not finish its 2,000 requests within 120 s"
