"""Server-side batching: concurrent requests merged into one run, each answered with its own rows.

The probe graph answers ``x + rows in the run``, so a test can see that
requests were merged (TF Serving's batching assumes rows are independent,
which this graph deliberately is not) and that each got its own rows back.
"""

from __future__ import annotations

import threading

import mlflow
import numpy as np
import pytest
import requests
import tensorflow as tf
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_models
from tests.tf1_models import DEFAULT_SIGNATURE, _save, _signature, _tf1_session, v1

CLIENTS = 8


def build_batch_probe(export_dir) -> None:
    """``serving_default``: ``x`` (float32 [-1]) -> ``y`` = x + (rows in this run).

    Each run also multiplies two fresh random 400x400 matrices (never folded
    away) and adds 0 times their sum: a run lasts milliseconds, as a real
    model's does, so that requests released together overlap a running batch.
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        noise = v1.random_uniform([400, 400])
        busy = 0.0 * tf.reduce_sum(tf.matmul(noise, noise))
        y = x + tf.cast(tf.shape(x)[0], tf.float32) + busy
        _save(sess, export_dir, {DEFAULT_SIGNATURE: _signature({"x": x}, {"y": y})}).save()


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    build_batch_probe(root / "export")
    mlflow_tf1.save_model(
        str(root / "export"),
        str(root / "model"),
        enable_batching=True,
        batch_timeout_micros=500_000,
    )
    return str(root / "model")


def concurrently(calls) -> list:
    """Runs the calls on threads released at once; each result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i):
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 -- returned for the test to check
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_requests_are_merged_and_get_their_own_rows(probe_dir):
    model = mlflow.pyfunc.load_model(probe_dir)
    xs = [np.array([100.0 * i], np.float32) for i in range(CLIENTS)]
    results = concurrently([lambda x=x: model.predict({"x": x})["y"] for x in xs])
    run_sizes = [float(r[0] - x[0]) for r, x in zip(results, xs, strict=True)]
    assert all(size == int(size) and 1 <= size <= CLIENTS for size in run_sizes), run_sizes
    assert max(run_sizes) > 1, "no two requests were merged"
    # A run of s rows answers s requests: each size is reported a multiple of its own times.
    assert all(run_sizes.count(s) % s == 0 for s in set(run_sizes)), run_sizes
    # A lone request runs alone, at once.
    np.testing.assert_allclose(
        model.predict({"x": np.array([5.0, 6.0], np.float32)})["y"], [7.0, 8.0]
    )


def test_batching_is_off_unless_asked(tmp_path, monkeypatch):
    build_batch_probe(tmp_path / "export")
    mlflow_tf1.save_model(str(tmp_path / "export"), str(tmp_path / "model"))
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    results = concurrently([lambda: model.predict({"x": np.zeros(1, np.float32)})["y"]] * 4)
    assert [float(r[0]) for r in results] == [1.0] * 4

    monkeypatch.setenv("MLFLOW_TF1_ENABLE_BATCHING", "true")
    monkeypatch.setenv("MLFLOW_TF1_BATCH_TIMEOUT_MICROS", "500000")
    merged = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    results = concurrently([lambda: merged.predict({"x": np.zeros(1, np.float32)})["y"]] * 4)
    assert max(float(r[0]) for r in results) > 1

    monkeypatch.setenv("MLFLOW_TF1_ENABLE_BATCHING", "maybe")
    with pytest.raises(MlflowException, match="MLFLOW_TF1_ENABLE_BATCHING='maybe'"):
        mlflow.pyfunc.load_model(str(tmp_path / "model"))


def test_a_bad_request_in_a_batch_fails_alone(tmp_path):
    export = tmp_path / "export"
    tf1_models.build_estimator_style(export)
    mlflow_tf1.save_model(
        str(export), str(tmp_path / "model"), enable_batching=True, batch_timeout_micros=500_000
    )
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    ages = [20.0, 30.0, 40.0, 50.0, 60.0]
    good = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "age": tf.train.Feature(float_list=tf.train.FloatList(value=[age])),
                    "scores": tf.train.Feature(float_list=tf.train.FloatList(value=[1, 2, 3])),
                }
            )
        ).SerializeToString()
        for age in ages
    ]
    requests_ = [{"examples": np.array([g], dtype=object)} for g in good]
    requests_.append({"examples": np.array([b"not a tf.Example"], dtype=object)})
    results = concurrently([lambda r=r: model.predict(r)["score"] for r in requests_])
    # score = 0.1 * age + sum(scores) + count (0) + 100 * tags has "a" (no) + 1000 * paris (no)
    for result, age in zip(results[:-1], ages, strict=True):
        np.testing.assert_allclose(result, [0.1 * age + 6.0], rtol=1e-6)
    assert isinstance(results[-1], MlflowException)
    assert "rejected the input" in results[-1].message


@pytest.mark.serving
def test_scoring_server_merges_concurrent_requests(probe_dir, monkeypatch):
    from tests.test_serving import serving

    monkeypatch.setenv("MLFLOW_TF1_BATCH_TIMEOUT_MICROS", "500000")
    with serving(probe_dir) as url:

        def call(x):
            response = requests.post(f"{url}/invocations", json={"inputs": {"x": [x]}}, timeout=30)
            return response.status_code, response.json()

        xs = [1000.0 * i for i in range(CLIENTS)]
        results = concurrently([lambda x=x: call(x) for x in xs])
        sizes = []
        for (status, body), x in zip(results, xs, strict=True):
            assert status == 200, body
            [y] = (
                body["predictions"]["y"]
                if isinstance(body["predictions"], dict)
                else [body["predictions"][0]]
            )
            sizes.append(y - x)
        assert all(1 <= s <= CLIENTS and s == int(s) for s in sizes), sizes
        assert max(sizes) > 1, "the server ran every request alone"
        bad = requests.post(f"{url}/invocations", json={"inputs": {"z": [1.0]}}, timeout=30)
        assert bad.status_code == 400 and "Valid inputs" in bad.text
        assert requests.get(f"{url}/ping", timeout=5).ok


@pytest.mark.serving
def test_mlflow_tf1_serve_flag_merges_tf_serving_requests(tmp_path):
    from tests.server_processes import mlflow_tf1_serve

    build_batch_probe(tmp_path / "export")
    mlflow_tf1.save_model(str(tmp_path / "export"), str(tmp_path / "model"))  # batching off
    flags = ["--enable-batching", "--batch-timeout-micros", "500000", "--model-name", "probe"]
    with mlflow_tf1_serve("-m", str(tmp_path / "model"), *flags) as url:

        def call(x):
            body = {"instances": [x]}
            return requests.post(f"{url}/v1/models/probe:predict", json=body, timeout=30).json()

        xs = [1000.0 * i for i in range(CLIENTS)]
        results = concurrently([lambda x=x: call(x) for x in xs])
        sizes = [r["predictions"][0] - x for r, x in zip(results, xs, strict=True)]
        assert all(1 <= s <= CLIENTS and s == int(s) for s in sizes), sizes
        assert max(sizes) > 1, "the server ran every request alone"
