"""The real TF1-era SavedModels of the shared corpus, through MLflow's own doors."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests.conftest import corpus_path
from tests.tf1_models import session_predict

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"


def serialized_examples(**features: list[float]) -> np.ndarray:
    """tf.Example protos with float features, built the way a TF Serving client does."""
    count = len(next(iter(features.values())))
    protos = []
    for i in range(count):
        example = tf.train.Example()
        for key, values in features.items():
            example.features.feature[key].float_list.value.append(values[i])
        protos.append(example.SerializeToString())
    return np.array(protos, dtype=object)


def log_and_load(path, **kwargs):
    info = mlflow_tf1.log_model(str(path), **kwargs)
    return info, mlflow.pyfunc.load_model(info.model_uri)


@pytest.mark.parametrize(
    "model", [HALF_PLUS_TWO, "tf_serving/saved_model_half_plus_two_gpu/00000123"]
)
def test_half_plus_two_every_signature(model):
    path = corpus_path(model)
    _, pyfunc_model = log_and_load(path)

    frame = pyfunc_model.predict(pd.DataFrame({"x": [1.0, 2.0, 5.0]}))
    np.testing.assert_allclose(frame["y"], [2.5, 3.0, 4.5])

    examples = serialized_examples(x=[2.0])
    for name, key in [("regress_x_to_y", "outputs"), ("classify_x_to_y", "scores")]:
        out = pyfunc_model.predict({"inputs": examples}, params={"signature_name": name})
        np.testing.assert_allclose(np.ravel(out[key]), [3.0])

    for name in ["regress_x_to_y2", "regress_x2_to_y3"]:
        sig_inputs = pyfunc_model.metadata.flavors["tf1"]["signatures"][name]["inputs"]
        if sig_inputs["inputs"]["dtype"] == "string":
            feed = serialized_examples(x=[1.0, 4.0], x2=[3.0, 5.0])
        else:
            feed = np.array([[3.0], [5.0]], np.float32)
        expected = session_predict(path, name, {"inputs": feed})
        got = pyfunc_model.predict({"inputs": feed}, params={"signature_name": name})
        np.testing.assert_allclose(got["outputs"], expected["outputs"])


def test_gpu_pinned_ops_run_on_cpu():
    assert not tf.config.list_physical_devices("GPU")
    path = corpus_path("tf_serving/saved_model_half_plus_two_gpu/00000123")
    _, pyfunc_model = log_and_load(path)
    out = pyfunc_model.predict({"x": np.array([[1.0], [2.0], [5.0]])})
    np.testing.assert_allclose(out["y"], [[2.5], [3.0], [4.5]])


def test_numbered_versions_parent_takes_newest():
    path = corpus_path(HALF_PLUS_TWO).parent
    info, pyfunc_model = log_and_load(path)
    assert pyfunc_model.predict([2.0, 3.0, 4.0])["y"].ravel().tolist() == [3.0, 3.5, 4.0]
    local = mlflow.artifacts.download_artifacts(info.model_uri)
    assert (pd.io.common.Path(local) / "tfmodel" / "saved_model.pb").exists()


def test_half_plus_three_falls_back_to_session_and_predicts():
    path = corpus_path("tf_serving/saved_model_half_plus_three/00000123")
    _, pyfunc_model = log_and_load(path)
    out = pyfunc_model.predict({"x": [[2.0], [4.0]]})
    np.testing.assert_allclose(out["y"], [[4.0], [5.0]])
    assert pyfunc_model.get_raw_model().backends["serving_default"] == "session"


def test_matrix_half_plus_two_without_variables():
    path = corpus_path("tf_serving/matrix_half_plus_two/1")
    _, pyfunc_model = log_and_load(path)
    x = np.arange(18, dtype=np.float64).reshape(2, 3, 3)
    np.testing.assert_allclose(pyfunc_model.predict({"x": x})["y"], 0.5 * x + 2)
    frame = pd.DataFrame({"x": [row.tolist() for row in x]})
    got = pyfunc_model.predict(frame)
    np.testing.assert_allclose(np.stack(got["y"]), 0.5 * x + 2)


def test_counter_signatures_share_state_in_order():
    path = corpus_path("tf_serving/saved_model_counter/00000123")
    with pytest.raises(MlflowException, match="get_counter"):
        mlflow_tf1.log_model(str(path))  # no serving_default: the error lists them
    _, model = log_and_load(path, signature_name="get_counter")

    def call(name, data=None):
        return float(model.predict(data, params={"signature_name": name})["output"])

    assert call("reset_counter") == 0.0
    assert call("incr_counter") == 1.0
    assert call("incr_counter", {}) == 2.0
    assert call("get_counter") == 2.0
    assert call("incr_counter_by", {"delta": 3}) == 5.0
    assert set(model.get_raw_model().backends.values()) == {"session"}


def test_native_tf2_saved_model_also_works():
    path = corpus_path("tf_serving/saved_model_half_plus_two_tf2_cpu/00000123")
    _, model = log_and_load(path)
    expected = session_predict(path, "serving_default", {"x": np.array([4.0], np.float32)})
    np.testing.assert_allclose(model.predict({"x": [4.0]})["y"], expected["y"])


@pytest.mark.parametrize("backend", ["session", "onnx"])
def test_native_tf2_model_declared_for_one_row_answers_several(backend, tmp_path):
    """Its signature declares x and y with shape [1]: several rows run one at a time."""
    pytest.importorskip("onnxruntime")
    path = corpus_path("tf_serving/saved_model_half_plus_two_tf2_cpu/00000123")
    mlflow_tf1.save_model(str(path), tmp_path / "model", pyfunc_backend=backend)
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    assert model.get_raw_model().backends["serving_default"] == backend
    xs = [1.0, 2.0, 5.0]
    np.testing.assert_allclose(model.predict({"x": xs})["y"], [0.5 * x + 2 for x in xs])


def test_session_bundle_without_tensor_names_gets_a_proposal(tmp_path):
    path = corpus_path("tf_serving/bad_half_plus_two/00000123")
    with pytest.raises(MlflowException, match="A SessionBundle has no signatures: pass inputs="):
        mlflow_tf1.save_model(str(path), tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_registry_round_trip():
    path = corpus_path(HALF_PLUS_TWO)
    mlflow_tf1.log_model(str(path), name="hp2", registered_model_name="half_plus_two_corpus")
    version = mlflow.MlflowClient().get_latest_versions("half_plus_two_corpus")[0].version
    model = mlflow.pyfunc.load_model(f"models:/half_plus_two_corpus/{version}")
    np.testing.assert_allclose(model.predict({"x": [[1.0]]})["y"], [[2.5]])
    native = mlflow_tf1.load_model(f"models:/half_plus_two_corpus/{version}")
    assert native.signatures["serving_default"](x=tf.constant([[5.0]]))["y"].numpy() == 4.5


def test_loading_never_changes_a_stateful_models_state():
    path = corpus_path("tf_serving/saved_model_counter/00000123")
    uri = mlflow_tf1.log_model(str(path), signature_name="incr_counter").model_uri
    model = mlflow.pyfunc.load_model(uri)  # the default signature increments: no warm-up
    signatures = model.get_raw_model().description.signatures
    assert {k for k, s in signatures.items() if s.stateful} == {
        "incr_counter",
        "incr_counter_by",
        "reset_counter",
    }
    assert float(model.predict(None, params={"signature_name": "get_counter"})["output"]) == 0.0


def test_half_plus_three_regress_runs_on_its_string_placeholder():
    """TF 1.0 declared the tf.Example input float32; its placeholder is a string (the graph wins)."""
    path = corpus_path("tf_serving/saved_model_half_plus_three/00000123")
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(path)).model_uri)
    example = tf.train.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    protos = np.array([example.SerializeToString()], dtype=object)
    params = {"signature_name": "tensorflow/serving/regress"}
    want = session_predict(path, "tensorflow/serving/regress", {"inputs": protos})["outputs"]
    np.testing.assert_allclose(model.predict({"inputs": protos}, params=params)["outputs"], want)
    np.testing.assert_allclose(model.predict({"x": [2.0]}, params=params)["outputs"], want)
