"""Input that can't be read one unambiguous way is refused, naming what would be valid.

Each case here was once a silent wrong answer or a misleading message; the
oracle for accepted input is arithmetic (half_plus_two: y = 0.5x + 2) or a raw
Session (the taxi export, via the corpus README's known scores).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import load_model

import mlflow_tf1
from mlflow_tf1.cli import cli
from tests import tf1_models
from tests.conftest import corpus_path


@pytest.fixture(scope="module")
def half_plus_two():
    path = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    return load_model(mlflow_tf1.log_model(str(path), name="hp2").model_uri)


@pytest.fixture(scope="module")
def taxi():
    path = corpus_path("tfx/chicago_taxi_estimator/1646034756")
    uri = mlflow_tf1.log_model(str(path), name="taxi").model_uri
    rows = pd.read_csv(corpus_path("tfx/chicago_taxi.csv"), nrows=3)
    return uri, load_model(uri), rows


def test_one_input_takes_unnamed_or_positional_columns_never_another_name(half_plus_two):
    unnamed = pd.DataFrame([[1.0], [2.0]])  # columns 0: pandas' default names
    np.testing.assert_allclose(half_plus_two.predict(unnamed)["y"], [2.5, 3.0])
    with pytest.raises(MlflowException, match=r"None of the columns \['z'\] is an input.*x"):
        half_plus_two.predict(pd.DataFrame({"z": [1.0]}))


def test_non_utf8_garbage_for_a_tf_example_input_is_refused(half_plus_two):
    """TF's error text quotes the bytes and fails to decode: a refusal, not a UnicodeDecodeError."""
    garbage = {"inputs": np.array([b"\xff\x00garbage"], dtype=object)}
    with pytest.raises(MlflowException, match="rejected the input") as refused:
        half_plus_two.predict(garbage, params={"signature_name": "regress_x_to_y"})
    assert refused.value.get_http_status_code() == 400
    assert half_plus_two.predict({"x": [[1.0]]})["y"].tolist() == [[2.5]]


def test_missing_column_is_named_missing_not_a_shape_error(tmp_path):
    export = tmp_path / "mixed"
    tf1_models.build_mixed_dtypes(export)
    model = load_model(mlflow_tf1.log_model(str(export), name="mixed").model_uri)
    frame = pd.DataFrame({"i32": [1], "flag": [True], "half": [1.0], "dbl": [1.0]})
    with pytest.raises(
        MlflowException, match=r"Missing input\(s\) \['bias', 'pix', 'text'\].*no column"
    ):
        model.predict(frame)


# One row and forty: a batch-1 request's cast is checked in Python, a bigger one by numpy;
# a dict and the bare array (TF Serving's "instances") both take the short path.
@pytest.mark.parametrize("bare", [False, True])
@pytest.mark.parametrize("rows", [1, 40])
@pytest.mark.parametrize("value", [1e39, -1e39, np.finfo(np.float64).max])
def test_float32_overflow_is_refused_naming_the_range(half_plus_two, value, rows, bare):
    batch = np.ones((rows, 1))
    batch[-1, 0] = value
    with pytest.raises(MlflowException, match=r"Input 'x' is float32; values must lie in"):
        half_plus_two.predict(batch if bare else {"x": batch})


@pytest.mark.parametrize("rows", [1, 40])
def test_float32_extremes_are_kept(half_plus_two, rows):
    largest = float(np.finfo(np.float32).max)
    batch = np.full((rows, 1), -largest)
    batch[-1, 0] = largest
    want = 0.5 * batch.astype(np.float32) + np.float32(2)  # y = 0.5x + 2, in float32
    np.testing.assert_array_equal(half_plus_two.predict({"x": batch})["y"], want)


def test_infinity_sent_as_infinity_is_kept(half_plus_two):
    np.testing.assert_array_equal(
        half_plus_two.predict({"x": np.array([[np.inf]])})["y"], [[np.inf]]
    )


@pytest.mark.parametrize(
    "data",
    [
        pd.DataFrame({"x": [1.0, np.nan]}),
        pd.DataFrame({"x": [1.0, None]}, dtype=object),
        {"x": np.array([[1.0], [np.nan]])},
        np.array([[1.0], [np.nan]]),
        {"x": np.vstack([np.ones((39, 1)), [[np.nan]]])},
        {"x": [[1.0], [None]]},
        [{"x": 1.0}, {"x": None}],
    ],
)
def test_missing_dense_values_get_one_answer_in_every_format(half_plus_two, data):
    with pytest.raises(MlflowException, match=r"Input 'x' is float32; got missing values"):
        half_plus_two.predict(data)


@pytest.mark.parametrize(
    "rename",
    [str.upper, lambda c: "far" if c == "fare" else f"_{c}"],
)
def test_taxi_columns_matching_no_feature_are_refused(taxi, rename):
    _, model, rows = taxi
    renamed = rows.rename(columns=rename)
    with pytest.raises(MlflowException, match=r"None of the columns .* is a feature .*fare"):
        model.predict(renamed)


def test_taxi_positional_columns_get_the_spark_hint(taxi):
    _, model, rows = taxi
    positional = rows.set_axis(range(rows.shape[1]), axis=1)
    with pytest.raises(MlflowException, match=r"struct\('a', 'b', \.\.\.\), or name the columns"):
        model.predict(positional)
    with pytest.raises(MlflowException, match="None of the columns"):
        model.predict([{"far": 5.85}])


def test_taxi_extra_columns_beside_features_are_ignored(taxi):
    _, model, rows = taxi
    scores = model.predict(rows.assign(trip_id=[7, 8, 9]))["scores"]  # `tips` is there too
    # The corpus README's scores from a raw Session on these three rows.
    np.testing.assert_allclose(np.stack(scores)[:, 1], [0.17540, 0.21212, 0.19365], atol=1e-5)


def test_cli_refuses_columns_matching_no_feature(taxi, tmp_path):
    uri, _, rows = taxi
    csv = tmp_path / "rows.csv"
    rows.rename(columns=str.upper).to_csv(csv, index=False)
    result = CliRunner().invoke(cli, ["predict", uri, "--input", str(csv)])
    assert result.exit_code == 2, result.output
    assert "None of the columns" in result.output and "fare" in result.output


@pytest.mark.parametrize("data", [[10**400], {"x": [[10**400]]}, [[1.0], [-(10**400)]]])
def test_integers_beyond_float64_are_refused_naming_the_range(half_plus_two, data):
    with pytest.raises(MlflowException, match=r"Input 'x' is float32; got a number beyond float64"):
        half_plus_two.predict(data)
    np.testing.assert_array_equal(half_plus_two.predict({"x": [[2.0]]})["y"], [[3.0]])


def test_json_null_is_no_input_for_a_signature_without_inputs():
    from mlflow.utils.proto_json_utils import parse_tf_serving_input

    counter = load_model(
        mlflow_tf1.log_model(
            str(corpus_path("tf_serving/saved_model_counter/00000123")),
            name="counter",
            signature_name="get_counter",
        ).model_uri
    )
    params = {"signature_name": "reset_counter"}
    for body in ({"inputs": None}, {"instances": None}):  # what /invocations hands over
        got = counter.predict(parse_tf_serving_input(body), params=params)
        assert float(np.asarray(next(iter(got.values())))) == 0.0
    with pytest.raises(MlflowException, match="takes no inputs"):
        counter.predict({"x": [1.0]}, params=params)


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (np.array([[1 + 2j]]), r"got complex numbers \(complex128\)"),
        (np.array([["2020-01-01"]], dtype="datetime64[ns]"), r"got dates/times .*in the unit"),
        (np.array([[5]], dtype="timedelta64[s]"), r"got time spans"),
    ],
)
def test_values_without_one_real_number_are_refused(half_plus_two, values, needle):
    """numpy would drop the imaginary part or pick nanoseconds since 1970: a plausible number."""
    with pytest.raises(MlflowException, match=rf"Input 'x' is float32; {needle}"):
        half_plus_two.predict({"x": values})


def test_a_spark_style_timestamp_column_is_refused(taxi):
    _, model, _ = taxi
    frame = pd.DataFrame({"trip_start_timestamp": pd.to_datetime(["2020-01-01"]), "fare": [1.0]})
    with pytest.raises(MlflowException, match=r"'trip_start_timestamp' is int64; got dates/times"):
        model.predict(frame)


def test_zero_rows_answer_zero_rows_even_where_the_graph_cant_run_them(taxi):
    """The taxi graph's reshape fails on an empty batch; a row-wise signature answers none."""
    _, model, rows = taxi
    for empty in (rows.iloc[:0], pd.DataFrame(), []):
        out = model.predict(empty)
        scores = out["scores"]
        assert len(scores) == 0, empty
    assert model.predict([])["classes"].shape == (0, 2)
    with pytest.raises(MlflowException, match=r"None of the columns \['far'\]"):
        model.predict(pd.DataFrame({"far": pd.Series([], dtype=float)}))


def test_a_column_for_an_unshaped_scalar_input_is_refused_with_the_way_to_send_it(tmp_path):
    """incr_counter_by's ``delta`` declares no shape; a one-row table feeds [1], the graph
    wants a scalar. The refusal says how to send it, and the counter is left as it was."""
    path = corpus_path("tf_serving/saved_model_counter/00000123")
    uri = mlflow_tf1.log_model(str(path), name="counter", signature_name="get_counter").model_uri
    model = load_model(uri)
    by = {"signature_name": "incr_counter_by"}
    model.predict(None, params={"signature_name": "reset_counter"})
    for table in (pd.DataFrame({"delta": [3.0]}), [{"delta": 3.0}]):
        with pytest.raises(
            MlflowException, match=r"\['delta'\] declare no shape.*\[\[1\]\].*scalar"
        ):
            model.predict(table, params=by)
    assert float(model.predict(None)["output"]) == 0.0
    assert float(model.predict({"delta": 3.0}, params=by)["output"]) == 3.0
