"""``mlflow-tf1 log``: log a SavedModel, frozen graph or checkpoint in a new run.

Every check the CLI can make (path, protobuf, MetaGraph, signature, op audit,
tensor names) runs before the run starts, so a mistake leaves no failed run
and its message names the CLI's flags.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from mlflow_tf1.cli.common import (
    ALLOW_UNSAFE_HELP,
    CliError,
    key_values,
    load_tensorflow,
    status,
    tag_list,
)
from mlflow_tf1.cli.render import audit_text


@click.command()
@click.argument("path")
@click.option("--name", default="model", show_default=True, help="The logged model's name.")
@click.option("--registered-model-name", help="Also register it under this name (new version).")
@click.option(
    "--signature",
    "signature_name",
    help="The default signature for predict. Default: serving_default, else the only one.",
)
@click.option(
    "--meta-graph-tags",
    metavar="TAG,TAG",
    help="The SavedModel's MetaGraph to log. Default: the one tagged 'serve', else the only one.",
)
@click.option(
    "--tags",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="An MLflow tag of the logged model (repeatable). Not the SavedModel's tag set.",
)
@click.option(
    "--input",
    "input_tensors",
    multiple=True,
    metavar="KEY=TENSOR",
    help="Frozen graphs and checkpoints: a signature input and its tensor (repeatable).",
)
@click.option(
    "--output",
    "output_tensors",
    multiple=True,
    metavar="KEY=TENSOR",
    help="Frozen graphs and checkpoints: a signature output and its tensor (repeatable).",
)
@click.option(
    "--feature-signature",
    is_flag=True,
    help="tf.Example models: log a column schema over the raw features (MLflow then "
    "checks every request's columns; slower for big batches).",
)
@click.option("--experiment-name", help="Log into this experiment (created if missing).")
@click.option("--allow-unsafe-ops", is_flag=True, help=ALLOW_UNSAFE_HELP)
@click.option(
    "--pyfunc-backend",
    type=click.Choice(["session", "onnx"]),
    default="session",
    show_default=True,
    help="onnx: run each signature that converts and verifies on onnxruntime in mlflow.pyfunc.",
)
@click.option(
    "--enable-batching",
    is_flag=True,
    help="Merge concurrent requests for a stateless signature into one run when served.",
)
@click.option(
    "--batch-timeout-micros",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="With --enable-batching: the longest a batch waits for requests in flight.",
)
def log(
    path: str,
    name: str,
    registered_model_name: str | None,
    signature_name: str | None,
    meta_graph_tags: str | None,
    tags: tuple[str, ...],
    input_tensors: tuple[str, ...],
    output_tensors: tuple[str, ...],
    feature_signature: bool,
    experiment_name: str | None,
    allow_unsafe_ops: bool,
    pyfunc_backend: str,
    enable_batching: bool,
    batch_timeout_micros: int,
) -> None:
    """Log a SavedModel folder as a tf1 MLflow model, in a new run.

    PATH is a SavedModel folder or the parent of numbered version folders
    (the highest is used), a SessionBundle folder (export.meta), or a frozen
    GraphDef (.pb, .pbtxt) or TF1 checkpoint (.meta, or a folder with a
    'checkpoint' index) with --input and --output. --input/--output on a
    SavedModel add a signature cut from those tensors (named by --signature,
    default serving_default). The model is loaded and checked before anything is logged.
    Prints the model URI, the run id, and the registered version's URI when
    --registered-model-name is given.

    \b
    Examples:
      mlflow-tf1 log ./export --registered-model-name half_plus_two --tags team=legacy
      mlflow-tf1 log ./counter --signature get_counter --experiment-name legacy
      mlflow-tf1 log frozen_inference_graph.pb --input x=x:0 --output probs=probs:0
    """
    model_tags = key_values(tags)
    graph_tags = tag_list(meta_graph_tags)
    tensors = {
        "inputs": key_values(input_tensors, "--input"),
        "outputs": key_values(output_tensors, "--output"),
    }
    if feature_signature and tensors["inputs"]:
        raise CliError("--feature-signature is for SavedModels with tf.Example signatures.")
    with tempfile.TemporaryDirectory() as scratch:
        export_dir = _prepare(
            path, graph_tags, signature_name, allow_unsafe_ops, tensors, Path(scratch)
        )
        serving = {
            "pyfunc_backend": pyfunc_backend,
            "enable_batching": enable_batching,
            "batch_timeout_micros": batch_timeout_micros,
        }
        _log(export_dir, path, name, registered_model_name, signature_name, graph_tags,
             model_tags, feature_signature, experiment_name, allow_unsafe_ops,
             serving)  # fmt: skip


def _log(
    export_dir: Path,
    path: str,
    name: str,
    registered_model_name: str | None,
    signature_name: str | None,
    graph_tags: list[str] | None,
    model_tags: dict[str, str],
    feature_signature: bool,
    experiment_name: str | None,
    allow_unsafe_ops: bool,
    serving: dict[str, Any],
) -> None:
    signature = None
    if feature_signature:
        from mlflow_tf1.mlflow_signature import infer_feature_signature

        signature = infer_feature_signature(
            export_dir, meta_graph_tags=graph_tags, signature_name=signature_name
        )

    import mlflow

    import mlflow_tf1

    if experiment_name:
        mlflow.set_experiment(experiment_name)
    status("Validating the model (loading every signature)...")
    with mlflow.start_run() as run:
        info = mlflow_tf1.log_model(
            str(export_dir),
            name=name,
            registered_model_name=registered_model_name,
            signature_name=signature_name,
            meta_graph_tags=graph_tags,
            tags=model_tags or None,
            signature=signature,
            allow_unsafe_ops=allow_unsafe_ops,
            **serving,
        )
    click.echo(f"model_uri: {info.model_uri}")
    click.echo(f"run_id: {run.info.run_id}")
    if registered_model_name:
        version = info.registered_model_version
        click.echo(f"registered_model_uri: models:/{registered_model_name}/{version}")


def _prepare(
    path: str,
    meta_graph_tags: list[str] | None,
    signature: str | None,
    allow_unsafe_ops: bool,
    tensors: dict[str, dict[str, str]],
    scratch: Path,
) -> Path:
    """The SavedModel to log, checked before a run starts so mistakes leave no failed run
    and name the CLI's flags. Other graph kinds (and SavedModel cuts) are converted
    once, here, into ``scratch``; the flavor records where they came from."""
    from mlflow_tf1.metadata import locate_saved_model
    from mlflow_tf1.sources import needs_conversion, source_of

    source = source_of(path)
    if not needs_conversion(source, tensors["inputs"], tensors["outputs"]):
        export_dir = locate_saved_model(path)
        _check_saved_model(export_dir, meta_graph_tags, signature, allow_unsafe_ops)
        status(f"Copying SavedModel {export_dir.name} ({_human_size(export_dir)})...")
        return export_dir
    load_tensorflow()
    if source.needs_tensors and not (tensors["inputs"] and tensors["outputs"]):
        raise CliError(
            f"'{path}' is a {source.label}: name its tensors with --input "
            f"KEY=TENSOR and --output KEY=TENSOR. Proposed from the graph: "
            f"{source.propose(Path(path), meta_graph_tags)}."
        )
    status(f"Converting {Path(path).name} ({_human_size(Path(path))})...")
    converted = scratch / "saved_model"
    source.convert(
        Path(path), converted, tensors["inputs"] or None, tensors["outputs"] or None, signature,
        meta_graph_tags,
    )  # fmt: skip
    _check_saved_model(converted, meta_graph_tags, signature, allow_unsafe_ops)
    return converted


def _check_saved_model(
    export_dir: Path, meta_graph_tags: list[str] | None, signature: str | None, allow_unsafe: bool
) -> None:
    from mlflow_tf1.audit import audit
    from mlflow_tf1.metadata import default_signature_name, inspect_saved_model

    load_tensorflow()
    info, meta_graph = inspect_saved_model(export_dir, meta_graph_tags)
    default_signature_name(info.signatures, signature)
    unsafe_ops = audit(meta_graph, info.signatures)
    if unsafe_ops and not allow_unsafe:
        raise CliError(
            f"Not logged: {audit_text(unsafe_ops)}. Loading or calling this graph runs those "
            "ops. If you trust this model, pass --allow-unsafe-ops."
        )


def _human_size(path: Path) -> str:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} KB"
