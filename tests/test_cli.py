"""The ``mlflow-tf1`` command on the real corpus models: in-process, plus one real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

import mlflow_tf1
from mlflow_tf1.cli import CliError, cli
from mlflow_tf1.cli.files import as_table
from tests import tf1_models
from tests.conftest import corpus_path

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu"  # the numbered-versions parent
COUNTER = "tf_serving/saved_model_counter/00000123"
SESSION_BUNDLE = "tf_serving/bad_half_plus_two/00000123"
TAXI = "tfx/chicago_taxi_estimator"


def run(*args) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def user_error(*args) -> str:
    """Runs a command that must fail as a user error; returns its one error line."""
    result = run(*args)
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    return errors[0]


def key_values(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines())


HEAVY_MODULES = ("tensorflow", "mlflow", "numpy", "pandas")
_FRESH_CLI = f"""
import json, sys
from mlflow_tf1.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="mlflow-tf1")
finally:
    print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]), file=sys.stderr)
"""


def in_fresh_process(*args) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Runs the command in a new interpreter; returns it and the heavy modules it imported.

    In this process TensorFlow and MLflow are loaded already, so only a fresh
    one can tell what a command imports.
    """
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_CLI, *(str(a) for a in args)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    *stderr, loaded = result.stderr.strip().splitlines()
    result.stderr = "\n".join(stderr)
    return result, json.loads(loaded)


@pytest.fixture(scope="module")
def half_plus_two_uri() -> str:
    with mlflow.start_run():
        return mlflow_tf1.log_model(str(corpus_path(HALF_PLUS_TWO))).model_uri


@pytest.fixture(scope="module")
def taxi(tmp_path_factory) -> tuple[str, Path, pd.DataFrame]:
    """The taxi Estimator logged through the CLI, and 200 raw CSV rows to score."""
    uri = key_values(ok("log", corpus_path(TAXI), "--name", "taxi").stdout)["model_uri"]
    rows = tmp_path_factory.mktemp("taxi") / "rows.csv"
    pd.read_csv(corpus_path("tfx/chicago_taxi.csv"), nrows=200).to_csv(rows, index=False)
    return uri, rows, pd.read_csv(rows)


# ---------------------------------------------------------------- help and entry point


@pytest.mark.parametrize(
    "command", [[], ["inspect"], ["log"], ["predict"], ["migrate"], ["export-serving"]]
)
def test_every_command_has_help_with_an_example(command):
    result = ok(*command, "--help")
    assert "Usage: " in result.stdout
    assert "mlflow-tf1 " + (command[0] if command else "inspect") in result.stdout


def test_installed_console_script_runs_in_its_own_process(tmp_path):
    script = Path(os.path.dirname(sys.executable)) / "mlflow-tf1"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert all(c in result.stdout for c in ("inspect", "log", "predict"))

    missing = tmp_path / "no_such_model"
    result = subprocess.run(
        [str(script), "inspect", str(missing)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: SavedModel path '{missing}' does not exist."


@pytest.mark.parametrize("command", [[], ["inspect"], ["log"], ["predict"], ["migrate"]])
def test_help_imports_no_heavy_library(command):
    """``--help`` answers at once: MLflow, TensorFlow, numpy and pandas load in commands only."""
    result, loaded = in_fresh_process(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: mlflow-tf1" in result.stdout
    assert loaded == []


def test_package_names_load_on_first_access():
    """``import mlflow_tf1`` is lazy (so is the CLI's); every public name still resolves."""
    import mlflow_tf1.keras_layer  # the submodule named like the function must not hide it

    assert set(mlflow_tf1.__all__) <= set(dir(mlflow_tf1))
    assert all(getattr(mlflow_tf1, name) is not None for name in mlflow_tf1.__all__)
    assert callable(mlflow_tf1.keras_layer) and mlflow_tf1.FLAVOR_NAME == "tf1"
    with pytest.raises(AttributeError, match="no_such_name"):
        mlflow_tf1.no_such_name  # noqa: B018


# ---------------------------------------------------------------- inspect


def test_inspect_half_plus_two_json():
    report = json.loads(ok("inspect", corpus_path(HALF_PLUS_TWO), "--json").stdout)
    assert report["export_dir"].endswith("00000123")  # the newest numbered version
    assert report["tag_sets"] == [["serve"]]
    assert report["saved_with_tensorflow"] == "1.14.0"
    assert report["signature_name"] == "serving_default"
    signatures = report["signatures"]
    assert set(signatures) == {
        "serving_default",
        "regress_x_to_y",
        "regress_x_to_y2",
        "regress_x2_to_y3",
        "classify_x_to_y",
    }
    x = signatures["serving_default"]["inputs"]["x"]
    assert (x["dtype"], x["shape"], x["encoding"], x["name"]) == (
        "float32",
        [-1, 1],
        "dense",
        "x:0",
    )
    assert signatures["regress_x_to_y"]["method_name"] == "tensorflow/serving/regress"
    features = signatures["regress_x_to_y"]["example_features"]
    assert _spec(features["x"]) == {
        "dtype": "float32",
        "kind": "fixed_len",
        "shape": [1],
        "default": None,
    }
    assert features["x2"]["default"] == [0.0]
    assert "example_features" not in signatures["serving_default"]
    assert set(report["backends"].values()) == {"tf2"}
    assert report["fallback_reasons"] == {}
    assert report["op_audit"] == {}


def test_inspect_half_plus_two_text():
    result = ok("inspect", corpus_path(HALF_PLUS_TWO))
    text = result.stdout
    assert "Written by TensorFlow          1.14.0" in text
    assert "Signature 'serving_default' (tensorflow/serving/predict)" in text
    assert "    x    float32  [-1, 1]  dense     x:0" in text
    assert "    x2       float32  fixed_len  [1]    [0.0]" in text
    assert text.count("backend: tf2") == 5
    assert "Op audit                       clean" in text
    assert "Loading the graph" in result.stderr


def test_inspect_counter_falls_back_to_session_and_says_why():
    report = json.loads(ok("inspect", corpus_path(COUNTER), "--json").stdout)
    assert report["signature_name"] is None  # no serving_default: logging must name one
    assert set(report["backends"].values()) == {"session"}
    assert set(report["fallback_reasons"]) == set(report["signatures"])
    assert "reference" in report["fallback_reasons"]["get_counter"]
    assert report["signatures"]["incr_counter_by"]["inputs"]["delta"]["shape"] is None

    text = ok("inspect", corpus_path(COUNTER)).stdout
    assert "backend: session (TF2 could not prune it:" in text
    assert "inputs: none" in text
    assert "none (several signatures" in text


def test_inspect_logged_model_reads_mlmodel(half_plus_two_uri):
    report = json.loads(ok("inspect", half_plus_two_uri, "--json").stdout)
    assert report["source"] == "mlflow_model"
    assert report["meta_graph_tags"] == ["serve"]
    assert report["signature_name"] == "serving_default"
    assert report["saved_with_tensorflow"] == "1.14.0"
    assert report["tensorflow_version"]
    # The backends recorded at log time (which one pyfunc uses is the flavor's choice).
    assert set(report["backends"]) == set(report["signatures"])
    assert set(report["backends"].values()) <= {"tf2", "session"}
    assert report["signatures"]["regress_x_to_y"]["example_features"]["x2"]["default"] == [0.0]

    local = mlflow.artifacts.download_artifacts(half_plus_two_uri)
    text = ok("inspect", local).stdout
    assert text.startswith(f"MLflow model            {local}")
    assert "Logged with TensorFlow" in text
    assert "  backend: " in text
    assert "--meta-graph-tags" in user_error("inspect", local, "--meta-graph-tags", "serve")


def test_unsafe_graph_is_audited_and_loaded_only_when_allowed(tmp_path):
    export = tmp_path / "reads_files"
    tf1_models.build_reads_files(export)
    audit = {"serving_default": ["ReadFile"], "shout": ["PyFunc"]}
    report = json.loads(ok("inspect", export, "--json").stdout)
    assert report["op_audit"] == audit
    assert set(report["backends"].values()) == {"not loaded"}
    assert "--allow-unsafe-ops" in report["fallback_reasons"]["safe"]
    assert "UNSAFE ops reachable: serving_default: ReadFile" in ok("inspect", export).stdout
    report = json.loads(ok("inspect", export, "--json", "--allow-unsafe-ops").stdout)
    assert report["backends"]["safe"] in ("tf2", "session")

    error = user_error("log", export, "--signature", "safe")
    assert "ReadFile" in error and "--allow-unsafe-ops" in error
    printed = key_values(ok("log", export, "--signature", "safe", "--allow-unsafe-ops").stdout)
    assert mlflow.models.Model.load(printed["model_uri"]).flavors["tf1"]["op_audit"] == audit


# ---------------------------------------------------------------- log


def test_log_registers_with_model_tags_and_the_version_predicts():
    name = f"cli-half-plus-two-{uuid.uuid4().hex[:8]}"
    result = ok(
        "log", corpus_path(HALF_PLUS_TWO),
        "--registered-model-name", name, "--tags", "team=legacy", "--tags", "ticket=a=b",
        "--meta-graph-tags", "serve", "--experiment-name", "cli-tests",
    )  # fmt: skip
    printed = key_values(result.stdout)
    assert printed["registered_model_uri"] == f"models:/{name}/1"
    assert "Copying SavedModel 00000123 (" in result.stderr
    assert "Validating the model" in result.stderr

    model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    np.testing.assert_allclose(model.predict({"x": [[1.0], [5.0]]})["y"], [[2.5], [4.5]])
    logged = mlflow.get_logged_model(printed["model_uri"].removeprefix("models:/"))
    assert logged.tags["team"] == "legacy"
    assert logged.tags["ticket"] == "a=b"
    run = mlflow.get_run(printed["run_id"])
    assert mlflow.get_experiment(run.info.experiment_id).name == "cli-tests"


def test_log_with_a_named_signature_when_there_is_no_serving_default():
    printed = key_values(ok("log", corpus_path(COUNTER), "--signature", "get_counter").stdout)
    flavor = mlflow.models.Model.load(printed["model_uri"]).flavors["tf1"]
    assert flavor["signature_name"] == "get_counter"


def test_log_with_a_feature_signature_and_its_refusal_before_any_run(tmp_path):
    printed = key_values(ok("log", corpus_path(TAXI), "--feature-signature").stdout)
    inputs = mlflow.models.get_model_info(printed["model_uri"]).signature.inputs
    assert {"company", "trip_start_hour", "inputs", "examples"} <= set(inputs.input_names())
    tf1_models.build_while_loop(tmp_path / "loop")
    runs_before = len(mlflow.search_runs(search_all_experiments=True))
    error = user_error("log", tmp_path / "loop", "--feature-signature")
    assert "parse tf.Examples; none of ['serving_default']" in error
    assert len(mlflow.search_runs(search_all_experiments=True)) == runs_before


# ---------------------------------------------------------------- predict


def test_predict_taxi_csv_to_csv_matches_pyfunc(taxi, tmp_path):
    uri, rows, frame = taxi
    out = tmp_path / "out.csv"
    result = ok("predict", uri, "--input", rows, "--output", out)
    assert "Predicting 200 row(s)" in result.stderr

    expected = mlflow.pyfunc.load_model(uri).predict(frame)
    got = pd.read_csv(out)
    assert len(got) == 200
    scores = np.array([json.loads(cell) for cell in got["scores"]])
    np.testing.assert_allclose(scores, np.stack(expected["scores"]), rtol=1e-6)
    np.testing.assert_allclose(scores[:3, 1], [0.17540, 0.21212, 0.19365], atol=1e-5)
    assert [json.loads(cell) for cell in got["classes"]] == [["0", "1"]] * 200


def test_predict_taxi_json_records_to_stdout(taxi, tmp_path):
    uri, _, frame = taxi
    records = tmp_path / "rows.json"
    records.write_text(frame.head(20).to_json(orient="records"))
    got = json.loads(ok("predict", uri, "-i", records).stdout)
    assert isinstance(got, list) and len(got) == 20
    expected = mlflow.pyfunc.load_model(uri).predict(frame.head(20))
    np.testing.assert_allclose([r["scores"] for r in got], np.stack(expected["scores"]), rtol=1e-6)


def test_predict_taxi_regression_signature_from_parquet(taxi, tmp_path):
    uri, _, frame = taxi
    rows = tmp_path / "rows.parquet"
    frame.to_parquet(rows)
    out = tmp_path / "out.parquet"
    ok("predict", uri, "--input", rows, "--signature", "regression", "--output", out)
    got = pd.read_parquet(out)
    params = {"signature_name": "regression"}
    expected = mlflow.pyfunc.load_model(uri).predict(frame, params=params)
    np.testing.assert_allclose(got["outputs"], expected["outputs"], rtol=1e-6)


def test_predict_mlflow_serving_json_formats(half_plus_two_uri, tmp_path):
    requests = {
        "split": {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0], [5.0]]}},
        "instances": {"instances": [2.0, 3.0, 4.0]},
        "columns": {"x": [[1.0], [5.0]]},
        "regress": {"inputs": {"x": [2.0]}, "params": {"signature_name": "regress_x_to_y"}},
    }
    answers = {}
    for name, request in requests.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(request))
        answers[name] = json.loads(
            ok("predict", half_plus_two_uri, "-i", tmp_path / f"{name}.json").stdout
        )
    assert answers["split"] == [{"y": 2.5}, {"y": 3.0}, {"y": 4.5}]
    assert answers["instances"] == {"y": [[3.0], [3.5], [4.0]]}
    assert answers["columns"] == {"y": [[2.5], [4.5]]}
    assert answers["regress"] == {"outputs": [[3.0]]}

    out = tmp_path / "columns.csv"
    ok("predict", half_plus_two_uri, "-i", tmp_path / "columns.json", "-o", out)
    assert pd.read_csv(out)["y"].tolist() == [2.5, 4.5]


def test_outputs_without_one_row_per_input_row_are_not_tables():
    with pytest.raises(CliError, match="write JSON instead"):
        as_table({"output": np.float32(2.0)}, rows=None)


# ---------------------------------------------------------------- errors


def test_unknown_paths_name_the_path(tmp_path, half_plus_two_uri):
    missing = tmp_path / "missing"
    assert str(missing) in user_error("inspect", missing)
    assert str(missing) in user_error("log", missing)
    assert "missing.csv" in user_error("predict", half_plus_two_uri, "-i", tmp_path / "missing.csv")
    assert "'.txt'" in user_error("predict", half_plus_two_uri, "-i", tmp_path / "rows.txt")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    assert "bad.json" in user_error("predict", half_plus_two_uri, "-i", bad_json)


def test_unknown_signature_lists_the_available_ones(half_plus_two_uri, tmp_path):
    error = user_error("log", corpus_path(HALF_PLUS_TWO), "--signature", "nope")
    assert "'nope'" in error and "serving_default" in error and "regress_x_to_y" in error
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n1.0\n")
    error = user_error("predict", half_plus_two_uri, "-i", rows, "--signature", "nope")
    assert "'nope'" in error and "serving_default" in error
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"inputs": {"x": [1.0]}, "params": {"signature_name": "nope"}}))
    assert "Unknown signature 'nope'" in user_error("predict", half_plus_two_uri, "-i", request)
    error = user_error("inspect", corpus_path(HALF_PLUS_TWO), "--meta-graph-tags", "serve,gpu")
    assert "['serve']" in error


def test_unknown_signature_is_refused_from_mlmodel_before_tensorflow_loads(
    half_plus_two_uri, tmp_path
):
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n1.0\n")
    result, loaded = in_fresh_process("predict", half_plus_two_uri, "-i", rows, "--signature", "no")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "Error: Unknown signature 'no'. Available signatures: ['classify_x_to_y', "
        "'regress_x2_to_y3', 'regress_x_to_y', 'regress_x_to_y2', 'serving_default']."
    )  # no "Loading TensorFlow..." nor "Loading model" status before it
    assert "tensorflow" not in loaded


def test_session_bundle_is_logged_as_the_checkpoint_it_is():
    """TF 0.x's export.meta + V1 checkpoint, its index naming a path from another machine."""
    assert "SessionBundle" in user_error("inspect", corpus_path(SESSION_BUNDLE))
    error = user_error("log", corpus_path(SESSION_BUNDLE))
    assert "SessionBundle has no signatures" in error and "'Placeholder': 'Placeholder:0'" in error
    logged = ok("log", corpus_path(SESSION_BUNDLE), "--input", "x=Placeholder", "--output", "y=Add")
    model = mlflow.pyfunc.load_model(key_values(logged.stdout)["model_uri"])
    y = model.predict({"x": np.array([[1.0], [2.0], [5.0]], np.float32)})["y"]
    np.testing.assert_allclose(y, [[2.5], [3.0], [4.5]])  # the corpus README's oracle


def test_an_mlflow_model_of_another_flavor_is_named_as_such(tmp_path):
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn: {}\n  python_function: {}\n")
    error = user_error("inspect", tmp_path)
    assert "without the 'tf1' flavor" in error and "sklearn" in error


def test_bad_model_tag_is_a_user_error():
    assert "KEY=VALUE" in user_error("log", corpus_path(HALF_PLUS_TWO), "--tags", "team")


def _spec(feature: dict) -> dict:
    """A recorded feature's spec, without the parser tensor it is fed through."""
    return {k: v for k, v in feature.items() if k in ("dtype", "kind", "shape", "default")}
