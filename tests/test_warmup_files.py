"""TF Serving warm-up files (``assets.extra/tf_serving_warmup_requests``) replayed at load.

The fixture counts what it runs (predict +1, classify +10, regress +100 per call;
`tf1_warmup_models`), so after ``mlflow.pyfunc.load_model`` its ``count`` signature
says which records were replayed: the oracle is the sum over the file's good records.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import mlflow
import numpy as np
import pytest

import mlflow_tf1
from mlflow_tf1.tf_serving_protos import INSTALL_HINT
from tests import tf1_warmup_models as models
from tests.tf1_models import session_predict

pytest.importorskip("tensorflow_serving.apis", reason=INSTALL_HINT)


def logged(tmp_path, records: list[bytes]) -> str:
    export = tmp_path / "export"
    models.build_counting_model(export)
    models.write_warmup_file(export, records)
    return mlflow_tf1.log_model(str(export), name="model").model_uri


def count(model) -> float:
    return float(np.asarray(model.predict({}, params={"signature_name": "count"})["count"]))


def test_the_saved_model_counts_its_calls(tmp_path):
    # The oracle for the fixture itself: a raw Session starts at 0 and counts one predict.
    export = tmp_path / "export"
    models.build_counting_model(export)
    assert session_predict(export, "count")["count"] == 0.0
    y = session_predict(export, feeds={"x": np.array([[2.0]], np.float32)})["y"]
    np.testing.assert_array_equal(y, [[3.0]])


def test_every_kind_of_record_is_replayed_at_load(tmp_path, caplog):
    records = [
        models.predict_log([[1.0], [2.0]]),
        models.examples_log("classify", [1.0, 2.0], "classify"),
        models.examples_log("regress", [None, None], "regress", context_x=4.0),
        models.predict_log([[3.0]], signature="serving_default"),
        models.multi_inference_log([("classify", "classify"), ("regress", "regress")], [1.0]),
    ]
    with mlflow.start_run():
        uri = logged(tmp_path, records)
    with caplog.at_level(logging.INFO, logger="mlflow_tf1.warmup_files"):
        model = mlflow.pyfunc.load_model(uri)
    assert count(model) == 2 * models.PREDICT + 2 * models.CLASSIFY + 2 * models.REGRESS
    assert "Replayed 5 TF Serving warm-up record(s)" in caplog.text
    assert "(0 skipped)" in caplog.text
    # Every load replays the file again, on its own fresh variables.
    assert count(mlflow.pyfunc.load_model(uri)) == count(model)


def test_bad_records_are_logged_and_skipped_never_failing_the_load(tmp_path, caplog):
    records = [
        b"\x0a\xff not a PredictionLog",
        models.predict_log([[1.0]], signature="nope"),
        models.predict_log([["one"]], dtype=object),
        models.session_run_log(),
        models.examples_log("classify", [1.0], "serving_default"),
        models.predict_log([[5.0]]),
        models.examples_log("regress", [], "regress"),
        # Checked before any task runs: the classify task must not count.
        models.multi_inference_log([("classify", "classify"), ("classify", "classify")], [1.0]),
    ]
    with mlflow.start_run():
        uri = logged(tmp_path, records)
    with caplog.at_level(logging.INFO, logger="mlflow_tf1.warmup_files"):
        model = mlflow.pyfunc.load_model(uri)
    assert count(model) == models.PREDICT  # only record 5 ran
    skipped = {r.args[0]: r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert sorted(skipped) == [0, 1, 2, 3, 4, 6, 7]
    assert "Unknown signature 'nope'" in skipped[1]
    assert "session_run_log" in skipped[3]
    assert "method_name to be tensorflow/serving/classify" in skipped[4]
    assert "Input is empty" in skipped[6]
    assert "Duplicate evaluation of signature: classify" in skipped[7]
    assert "Replayed 1 TF Serving warm-up record(s)" in caplog.text
    assert "(7 skipped)" in caplog.text
    np.testing.assert_array_equal(model.predict({"x": [[2.0]]})["y"], [[3.0]])


def test_a_corrupt_file_stops_the_replay_but_not_the_load(tmp_path, caplog):
    export = tmp_path / "export"
    models.build_counting_model(export)
    path = models.write_warmup_file(export, [models.predict_log([[1.0]])] * 2)
    path.write_bytes(path.read_bytes()[:-7])  # the second record cut short
    with mlflow.start_run():
        uri = mlflow_tf1.log_model(str(export), name="model").model_uri
    with caplog.at_level(logging.INFO, logger="mlflow_tf1.warmup_files"):
        model = mlflow.pyfunc.load_model(uri)
    assert count(model) == models.PREDICT
    assert "Stopped reading the TF Serving warm-up file" in caplog.text


def test_at_most_tf_servings_1000_records(tmp_path, caplog):
    with mlflow.start_run():
        uri = logged(tmp_path, [models.predict_log([[1.0]])] * 1001)
    with caplog.at_level(logging.INFO, logger="mlflow_tf1.warmup_files"):
        model = mlflow.pyfunc.load_model(uri)
    assert count(model) == 1000 * models.PREDICT
    assert "more than 1000 records" in caplog.text


def test_without_tensorflow_serving_api_the_file_is_skipped_with_one_info_line(tmp_path):
    with mlflow.start_run():
        uri = logged(tmp_path, [models.predict_log([[1.0]])])
    # A fresh process where the package cannot be imported (Python's own way to block one).
    script = (
        "import logging, sys\n"
        "sys.modules['tensorflow_serving'] = None\n"
        "logging.basicConfig(level=logging.INFO, format='%(name)s %(levelname)s %(message)s')\n"
        "import mlflow\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "print('COUNT', float(model.predict({}, params={'signature_name': 'count'})['count']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, uri],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "COUNT 0.0" in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("mlflow_tf1.warmup")]
    assert len(lines) == 1, lines
    assert "INFO Not replaying the TF Serving warm-up file" in lines[0]
    assert "pip install --no-deps tensorflow-serving-api" in lines[0]
