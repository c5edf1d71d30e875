"""Own tf.compat.v1 models covering TF1 features the corpus lacks.

Every expected value comes from ``session_predict``, a raw tf.compat.v1.Session.
"""

from __future__ import annotations

import base64

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.models import Model

import mlflow_tf1
from tests import tf1_models
from tests.tf1_models import session_predict


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Build a fixture model once per module: ``build("while_loop")`` -> export dir."""
    built = {}

    def _build(name: str):
        if name not in built:
            path = tmp_path_factory.mktemp(name) / "export"
            getattr(tf1_models, f"build_{name}")(path)
            built[name] = path
        return built[name]

    return _build


def pyfunc_of(export_dir, **kwargs):
    info = mlflow_tf1.log_model(str(export_dir), **kwargs)
    return mlflow.pyfunc.load_model(info.model_uri)


def test_v1_while_loop(build):
    path = build("while_loop")
    start = np.array([1.0, 3.0, 150.0, -2.0])
    expected = session_predict(path, feeds={"start": start.astype(np.float32)})
    got = pyfunc_of(path).predict(pd.DataFrame({"start": start}))
    np.testing.assert_allclose(got["result"], expected["result"])


def test_lookup_table_initialised_from_asset(build):
    path = build("asset_table")
    words = ["banana", "durian", "apple", "cherry"]
    expected = session_predict(path, feeds={"words": np.array(words, dtype=object)})
    model = pyfunc_of(path)
    np.testing.assert_array_equal(model.predict({"words": words})["ids"], expected["ids"])
    # The table must also work when the same model is loaded again in this process.
    again = mlflow.pyfunc.load_model(model.metadata.get_model_info().model_uri)
    np.testing.assert_array_equal(again.predict(words)["ids"], expected["ids"])


def test_sparse_input_from_sparse_tensor_and_from_column(build):
    path = build("sparse_input")
    sparse = tf.compat.v1.SparseTensorValue(
        np.array([[0, 0], [0, 3], [2, 1]], np.int64),
        np.array([1.0, 2.0, 5.0], np.float32),
        np.array([3, 4], np.int64),
    )
    scale = np.array([10.0, 1.0, 0.5], np.float32)
    expected = session_predict(path, feeds={"sp": sparse, "scale": scale})
    model = pyfunc_of(path)
    as_tensor = tf.SparseTensor(sparse.indices, sparse.values, sparse.dense_shape)
    got = model.predict({"sp": as_tensor, "scale": scale})
    np.testing.assert_allclose(got["row_sums"], expected["row_sums"])
    # A column of lists / missing values is fed as the equivalent SparseTensor, as wide
    # as the signature declares (4), not as its longest row.
    column = [[1.0, 2.0], None, [5.0]]
    ragged = tf.compat.v1.SparseTensorValue(
        np.array([[0, 0], [0, 1], [2, 0]], np.int64),
        np.array([1.0, 2.0, 5.0], np.float32),
        np.array([3, 4], np.int64),
    )
    expected_ragged = session_predict(path, feeds={"sp": ragged, "scale": scale})
    got = model.predict(pd.DataFrame({"sp": column, "scale": scale}))
    np.testing.assert_allclose(got["row_sums"], expected_ragged["row_sums"])
    np.testing.assert_array_equal(np.stack(got["dense"]), expected_ragged["dense"])


def test_sparse_input_from_equal_length_rows(build):
    """A dict of equal-length lists (or a 2-D array) is one row of values per line."""
    path = build("sparse_input")
    rows = [[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]]
    scale = np.array([1.0, 2.0, 3.0], np.float32)
    full = tf.compat.v1.SparseTensorValue(
        np.array([[r, c] for r in range(3) for c in range(2)], np.int64),
        np.array(rows, np.float32).ravel(),
        np.array([3, 4], np.int64),
    )
    expected = session_predict(path, feeds={"sp": full, "scale": scale})
    model = pyfunc_of(path)
    for sent in (rows, np.array(rows)):
        got = model.predict({"sp": sent, "scale": scale})
        np.testing.assert_array_equal(got["dense"], expected["dense"])
        np.testing.assert_allclose(got["row_sums"], expected["row_sums"])


def test_sparse_input_refuses_rows_wider_than_declared(build):
    path = build("sparse_input")
    model = pyfunc_of(path)
    scale = np.array([1.0, 1.0], np.float32)
    with pytest.raises(MlflowException, match=r"at most 4 values per row.*row\(s\) \[1\]"):
        model.predict(pd.DataFrame({"sp": [[1.0], [1.0, 2, 3, 4, 5]], "scale": scale}))
    wide = tf.compat.v1.SparseTensorValue([[0, 0], [1, 5]], [1.0, 2.0], [2, 6])
    with pytest.raises(MlflowException, match=r"shape \[-1, 4\].*got dense_shape \[2, 6\]"):
        model.predict({"sp": wide, "scale": scale})
    # The refusals leave the model answering.
    fine = tf.compat.v1.SparseTensorValue([[0, 0], [1, 3]], [1.0, 2.0], [2, 4])
    expected = session_predict(path, feeds={"sp": fine, "scale": scale})
    np.testing.assert_allclose(
        model.predict({"sp": fine, "scale": scale})["row_sums"], expected["row_sums"]
    )


def test_rank3_sparse_input_takes_sparse_values_and_refuses_lists(build):
    path = build("sparse_rank3")
    sparse = tf.compat.v1.SparseTensorValue([[0, 1, 2], [1, 0, 0]], [2.5, 4.0], [2, 2, 3])
    expected = session_predict(path, feeds={"sp": sparse})
    model = pyfunc_of(path)
    np.testing.assert_allclose(model.predict({"sp": sparse})["total"], expected["total"])
    with pytest.raises(MlflowException, match=r"rank-3 sparse tensor.*SparseTensorValue"):
        model.predict({"sp": [[1.0, 2.0], [3.0]]})


def test_tensor_names_without_an_output_index_mean_the_first_output(build):
    path = build("bare_tensor_names")
    model = pyfunc_of(path)
    np.testing.assert_allclose(model.predict({"x": [1.0, -2.0]})["y"], [3.0, -6.0])
    native = mlflow_tf1.load_model(model.metadata.get_model_info().model_uri)
    np.testing.assert_allclose(
        native.signatures["serving_default"](x=tf.constant([2.0]))["y"], [6.0]
    )


def test_text_format_saved_model(build):
    path = build("pbtxt")
    assert (path / "saved_model.pbtxt").exists() and not (path / "saved_model.pb").exists()
    expected = session_predict(path, feeds={"x": np.array([0.0, 1.0, 2.0], np.float32)})
    got = pyfunc_of(path).predict({"x": [0, 1, 2]})
    np.testing.assert_allclose(got["y"], expected["y"])


def test_several_metagraphs_pick_serve_or_the_given_tags(build):
    path = build("multi_metagraph")
    x = np.array([1.0, 2.0], np.float32)
    serve = pyfunc_of(path).predict({"x": x})
    np.testing.assert_allclose(serve["y"], session_predict(path, feeds={"x": x})["y"])
    expected = session_predict(path, "train_sig", {"x": x}, tags=("train",))
    for tags in (["train"], "train"):  # a lone string is one tag, as in tf.saved_model.load
        train = pyfunc_of(path, meta_graph_tags=tags).predict({"x": x})
        np.testing.assert_allclose(train["y"], expected["y"])


def test_ambiguous_tag_sets_are_refused_with_the_list(build, tmp_path):
    path = build("two_tagsets_no_serve")
    with pytest.raises(MlflowException, match=r"\['alpha'\].*\['beta'\]"):
        mlflow_tf1.save_model(path, tmp_path / "m")
    with pytest.raises(MlflowException, match="Available tag sets"):
        mlflow_tf1.save_model(path, tmp_path / "m", meta_graph_tags=["gamma"])
    mlflow_tf1.save_model(path, tmp_path / "m", meta_graph_tags=["beta"])
    got = mlflow.pyfunc.load_model(str(tmp_path / "m")).predict({"x": [1.0, 2.0]})
    expected = session_predict(path, feeds={"x": np.array([1.0, 2.0], np.float32)}, tags=("beta",))
    np.testing.assert_allclose(got["y"], expected["y"])


def test_partitioned_variables(build):
    path = build("partitioned_vars")
    x = np.eye(3, 6) + np.eye(3, 6, k=3)
    expected = session_predict(path, feeds={"x": x.astype(np.float32)})
    got = pyfunc_of(path).predict(pd.DataFrame({"x": list(x)}))
    np.testing.assert_allclose(np.stack(got["y"]), expected["y"])


def test_mixed_dtypes_scalar_input_and_renamed_keys(build):
    path = build("mixed_dtypes")
    exact = {
        "i32": np.array([1, 2], np.int32),
        "flag": np.array([True, False]),
        "half": np.array([0.5, 1.5], np.float16),
        "dbl": np.array([0.25, 100.0]),
        "pix": np.arange(8, dtype=np.uint8).reshape(2, 2, 2),
        "text": np.array([b"ab", "héllo".encode()], dtype=object),
        "bias": np.float32(1000.0),
    }
    expected = session_predict(path, feeds=exact)
    # What JSON or plain Python gives: float64 / int64 numbers, lists, str.
    loose = {
        "i32": [1.0, 2.0],
        "flag": [True, False],
        "half": [0.5, 1.5],
        "dbl": [0.25, 100],
        "pix": np.arange(8).reshape(2, 2, 2).tolist(),
        "text": ["ab", "héllo"],
        "bias": 1000,
    }
    got = pyfunc_of(path).predict(loose)
    np.testing.assert_allclose(got["sum"], expected["sum"])
    np.testing.assert_array_equal(got["flag_out"], expected["flag_out"])
    np.testing.assert_array_equal(got["text_len"], expected["text_len"])
    assert list(got["upper"]) == [b.decode() for b in expected["upper"]]


def test_other_signature_by_params_and_bad_signature_name(build):
    path = build("mixed_dtypes")
    model = pyfunc_of(path)
    got = model.predict(pd.DataFrame({"t": ["x", "yz"]}), params={"signature_name": "only_text"})
    assert got["upper"].tolist() == ["X", "YZ"]
    with pytest.raises(MlflowException, match=r"only_text.*serving_default"):
        model.predict({"t": ["x"]}, params={"signature_name": "nope"})


def test_signature_without_inputs(build):
    path = build("no_inputs")
    model = pyfunc_of(path)  # the only signature is the default
    assert int(model.predict(None)["version"]) == int(
        session_predict(path, "get_version")["version"]
    )
    assert int(model.predict({})["version"]) == 7


def test_reference_variables_run_on_a_session(build):
    path = build("reference_counter")
    model = pyfunc_of(path, signature_name="get")
    assert float(model.predict(None, params={"signature_name": "incr"})["output"]) == 1.0
    assert float(model.predict(None, params={"signature_name": "incr"})["output"]) == 2.0
    assert float(model.predict(None)["output"]) == 2.0
    assert model.get_raw_model().backends == {"get": "session", "incr": "session"}


def _encoded(shade: int, encode=tf.io.encode_jpeg, size=(20, 30)) -> bytes:
    return encode(np.full((*size, 3), shade, np.uint8)).numpy()


def test_image_bytes_in_every_request_form(build):
    path = build("image_classifier")
    images = [_encoded(40), _encoded(220, tf.io.encode_png, (5, 7))]
    expected = session_predict(path, feeds={"image_bytes": np.array(images, dtype=object)})
    model = pyfunc_of(path)
    b64 = [{"b64": base64.b64encode(b).decode()} for b in images]  # TF Serving's JSON spelling
    for request in (
        {"image_bytes": images},
        {"image_bytes": b64},
        pd.DataFrame({"image_bytes": images}),
        images,
    ):
        got = model.predict(request)
        np.testing.assert_allclose(np.asarray(got["brightness"]), expected["brightness"])


def test_scalar_string_input(build):
    path = build("scalar_text")
    text = "héllo wörld"
    expected = session_predict(path, feeds={"text": np.array(text.encode(), dtype=object)})
    assert int(expected["length"]) == len(text)
    model = pyfunc_of(path)
    for request in ({"text": text}, {"text": text.encode()}, text):
        assert int(model.predict(request)["length"]) == len(text)


def test_graph_that_refuses_generated_values_still_logs_and_serves(build):
    path = build("checked_input")
    model = pyfunc_of(path)  # its generated batch fails the graph's own check
    kelvin = np.array([273.15, 300.0], np.float32)
    expected = session_predict(path, feeds={"kelvin": kelvin})
    np.testing.assert_allclose(
        model.predict({"kelvin": kelvin.tolist()})["celsius"], expected["celsius"]
    )
    with pytest.raises(MlflowException, match="kelvin below 200"):
        model.predict({"kelvin": [10.0]})
    np.testing.assert_allclose(model.predict({"kelvin": kelvin})["celsius"], expected["celsius"])


@pytest.mark.parametrize(
    ("name", "ran"),
    [
        ("image_classifier", True),
        ("numeric_text", True),
        ("one_row_graph", True),
        ("checked_input", False),
    ],
)
def test_log_time_check_runs_graphs_that_decode_their_strings(build, name, ran):
    """Generated strings are JPEGs for an image decoder and digits for a number parser;
    the check is recorded in MLmodel (a rejected batch is also what loads skip)."""
    info = mlflow_tf1.log_model(str(build(name)))
    record = Model.load(info.model_uri).flavors["tf1"]["verified"]["serving_default"]
    assert (record["ran"] == ["generated inputs"]) is ran, record
    assert ("generated inputs" in record.get("rejected", {})) is not ran, record


def test_graph_exported_for_one_row_answers_requests_of_many(build):
    """A Spark batch or TF Serving ``instances`` of several rows runs one row at a time."""
    path = build("one_row_graph")
    images = np.random.default_rng(3).uniform(0, 255, (3, 4, 4, 3)).astype(np.float32)
    expected = np.concatenate(
        [session_predict(path, feeds={"image": image[None]})["features"] for image in images]
    )
    model = pyfunc_of(path)
    np.testing.assert_allclose(model.predict({"image": images})["features"], expected, rtol=1e-6)
    frame = model.predict(pd.DataFrame({"image": list(images.astype(np.float64))}))
    np.testing.assert_allclose(np.stack(frame["features"]), expected, rtol=1e-6)
    one = model.predict({"image": images[:1].tolist()})["features"]
    np.testing.assert_allclose(one, expected[:1], rtol=1e-6)
