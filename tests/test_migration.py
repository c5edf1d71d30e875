"""Migrating what MLflow 1.x logged, in a real local registry; handing models to TF Serving."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

import mlflow_tf1
from mlflow_tf1.migration import SOURCE_RUN_TAG, SOURCE_URI_TAG, SOURCE_VERSION_TAG
from tests.conftest import corpus_path
from tests.test_cli import key_values, ok, run, user_error
from tests.test_serving import serving
from tests.test_tf_example import taxi_examples
from tests.tf1_models import session_predict

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu/00000123"
TAXI = "tfx/chicago_taxi_estimator/1646034756"


def log_legacy(saved_model_dir: Path, tmp_path: Path, signature_def_key: str = "serving_default",
               flavor: dict | None = None) -> str:  # fmt: skip
    """Log a model exactly as MLflow 1.30's ``mlflow.tensorflow.log_model`` wrote it."""
    folder = tmp_path / f"legacy-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(saved_model_dir, folder / "tfmodel")
    with mlflow.start_run() as run:
        mlmodel = {
            "artifact_path": "model",
            "flavors": {
                "python_function": {
                    "env": "conda.yaml",
                    "loader_module": "mlflow.tensorflow",
                    "python_version": "3.11.7",
                },
                "tensorflow": flavor
                or {
                    "code": None,
                    "meta_graph_tags": ["serve"],
                    "saved_model_dir": "tfmodel",
                    "signature_def_key": signature_def_key,
                },
            },
            "mlflow_version": "1.30.1",
            "run_id": run.info.run_id,
            "utc_time_created": "2023-01-05 10:00:00.000000",
        }
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
        (folder / "conda.yaml").write_text(
            "name: mlflow-env\ndependencies:\n- python=3.11.7\n- pip:\n  - mlflow\n"
            "  - tensorflow==2.11.0\n"
        )
        (folder / "python_env.yaml").write_text(
            "python: 3.11.7\ndependencies:\n- -r requirements.txt\n"
        )
        (folder / "requirements.txt").write_text("mlflow\ntensorflow==2.11.0\n")
        mlflow.log_artifacts(str(folder), "model")
        return f"{run.info.artifact_uri}/model", run.info.run_id


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def register(name: str, source: str, run_id: str | None = None) -> str:
    client = MlflowClient()
    return str(client.create_model_version(name, source, run_id).version)


def snapshot(name: str, version: str) -> tuple:
    """Everything about a version that migration must leave alone, artifacts hashed."""
    client = MlflowClient()
    mv = client.get_model_version(name, version)
    root = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    digests = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    return digests, mv.current_stage, sorted(mv.aliases), dict(mv.tags), mv.description


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registered model with what a 1.x registry holds: a predict signature, a
    tf.Example signature, a pyfunc version, and one version migrated already."""
    tmp = tmp_path_factory.mktemp("legacy")
    name = "legacy_registry"
    client = MlflowClient()
    client.create_registered_model(name, tags={"team": "pricing"}, description="legacy models")
    hp2 = register(name, *log_legacy(corpus_path(HALF_PLUS_TWO), tmp))
    taxi = register(name, *log_legacy(corpus_path(TAXI), tmp, "predict"))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    pyfunc_version = register(name, info.model_uri)
    for version, description in [(hp2, "half plus two"), (taxi, "taxi tips")]:
        client.update_model_version(name, version, description=description)
        client.set_model_version_tag(name, version, "owner", f"owner-{version}")
    client.set_registered_model_alias(name, "champion", hp2)
    client.transition_model_version_stage(name, hp2, "Production")
    before = {v: snapshot(name, v) for v in (hp2, taxi, pyfunc_version)}
    first = mlflow_tf1.migrate(f"models:/{name}@champion")
    report = mlflow_tf1.migrate_registered_model(name, move_alias="champion")
    return {
        "name": name, "hp2": hp2, "taxi": taxi, "pyfunc": pyfunc_version, "first": first,
        "report": report, "before": before,
    }  # fmt: skip


def test_migrate_makes_a_new_version_with_description_tags_and_source_link(registry):
    name, hp2, first = registry["name"], registry["hp2"], registry["first"]
    version = MlflowClient().get_model_version(name, str(first.registered_model_version))
    assert int(version.version) > int(registry["pyfunc"])
    assert version.description == "half plus two"
    assert version.tags["owner"] == f"owner-{hp2}"
    assert version.tags[SOURCE_URI_TAG] == f"models:/{name}/{hp2}"
    assert version.tags[SOURCE_VERSION_TAG] == hp2
    assert version.tags[SOURCE_RUN_TAG] == MlflowClient().get_model_version(name, hp2).run_id
    flavor = mlflow.models.Model.load(f"models:/{name}/{version.version}").flavors["tf1"]
    assert flavor["signature_name"] == "serving_default"
    assert set(flavor["signatures"]) >= {"regress_x_to_y", "classify_x_to_y", "serving_default"}


def test_registry_migration_migrates_exactly_the_legacy_versions(registry):
    rows = {r.version: r for r in registry["report"].rows}
    first = str(registry["first"].registered_model_version)
    assert rows[registry["hp2"]].outcome == "already migrated"
    assert rows[registry["hp2"]].new_version == first
    assert rows[registry["taxi"]].outcome == "migrated"
    assert rows[registry["pyfunc"]].outcome == "skipped"
    assert "python_function" in rows[registry["pyfunc"]].reason
    assert rows[first].outcome == "skipped" and "migration of" in rows[first].reason
    assert len(rows) == 4  # nothing migrated twice


def test_sources_are_byte_identical_with_stage_aliases_and_tags(registry):
    for version, before in registry["before"].items():
        after = snapshot(registry["name"], version)
        assert after[0] == before[0]  # artifacts
        assert after[1:3] == before[1:3] or version == registry["hp2"]  # stage; alias moved
        assert after[3:] == before[3:]  # tags, description
    assert snapshot(registry["name"], registry["hp2"])[1] == "Production"


def test_alias_moved_after_the_equality_check(registry):
    alias = registry["report"].alias
    assert alias["moved"], alias
    target = str(MlflowClient().get_model_version_by_alias(registry["name"], "champion").version)
    assert target == str(registry["first"].registered_model_version)


def test_migrated_version_predicts_float_dataframe_and_every_signature(registry):
    uri = f"models:/{registry['name']}@champion"
    model = mlflow.pyfunc.load_model(uri)
    frame = pd.DataFrame({"x": [1.0, 2.0, 5.0]})  # float64: MLflow's 1.x loader fails here
    np.testing.assert_allclose(model.predict(frame)["y"], [2.5, 3.0, 4.5])
    regress = model.predict(frame, params={"signature_name": "regress_x_to_y"})
    np.testing.assert_allclose(regress["outputs"], [2.5, 3.0, 4.5])


@pytest.mark.serving
def test_migrated_version_serves(registry):
    version = registry["first"].registered_model_version
    with serving(f"models:/{registry['name']}/{version}") as url:
        for body in (
            {"dataframe_split": {"columns": ["x"], "data": [[1.0], [3.0]]}},
            {"dataframe_records": [{"x": 1.0}, {"x": 3.0}]},
            {"instances": [1.0, 3.0]},
            {"inputs": {"x": [1.0, 3.0]}},
        ):
            response = requests.post(f"{url}/invocations", json=body, timeout=30)
            assert response.status_code == 200, (body, response.text)
            got = response.json()["predictions"]
            values = [r["y"] for r in got] if isinstance(got, list) else got["y"]
            np.testing.assert_allclose(np.ravel(values), [2.5, 3.5])


def test_migrated_tf_example_version_takes_raw_rows(registry):
    new = next(r.new_version for r in registry["report"].rows if r.version == registry["taxi"])
    model = mlflow.pyfunc.load_model(f"models:/{registry['name']}/{new}")
    frame = pd.read_csv(corpus_path("tfx/chicago_taxi.csv")).head(200)
    expected = session_predict(corpus_path(TAXI), "predict", {"examples": taxi_examples(frame)})
    got = model.predict(frame)  # default signature: the source's signature_def_key
    np.testing.assert_allclose(np.stack(got["probabilities"]), expected["probabilities"], rtol=1e-5)


def test_migrating_again_creates_nothing_unless_forced(registry, capsys):
    name = registry["name"]
    count = len(MlflowClient().search_model_versions(f"name='{name}'"))
    again = mlflow_tf1.migrate(f"models:/{name}/{registry['hp2']}")
    assert again.registered_model_version == registry["first"].registered_model_version
    assert "already migrated" in capsys.readouterr().err
    assert len(MlflowClient().search_model_versions(f"name='{name}'")) == count
    dry = mlflow_tf1.migrate_registered_model(name, dry_run=True)
    assert {r.outcome for r in dry.rows} == {"already migrated", "skipped"}
    assert len(MlflowClient().search_model_versions(f"name='{name}'")) == count


def test_different_model_blocks_the_alias(tmp_path):
    """A 'migration' that predicts otherwise than its source must not take the alias."""
    name = "blocked_alias"
    MlflowClient().create_registered_model(name)
    source = register(name, *log_legacy(corpus_path(HALF_PLUS_TWO), tmp_path))
    MlflowClient().set_registered_model_alias(name, "champion", source)
    three = corpus_path("tf_serving/saved_model_half_plus_three/00000123")
    with mlflow.start_run():
        impostor = mlflow_tf1.log_model(str(three), registered_model_name=name)
    MlflowClient().set_model_version_tag(
        name, str(impostor.registered_model_version), SOURCE_URI_TAG, f"models:/{name}/{source}"
    )
    report = mlflow_tf1.migrate_registered_model(name, move_alias="champion")
    assert not report.alias["moved"]
    assert "differs" in report.alias["reason"]
    assert str(MlflowClient().get_model_version_by_alias(name, "champion").version) == source


def test_alias_check_uses_the_given_input(tmp_path):
    name = "checked_alias"
    MlflowClient().create_registered_model(name)
    register(name, *log_legacy(corpus_path(HALF_PLUS_TWO), tmp_path))
    report = mlflow_tf1.migrate_registered_model(
        name, move_alias="champion", check_input=pd.DataFrame({"x": [0.0, 7.5]})
    )
    assert report.alias["moved"], report.alias
    assert report.alias["to"] == report.rows[0].new_version


@pytest.mark.parametrize(
    ("flavor", "needle"),
    [
        (None, "it has no 'tensorflow' flavor; flavors: ['python_function']"),
        (
            {"meta_graph_tags": ["serve"], "signature_def_key": "serving_default"},
            "no saved_model_dir",
        ),
    ],
)
def test_non_legacy_models_are_refused_naming_their_flavors(tmp_path, flavor, needle):
    if flavor is None:
        with mlflow.start_run():
            uri = mlflow.pyfunc.log_model(name="m", python_model=Echo()).model_uri
    else:
        uri, _ = log_legacy(corpus_path(HALF_PLUS_TWO), tmp_path, flavor=flavor)
    with pytest.raises(MlflowException, match="not a TF1 SavedModel in MLflow 1.x's format") as e:
        mlflow_tf1.migrate(uri)
    assert needle in e.value.message and "signature_def_key" in e.value.message


def test_run_source_with_registered_model_name(tmp_path):
    uri, _ = log_legacy(corpus_path(TAXI), tmp_path, "serving_default")
    info = mlflow_tf1.migrate(uri, registered_model_name="from_run")
    assert info.registered_model_version == 1
    tags = MlflowClient().get_model_version("from_run", "1").tags
    assert tags[SOURCE_URI_TAG] == uri


def test_export_serving_layout_bytes_and_outputs(registry, tmp_path):
    name, version = registry["name"], str(registry["first"].registered_model_version)
    target = mlflow_tf1.export_serving(f"models:/{name}@champion", tmp_path / "hp2")
    assert target == tmp_path / "hp2" / version
    source = corpus_path(HALF_PLUS_TWO)
    for path in source.rglob("*"):
        if path.is_file():
            assert (target / path.relative_to(source)).read_bytes() == path.read_bytes()
    x = np.array([[1.0], [4.0]], np.float32)
    np.testing.assert_allclose(session_predict(target, feeds={"x": x})["y"], [[2.5], [4.0]])
    with pytest.raises(MlflowException, match="already holds a model version"):
        mlflow_tf1.export_serving(f"models:/{name}/{version}", tmp_path / "hp2")
    with pytest.raises(MlflowException, match="names no registry version"):
        mlflow_tf1.export_serving(str(Path(mlflow.artifacts.download_artifacts(
            f"models:/{name}/{version}"))), tmp_path / "other")  # fmt: skip


def test_cli_dry_run_json_and_single_migration(tmp_path):
    name = "cli_registry"
    MlflowClient().create_registered_model(name)
    source = register(name, *log_legacy(corpus_path(HALF_PLUS_TWO), tmp_path))
    dry = json.loads(ok("migrate", "--all", name, "--dry-run", "--json").stdout)
    assert dry["versions"] == [
        {"version": source, "source": f"models:/{name}/{source}", "outcome": "would migrate",
         "new_version": None, "reason": ""}
    ]  # fmt: skip
    done = key_values(ok("migrate", f"models:/{name}/{source}").stdout)
    assert done["registered_model_version"] == "2"
    again = run("migrate", "--all", name, "--move-alias", "champion")
    assert again.exit_code == 0, again.output
    assert "already migrated" in again.stdout and "alias 'champion': moved -> 2" in again.stdout
    out = tmp_path / "serving"
    assert ok("export-serving", f"models:/{name}@champion", out).stdout.strip() == str(out / "2")
    assert (out / "2" / "saved_model.pb").is_file()
    assert "already holds a model version" in user_error("export-serving", f"models:/{name}/2", out)


def test_cli_refuses_a_non_legacy_model_in_one_line():
    with mlflow.start_run():
        uri = mlflow.pyfunc.log_model(name="m", python_model=Echo()).model_uri
    error = user_error("migrate", uri)
    assert "not a TF1 SavedModel in MLflow 1.x's format" in error and "python_function" in error
    assert "Pass either MODEL_URI or --all NAME" in run("migrate").output
