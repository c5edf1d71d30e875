"""What users hold, through ``mlflow.pyfunc.load_model(...).predict``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_models
from tests.tf1_models import session_predict


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """y = x @ W for x [-1, 6]: a single float32 input with known inner dims."""
    path = tmp_path_factory.mktemp("inputs") / "export"
    tf1_models.build_partitioned_vars(path)
    info = mlflow_tf1.log_model(str(path))
    return path, mlflow.pyfunc.load_model(info.model_uri)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / "export"
    tf1_models.build_mixed_dtypes(path)
    return mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(path)).model_uri)


def oracle(path, x):
    return session_predict(path, feeds={"x": np.asarray(x, np.float32)})["y"]


X = np.arange(18, dtype=np.float64).reshape(3, 6) / 7


@pytest.mark.parametrize(
    "data",
    [
        {"x": X},  # float64 numpy for a float32 tensor
        {"x": X.tolist()},
        {"x": tf.constant(X, tf.float32)},
        X,
        X.tolist(),
        [{"x": row.tolist()} for row in X],  # records
        pd.DataFrame({"x": list(X)}),  # array cells
        pd.DataFrame(X),  # one row per vector, unnamed single input
    ],
    ids=["np64", "lists", "tf.Tensor", "bare-array", "bare-list", "records", "df-cells", "df-wide"],
)
def test_every_input_kind_gives_the_oracle(matrix, data):
    path, model = matrix
    out = model.predict(data)
    got = np.stack(out["y"]) if isinstance(out, pd.DataFrame) else out["y"]
    np.testing.assert_allclose(got, oracle(path, X), rtol=1e-6)


def test_dataframe_in_dataframe_out_dict_otherwise(matrix):
    _, model = matrix
    assert isinstance(model.predict(pd.DataFrame({"x": list(X)})), pd.DataFrame)
    out = model.predict({"x": X})
    assert isinstance(out, dict) and out["y"].shape == (3, 2) and out["y"].dtype == np.float32


def test_empty_batch_gives_empty_output(matrix):
    _, model = matrix
    assert model.predict({"x": np.zeros((0, 6))})["y"].shape == (0, 2)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"x": np.zeros((2, 5))}, r"'x' expects shape \[-1, 6\].*\[2, 5\]"),
        ({"x": [["a"] * 6]}, r"'x' is float32; got strings"),
        ({"x": X, "extra": X}, r"Unknown input\(s\) \['extra'\].*x \(float32, shape \[-1, 6\]\)"),
        ({}, r"Missing input\(s\) \['x'\]"),
    ],
)
def test_bad_input_named_and_model_unharmed(matrix, data, needle):
    path, model = matrix
    with pytest.raises(MlflowException, match=needle):
        model.predict(data)
    np.testing.assert_allclose(model.predict({"x": X})["y"], oracle(path, X), rtol=1e-6)


def test_int_tensor_takes_integral_floats_only(mixed):
    base = {
        "flag": [True], "half": [0.5], "dbl": [1.0], "pix": [[[1, 2], [3, 4]]],
        "text": ["a"], "bias": 0.0,
    }  # fmt: skip
    assert model_sum(mixed, {**base, "i32": [180.0]}) == pytest.approx(180 + 0.5 + 1 + 10)
    with pytest.raises(MlflowException, match=r"'i32' is int32; got non-integral values"):
        mixed.predict({**base, "i32": [1.5]})
    with pytest.raises(MlflowException, match=r"'pix' is uint8; values must lie in \[0, 255\]"):
        mixed.predict({**base, "i32": [1], "pix": [[[1, 2], [3, 256]]]})


def test_integers_a_float_tensor_would_round_are_refused(matrix):
    path, model = matrix
    with pytest.raises(MlflowException, match=r"'x' is float32.*16777216.*\[16777217\]"):
        model.predict({"x": np.full((1, 6), 16777217, np.int64)})
    with pytest.raises(MlflowException, match=r"\[-16777219\]"):
        model.predict(pd.DataFrame({"x": [np.full(6, -16777219, np.int64)]}))
    exact = np.full((2, 6), 2**24, np.int64)  # 16777216 and powers of two stay exact
    np.testing.assert_allclose(model.predict({"x": exact})["y"], oracle(path, exact), rtol=1e-6)


def model_sum(model, data):
    return float(model.predict(data)["sum"][0])


def test_base64_strings(mixed):
    import base64

    data = {"t": [{"b64": base64.b64encode(b"abc").decode()}]}
    assert mixed.predict(data, params={"signature_name": "only_text"})["upper"][0] == "ABC"


def test_eight_threads_predict_correctly_at_once(matrix):
    path, model = matrix
    batches = [X * (i + 1) for i in range(64)]
    expected = [oracle(path, b) for b in batches]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda b: model.predict({"x": b})["y"], batches))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_million_rows_run_in_chunks_and_join(tmp_path):
    export = tmp_path / "export"
    tf1_models.build_pbtxt(export)  # y = 3x - 1 on x [-1]
    model = mlflow.pyfunc.load_model(
        mlflow_tf1.log_model(str(export), max_batch_size=300_000).model_uri
    )
    x = np.linspace(-1, 1, 1_000_000)
    expected = (3 * x.astype(np.float32) - 1).astype(np.float32)
    np.testing.assert_allclose(model.predict({"x": x})["y"], expected, rtol=1e-6)
    chunked = model.predict(pd.DataFrame({"x": x}), params={"max_batch_size": 70_001})
    assert isinstance(chunked, pd.DataFrame) and len(chunked) == 1_000_000
    np.testing.assert_allclose(chunked["y"], expected, rtol=1e-6)
    with pytest.raises(MlflowException, match="max_batch_size must be at least 1"):
        model.predict({"x": x[:3]}, params={"max_batch_size": 0})


@pytest.fixture(scope="module")
def pixel_means(tmp_path_factory):
    path = tmp_path_factory.mktemp("pixels") / "export"
    tf1_models.build_pixel_means(path)
    return path, mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(path)).model_uri)


# 400 images of 8x8x3: the cells are cast a few rows at a time, so the batch
# spans several blocks and a bad cell near the end must still be found.
IMAGES = np.random.default_rng(7).integers(0, 256, (400, 8, 8, 3)).astype(np.float64)


@pytest.mark.parametrize(
    ("signature", "key", "dtype"),
    [("serving_default", "pixels", np.uint8), ("scaled", "images", np.float32)],
)
def test_dataframe_of_image_cells_gives_the_oracle(pixel_means, signature, key, dtype):
    path, model = pixel_means
    want = session_predict(path, signature, {key: IMAGES.astype(dtype)})["mean"]
    for cells in (IMAGES, IMAGES.astype(np.int64)):  # what JSON and pandas hand over
        frame = pd.DataFrame({key: list(cells)})
        got = model.predict(frame, params={"signature_name": signature})
        np.testing.assert_allclose(got["mean"].to_numpy(), want, rtol=1e-6)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (256.0, r"'pixels' is uint8; values must lie in \[0, 255\]"),
        (-1.0, r"'pixels' is uint8; values must lie in \[0, 255\]"),
        (1.5, r"'pixels' is uint8; got non-integral values"),
    ],
)
def test_bad_image_cell_refused_and_model_unharmed(pixel_means, value, needle):
    path, model = pixel_means
    cells = IMAGES.copy()
    cells[390, 7, 7, 2] = value
    with pytest.raises(MlflowException, match=needle):
        model.predict(pd.DataFrame({"pixels": list(cells)}))
    want = session_predict(path, feeds={"pixels": IMAGES[:3].astype(np.uint8)})["mean"]
    got = model.predict(pd.DataFrame({"pixels": list(IMAGES[:3])}))["mean"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_float_image_cells_refuse_overflow_and_missing(pixel_means):
    _, model = pixel_means
    params = {"signature_name": "scaled"}
    for value, needle in [
        (1e39, r"'images' is float32; values must lie in"),
        (np.nan, r"'images' is float32; got missing values \(null/NaN\) in row\(s\) \[390\]"),
    ]:
        cells = IMAGES.copy()
        cells[390, 0, 0, 0] = value
        with pytest.raises(MlflowException, match=needle):
            model.predict(pd.DataFrame({"images": list(cells)}), params=params)


def test_image_cells_of_different_shapes_refused(pixel_means):
    _, model = pixel_means
    cells = list(IMAGES[:4])
    cells[2] = cells[2][:7]
    with pytest.raises(MlflowException, match=r"'pixels' have different shapes"):
        model.predict(pd.DataFrame({"pixels": cells}))
    with pytest.raises(MlflowException, match=r"'pixels' expects shape \[-1, 8, 8, 3\]"):
        model.predict(pd.DataFrame({"pixels": list(IMAGES[:4, :, :, :2])}))
