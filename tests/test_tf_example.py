"""tf.Example (Estimator) signatures fed raw feature columns, against raw-Session oracles."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

import mlflow_tf1
from tests.conftest import corpus_path
from tests.tf1_models import session_predict

# The taxi export's parse spec, as the corpus README states it (not read by the flavor).
STRING = {"company", "payment_type"}
INT64 = {
    "trip_seconds", "trip_start_hour", "trip_start_day", "trip_start_month",
    "trip_start_timestamp", "pickup_census_tract", "dropoff_census_tract",
    "pickup_community_area", "dropoff_community_area",
}  # fmt: skip
FLOAT = {
    "fare", "trip_miles", "pickup_latitude", "pickup_longitude",
    "dropoff_latitude", "dropoff_longitude",
}  # fmt: skip


def taxi_examples(frame: pd.DataFrame) -> np.ndarray:
    """One tf.Example per row; empty cells are left out, as the README says."""
    protos = []
    for row in frame.to_dict("records"):
        example = tf.train.Example()
        for key, value in row.items():
            if pd.isna(value) or key not in STRING | INT64 | FLOAT:
                continue
            feature = example.features.feature[key]
            if key in STRING:
                feature.bytes_list.value.append(str(value).encode())
            elif key in INT64:
                feature.int64_list.value.append(int(value))
            else:
                feature.float_list.value.append(float(value))
        protos.append(example.SerializeToString())
    return np.array(protos, dtype=object)


@pytest.fixture(scope="module")
def taxi():
    export = corpus_path("tfx/chicago_taxi_estimator/1646034756")
    frame = pd.read_csv(corpus_path("tfx/chicago_taxi.csv"))
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export.parent)).model_uri)
    return export, frame, model


def test_every_csv_row_matches_serialized_examples_oracle(taxi):
    export, frame, model = taxi
    expected = session_predict(export, "serving_default", {"inputs": taxi_examples(frame)})
    got = model.predict(frame)
    assert len(got) == 10_000
    np.testing.assert_allclose(np.stack(got["scores"]), expected["scores"], rtol=1e-5)
    assert got["classes"][0].tolist() == ["0", "1"]
    np.testing.assert_allclose(got["scores"][0], [0.82460, 0.17540], atol=1e-5)


@pytest.mark.parametrize(
    ("signature", "input_key", "outputs"),
    [
        ("classification", "inputs", ["scores"]),
        ("regression", "inputs", ["outputs"]),
        ("predict", "examples", ["logits", "probabilities", "class_ids", "logistic"]),
    ],
)
def test_other_signatures_same_rows(taxi, signature, input_key, outputs):
    export, frame, model = taxi
    sample = frame.sample(300, random_state=0)
    expected = session_predict(export, signature, {input_key: taxi_examples(sample)})
    got = model.predict(sample, params={"signature_name": signature})
    for key in outputs:
        np.testing.assert_allclose(
            np.stack(got[key]).reshape(expected[key].shape), expected[key], rtol=1e-5
        )
    # Pre-serialized examples keep working, and give the same answer.
    serialized = model.predict(
        {input_key: taxi_examples(sample)}, params={"signature_name": signature}
    )
    np.testing.assert_allclose(serialized[outputs[0]], expected[outputs[0]], rtol=1e-5)


def test_missing_values_and_integral_floats(taxi):
    _, frame, model = taxi
    rows = frame.head(3).to_dict("records")
    assert isinstance(rows[0]["trip_seconds"], float)  # pandas turned the int column into float
    records = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows]
    got = model.predict(records, params={"signature_name": "regression"})
    np.testing.assert_allclose(got["outputs"].ravel(), [0.17540, 0.21212, 0.19365], atol=1e-5)
    bad = dict(records[0], trip_seconds=180.5)
    with pytest.raises(mlflow.exceptions.MlflowException, match="trip_seconds.*non-integral"):
        model.predict([bad])


def test_half_plus_two_regress_signatures_from_columns():
    export = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)
    frame = pd.DataFrame({"x": [1.0, 2.0, 5.0], "x2": [3.0, None, 4.0]})

    def oracle(signature: str, rows: pd.DataFrame) -> np.ndarray:
        protos = []
        for row in rows.to_dict("records"):
            example = tf.train.Example()
            for key, value in row.items():
                if not pd.isna(value):
                    example.features.feature[key].float_list.value.append(value)
            protos.append(example.SerializeToString())
        return session_predict(export, signature, {"inputs": np.array(protos, dtype=object)})

    for signature, key in [("regress_x_to_y", "outputs"), ("classify_x_to_y", "scores"),
                           ("regress_x_to_y2", "outputs")]:  # fmt: skip
        got = model.predict(frame, params={"signature_name": signature})
        np.testing.assert_allclose(got[key], oracle(signature, frame)[key].ravel())
    # x2 left out entirely: its graph default (0.0) applies.
    got = model.predict({"x": [2.0]}, params={"signature_name": "regress_x_to_y"})
    np.testing.assert_allclose(got["outputs"], [[3.0]])
    spec = _recorded_features(model, "regress_x_to_y")
    assert _spec(spec["x"]) == {
        "dtype": "float32",
        "kind": "fixed_len",
        "shape": [1],
        "default": None,
    }
    assert spec["x2"]["default"] == [0.0]
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"Missing feature\(s\) \['x'\]"):
        model.predict({"x2": [1.0]}, params={"signature_name": "regress_x_to_y"})


def test_model_logged_with_parse_specs_per_signature_still_loads(tmp_path):
    """MLmodel files of description_version 2 kept each signature's spec in the signature."""
    export = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    path = tmp_path / "model"
    mlflow_tf1.save_model(str(export), str(path))
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["tf1"]
    specs = flavor.pop("example_features")
    for sig in flavor["signatures"].values():
        if sig.get("example_parser"):
            sig["example_features"] = specs[sig["example_parser"]["node"]]
    flavor["description_version"] = 2
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))

    model = mlflow.pyfunc.load_model(str(path))
    frame = pd.DataFrame({"x": [2.0], "x2": [4.0]})
    got = model.predict(frame, params={"signature_name": "regress_x_to_y2"})
    example = tf.train.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    example.features.feature["x2"].float_list.value.append(4.0)
    protos = np.array([example.SerializeToString()], dtype=object)
    want = session_predict(export, "regress_x_to_y2", {"inputs": protos})
    np.testing.assert_allclose(got["outputs"], np.ravel(want["outputs"]))


def test_transform_graph_sparse_inputs_from_csv_columns():
    export = corpus_path("tfx/chicago_taxi_transform")
    frame = pd.read_csv(corpus_path("tfx/chicago_taxi.csv")).head(200)
    uri = mlflow_tf1.log_model(str(export), meta_graph_tags=["transform"]).model_uri
    model = mlflow.pyfunc.load_model(uri)
    feeds = {}
    for key in frame.columns:
        column = frame[key]
        rows = np.flatnonzero(column.notna().to_numpy())
        values = column.to_numpy()[rows]
        dtype = object if key in STRING else np.int64 if key in INT64 else np.float32
        values = (
            np.array([v.encode() for v in values], object)
            if key in STRING
            else values.astype(dtype)
        )
        feeds[key] = tf.compat.v1.SparseTensorValue(
            np.stack([rows, np.zeros_like(rows)], 1), values, np.array([len(frame), 1])
        )
    expected = session_predict(export, "transform_signature", feeds, tags=("transform",))
    got = model.predict(frame)
    assert sorted(got.columns) == sorted(expected)
    for key, want in expected.items():
        values = want.values if isinstance(want, tf.compat.v1.SparseTensorValue) else want
        if values.dtype == object:
            assert [str(v) for v in np.ravel(got[key])] == [v.decode() for v in np.ravel(values)]
        else:
            np.testing.assert_allclose(np.ravel(got[key].tolist()), np.ravel(values), rtol=1e-5)

    # The Session backend initializes the tables too (this graph has no main op).
    session = mlflow_tf1.load_model(uri, backend="session").signatures["transform_signature"]
    tensors = {k: tf.SparseTensor(*v) for k, v in feeds.items()}
    out = session(**tensors)
    # Run as written, without Grappler's arithmetic rewrites: within float32 rounding.
    np.testing.assert_allclose(np.ravel(out["fare_xf"]), np.ravel(expected["fare_xf"]), rtol=1e-6)


def _example(row: dict) -> bytes:
    example = tf.train.Example()
    for key, values in row.items():
        feature = example.features.feature[key]
        if key == "tags":
            feature.bytes_list.value.extend(v.encode() for v in values)
        elif key == "city":
            feature.bytes_list.value.extend(values)
        elif key in ("count", "r"):
            feature.int64_list.value.extend(values)
        else:
            feature.float_list.value.extend(values)
    return example.SerializeToString()


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    from tests import tf1_models

    export = tmp_path_factory.mktemp("estimator") / "export"
    tf1_models.build_estimator_style(export)
    return export, mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)


def test_estimator_style_fixture_defaults_multivalued_varlen_int64(estimator):
    export, model = estimator
    rows = [
        {"age": [20.0], "scores": [1.0, 2.0, 3.0], "tags": ["a", "b"], "count": [4]},
        {"scores": [0.5, 0.5, 0.5], "tags": [], "city": [b"paris"]},  # defaults for the rest
        {"age": [50.0], "scores": [0.0, 0.0, 1.0], "tags": ["b"], "count": [7]},
    ]
    protos = np.array([_example(r) for r in rows], dtype=object)
    expected = session_predict(export, "serving_default", {"examples": protos})["score"]
    frame = pd.DataFrame({
        "age": [20.0, None, 50.0],
        "scores": [[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [0.0, 0.0, 1.0]],
        "tags": [["a", "b"], None, "b"],
        "count": [4.0, np.nan, 7.0],  # an int column with a gap, as pandas holds it
        "city": [None, "paris", None],  # a text column with gaps (Arrow-backed in pandas 3)
    })  # fmt: skip
    np.testing.assert_allclose(model.predict(frame)["score"], expected, rtol=1e-6)
    got = model.predict(frame, params={"signature_name": "regression"})
    np.testing.assert_allclose(got["outputs"], expected, rtol=1e-6)
    flavor = _recorded_features(model, "serving_default")
    assert _spec(flavor["tags"]) == {"dtype": "string", "kind": "var_len"}
    assert _spec(flavor["scores"]) == {
        "dtype": "float32",
        "kind": "fixed_len",
        "shape": [3],
        "default": None,
    }
    with pytest.raises(
        mlflow.exceptions.MlflowException, match=r"Missing feature\(s\) \['scores'\]"
    ):
        model.predict(frame.drop(columns="scores"))


def test_rows_lacking_optional_features_and_missing_required_ones():
    export = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)
    params = {"signature_name": "regress_x_to_y2"}
    frame = pd.DataFrame({"x": [2.0, 4.0]})  # no x2 column at all: its default applies
    expected = session_predict(
        export,
        "regress_x_to_y2",
        {"inputs": np.array([_float_example(x=2.0), _float_example(x=4.0)], object)},
    )["outputs"]
    got = model.predict(frame, params=params)["outputs"]  # DataFrame: [n, 1] -> a column
    np.testing.assert_allclose(got, np.ravel(expected))
    records = [{"x": 2.0, "x2": 1.0}, {"x": 4.0}]  # rows differ in optional keys
    want = session_predict(
        export, "regress_x_to_y2",
        {"inputs": np.array([_float_example(x=2.0, x2=1.0), _float_example(x=4.0)], object)},
    )["outputs"]  # fmt: skip
    np.testing.assert_allclose(model.predict(records, params=params)["outputs"], want)
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"Feature 'x' is required.*\[1\]"):
        model.predict({"x": [2.0, None]}, params=params)


def _float_example(**features: float) -> bytes:
    example = tf.train.Example()
    for key, value in features.items():
        example.features.feature[key].float_list.value.append(value)
    return example.SerializeToString()


def test_serialized_examples_sent_as_base64_text():
    import base64

    export = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)
    params = {"signature_name": "regress_x_to_y"}
    text = [base64.b64encode(_float_example(x=x)).decode() for x in (2.0, 4.0)]
    got = model.predict(pd.DataFrame({"inputs": text}), params=params)["outputs"]
    np.testing.assert_allclose(got, [3.0, 4.0])  # y = x / 2 + 2
    # MLflow's own JSON encoder wraps base64 in lines of 76 characters.
    long = _float_example(x=6.0, x2=1.0, pad=7.0, pad2=8.0, pad3=9.0, pad4=10.0)
    wrapped = base64.encodebytes(long).decode()
    assert "\n" in wrapped.strip()
    np.testing.assert_allclose(model.predict([wrapped], params=params)["outputs"], [[5.0]])
    for bad in ("x = 2.0", "é"):
        with pytest.raises(mlflow.exceptions.MlflowException, match=r"must be base64"):
            model.predict({"inputs": [bad]}, params=params)
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"'inputs'.*row\(s\) \[1\]"):
        model.predict(pd.DataFrame({"inputs": [text[0], None]}), params=params)


def test_sequence_features_from_lists_and_ragged_ones_protos_only(tmp_path):
    from tests import tf1_models

    export = tmp_path / "export"
    tf1_models.build_sequence_features(export)
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)
    rows = [{"seq": [1.0, 2.0, 3.0], "w": [2.0]}, {"seq": [4.0]}, {"w": [3.0]}]
    protos = np.array([_example(r) for r in rows], dtype=object)
    want = session_predict(export, "serving_default", {"examples": protos})["y"]
    # Padded with -1 to the longest row (3): 6 * 2; (4 - 1 - 1) * 1; (-3) * 3.
    np.testing.assert_allclose(want, [12.0, 2.0, -9.0])
    frame = pd.DataFrame({"seq": [[1.0, 2.0, 3.0], 4.0, None], "w": [2.0, None, 3.0]})
    np.testing.assert_allclose(model.predict(frame)["y"], want)
    config = model.metadata.flavors["tf1"]["signatures"]
    assert _spec(_recorded_features(model, "serving_default")["seq"]) == {
        "dtype": "float32",
        "kind": "sequence",
        "shape": [-1],
        "default": [-1.0],
    }
    assert "ragged features" in config["ragged"]["raw_rows_refused"]
    ragged = np.array([_example({"r": [1, 2]}), _example({"r": [5]})], dtype=object)
    got = model.predict({"examples": ragged}, params={"signature_name": "ragged"})["total"]
    np.testing.assert_array_equal(got, [3, 5])
    with pytest.raises(
        mlflow.exceptions.MlflowException,
        match=r"'ragged' takes serialized tf.Examples in 'examples'; raw feature columns can't",
    ):
        model.predict(pd.DataFrame({"r": [[1, 2]]}), params={"signature_name": "ragged"})


def test_var_len_features_feed_a_graph_that_reads_its_input_beyond_the_parser(tmp_path):
    # Heads tile their class labels to tf.shape(serialized): raw rows are serialized then.
    from tests import tf1_models

    export = tmp_path / "export"
    tf1_models.build_batch_sized_classifier(export)
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)
    rows = [{"age": [20.0], "tags": ["a", "b"]}, {"age": [5.0], "tags": []}, {"age": [1.0]}]
    protos = np.array([_example(r) for r in rows], dtype=object)
    want = session_predict(export, "serving_default", {"inputs": protos})
    np.testing.assert_allclose(want["scores"], [[22.0, -20.0], [5.0, -5.0], [1.0, -1.0]])
    frame = pd.DataFrame({"age": [20.0, 5.0, 1.0], "tags": [["a", "b"], [], None]})
    got = model.predict(frame)
    np.testing.assert_allclose(np.stack(got["scores"]), want["scores"])
    assert [list(c) for c in got["classes"]] == [["pos", "neg"]] * 3


def test_a_column_named_like_an_absent_feature_is_refused_not_ignored(estimator):
    export, model = estimator
    row = {"age": [20.0], "scores": [1.0, 2.0, 3.0], "city": [b"paris"]}
    expected = session_predict(
        export, "serving_default", {"examples": np.array([_example(row)], dtype=object)}
    )["score"]
    base = {"age": [20.0], "scores": [[1.0, 2.0, 3.0]]}
    # A label or id column beside the features is still ignored.
    labelled = pd.DataFrame({**base, "city": ["paris"], "label": [1.0], "row_id": ["a-1"]})
    np.testing.assert_allclose(model.predict(labelled)["score"], expected, rtol=1e-6)
    for typo in ("City", "CITY", "citty"):
        with pytest.raises(
            mlflow.exceptions.MlflowException,
            match=rf"Column '{typo}'.*rename the column to 'city'",
        ):
            model.predict(pd.DataFrame({**base, typo: ["paris"]}))
        with pytest.raises(mlflow.exceptions.MlflowException, match=rf"Column '{typo}'"):
            model.predict([{"age": 20.0, "scores": [1.0, 2.0, 3.0], typo: "paris"}])
    np.testing.assert_allclose(model.predict(labelled)["score"], expected, rtol=1e-6)


def test_one_row_as_a_dict_of_scalars_and_nested_var_len_lists_refused(estimator):
    export, model = estimator
    row = {"age": [20.0], "scores": [1.0, 2.0, 3.0], "tags": ["a"], "city": [b"paris"]}
    expected = session_predict(
        export, "serving_default", {"examples": np.array([_example(row)], dtype=object)}
    )["score"]
    one = {"age": 20.0, "scores": [[1.0, 2.0, 3.0]], "tags": "a", "city": "paris"}
    np.testing.assert_allclose(model.predict(one)["score"], expected, rtol=1e-6)
    nested = pd.DataFrame({"age": [20.0, 1.0], "scores": [[1.0, 2.0, 3.0]] * 2,
                           "tags": [["a"], [["b", "c"]]]})  # fmt: skip
    with pytest.raises(
        mlflow.exceptions.MlflowException, match=r"'tags' takes one list.*row\(s\) \[1\]"
    ):
        model.predict(nested)
    np.testing.assert_allclose(model.predict(one)["score"], expected, rtol=1e-6)


def test_var_len_cells_of_every_shape(estimator):
    export, model = estimator
    tags = [[], ("a",), np.array(["b", "a"], dtype=object), None, "a", ["b", "b", "b"]]
    as_lists = [[], ["a"], ["b", "a"], [], ["a"], ["b", "b", "b"]]
    scores = [[float(i), 0.0, 0.0] for i in range(len(tags))]
    rows = [{"scores": s, "tags": t} for s, t in zip(scores, as_lists, strict=True)]
    protos = np.array([_example(r) for r in rows], dtype=object)
    want = session_predict(export, "serving_default", {"examples": protos})["score"]
    frame = pd.DataFrame({"scores": scores, "tags": tags})
    np.testing.assert_allclose(model.predict(frame)["score"], want, rtol=1e-6)
    np.testing.assert_allclose(want - np.arange(6), [3, 103, 103, 3, 103, 3], rtol=1e-6)


def test_var_len_and_sequence_edge_cells(estimator, tmp_path):
    import base64

    from tests import tf1_models

    _, model = estimator
    b64 = {"b64": base64.b64encode(b"a").decode()}
    scores = [[0.0, 0.0, 0.0]] * 3
    frame = pd.DataFrame({"scores": scores, "tags": [b64, [b64, "b"], ["b"]]})
    np.testing.assert_allclose(model.predict(frame)["score"], [103.0, 103.0, 3.0])
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"'tags'.*inside.*row\(s\) \[1\]"):
        model.predict(pd.DataFrame({"scores": scores, "tags": [["a"], ["b", None], []]}))

    export = tmp_path / "sequences"
    tf1_models.build_sequence_features(export)
    model = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)
    frame = pd.DataFrame({"seq": [[1.0, np.nan], [], None]})  # NaN inside a row is a value
    np.testing.assert_equal(model.predict(frame)["y"].to_numpy(), [np.nan, -2.0, -2.0])
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"'seq' has missing.*\[0\]"):
        model.predict(pd.DataFrame({"seq": [[1.0, None]]}))
    # Protos-only signatures take a one-column frame, whatever its name (Spark's "0").
    ragged = np.array([_example({"r": [4, 5]})], dtype=object)
    got = model.predict(pd.DataFrame({"0": ragged}), params={"signature_name": "ragged"})
    assert got["total"].tolist() == [9]


def _recorded_features(model, signature: str) -> dict:
    """The parse spec MLmodel records for the parser node feeding ``signature``."""
    flavor = model.metadata.flavors["tf1"]
    return flavor["example_features"][flavor["signatures"][signature]["example_parser"]["node"]]


def _spec(feature: dict) -> dict:
    """A recorded feature's spec, without the parser tensor it is fed through."""
    return {k: v for k, v in feature.items() if k in ("dtype", "kind", "shape", "default")}
