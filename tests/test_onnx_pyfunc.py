"""``pyfunc_backend="onnx"``: signatures verified at log time run on onnxruntime in mlflow.pyfunc.

Oracle: a raw ``tf.compat.v1.Session`` on the same SavedModel.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_fidelity_models, tf1_onnx_models
from tests.conftest import corpus_path
from tests.test_corpus import serialized_examples
from tests.tf1_models import session_predict

pytest.importorskip(
    "tf2onnx", reason="the ONNX backend converts with tf2onnx (pip install tf2onnx)"
)
pytest.importorskip("onnxruntime", reason="the ONNX backend runs on onnxruntime")

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"


def _flavor(model_dir) -> dict:
    return yaml.safe_load(Path(model_dir, "MLmodel").read_text())["flavors"]["tf1"]


@pytest.fixture(scope="module")
def half_plus_two_onnx(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("onnx") / "model"
    mlflow_tf1.save_model(str(corpus_path(HALF_PLUS_TWO)), str(model_dir), pyfunc_backend="onnx")
    return model_dir


def test_dense_signatures_run_on_onnx_with_the_session_s_numbers(half_plus_two_onnx):
    flavor = _flavor(half_plus_two_onnx)
    record = flavor["onnx"]["serving_default"]
    assert record["backend"] == "onnx" and (half_plus_two_onnx / record["file"]).is_file()
    assert record["verification"]["matches"] and record["opset"] >= 9
    assert set(record["versions"]) >= {"tf2onnx", "onnxruntime"}
    assert flavor["backends"]["serving_default"] == "onnx"
    # tf.Example signatures stay on the Session, saying why.
    assert flavor["onnx"]["regress_x_to_y"]["backend"] == "session"
    assert "tf.Examples" in flavor["onnx"]["regress_x_to_y"]["reason"]
    requirements = (half_plus_two_onnx / "requirements.txt").read_text()
    assert "onnxruntime==" in requirements

    model = mlflow.pyfunc.load_model(str(half_plus_two_onnx))
    assert model.get_raw_model().backends["serving_default"] == "onnx"
    x = np.array([[1.0], [2.0], [5.0]], np.float32)
    expected = session_predict(corpus_path(HALF_PLUS_TWO), feeds={"x": x})["y"]
    np.testing.assert_allclose(model.predict({"x": x})["y"], expected)
    np.testing.assert_allclose(model.predict({"x": x.astype(np.float64)})["y"], expected)
    frame = model.predict(__import__("pandas").DataFrame({"x": [1.0, 2.0, 5.0]}))
    np.testing.assert_allclose(frame["y"].to_numpy(), expected[:, 0])
    with pytest.raises(MlflowException, match="Valid inputs"):
        model.predict({"z": x})


def test_raw_feature_rows_of_tf_example_signatures_run_on_onnx(half_plus_two_onnx):
    """Protos are parsed by the Session; the graph after the parser converts on its own."""
    record = _flavor(half_plus_two_onnx)["onnx"]["regress_x_to_y"]
    assert record["backend"] == "session" and record["raw_rows"]["backend"] == "onnx"
    assert (half_plus_two_onnx / record["raw_rows"]["file"]).is_file()
    assert record["raw_rows"]["verification"]["matches"]
    model = mlflow.pyfunc.load_model(str(half_plus_two_onnx))
    assert model.get_raw_model().feature_signatures["regress_x_to_y"].backend == "onnx"
    params = {"signature_name": "regress_x_to_y"}
    protos = serialized_examples(x=[2.0, 4.0, -1.5])
    expected = session_predict(corpus_path(HALF_PLUS_TWO), "regress_x_to_y", {"inputs": protos})
    rows = model.predict(pd.DataFrame({"x": [2.0, 4.0, -1.5]}), params=params)
    np.testing.assert_array_equal(rows["outputs"].to_numpy(), expected["outputs"].ravel())
    np.testing.assert_array_equal(rows["outputs"].to_numpy()[0], 3.0)  # corpus README: x=2 -> 3
    parsed = model.predict({"inputs": protos}, params=params)
    np.testing.assert_array_equal(parsed["outputs"], expected["outputs"])
    with pytest.raises(MlflowException, match="Missing feature"):
        model.predict(pd.DataFrame({"x2": [1.0]}), params=params)


def test_a_graph_onnx_cannot_take_stays_on_the_session(tmp_path):
    export = tmp_path / "export"
    tf1_fidelity_models.build_vocabulary_table(export, ["apple", "banana"])
    mlflow_tf1.save_model(str(export), str(tmp_path / "model"), pyfunc_backend="onnx")
    records = _flavor(tmp_path / "model")["onnx"]
    assert {r["backend"] for r in records.values()} == {"session"}
    assert all(r["reason"] for r in records.values())
    assert "onnxruntime" not in (tmp_path / "model" / "requirements.txt").read_text()
    words = np.array([b"banana", b"kiwi"], dtype=object)
    expected = session_predict(export, feeds={"words": words})["ids"]
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(tmp_path / "model")).predict({"words": words})["ids"], expected
    )


def test_a_mismatch_beyond_the_tolerance_falls_back_to_the_session(tmp_path):
    export = tmp_path / "export"
    tf1_onnx_models.build_cnn(export)
    exact = {"rtol": 0.0, "atol": 0.0}
    mlflow_tf1.save_model(
        str(export), str(tmp_path / "model"), pyfunc_backend="onnx", onnx_tolerance=exact
    )
    record = _flavor(tmp_path / "model")["onnx"]["serving_default"]
    assert record["backend"] == "session"
    assert record["reason"].startswith("verification:") and "probabilities" in record["reason"]
    assert record["verification"]["outputs"]["probabilities"]["max_abs_diff"] > 0
    images = np.random.default_rng(0).normal(size=(3, *tf1_onnx_models.IMAGE)).astype(np.float32)
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    assert model.get_raw_model().backends["serving_default"] == "session"
    expected = session_predict(export, feeds={"images": images})
    np.testing.assert_array_equal(
        model.predict({"images": images})["probabilities"], expected["probabilities"]
    )

    mlflow_tf1.save_model(str(export), str(tmp_path / "default"), pyfunc_backend="onnx")
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "default"))
    assert loaded.get_raw_model().backends["serving_default"] == "onnx"
    got = loaded.predict({"images": images})
    np.testing.assert_allclose(
        got["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(got["classes"], expected["classes"])


def test_unknown_backend_or_tolerance_is_refused(tmp_path):
    export = corpus_path(HALF_PLUS_TWO)
    with pytest.raises(MlflowException, match=r"valid: \['session', 'onnx'\]"):
        mlflow_tf1.save_model(str(export), str(tmp_path / "a"), pyfunc_backend="tensorrt")
    with pytest.raises(MlflowException, match="onnx_tolerance"):
        mlflow_tf1.save_model(
            str(export), str(tmp_path / "b"), pyfunc_backend="onnx", onnx_tolerance={"eps": 1}
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.serving
def test_scoring_server_answers_from_onnx(half_plus_two_onnx):
    from tests.test_serving import serving

    with serving(str(half_plus_two_onnx)) as url:
        response = requests.post(
            f"{url}/invocations", json={"inputs": {"x": [[1.0], [2.0], [5.0]]}}, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()["predictions"]
        y = body[0]["y"] if isinstance(body, list) else body["y"]  # MLflow's dict serialization
        np.testing.assert_allclose(np.ravel(y), [2.5, 3.0, 4.5])
        bad = requests.post(f"{url}/invocations", json={"inputs": {"x": [["a"]]}}, timeout=30)
        assert bad.status_code == 400


def test_cli_logs_onnx_signatures_and_inspect_shows_them(tmp_path):
    from click.testing import CliRunner

    from mlflow_tf1.cli import cli

    logged = CliRunner().invoke(
        cli, ["log", str(corpus_path(HALF_PLUS_TWO)), "--pyfunc-backend", "onnx"]
    )
    assert logged.exit_code == 0, logged.output
    uri = next(line.split(": ", 1)[1] for line in logged.stdout.splitlines() if "model_uri" in line)
    shown = CliRunner().invoke(cli, ["inspect", uri])
    assert shown.exit_code == 0, shown.output
    serving = shown.output.split("Signature 'serving_default'")[1].split("Signature ")[0]
    assert "backend: onnx" in serving
    regress = shown.output.split("Signature 'regress_x_to_y'")[1].split("Signature ")[0]
    assert "backend: session (not ONNX: it takes serialized tf.Examples" in regress
    assert "raw feature rows: onnx" in regress


CORPUS_MODELS = {
    "half_plus_two (cpu)": ("tf_serving/saved_model_half_plus_two_cpu/00000123", None),
    "half_plus_two (gpu)": ("tf_serving/saved_model_half_plus_two_gpu/00000123", None),
    "half_plus_three (TF 1.0)": ("tf_serving/saved_model_half_plus_three/00000123", None),
    "matrix_half_plus_two": ("tf_serving/matrix_half_plus_two/1", None),
    "counter": ("tf_serving/saved_model_counter/00000123", "get_counter"),
    "half_plus_two (TF2-written)": ("tf_serving/saved_model_half_plus_two_tf2_cpu/00000123", None),
    "chicago_taxi_estimator": ("tfx/chicago_taxi_estimator/1646034756", None),
    "chicago_taxi_transform": ("tfx/chicago_taxi_transform", None),
}


def test_the_corpus_table_in_the_docs_is_what_logging_chooses(tmp_path):
    from tests.conftest import PROJECT_ROOT

    rows = []
    for line in (PROJECT_ROOT / "docs" / "onnx.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in CORPUS_MODELS:
            rows.append((cells[0], cells[1].strip("`"), cells[2], cells[3]))
    assert {r[0] for r in rows} == set(CORPUS_MODELS)
    records = {}
    for label, (relative, default) in CORPUS_MODELS.items():
        folder = tmp_path / str(len(records))
        mlflow_tf1.save_model(
            str(corpus_path(relative)), str(folder), pyfunc_backend="onnx", signature_name=default
        )
        records[label] = _flavor(folder)["onnx"]
    for label, signature, backend, reason in rows:
        record = records[label][signature]
        backend, _, raw_rows = backend.removesuffix(")").partition(" (raw rows: ")
        assert record["backend"] == backend, (label, signature, record)
        assert record.get("reason", "").startswith(reason), (label, signature, record)
        assert (record.get("raw_rows") or {}).get("backend", "") == raw_rows, (label, signature)


def test_the_input_example_is_compared_too(tmp_path):
    """Generated batches are small whole numbers; the example carries the user's real values."""
    export = tmp_path / "export"
    tf1_onnx_models.build_cnn(export)
    images = np.random.default_rng(1).normal(size=(2, *tf1_onnx_models.IMAGE))
    mlflow_tf1.save_model(
        str(export), str(tmp_path / "m"), pyfunc_backend="onnx", input_example={"images": images}
    )
    verification = _flavor(tmp_path / "m")["onnx"]["serving_default"]["verification"]
    assert verification["input_example"] is True and verification["batches"] == 2
    without = tmp_path / "without"
    mlflow_tf1.save_model(str(export), str(without), pyfunc_backend="onnx")
    verification = _flavor(without)["onnx"]["serving_default"]["verification"]
    assert "input_example" not in verification and verification["batches"] == 1
    # An example only the preprocess hook can read is compared after the hook.
    hooked = tmp_path / "hooked"
    mlflow_tf1.save_model(
        str(export), str(hooked), pyfunc_backend="onnx", preprocess=_images_from_rows,
        input_example=images.reshape(2, -1).tolist(),
    )  # fmt: skip
    assert _flavor(hooked)["onnx"]["serving_default"]["verification"]["batches"] == 2
    got = mlflow.pyfunc.load_model(str(hooked)).predict(images.reshape(2, -1).tolist())
    expected = session_predict(export, feeds={"images": images.astype(np.float32)})
    np.testing.assert_allclose(
        got["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-6
    )


def _images_from_rows(rows):
    return {"images": np.asarray(rows, np.float64).reshape(-1, *tf1_onnx_models.IMAGE)}
