"""save_model/log_model refuse unusable models up front and leave nothing behind."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_models
from tests.conftest import corpus_path


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    path = tmp_path_factory.mktemp("valid") / "export"
    tf1_models.build_mixed_dtypes(path)
    return path


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "notes.txt").write_bytes(b"x") and p / "notes.txt", "is a file"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "empty folder"),
    ],
)
def test_not_a_saved_model(tmp_path, make, needle):
    with pytest.raises(MlflowException, match=needle):
        mlflow_tf1.save_model(make(tmp_path), tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_corrupt_protobuf(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x0a\xff\xff\xff garbage")
    with pytest.raises(MlflowException, match="not a valid SavedModel"):
        mlflow_tf1.save_model(tmp_path / "sm", tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_unknown_signature_lists_available(export, tmp_path):
    with pytest.raises(
        MlflowException, match=r"Available signatures: \['only_text', 'serving_default'\]"
    ):
        mlflow_tf1.save_model(export, tmp_path / "model", signature_name="predict")


def test_failing_input_example_leaves_no_model_folder(export, tmp_path):
    with pytest.raises(MlflowException, match="Missing input"):
        mlflow_tf1.save_model(export, tmp_path / "model", input_example={"i32": [1]})
    assert not (tmp_path / "model").exists()


def test_mlmodel_records_every_signature_and_versions(export, tmp_path):
    mlflow_tf1.save_model(export, tmp_path / "model", input_example={"t": ["a"]},
                          signature_name="only_text")  # fmt: skip
    flavor = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())["flavors"]["tf1"]
    assert flavor["meta_graph_tags"] == ["serve"]
    assert flavor["signature_name"] == "only_text"
    inputs = flavor["signatures"]["serving_default"]["inputs"]
    assert inputs["i32"] == {
        "dtype": "int32",
        "shape": [-1],
        "encoding": "dense",
        "name": "ph_int:0",
    }
    assert inputs["bias"]["shape"] == []
    assert flavor["saved_with_tensorflow"].startswith("2.")  # written by tf.compat.v1 here
    assert flavor["tensorflow_version"] == __import__("tensorflow").__version__
    signature = mlflow.models.Model.load(str(tmp_path / "model")).signature
    assert signature.inputs is None
    assert signature.params.params[0].default == "only_text"
    assert [o.name for o in signature.outputs.inputs] == ["upper"]


def test_default_requirements_pin_installed_tensorflow():
    import importlib.metadata

    (requirement,) = mlflow_tf1.get_default_pip_requirements()
    name, version = requirement.split("==")
    assert name.startswith("tensorflow") and importlib.metadata.version(name) == version
    deps = mlflow_tf1.get_default_conda_env()["dependencies"][-1]["pip"]
    assert requirement in deps and any(d.startswith("mlflow") for d in deps)


def test_log_model_passes_mlflow_tags_and_params(export):
    info = mlflow_tf1.log_model(
        str(export), name="typed", tags={"team": "legacy"}, params={"lr": "0.1"},
        model_type="tf1-savedmodel",
    )  # fmt: skip
    logged = mlflow.get_logged_model(info.model_id)
    assert logged.tags["team"] == "legacy" and logged.params["lr"] == "0.1"
    assert logged.name == "typed" and logged.model_type == "tf1-savedmodel"
    legacy = mlflow_tf1.log_model(str(export), artifact_path="old_style")
    assert mlflow.pyfunc.load_model(legacy.model_uri).predict({"t": np.array(["q"])},
                                                              params={"signature_name": "only_text"})["upper"][0] == "Q"  # fmt: skip


def _save_in_child(source, target, **kwargs) -> tuple[int, str]:
    """save_model in a child process: a TensorFlow abort fails the test, not the run."""
    code = (
        "import sys, json, mlflow_tf1\n"
        "from mlflow.exceptions import MlflowException\n"
        "try:\n"
        "    mlflow_tf1.save_model(sys.argv[1], sys.argv[2], **json.loads(sys.argv[3]))\n"
        "except MlflowException as e:\n"
        "    print(e.message); sys.exit(3)\n"
    )
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", code, str(source), str(target), json.dumps(kwargs)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    return result.returncode, result.stdout.strip() + result.stderr[-2000:]


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("truncated_pb", "not a valid SavedModel"),
        ("random_pb", "not a valid SavedModel"),
        ("unknown_op", "LegacyContribMul"),
        ("missing_tensor", "no_such_node:0"),
        ("no_variables", "could not load the SavedModel"),
        ("corrupt_variables", "could not load the SavedModel"),
    ],
)
def test_damaged_models_are_refused_with_a_message(tmp_path, damage, needle):
    source = tmp_path / "export"
    tf1_models.build_partitioned_vars(source)
    tf1_models.corrupt(source, damage)
    code, output = _save_in_child(source, tmp_path / "model")
    assert code == 3, output  # an MlflowException, not a crash or another error
    assert needle in output
    assert not (tmp_path / "model").exists()


def test_unsafe_ops_are_refused_unless_allowed(tmp_path):
    source = tmp_path / "export"
    tf1_models.build_reads_files(source)
    with pytest.raises(MlflowException, match=r"serving_default: ReadFile.*shout: PyFunc") as err:
        mlflow_tf1.save_model(source, tmp_path / "refused", signature_name="safe")
    assert "allow_unsafe_ops=True" in err.value.message
    assert not (tmp_path / "refused").exists()
    mlflow_tf1.save_model(source, tmp_path / "m", signature_name="safe", allow_unsafe_ops=True)
    flavor = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["tf1"]
    assert flavor["op_audit"] == {"serving_default": ["ReadFile"], "shout": ["PyFunc"]}
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(model.predict({"x": [1.0]})["y"], [2.0])


def test_safe_models_record_an_empty_audit(export, tmp_path):
    mlflow_tf1.save_model(export, tmp_path / "m")
    flavor = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["tf1"]
    assert flavor["op_audit"] == {}


def test_input_example_with_params_goes_to_the_signature_the_params_name(tmp_path):
    """MLflow's ``input_example=(data, params)``: the example is checked on that signature."""
    path = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    params = {"signature_name": "regress_x2_to_y3"}
    example = ({"inputs": np.array([[4.0]], np.float32)}, params)
    mlflow_tf1.save_model(path, tmp_path / "model", input_example=example)
    flavor = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())["flavors"]["tf1"]
    assert flavor["verified"]["regress_x2_to_y3"]["input_example"] is True
    assert "input_example" not in flavor["verified"]["serving_default"]
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    saved = model.input_example  # MLflow keeps the data; y = 0.5 * x2 + 3
    assert model.predict(saved, params=params)["outputs"].tolist() == [[5.0]]
    with pytest.raises(MlflowException, match=r"Unknown signature 'nope'.*regress_x2_to_y3"):
        mlflow_tf1.save_model(
            path, tmp_path / "bad", input_example=(example[0], {"signature_name": "nope"})
        )
    assert not (tmp_path / "bad").exists()
