"""Migrate what MLflow 1.x logged with its ``tensorflow`` flavor, inside the registry.

A migration only reads its source: it logs the same SavedModel with this
flavor as a new model version (of the same registered model by default),
copies the version's description and tags, and links back with
``mlflow_tf1.source_*`` tags. Those tags also make migrating twice a no-op.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.models.model import ModelInfo
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.artifact.utils.models import get_model_name_and_version
from mlflow.tracking.artifact_utils import _download_artifact_from_uri

from mlflow_tf1.flavor import log_model
from mlflow_tf1.legacy import legacy_config, why_not_legacy

SOURCE_URI_TAG = "mlflow_tf1.source_model_uri"
SOURCE_VERSION_TAG = "mlflow_tf1.source_version"
SOURCE_RUN_TAG = "mlflow_tf1.source_run_id"


@dataclass
class _Source:
    uri: str  # canonical: models:/name/version for registered sources
    version: ModelVersion | None
    run_id: str | None


def migrate(
    model_uri: str,
    *,
    registered_model_name: str | None = None,
    force: bool = False,
    **log_model_options: Any,
) -> ModelInfo:
    """Log a model MLflow 1.x wrote with its ``tensorflow`` flavor as a ``tf1`` model.

    ``model_uri`` is any MLflow model URI or local path. A registered source
    becomes a new version of the same registered model (or of
    ``registered_model_name``). If that version already exists, nothing is
    created and its ``ModelInfo`` is returned, unless ``force``.
    ``log_model_options`` go to :func:`mlflow_tf1.log_model`.
    """
    client = MlflowClient()
    source = _resolve(client, model_uri)
    target = registered_model_name or (source.version.name if source.version else None)
    if target and not force and (done := _migrated_versions(client, target).get(source.uri)):
        print(f"{source.uri} was already migrated as version {done.version} of '{target}'; "
              "nothing created (pass force=True to migrate again).", file=sys.stderr)  # fmt: skip
        info = mlflow.models.get_model_info(f"models:/{target}/{done.version}")
        info.registered_model_version = int(done.version)
        return info
    with tempfile.TemporaryDirectory() as tmp:
        local = _download_artifact_from_uri(source.uri, output_path=tmp)
        return _log_migrated(client, source, local, target, log_model_options)


def _resolve(client: MlflowClient, model_uri: str) -> _Source:
    if model_uri.startswith("models:/"):
        resolved = get_model_name_and_version(client, model_uri)
        if len(resolved) == 2:
            version = client.get_model_version(*resolved)
            return _Source(f"models:/{version.name}/{version.version}", version, version.run_id)
    uri = (
        model_uri
        if "://" in model_uri or model_uri.startswith("models:/")
        else str(Path(model_uri).resolve())
    )
    return _Source(uri, None, Model.load(uri).run_id)


def _migrated_versions(client: MlflowClient, name: str) -> dict[str, ModelVersion]:
    """Source URI -> the version of ``name`` that migrated it."""
    return {
        v.tags[SOURCE_URI_TAG]: v
        for v in client.search_model_versions(f"name='{name}'")
        if SOURCE_URI_TAG in v.tags
    }


def _log_migrated(
    client: MlflowClient, source: _Source, local: str, target: str | None, options: dict
) -> ModelInfo:
    model = Model.load(local)
    config = legacy_config(model, source.uri)
    links = {SOURCE_URI_TAG: source.uri}
    if source.version is not None:
        links[SOURCE_VERSION_TAG] = source.version.version
    if source.run_id:
        links[SOURCE_RUN_TAG] = source.run_id
    example = model.load_input_example(local) if model.saved_input_example_info else None
    metadata = {**(model.metadata or {}), "migrated_from": _provenance(model, source.uri)}
    options = {
        "meta_graph_tags": config.get("meta_graph_tags"),
        "signature_name": config["signature_def_key"],
        "input_example": example,
        **options,
        "metadata": {**metadata, **(options.get("metadata") or {})},
        "tags": {**links, **(options.get("tags") or {})},
    }
    with mlflow.start_run(
        experiment_id=_experiment_of(client, source.run_id),
        run_name=f"migrate {source.uri}",
        nested=mlflow.active_run() is not None,
        tags=links,
    ):
        info = log_model(
            Path(local) / config["saved_model_dir"], registered_model_name=target, **options
        )
    if target and info.registered_model_version is not None:
        _copy_version_metadata(client, source.version, target, info.registered_model_version, links)
    return info


def _provenance(model: Model, uri: str) -> dict[str, Any]:
    """What the source was. Its MLflow signature is kept here, not enforced: MLflow's
    checks of that old schema refuse float64 data for float32 inputs, the very
    failure a migration exists to fix; this flavor checks inputs per signature."""
    provenance: dict[str, Any] = {"model_uri": uri, "mlflow_version": model.mlflow_version}
    if model.signature is not None:
        provenance["signature"] = model.signature.to_dict()
    return provenance


def _experiment_of(client: MlflowClient, run_id: str | None) -> str | None:
    """The source run's experiment, so the migration sits beside its history."""
    if run_id:
        try:
            return client.get_run(run_id).info.experiment_id
        except MlflowException:
            pass  # the source run is gone: use the current experiment
    return None


def _copy_version_metadata(
    client: MlflowClient, source: ModelVersion | None, name: str, version: int, links: dict
) -> None:
    tags = {**(source.tags if source else {}), **links}
    if source is not None and source.description:
        client.update_model_version(name, str(version), description=source.description)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)


@dataclass
class VersionOutcome:
    """One row of a registry migration report."""

    version: str
    source: str
    outcome: str  # migrated | would migrate | already migrated | skipped | failed
    new_version: str | None = None
    reason: str = ""


@dataclass
class MigrationReport:
    """What ``migrate_registered_model`` did, one row per version, and the alias."""

    name: str
    rows: list[VersionOutcome] = field(default_factory=list)
    alias: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "versions": [asdict(r) for r in self.rows], "alias": self.alias}

    def __str__(self) -> str:
        header = ("version", "outcome", "new version", "reason")
        lines = [(r.version, r.outcome, r.new_version or "-", r.reason) for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
        text = [f"Registered model '{self.name}'"]
        text += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
                 for row in (header, *lines)]  # fmt: skip
        if self.alias:
            moved = "moved" if self.alias["moved"] else "not moved"
            text.append(f"alias '{self.alias['alias']}': {moved} -> "
                        f"{self.alias.get('to') or '-'} {self.alias.get('reason', '')}".rstrip())  # fmt: skip
        return "\n".join(text)


def migrate_registered_model(
    name: str,
    *,
    dry_run: bool = False,
    move_alias: str | None = None,
    check_input: Any = None,
    force: bool = False,
    print_report: bool = True,
    **log_model_options: Any,
) -> MigrationReport:
    """Migrate every version of ``name`` that uses MLflow 1.x's TF flavor; print a report.

    ``move_alias`` moves that alias (from the legacy version it names, or else
    to the newest migration) only once the migrated version predicts what the
    legacy loader predicts on ``check_input``, the source's input example, or
    a batch generated from the signature.
    """
    client = MlflowClient()
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    if not versions:
        raise MlflowException(
            f"Registered model '{name}' has no versions.", INVALID_PARAMETER_VALUE
        )
    migrated = {
        v.tags[SOURCE_URI_TAG]: str(v.version) for v in versions if SOURCE_URI_TAG in v.tags
    }
    report = MigrationReport(name)
    for i, version in enumerate(versions, 1):
        row = _migrate_version(version, migrated, dry_run, force, log_model_options)
        report.rows.append(row)
        print(f"[{i}/{len(versions)}] version {version.version}: {row.outcome}"
              f"{' -> ' + row.new_version if row.new_version else ''}", file=sys.stderr)  # fmt: skip
        if row.outcome == "migrated":
            migrated[row.source] = row.new_version
    if move_alias:
        report.alias = _move_alias(client, name, move_alias, migrated, check_input, dry_run)
    if print_report:
        print(report)
    return report


def _migrate_version(
    version: ModelVersion, migrated: dict[str, str], dry_run: bool, force: bool, options: dict
) -> VersionOutcome:
    uri = f"models:/{version.name}/{version.version}"
    row = VersionOutcome(str(version.version), uri, "skipped")
    if SOURCE_URI_TAG in version.tags:
        row.reason = f"a migration of {version.tags[SOURCE_URI_TAG]}"
        return row
    if reason := why_not_legacy(Model.load(uri)):
        row.reason = reason
        return row
    if uri in migrated and not force:
        row.outcome, row.new_version = "already migrated", migrated[uri]
        return row
    if dry_run:
        row.outcome = "would migrate"
        return row
    try:
        info = migrate(uri, force=True, **options)
    except Exception as e:  # noqa: BLE001 -- one bad version must not stop the registry
        row.outcome, row.reason = "failed", f"{type(e).__name__}: {e}"
        return row
    row.outcome, row.new_version = "migrated", str(info.registered_model_version)
    return row


def _move_alias(
    client: MlflowClient,
    name: str,
    alias: str,
    migrated: dict[str, str],
    check_input: Any,
    dry_run: bool,
) -> dict[str, Any]:
    try:
        current = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        current = None
    result: dict[str, Any] = {"alias": alias, "from": current, "to": None, "moved": False}
    if current is not None and f"models:/{name}/{current}" in migrated:
        source = f"models:/{name}/{current}"
    elif current is None and migrated:
        source = max(migrated, key=lambda uri: int(migrated[uri]))
    else:
        result["reason"] = (
            f"(version {current} is not a migrated legacy version)"
            if current is not None
            else "(no migrated version)"
        )
        return result
    result["to"] = migrated[source]
    if dry_run:
        result["reason"] = "(dry run: would move after the equality check)"
        return result
    # Imported here: the check needs TensorFlow, importing mlflow_tf1 does not.
    from mlflow_tf1.equivalence import compare_with_legacy

    with tempfile.TemporaryDirectory() as tmp:
        local = _download_artifact_from_uri(source, output_path=tmp)
        if check_input is None and (model := Model.load(local)).saved_input_example_info:
            check_input = model.load_input_example(local)
        problem = compare_with_legacy(local, f"models:/{name}/{result['to']}", check_input)
    if problem:
        result["reason"] = f"(check failed: {problem})"
        return result
    client.set_registered_model_alias(name, alias, result["to"])
    result["moved"] = True
    result["reason"] = "(predictions equal the legacy loader's)"
    return result
