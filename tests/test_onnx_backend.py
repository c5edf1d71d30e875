"""The ONNX backend of one signature: what converts, what doesn't and why, and the check.

Every expected value comes from a raw ``tf.compat.v1.Session`` (``session_predict``)
or from the corpus README's published facts, never from onnxruntime.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException

from mlflow_tf1 import samples
from mlflow_tf1.description import describe
from mlflow_tf1.metadata import inspect_saved_model
from mlflow_tf1.onnx_backend import (
    PROVIDER_ORDER,
    OnnxSignature,
    convert,
    host_threads,
    opset,
    verify,
)
from mlflow_tf1.runtime import LoadedSavedModel
from tests import tf1_onnx_models
from tests.conftest import corpus_path
from tests.tf1_models import build_sparse_input, session_predict

# onnx_backend imports both only when used, so the imports above work without them.
pytest.importorskip("tf2onnx", reason="the ONNX backend converts with tf2onnx (extra 'onnx')")
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="the ONNX backend runs on onnxruntime (extra 'onnx')"
)

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"
COUNTER = "tf_serving/saved_model_counter/00000123"
RTOL, ATOL = 1e-5, 1e-6


class Converted:
    """A SavedModel described and loaded on a Session, for converting its signatures."""

    def __init__(self, path):
        self.info, self.meta_graph = inspect_saved_model(path)
        self.description = describe(self.info, self.meta_graph, strict=False)
        self.session = LoadedSavedModel(
            self.info.export_dir, self.meta_graph, self.description, "session"
        )

    def convert(self, key: str = "serving_default", features: bool = False, **kwargs):
        signature = self.description.signatures[key]
        feature_info = signature.parser.feature_signature(signature.info) if features else None
        return convert(
            self.info.export_dir, self.meta_graph, signature.info, feature_info, **kwargs
        )

    def onnx(self, key: str = "serving_default", features: bool = False) -> OnnxSignature:
        model = self.convert(key, features)
        assert isinstance(model, bytes), model
        return OnnxSignature(self.reference(key, features).info, model)

    def reference(self, key: str = "serving_default", features: bool = False):
        return (self.session.feature_signatures if features else self.session.signatures)[key]


def _built(tmp_path_factory, builder) -> Converted:
    path = tmp_path_factory.mktemp(builder.__name__) / "1"
    builder(path)
    return Converted(path)


@pytest.fixture(scope="module")
def half_plus_two() -> Converted:
    return Converted(corpus_path(HALF_PLUS_TWO))


@pytest.fixture(scope="module")
def cnn(tmp_path_factory) -> Converted:
    return _built(tmp_path_factory, tf1_onnx_models.build_cnn)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory) -> Converted:
    return _built(tmp_path_factory, tf1_onnx_models.build_mlp)


def _images(rows: int, seed: int) -> np.ndarray:
    shape = (rows, *tf1_onnx_models.IMAGE)
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def _assert_like_session(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[key], value, rtol=RTOL, atol=ATOL, err_msg=key)
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=key)


# --- what converts ---------------------------------------------------------------


def test_half_plus_two_runs_on_onnx_with_the_published_numbers(half_plus_two):
    x = np.array([[1.0], [2.0], [5.0]], np.float32)
    expected = session_predict(half_plus_two.info.export_dir, feeds={"x": x})
    got = half_plus_two.onnx().run({"x": x})
    np.testing.assert_array_equal(got["y"], expected["y"])
    np.testing.assert_array_equal(got["y"], [[2.5], [3.0], [4.5]])


def test_the_onnx_file_reads_like_the_signature(half_plus_two):
    """Anyone opening the file (MLflow's onnx flavor, plain onnxruntime) sees the keys."""
    model = half_plus_two.convert()
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"]
    assert [o.name for o in session.get_outputs()] == ["y"]
    (y,) = session.run(["y"], {"x": np.array([[2.0], [3.0], [4.0]], np.float32)})
    np.testing.assert_array_equal(y, [[3.0], [3.5], [4.0]])  # TF Serving's REST fact
    assert opset(model) >= 13


def test_an_input_inside_the_graph_is_cut_there(half_plus_two):
    """``regress_x2_to_y3`` is fed at ``x2:0``, a parser output: only what follows converts."""
    x2 = np.array([[1.0], [-4.0], [10.0]], np.float32)
    expected = session_predict(half_plus_two.info.export_dir, "regress_x2_to_y3", {"inputs": x2})
    got = half_plus_two.onnx("regress_x2_to_y3").run({"inputs": x2})
    np.testing.assert_array_equal(got["outputs"], expected["outputs"])
    np.testing.assert_array_equal(got["outputs"], 0.5 * x2 + 3)


def test_a_tf_example_signature_converts_after_its_parser(half_plus_two):
    """Serialized protos stay on TF; the features the parser gives convert."""
    reason = half_plus_two.convert("regress_x_to_y")
    assert isinstance(reason, str) and "string input 'inputs'" in reason
    onnx = half_plus_two.onnx("regress_x_to_y", features=True)
    features = {"x": np.array([[2.0], [6.0]], np.float32), "x2": np.zeros((2, 1), np.float32)}
    got = onnx.run(features)
    np.testing.assert_array_equal(got["outputs"], [[3.0], [5.0]])  # README: x = 2 -> 3.0
    expected = half_plus_two.reference("regress_x_to_y", features=True).run(features)
    np.testing.assert_array_equal(got["outputs"], expected["outputs"])


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_dense_models_answer_as_a_session_does(model, request):
    converted = request.getfixturevalue(model)
    onnx = converted.onnx()
    inputs = converted.reference().info.inputs
    key = next(iter(inputs))
    shape = tuple(d if d > 0 else 7 for d in inputs[key].shape)
    batch = {key: np.random.default_rng(3).uniform(-1, 2, shape).astype(np.float32)}
    expected = session_predict(converted.info.export_dir, feeds=batch)
    _assert_like_session(onnx.run(batch), expected)


def test_string_outputs_come_back_as_tensorflow_gives_them(tmp_path_factory):
    converted = _built(tmp_path_factory, tf1_onnx_models.build_labels)
    x = np.array([1.5, -2.0, 0.0, 3.0], np.float32)
    expected = session_predict(converted.info.export_dir, feeds={"x": x})
    got = converted.onnx().run({"x": x})
    assert got["label"].tolist() == expected["label"].tolist()
    assert got["label"].tolist() == [b"positive", b"other", b"other", b"positive"]


# --- what doesn't, and why ---------------------------------------------------------


def test_a_lookup_table_is_not_converted_and_says_why(tmp_path_factory):
    converted = _built(tmp_path_factory, tf1_onnx_models.build_int_lookup)
    reason = converted.convert()
    assert isinstance(reason, str)
    assert "no ONNX mapping" in reason and "LookupTableFindV2" in reason
    assert "Traceback" not in reason


def test_a_stateful_graph_never_converts_not_even_its_reads():
    """A frozen ``get_counter`` would answer 0.0 forever after ``incr_counter``."""
    converted = Converted(corpus_path(COUNTER))
    for key in ("get_counter", "incr_counter"):
        reason = converted.convert(key)
        assert isinstance(reason, str) and "stateful signatures" in reason, key
        assert "incr_counter" in reason


def test_sparse_and_serialized_inputs_are_refused_with_reasons(tmp_path_factory, half_plus_two):
    sparse = _built(tmp_path_factory, build_sparse_input).convert()
    assert isinstance(sparse, str) and "'sp' is a coo_sparse tensor" in sparse
    protos = half_plus_two.convert("classify_x_to_y")
    assert isinstance(protos, str) and "string input" in protos and "bytes" in protos


# --- verify -----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_verify_passes_dense_models_at_the_default_tolerance(model, request):
    converted = request.getfixturevalue(model)
    reference = converted.reference()
    batch = samples.tensor_batch(reference.info, images=False)
    report = verify(reference, converted.onnx(), [batch, None, batch])
    assert report["matches"] is True and report["batches"] == 2
    assert "reason" not in report
    for key, output in report["outputs"].items():
        assert output["matches"] is True
        if reference.info.outputs[key].dtype == "int64":
            assert output["max_abs_diff"] == 0.0, key  # compared exactly
        assert output["max_abs_diff"] <= ATOL + RTOL * 1.0  # outputs here are within [0, 1]


def test_verify_reports_a_mismatch_when_float_rounding_differs(cnn):
    """At tolerance 0 the CNN's softmax differs in the last bits; the classes don't."""
    reference = cnn.reference()
    batches = [{"images": _images(4, seed)} for seed in range(3)]
    report = verify(reference, cnn.onnx(), batches, rtol=0.0, atol=0.0)
    assert report["matches"] is False
    probabilities = report["outputs"]["probabilities"]
    assert probabilities["matches"] is False and probabilities["max_abs_diff"] > 0
    assert "probabilities" in report["reason"] and "rtol 0.0" in report["reason"]
    assert report["outputs"]["classes"] == {
        "max_abs_diff": 0.0,
        "max_rel_diff": 0.0,
        "matches": True,
    }
    loose = verify(reference, cnn.onnx(), batches)
    assert loose["matches"] is True
    assert loose["outputs"]["probabilities"]["max_abs_diff"] == probabilities["max_abs_diff"]


def test_verify_says_when_it_had_nothing_to_compare(half_plus_two):
    report = verify(half_plus_two.reference(), half_plus_two.onnx(), [None])
    assert report["matches"] is False and report["reason"] == "no batch to compare on"


def test_verify_reports_a_batch_onnx_refuses(half_plus_two):
    """A batch the Session backend runs and onnxruntime can't take is no match, never a crash.

    TF's direct callable (the Session backend) doesn't check a feed's static
    shape, so it broadcasts a [2, 3] ``x``; the ONNX input is [-1, 1].
    """
    reference = half_plus_two.reference()
    wide = {"x": np.ones((2, 3), np.float32)}
    np.testing.assert_array_equal(reference.run(wide)["y"], np.full((2, 3), 2.5))
    report = verify(reference, half_plus_two.onnx(), [wide])
    assert report["matches"] is False
    assert report["reason"].startswith("onnxruntime failed on a batch TF ran:")


# --- running ----------------------------------------------------------------------


def test_concurrent_calls_each_get_their_own_answer(cnn):
    onnx = cnn.onnx()
    batches = [{"images": _images(1 + i % 3, i)} for i in range(24)]
    expected = [session_predict(cnn.info.export_dir, feeds=b) for b in batches[:6]]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(onnx.run, batches))
    for got, want in zip(results[:6], expected, strict=True):
        _assert_like_session(got, want)
    for got, batch in zip(results, batches, strict=True):
        alone = onnx.run(batch)
        np.testing.assert_array_equal(got["probabilities"], alone["probabilities"])


def test_threads_fit_the_host_and_providers_follow_the_documented_order(half_plus_two):
    onnx = half_plus_two.onnx()
    assert 1 <= onnx.threads == host_threads() <= max(1, os.cpu_count() or 1)
    available = onnxruntime.get_available_providers()
    assert onnx.providers == [p for p in PROVIDER_ORDER if p in available]
    assert onnx.providers[-1] == "CPUExecutionProvider"


def test_inputs_are_fed_as_a_session_takes_them(mlp):
    """Lists and float64 arrays are cast to float32; a value that would change is refused."""
    onnx = mlp.onnx()
    rows = np.random.default_rng(5).uniform(-1, 1, (3, 8))
    expected = session_predict(mlp.info.export_dir, feeds={"features": rows.astype(np.float32)})
    _assert_like_session(onnx.run({"features": rows.tolist()}), expected)
    _assert_like_session(onnx.run({"features": rows}), expected)
    with pytest.raises(MlflowException, match="features"):
        onnx.run({"features": np.full((1, 8), np.nan)})  # casting refuses it, as for every backend


def test_bad_inputs_are_refused_naming_the_signature(mlp):
    onnx = mlp.onnx()
    with pytest.raises(MlflowException) as wrong_shape:
        onnx.run({"features": np.ones((2, 5), np.float32)})
    assert wrong_shape.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Signature 'serving_default' rejected the input" in wrong_shape.value.message
    assert "Traceback" not in wrong_shape.value.message
    with pytest.raises(MlflowException, match=r"missing \['features'\]") as missing:
        onnx.run({})
    assert missing.value.get_http_status_code() == 400  # what the scoring server answers


def test_a_model_that_is_not_this_signature_is_refused(half_plus_two, mlp):
    model = half_plus_two.convert()
    with pytest.raises(MlflowException, match=r"takes \['x'\].*inputs \['features'\]"):
        OnnxSignature(mlp.reference().info, model)


def test_it_is_a_tf2_callable_like_the_other_backends(half_plus_two):
    onnx = half_plus_two.onnx()
    eager = onnx(x=tf.constant([[2.0], [4.0]]))
    np.testing.assert_array_equal(eager["y"].numpy(), [[3.0], [4.0]])
    traced = tf.function(lambda x: onnx(x=x)["y"] * 2)
    np.testing.assert_array_equal(traced(tf.constant([[2.0]])).numpy(), [[6.0]])


def test_verify_takes_infinities_and_nan_as_values(half_plus_two):
    """inf against inf and NaN against NaN are equal answers, not differences."""
    x = np.array([[np.inf], [-np.inf], [np.nan], [1.0]], np.float32)
    report = verify(half_plus_two.reference(), half_plus_two.onnx(), [{"x": x}])
    assert report["matches"] is True
    assert report["outputs"]["y"] == {"max_abs_diff": 0.0, "max_rel_diff": 0.0, "matches": True}


def test_verify_catches_a_model_that_answers_differently(half_plus_two):
    """half_plus_three's ONNX takes and gives the same keys; its answers are 1.0 higher."""
    three = Converted(corpus_path("tf_serving/saved_model_half_plus_three/00000123"))
    wrong = OnnxSignature(half_plus_two.reference().info, three.convert())
    x = np.array([[2.0], [4.0]], np.float32)
    np.testing.assert_array_equal(wrong.run({"x": x})["y"], [[4.0], [5.0]])  # README fact
    report = verify(half_plus_two.reference(), wrong, [{"x": x}])
    assert report["matches"] is False
    assert report["outputs"]["y"]["max_abs_diff"] == 1.0
    assert report["outputs"]["y"]["max_rel_diff"] == pytest.approx(1 / 3)  # 1.0 against 3.0
    assert report["reason"] == "y: differs beyond rtol 1e-05 / atol 1e-06"
