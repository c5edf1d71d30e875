"""MLflow 1.x's ``mlflow.tensorflow`` calls, pointed at ``mlflow_tf1``, keep working.

The calls are the ones MLflow 1.x's own TF1 tests make: ``save_model`` / ``log_model``
with ``tf_saved_model_dir`` / ``tf_meta_graph_tags`` / ``tf_signature_def_key``,
``load_model(uri, tf_sess=sess)`` for graph-mode code, and ``load_model(uri)(**feeds)``.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.models import Model

import mlflow_tf1
from tests import tf1_models
from tests.conftest import corpus_path
from tests.tf1_models import session_predict

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"


def test_save_model_takes_mlflow1_keyword_names(tmp_path):
    export = corpus_path(HALF_PLUS_TWO)
    with pytest.warns(FutureWarning, match="tf_signature_def_key= is MLflow 1.x's name"):
        mlflow_tf1.save_model(
            tf_saved_model_dir=str(export),
            tf_meta_graph_tags=["serve"],
            tf_signature_def_key="regress_x2_to_y3",
            path=str(tmp_path / "model"),
        )
    config = Model.load(str(tmp_path / "model")).flavors[mlflow_tf1.FLAVOR_NAME]
    assert config["signature_name"] == "regress_x2_to_y3"
    assert config["meta_graph_tags"] == ["serve"]
    x = np.array([[1.0], [4.0]], np.float32)
    expected = session_predict(export, "regress_x2_to_y3", {"inputs": x})["outputs"]
    got = mlflow.pyfunc.load_model(str(tmp_path / "model")).predict({"inputs": x})["outputs"]
    np.testing.assert_allclose(got, expected)


def test_log_model_takes_mlflow1_keyword_names_and_refuses_both_spellings(tmp_path):
    export = corpus_path(HALF_PLUS_TWO)
    with pytest.warns(FutureWarning, match="tf_saved_model_dir"), mlflow.start_run():
        info = mlflow_tf1.log_model(
            tf_saved_model_dir=str(export),
            tf_meta_graph_tags=["serve"],
            tf_signature_def_key="serving_default",
            artifact_path="model",
        )
    x = np.array([[2.0]], np.float32)
    got = mlflow.pyfunc.load_model(info.model_uri).predict({"x": x})["y"]
    np.testing.assert_allclose(got, session_predict(export, feeds={"x": x})["y"])
    with pytest.raises(MlflowException, match="pass signature_name= only"):
        mlflow_tf1.save_model(
            str(export),
            tmp_path / "both",
            signature_name="serving_default",
            tf_signature_def_key="regress_x_to_y",
        )
    assert not (tmp_path / "both").exists()


def test_load_model_into_a_users_session_returns_the_signature_def(tmp_path):
    export = tmp_path / "export"
    tf1_models.build_pbtxt(export)  # y = 3x - 1, with variables
    mlflow_tf1.save_model(export, tmp_path / "model")
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        signature_def = mlflow_tf1.load_model(str(tmp_path / "model"), tf_sess=sess)
        x = graph.get_tensor_by_name(signature_def.inputs["x"].name)
        y = graph.get_tensor_by_name(signature_def.outputs["y"].name)
        got = sess.run(y, feed_dict={x: np.array([0.0, 1.0, 2.0], np.float32)})
    np.testing.assert_allclose(got, [-1.0, 2.0, 5.0])
    with pytest.raises(MlflowException, match="tf_sess must be a tf.compat.v1.Session"):
        mlflow_tf1.load_model(str(tmp_path / "model"), tf_sess=graph)


def test_native_model_called_directly_runs_the_default_signature(tmp_path):
    export = corpus_path(HALF_PLUS_TWO)
    mlflow_tf1.save_model(export, tmp_path / "model", signature_name="regress_x2_to_y3")
    infer = mlflow_tf1.load_model(str(tmp_path / "model"))
    x = np.array([[1.0], [3.0]], np.float32)
    expected = session_predict(export, "regress_x2_to_y3", {"inputs": x})["outputs"]
    np.testing.assert_allclose(infer(inputs=tf.constant(x))["outputs"].numpy(), expected)
