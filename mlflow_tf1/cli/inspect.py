"""``mlflow-tf1 inspect``: what ``log`` would decide about a folder, or what it recorded.

Builds the report as a dict (printed as JSON with ``--json``); its text form is
`mlflow_tf1.cli.render`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from mlflow_tf1.cli.common import ALLOW_UNSAFE_HELP, CliError, load_tensorflow, status, tag_list
from mlflow_tf1.cli.render import render
from mlflow_tf1.constants import FLAVOR_NAME


@click.command()
@click.argument("target", metavar="PATH_OR_MODEL_URI")
@click.option(
    "--meta-graph-tags",
    metavar="TAG,TAG",
    help="The MetaGraph to describe (SavedModel folders only). "
    "Default: the one tagged 'serve', else the only one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@click.option("--allow-unsafe-ops", is_flag=True, help=ALLOW_UNSAFE_HELP)
def inspect(
    target: str, meta_graph_tags: str | None, as_json: bool, allow_unsafe_ops: bool
) -> None:
    """Describe a SavedModel folder or a logged tf1 model.

    For a SavedModel folder (or the parent of numbered versions): its tag
    sets, the TensorFlow version that wrote it, every signature with its
    tensors, the tf.Example feature spec of signatures that parse examples,
    the op audit, and the runtime backend (tf2 or session) each signature
    gets here. This loads the graph, as logging would, unless the audit finds
    file-system, Python or network ops (then --allow-unsafe-ops loads it).

    For an MLflow model (runs:/..., models:/..., or a local folder holding
    MLmodel): the tf1 flavor recorded in MLmodel, without loading TensorFlow.

    \b
    Examples:
      mlflow-tf1 inspect ./export/00000123
      mlflow-tf1 inspect models:/half_plus_two/1 --json
    """
    tags = tag_list(meta_graph_tags)
    if _is_mlflow_model(target):
        if tags is not None:
            raise CliError("--meta-graph-tags applies to SavedModel folders, not MLflow models.")
        report = _mlflow_model_report(target)
    else:
        report = _saved_model_report(target, tags, allow_unsafe_ops)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))


def _is_mlflow_model(target: str) -> bool:
    """URIs (``runs:/``, ``models:/``, ``s3://``...) and local folders holding ``MLmodel``."""
    scheme = urlparse(target).scheme
    if len(scheme) > 1:  # one letter is a Windows drive
        return True
    path = Path(target)
    return (path / "MLmodel").is_file() or (path.name == "MLmodel" and path.is_file())


def _mlflow_model_report(uri: str) -> dict[str, Any]:
    """The ``tf1`` flavor as logged: reads ``MLmodel`` only, loads nothing."""
    from mlflow.models import Model

    model = Model.load(uri)
    flavor = model.flavors.get(FLAVOR_NAME)
    if flavor is None:
        raise CliError(
            f"'{uri}' is an MLflow model without the '{FLAVOR_NAME}' flavor "
            f"(its flavors: {sorted(model.flavors)})."
        )
    return {"source": "mlflow_model", "model_uri": uri, **_with_parse_specs_inline(flavor)}


def _with_parse_specs_inline(flavor: dict[str, Any]) -> dict[str, Any]:
    """Each signature with its parser's spec, as a SavedModel's report shows it.

    ``MLmodel`` records a spec once per parser node (``example_features``);
    read as plain dicts here, so inspecting a logged model never imports TensorFlow.
    """
    specs = flavor.get("example_features")
    if not specs:
        return flavor
    signatures = {
        key: {**sig, "example_features": specs[sig["example_parser"]["node"]]}
        if sig.get("example_parser")
        else sig
        for key, sig in (flavor.get("signatures") or {}).items()
    }
    report = {k: v for k, v in flavor.items() if k != "example_features"}
    return {**report, "signatures": signatures}


def _saved_model_report(
    path: str, meta_graph_tags: list[str] | None, allow_unsafe_ops: bool
) -> dict[str, Any]:
    """Everything ``log`` would decide about this folder, without writing anything."""
    from mlflow_tf1.metadata import locate_saved_model

    locate_saved_model(path)  # fails fast on a bad path, before TensorFlow loads
    load_tensorflow()
    import tensorflow as tf

    from mlflow_tf1.description import describe
    from mlflow_tf1.metadata import inspect_saved_model, read_saved_model, tag_sets

    info, meta_graph = inspect_saved_model(path, meta_graph_tags)
    description = describe(info, meta_graph, strict=False)
    unsafe_ops = description.op_audit
    if unsafe_ops and not allow_unsafe_ops:
        reason = "the op audit found unsafe ops; --allow-unsafe-ops loads the graph"
        backends = dict.fromkeys(info.signatures, "not loaded")
        reasons = dict.fromkeys(info.signatures, reason)
    else:
        backends, reasons = _runtime_backends(info, meta_graph, description)
    return {
        "source": "saved_model",
        "export_dir": str(info.export_dir),
        "tag_sets": tag_sets(read_saved_model(info.export_dir)),
        "meta_graph_tags": info.meta_graph_tags,
        "signature_name": description.default_signature,
        "saved_with_tensorflow": info.tensorflow_version,
        "tensorflow_version": tf.__version__,
        "signatures": {k: s.to_config() for k, s in description.signatures.items()},
        "backends": backends,
        "fallback_reasons": reasons,
        "op_audit": unsafe_ops,
    }


def _runtime_backends(info, meta_graph, description) -> tuple[dict[str, str], dict[str, str]]:
    """Load the graph as the flavor will, to report each signature's backend and why.

    A graph that cannot load is reported (backend ``unavailable`` with the
    reason) rather than refused: inspecting it is how one finds out why.
    """
    from mlflow.exceptions import MlflowException

    from mlflow_tf1.metadata import check_graph
    from mlflow_tf1.runtime import LoadedSavedModel

    status("Loading the graph to choose each signature's runtime backend...")
    try:
        check_graph(meta_graph, info.signatures)
        model = LoadedSavedModel(info.export_dir, meta_graph, description)
    except MlflowException as e:
        unavailable = dict.fromkeys(info.signatures, "unavailable")
        return unavailable, dict.fromkeys(info.signatures, e.message)
    reasons = {k: r for k, r in model.fallback_reasons.items() if k in model.signatures}
    unavailable = {
        k: getattr(s, "reason", "")
        for k, s in model.signatures.items()
        if s.backend == "unavailable"
    }
    return model.backends, {**reasons, **unavailable}
