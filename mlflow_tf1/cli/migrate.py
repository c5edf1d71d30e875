"""``mlflow-tf1 migrate`` and ``export-serving``: moving logged models in and out of the flavor.

``migrate`` re-logs what MLflow 1.x's ``mlflow.tensorflow`` logged as ``tf1``
models; ``export-serving`` writes a ``tf1`` model's SavedModel where TF
Serving reads it. Both are one call into the library.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlflow_tf1.cli.common import load_tensorflow, status
from mlflow_tf1.cli.files import read_input


@click.command()
@click.argument("model_uri", required=False)
@click.option(
    "--all",
    "registered_model",
    metavar="NAME",
    help="Migrate every MLflow 1.x TF version of this registered model (instead of MODEL_URI).",
)
@click.option(
    "--registered-model-name",
    help="Register the migration here. Default: the source's registered model.",
)
@click.option(
    "--dry-run", is_flag=True, help="With --all: report what would happen, change nothing."
)
@click.option(
    "--move-alias",
    metavar="ALIAS",
    help="With --all: move this alias to the migrated version once its predictions equal "
    "the legacy loader's.",
)
@click.option(
    "--check-input",
    metavar="FILE",
    help="Rows for that equality check (.csv, .json, .parquet). Default: the source's input "
    "example, else a batch generated from the signature.",
)
@click.option("--force", is_flag=True, help="Migrate again versions that were migrated already.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
def migrate(
    model_uri: str | None,
    registered_model: str | None,
    registered_model_name: str | None,
    dry_run: bool,
    move_alias: str | None,
    check_input: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Migrate models MLflow 1.x logged with mlflow.tensorflow onto the tf1 flavor.

    Sources are only read: each migration is a new model version with the
    source's description and tags, linked by mlflow_tf1.source_* tags. Runs on
    the current tracking URI (MLFLOW_TRACKING_URI).

    \b
    Examples:
      mlflow-tf1 migrate models:/pricing/3
      mlflow-tf1 migrate --all pricing --dry-run
      mlflow-tf1 migrate --all pricing --move-alias champion --check-input rows.csv
    """
    if (model_uri is None) == (registered_model is None):
        raise click.UsageError("Pass either MODEL_URI or --all NAME.")
    if registered_model is None and (dry_run or move_alias):
        raise click.UsageError("--dry-run and --move-alias go with --all NAME.")
    check_data = read_input(Path(check_input))[0] if check_input else None
    load_tensorflow()
    import mlflow_tf1

    if model_uri is not None:
        info = mlflow_tf1.migrate(
            model_uri, registered_model_name=registered_model_name, force=force
        )
        result = {
            "model_uri": info.model_uri,
            "registered_model_version": info.registered_model_version,
        }
        click.echo(
            json.dumps(result) if as_json else "\n".join(f"{k}: {v}" for k, v in result.items())
        )
        return
    options = {"registered_model_name": registered_model_name} if registered_model_name else {}
    report = mlflow_tf1.migrate_registered_model(
        registered_model, dry_run=dry_run, move_alias=move_alias, check_input=check_data,
        force=force, print_report=not as_json, **options,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps(report.to_dict()))


@click.command("export-serving")
@click.argument("model_uri")
@click.argument("out_dir")
@click.option(
    "--version",
    type=click.IntRange(min=1),
    help="TF Serving's version folder. Default: the registry version MODEL_URI resolves to.",
)
def export_serving(model_uri: str, out_dir: str, version: int | None) -> None:
    """Write a model's SavedModel, byte for byte, as OUT_DIR/<version>/ for TF Serving.

    Point TF Serving's --model_base_path at OUT_DIR. A non-empty version
    folder is never overwritten.

    \b
    Examples:
      mlflow-tf1 export-serving models:/pricing@champion /srv/models/pricing
      mlflow-tf1 export-serving runs:/<run_id>/model ./serving --version 7
    """
    import mlflow_tf1

    status(f"Exporting {model_uri}...")
    click.echo(str(mlflow_tf1.export_serving(model_uri, out_dir, version)))
