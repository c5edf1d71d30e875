"""``mlflow_tf1.load_model``: native TF2 callables that compose with tf.function."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_models
from tests.conftest import corpus_path
from tests.tf1_models import session_predict


def native(export_dir, **kwargs):
    return mlflow_tf1.load_model(mlflow_tf1.log_model(str(export_dir), **kwargs).model_uri)


@pytest.mark.parametrize("model_dir", ["pbtxt", "corpus_half_plus_two"])
def test_signature_inside_tf_function(model_dir, tmp_path):
    if model_dir == "corpus_half_plus_two":  # reference variables, TF 1.14
        path = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    else:  # resource-free graph written by our own TF1-style script
        path = tmp_path / "export"
        tf1_models.build_pbtxt(path)
    model = native(path)
    signature = model.signatures["serving_default"]
    shape = (-1, 1) if model_dir == "corpus_half_plus_two" else (-1,)
    x = np.array([1.0, 2.0, 5.0], np.float32).reshape(shape)
    expected = session_predict(path, feeds={"x": x})["y"]

    @tf.function
    def twice(batch):
        return signature(x=batch)["y"] * 2.0

    np.testing.assert_allclose(twice(tf.constant(x)).numpy(), expected * 2.0)
    np.testing.assert_allclose(signature(tf.constant(x))["y"].numpy(), expected)
    assert model.backends["serving_default"] == "tf2"


def test_session_backed_signature_inside_tf_function():
    path = corpus_path("tf_serving/saved_model_counter/00000123")
    model = native(path, signature_name="get_counter")
    model.signatures["reset_counter"]()
    step = tf.function(lambda delta: model.signatures["incr_counter_by"](delta=delta)["output"])
    assert float(step(tf.constant(2.0))) == 2.0
    assert float(step(tf.constant(2.0))) == 4.0
    assert float(model.signatures["get_counter"]()["output"]) == 4.0


def test_forced_backends_agree(tmp_path):
    path = tmp_path / "export"
    tf1_models.build_partitioned_vars(path)
    uri = mlflow_tf1.log_model(str(path)).model_uri
    x = np.eye(2, 6, dtype=np.float32)
    tf2 = mlflow_tf1.load_model(uri, backend="tf2").signatures["serving_default"]
    session = mlflow_tf1.load_model(uri, backend="session").signatures["serving_default"]
    assert (tf2.backend, session.backend) == ("tf2", "session")
    np.testing.assert_allclose(tf2(x=x)["y"].numpy(), session(x=x)["y"].numpy())
    np.testing.assert_allclose(tf2(x=x)["y"].numpy(), session_predict(path, feeds={"x": x})["y"])


def test_tf2_backend_refuses_what_it_cannot_convert():
    path = corpus_path("tf_serving/saved_model_counter/00000123")
    uri = mlflow_tf1.log_model(str(path), signature_name="get_counter").model_uri
    with pytest.raises(MlflowException, match="reference type"):
        mlflow_tf1.load_model(uri, backend="tf2")


def test_native_call_names_missing_and_unknown_inputs(tmp_path):
    path = tmp_path / "export"
    tf1_models.build_pbtxt(path)
    signature = native(path).signatures["serving_default"]
    with pytest.raises(MlflowException, match=r"missing \['x'\], unknown \['z'\]"):
        signature(z=tf.constant([1.0]))
