"""Frozen GraphDefs and TF1 checkpoints logged, served, and equal to raw-Session oracles."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_models
from tests.conftest import corpus_path
from tests.test_cli import key_values, ok, user_error
from tests.test_serving import serving

X = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], np.float32)
TENSORS = {"inputs": {"x": "x:0"}, "outputs": {"probabilities": "probs:0", "logits": "logits"}}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("graphs")
    tf1_models.build_frozen_graph(root / "frozen_inference_graph.pb")
    tf1_models.build_frozen_graph(root / "frozen.pbtxt")
    meta = tf1_models.build_checkpoint(root / "ckpt")
    expected = tf1_models.checkpoint_predict(meta, {"x:0": X}, ["probs:0", "logits:0"])
    frozen = tf1_models.frozen_graph_predict(
        root / "frozen_inference_graph.pb", {"x:0": X}, ["probs:0", "logits:0"]
    )
    np.testing.assert_allclose(frozen[0], expected[0], rtol=1e-6)  # the two oracles agree
    return root, meta, expected


@pytest.mark.parametrize("source", ["frozen_inference_graph.pb", "frozen.pbtxt", "meta", "folder"])
def test_logged_graph_predicts_like_the_raw_session(sources, source):
    root, meta, (probs, logits) = sources
    path = {"meta": meta, "folder": root / "ckpt"}.get(source, root / source)
    with mlflow.start_run():
        info = mlflow_tf1.log_model(str(path), **TENSORS)
    model = mlflow.pyfunc.load_model(info.model_uri)
    got = model.predict(pd.DataFrame({"x": list(X.astype(np.float64))}))
    np.testing.assert_allclose(np.stack(got["probabilities"]), probs, rtol=1e-6)
    np.testing.assert_allclose(np.stack(got["logits"]), logits, rtol=1e-6)
    flavor = model.metadata.flavors["tf1"]
    assert flavor["converted_from"]["kind"] == ("checkpoint" if source in ("meta", "folder")
                                                else "frozen_graph")  # fmt: skip
    assert flavor["signatures"]["serving_default"]["inputs"]["x"]["shape"] == [-1, 3]


@pytest.mark.serving
@pytest.mark.parametrize("source", ["frozen_inference_graph.pb", "meta"])
def test_served_graph_answers_like_the_raw_session(sources, source):
    root, meta, (probs, _) = sources
    path = meta if source == "meta" else root / source
    with mlflow.start_run():
        info = mlflow_tf1.log_model(str(path), **TENSORS)
    with serving(info.model_uri) as url:
        body = {"inputs": {"x": X.tolist()}}
        response = requests.post(f"{url}/invocations", json=body, timeout=30)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"]["probabilities"], probs, rtol=1e-6)


def test_missing_tensor_names_get_a_proposal(sources):
    root, meta, _ = sources
    with pytest.raises(MlflowException, match="has no signatures: pass inputs=") as e:
        mlflow_tf1.save_model(str(root / "frozen_inference_graph.pb"), root / "out1")
    assert "inputs={'x': 'x:0'}" in e.value.message and "'probs': 'probs:0'" in e.value.message
    with pytest.raises(MlflowException, match="'nope:0', which is not a tensor") as e:
        mlflow_tf1.save_model(
            str(meta), root / "out2", inputs={"x": "nope"}, outputs={"y": "probs"}
        )
    assert "'probs': 'probs:0'" in e.value.message
    assert not (root / "out1").exists() and not (root / "out2").exists()


def test_a_saved_model_without_signatures_gets_one_cut_from_tensor_names(tmp_path):
    tf1_models.build_unsigned_saved_model(tmp_path / "unsigned")
    with pytest.raises(MlflowException, match="has no signatures") as e:
        mlflow_tf1.save_model(str(tmp_path / "unsigned"), tmp_path / "refused")
    cut = {"inputs": {"x": "x"}, "outputs": {"y": "y:0"}}
    with pytest.raises(MlflowException, match="pass both") as e:
        mlflow_tf1.save_model(str(tmp_path / "unsigned"), tmp_path / "m", inputs=cut["inputs"])
    assert "'x': 'x:0'" in e.value.message  # the proposal
    mlflow_tf1.save_model(str(tmp_path / "unsigned"), tmp_path / "m", **cut)
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    got = model.predict({"x": np.array([[1.0], [-2.0]], np.float32)})["y"]
    np.testing.assert_allclose(got, [[4.0], [-5.0]])  # 3x + 1
    origin = model.metadata.flavors["tf1"]["converted_from"]
    assert origin == {"kind": "saved_model", "file": "unsigned", "added": "serving_default"}


def test_a_saved_model_with_signatures_takes_an_extra_named_cut(tmp_path):
    path = corpus_path("tf_serving/saved_model_half_plus_two_cpu")
    with pytest.raises(MlflowException, match="already has a signature 'serving_default'"):
        mlflow_tf1.save_model(str(path), tmp_path / "m", inputs={"x": "x"}, outputs={"y": "y"})
    mlflow_tf1.save_model(
        str(path), tmp_path / "m", inputs={"x2": "x2"}, outputs={"y3": "y3"}, signature_name="cut"
    )
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    got = model.predict({"x2": np.array([[2.0]], np.float32)})["y3"]
    np.testing.assert_allclose(got, [[4.0]])  # the corpus README: y3 = 0.5·x2 + 3
    served = model.predict(
        {"x": np.array([[5.0]], np.float32)}, params={"signature_name": "serving_default"}
    )
    np.testing.assert_allclose(served["y"], [[4.5]])  # the original signatures are kept
    assert set(model.metadata.flavors["tf1"]["signatures"]) >= {"cut", "classify_x_to_y"}


def test_a_session_bundle_is_served_with_its_manifest_signatures(tmp_path):
    tf1_models.build_session_bundle(tmp_path / "bundle")
    mlflow_tf1.save_model(str(tmp_path / "bundle"), tmp_path / "m")
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    x = np.array([[2.0], [4.0]], np.float32)
    expected = [[3.0], [4.0]]  # 0.5x + 2
    flavor = model.metadata.flavors["tf1"]
    assert flavor["signatures"]["serving_default"]["method_name"] == "tensorflow/serving/regress"
    np.testing.assert_allclose(model.predict({"inputs": x})["outputs"], expected)
    predicted = model.predict({"x": x}, params={"signature_name": "predict"})
    np.testing.assert_allclose(predicted["y"], expected)
    assert flavor["converted_from"] == {"kind": "session_bundle", "file": "bundle"}


def test_corrupt_frozen_graph_is_refused(tmp_path):
    (tmp_path / "frozen.pb").write_bytes(b"\x08\x96not a graph")
    with pytest.raises(MlflowException, match="is not a GraphDef protobuf"):
        mlflow_tf1.save_model(str(tmp_path / "frozen.pb"), tmp_path / "m", **TENSORS)


def test_cli_logs_a_frozen_graph_with_input_and_output_flags(sources):
    root, _, (probs, _) = sources
    graph = root / "frozen_inference_graph.pb"
    error = user_error("log", graph)
    assert "--input" in error and "'x': 'x:0'" in error
    runs = mlflow.search_runs(search_all_experiments=True)
    error = user_error("log", graph, "--input", "x=nope", "--output", "probabilities=probs")
    assert "'nope:0', which is not a tensor of this graph" in error
    error = user_error(
        "log", graph, "--input", "x=x", "--output", "p=probs", "--meta-graph-tags", "gpu"
    )
    assert "['serve']" in error  # the converted graph's tag set
    assert len(mlflow.search_runs(search_all_experiments=True)) == len(runs)  # no failed run
    logged = key_values(
        ok("log", graph, "--input", "x=x:0", "--output", "probabilities=probs").stdout
    )
    got = mlflow.pyfunc.load_model(logged["model_uri"]).predict({"x": X})
    np.testing.assert_allclose(got["probabilities"], probs, rtol=1e-6)


def test_checkpoint_folder_without_index_points_at_the_meta_file(tmp_path):
    meta = tf1_models.build_checkpoint(tmp_path / "ckpt")
    (meta.parent / "checkpoint").unlink()  # as a SessionBundle-era folder: no index
    with pytest.raises(MlflowException, match="Log its '.meta' file with inputs="):
        mlflow_tf1.save_model(str(meta.parent), tmp_path / "m")


def test_frozen_graph_with_a_lookup_table_initializes_it(tmp_path):
    tf1_models.build_frozen_table(tmp_path / "vocab.pb")
    mlflow_tf1.save_model(
        str(tmp_path / "vocab.pb"), tmp_path / "m", inputs={"word": "word"}, outputs={"id": "id"}
    )
    got = mlflow.pyfunc.load_model(str(tmp_path / "m")).predict({"word": ["b", "a", "z"]})
    assert got["id"].tolist() == [2, 1, -1]  # the table built in the fixture


def test_checkpoint_without_its_data_files_is_a_clear_error(tmp_path):
    meta = tf1_models.build_checkpoint(tmp_path / "ckpt")
    for data in meta.parent.glob("model.ckpt-7.data-*"):
        data.unlink()
    (meta.parent / "model.ckpt-7.index").unlink()
    with pytest.raises(MlflowException, match="No variables for .*Copy the checkpoint's data"):
        mlflow_tf1.save_model(str(meta), tmp_path / "m", **TENSORS)
    assert not (tmp_path / "m").exists()
