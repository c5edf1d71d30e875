"""The opt-in column schema of tf.Example models: MLflow's registry, pyfunc and server use it."""

from __future__ import annotations

import base64

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.types.schema import AnyType

import mlflow_tf1
from tests.conftest import corpus_path
from tests.test_serving import invoke, predictions, serving
from tests.test_tf_example import FLOAT, INT64, STRING, _float_example, taxi_examples
from tests.tf1_models import build_mixed_dtypes, build_while_loop, session_predict

TAXI = "tfx/chicago_taxi_estimator/1646034756"
HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"
# The corpus README's classification scores (class 1) for the first three CSV rows.
README_SCORES = [0.1754, 0.2121, 0.1937]


@pytest.fixture(scope="module")
def taxi_uri() -> str:
    export = corpus_path(TAXI)
    signature = mlflow_tf1.infer_feature_signature(export)
    return mlflow_tf1.log_model(str(export), signature=signature).model_uri


def test_taxi_schema_names_every_feature_and_the_serialized_inputs(taxi_uri):
    signature = mlflow.models.get_model_info(taxi_uri).signature
    columns = {c.name: c for c in signature.inputs.inputs}
    # Every signature's serialized input: 'examples' (predict) and 'inputs' (classify, regress).
    assert set(columns) == STRING | INT64 | FLOAT | {"inputs", "examples"}
    assert not any(c.required for c in columns.values())
    # Any: narrower MLflow types refuse or corrupt real rows (see the next tests).
    assert all(isinstance(c.type, AnyType) for c in columns.values())
    assert signature.params.to_dict()[0]["default"] == "serving_default"
    assert {c.name for c in signature.outputs.inputs} == {"classes", "scores"}


def test_taxi_rows_and_serialized_examples_through_the_schema(taxi_uri):
    model = mlflow.pyfunc.load_model(taxi_uri)
    rows = pd.read_csv(corpus_path("tfx/chicago_taxi.csv")).head(500)
    protos = taxi_examples(rows)
    want = session_predict(corpus_path(TAXI), "classification", {"inputs": protos})["scores"]
    np.testing.assert_allclose(np.stack(model.predict(rows)["scores"]), want, rtol=1e-5)
    params = {"signature_name": "classification"}
    got = model.predict({"inputs": protos}, params=params)
    np.testing.assert_allclose(np.stack(got["scores"]), want, rtol=1e-5)
    regress = session_predict(corpus_path(TAXI), "regression", {"inputs": protos})["outputs"]
    got = model.predict(rows, params={"signature_name": "regression"})["outputs"]
    np.testing.assert_allclose(got, np.ravel(regress), rtol=1e-5)


def test_bad_rows_are_refused_naming_the_feature(taxi_uri):
    model = mlflow.pyfunc.load_model(taxi_uri)
    with pytest.raises(
        MlflowException,
        match=r"'company' is a string tensor; got numbers \(int64, e.g. 1\).*read_csv",
    ):
        model.predict(pd.DataFrame({"company": [1, 2], "fare": [3.5, 4.0]}))
    with pytest.raises(MlflowException, match=r"'trip_start_hour' is int64; got non-integral"):
        model.predict(pd.DataFrame({"trip_start_hour": [1.5, 4.0]}))


def test_half_plus_two_per_row_tensor_and_example_signatures():
    export = corpus_path(HALF_PLUS_TWO)
    signature = mlflow_tf1.infer_feature_signature(export)
    # 'inputs': serialized examples for three signatures, a float tensor for regress_x2_to_y3.
    assert [c.name for c in signature.inputs.inputs] == ["x", "x2", "inputs"]
    model = mlflow.pyfunc.load_model(
        mlflow_tf1.log_model(str(export), signature=signature).model_uri
    )
    frame = pd.DataFrame({"x": [1.0, 4.0], "x2": [2.0, None]})
    np.testing.assert_allclose(model.predict(frame)["y"], [2.5, 4.0])  # x / 2 + 2
    protos = np.array([_float_example(x=1.0, x2=2.0), _float_example(x=4.0)], dtype=object)
    want = session_predict(export, "regress_x_to_y2", {"inputs": protos})["outputs"]
    got = model.predict(frame, params={"signature_name": "regress_x_to_y2"})["outputs"]
    np.testing.assert_allclose(got, np.ravel(want))


def test_models_without_example_signatures_or_with_tensors_are_refused(tmp_path):
    build_while_loop(tmp_path / "loop")
    with pytest.raises(MlflowException, match=r"parse tf.Examples; none of \['serving_default'\]"):
        mlflow_tf1.infer_feature_signature(tmp_path / "loop")
    build_mixed_dtypes(tmp_path / "mixed")
    with pytest.raises(MlflowException, match=r"takes tensors.*pix \(uint8, shape \[-1, 2, 2\]\)"):
        mlflow_tf1.infer_feature_signature(tmp_path / "mixed")


@pytest.mark.serving
def test_served_with_the_schema_rows_with_nulls_and_base64_examples(taxi_uri):
    rows = pd.read_csv(corpus_path("tfx/chicago_taxi.csv")).head(3)
    records = [
        {k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows.to_dict("records")
    ]
    encoded = [base64.b64encode(p).decode() for p in taxi_examples(rows)]
    with serving(taxi_uri) as url:
        got = predictions(url, {"dataframe_records": records})
        assert [round(r["scores"][1], 4) for r in got] == README_SCORES
        # Serialized examples as base64 text in a DataFrame format; the flavor decodes them.
        split = {"columns": ["inputs"], "data": [[e] for e in encoded]}
        body = {"dataframe_split": split, "params": {"signature_name": "classification"}}
        assert [round(r["scores"][1], 4) for r in predictions(url, body)] == README_SCORES
        # TF Serving's formats: nulls stay missing (a string schema would make them "None").
        body = {"instances": records, "params": {"signature_name": "regression"}}
        assert [round(r["outputs"], 4) for r in predictions(url, body)] == README_SCORES
        b64 = [{"inputs": {"b64": e}} for e in encoded]
        body = {"instances": b64, "params": {"signature_name": "classification"}}
        assert [round(r["scores"][1], 4) for r in predictions(url, body)] == README_SCORES
        body = {"dataframe_split": {"columns": ["inputs"], "data": [["not base64!"]]}}
        response = invoke(url, {**body, "params": {"signature_name": "classification"}})
        assert response.status_code == 400 and "base64" in response.json()["message"]
