"""``export_tf2``: a logged TF1 model as a native TF2 SavedModel, checked before it is kept."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, ErrorCode
from tensorflow.python.saved_model import fingerprinting_utils

import mlflow_tf1
from mlflow_tf1 import tf2_export
from mlflow_tf1.metadata import read_saved_model
from mlflow_tf1.tf2_export import export_tf2
from tests import tf1_keras_models, tf1_models
from tests.conftest import corpus_path
from tests.tf1_models import session_predict

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"
EXAMPLE_SIGNATURES = ["classify_x_to_y", "regress_x_to_y", "regress_x_to_y2"]  # tf.Example in


def log(export_dir, **kwargs) -> str:
    return mlflow_tf1.log_model(str(export_dir), **kwargs).model_uri


def call(model, key: str, **inputs) -> dict[str, np.ndarray]:
    outputs = model.signatures[key](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def saved_ops(folder) -> set[str]:
    """Op types of a SavedModel's graph and of every function in its library."""
    graph = read_saved_model(folder).meta_graphs[0].graph_def
    return {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}


def half_plus_two_examples(x: list[float], x2: list[float]) -> np.ndarray:
    protos = []
    for a, b in zip(x, x2, strict=True):
        example = tf.train.Example()
        example.features.feature["x"].float_list.value.append(a)
        example.features.feature["x2"].float_list.value.append(b)
        protos.append(example.SerializeToString())
    return np.array(protos, dtype=object)


def assert_refused(excinfo, message: str) -> None:
    assert excinfo.value.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE)
    assert message in excinfo.value.message


def test_half_plus_two_round_trips_every_signature(tmp_path):
    path = corpus_path(HALF_PLUS_TWO)  # reference variables (VariableV2), TF 1.14
    out = export_tf2(log(path), str(tmp_path / "tf2"))

    assert out == str(tmp_path / "tf2")
    model = tf.saved_model.load(out)
    assert sorted(model.signatures) == sorted(
        [*EXAMPLE_SIGNATURES, "regress_x2_to_y3", "serving_default"]
    )
    x = np.array([[1.0], [2.0], [5.0]], np.float32)
    y = call(model, "serving_default", x=x)["y"]
    np.testing.assert_allclose(y, 0.5 * x + 2.0)
    np.testing.assert_allclose(y, session_predict(path, feeds={"x": x})["y"])
    examples = half_plus_two_examples([2.0, 4.0], [1.0, 3.0])
    np.testing.assert_allclose(
        call(model, "regress_x_to_y", inputs=examples)["outputs"], [[3], [4]]
    )
    cases = {key: examples for key in EXAMPLE_SIGNATURES} | {"regress_x2_to_y3": x}
    for key, inputs in cases.items():
        expected = session_predict(path, key, {"inputs": inputs})
        actual = call(model, key, inputs=inputs)
        assert sorted(actual) == sorted(expected), key
        for output, value in expected.items():
            np.testing.assert_allclose(actual[output], value, err_msg=f"{key}/{output}")
    assert "VariableV2" not in saved_ops(out)
    assert {v.name for v in model.variables} >= {"a:0", "b:0", "c:0"}
    # TF Serving's Classify and Regress APIs need the TF1 method names.
    signature_defs = read_saved_model(out).meta_graphs[0].signature_def
    assert signature_defs["classify_x_to_y"].method_name == "tensorflow/serving/classify"
    assert signature_defs["regress_x_to_y"].method_name == "tensorflow/serving/regress"
    assert signature_defs["serving_default"].method_name == "tensorflow/serving/predict"
    fingerprint = fingerprinting_utils.singleprint_from_fingerprint_proto(out)
    assert fingerprint == fingerprinting_utils.singleprint_from_saved_model_proto(out)


def test_reference_variables_and_tf_example_signature_round_trip(tmp_path):
    path = tmp_path / "export"
    tf1_keras_models.build_example_scorer(path)
    out = export_tf2(log(path), str(tmp_path / "tf2"))

    model = tf.saved_model.load(out)
    x = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], np.float32)
    bonus = np.array([0.0, 10.0, -1.0], np.float32)
    examples = tf1_keras_models.serialize_examples(x, bonus)
    scores = call(model, "serving_default", examples=examples)["score"]
    np.testing.assert_allclose(scores, tf1_keras_models.score(x, bonus))
    np.testing.assert_allclose(scores, session_predict(path, feeds={"examples": examples})["score"])
    without_bonus = tf1_keras_models.serialize_examples(x)  # the parse spec's default applies
    np.testing.assert_allclose(
        call(model, "serving_default", examples=without_bonus)["score"],
        tf1_keras_models.score(x),
    )
    np.testing.assert_allclose(call(model, "predict", x=x)["score"], tf1_keras_models.score(x))
    ops = saved_ops(out)
    assert "VariableV2" not in ops and "ApplyGradientDescent" not in ops  # train op dropped
    assert sorted(v.name for v in model.variables) == ["score/b:0", "score/w:0"]


def test_resource_variables_stay_trainable_tf_variables(tmp_path):
    path = tmp_path / "export"
    tf1_keras_models.build_dense_regressor(path)
    out = export_tf2(log(path), str(tmp_path / "tf2"))

    model = tf.saved_model.load(out)
    names = sorted(v.name for v in model.variables)
    assert names == ["layer1/b:0", "layer1/w:0", "layer2/b:0", "layer2/w:0"]
    assert all(isinstance(v, tf.Variable) and v.trainable for v in model.variables)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    scale = np.full((5, 1), 2.0, np.float32)
    expected = tf1_keras_models.dense_regressor(x)
    outputs = call(model, "serving_default", x=x)
    np.testing.assert_allclose(outputs["y"], expected["y"], rtol=1e-5)
    np.testing.assert_allclose(outputs["hidden"], session_predict(path, feeds={"x": x})["hidden"])
    np.testing.assert_allclose(
        call(model, "scaled", x=x, scale=scale)["y"], expected["y"] * 2.0, rtol=1e-5
    )


def test_signatures_subset(tmp_path):
    uri = log(corpus_path(HALF_PLUS_TWO))
    out = export_tf2(uri, str(tmp_path / "tf2"), signatures=["regress_x_to_y", "serving_default"])

    model = tf.saved_model.load(out)
    assert sorted(model.signatures) == ["regress_x_to_y", "serving_default"]
    np.testing.assert_allclose(call(model, "serving_default", x=[[4.0]])["y"], [[4.0]])


def test_updates_of_reference_variables_are_refused(tmp_path):
    path = tmp_path / "export"
    tf1_models.build_reference_counter(path)  # 'incr' runs AssignAdd on a VariableV2
    uri = log(path, signature_name="get")
    with pytest.raises(MlflowException) as excinfo:
        export_tf2(uri, str(tmp_path / "tf2"))
    assert_refused(excinfo, "Signature(s) ['incr'] update reference variables (VariableV2)")
    assert "signatures=['get']" in excinfo.value.message
    assert "enable_resource_variables" in excinfo.value.message
    assert not (tmp_path / "tf2").exists()

    # Without the updating signature the variable is only read: it is lifted.
    model = tf.saved_model.load(export_tf2(uri, str(tmp_path / "tf2"), signatures=["get"]))
    assert sorted(model.signatures) == ["get"]
    assert float(call(model, "get")["output"]) == 0.0


def test_stateful_signatures_export_unchecked_and_keep_state(tmp_path, caplog):
    path = tmp_path / "export"
    tf1_keras_models.build_resource_counter(path)
    with caplog.at_level(logging.WARNING, logger=tf2_export.__name__):
        out = export_tf2(log(path, signature_name="read"), str(tmp_path / "tf2"))
    assert "'incr' (it changes state)" in caplog.text
    assert "'read'" not in caplog.text  # checked

    model = tf.saved_model.load(out)
    assert [float(call(model, "incr")["count"]) for _ in range(2)] == [1.0, 2.0]
    assert float(call(model, "read")["count"]) == 2.0


def test_non_empty_out_dir_is_refused(tmp_path):
    out = tmp_path / "tf2"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    path = tmp_path / "export"
    tf1_models.build_pbtxt(path)
    with pytest.raises(MlflowException) as excinfo:
        export_tf2(log(path), str(out))
    assert_refused(excinfo, "is not an empty folder")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_unknown_signature_lists_the_available_ones(tmp_path):
    path = tmp_path / "export"
    tf1_keras_models.build_dense_regressor(path)
    with pytest.raises(MlflowException) as excinfo:
        export_tf2(log(path), str(tmp_path / "tf2"), signatures=["serving_default", "nope"])
    assert_refused(excinfo, "Unknown signature(s) ['nope']; available signatures: ")
    assert "['scaled', 'serving_default']" in excinfo.value.message
    assert not (tmp_path / "tf2").exists()


def test_sparse_signatures_are_refused(tmp_path):
    path = tmp_path / "export"
    tf1_models.build_sparse_input(path)
    with pytest.raises(MlflowException) as excinfo:
        export_tf2(log(path), str(tmp_path / "tf2"))
    assert_refused(excinfo, "take or return sparse tensors")


def test_a_mismatch_removes_what_was_written(tmp_path, monkeypatch):
    path = tmp_path / "export"
    tf1_keras_models.build_example_scorer(path)
    reference = tf2_export._reference_outputs

    def skewed(source, keys):
        checks, unchecked = reference(source, keys)
        return {
            k: (batch, {o: v + 1 for o, v in out.items()}) for k, (batch, out) in checks.items()
        }, unchecked

    monkeypatch.setattr(tf2_export, "_reference_outputs", skewed)
    out = tmp_path / "tf2"
    out.mkdir()
    with pytest.raises(MlflowException, match="signature 'predict' does not reproduce") as excinfo:
        export_tf2(log(path), str(out))
    assert "output 'score' differs from the TF1 graph's" in excinfo.value.message
    assert out.is_dir() and not any(out.iterdir())
