"""The ``mlflow-tf1`` command: inspect, log and batch-score TF1 SavedModels from the shell.

Everything here is a thin layer over the library (``metadata``, ``examples``,
``runtime``, ``flavor``) and over MLflow's own serving parsers, so the shell
sees exactly what ``mlflow_tf1.log_model`` and ``mlflow models serve`` do.

TensorFlow is imported inside the commands that need it, announced on stderr
first because it takes seconds: ``--help``, argument errors and bad paths
never wait for it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from mlflow_tf1.flavor import FLAVOR_NAME

# TensorFlow's C++ start-up chatter would bury the command's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

INPUT_TYPES = (".csv", ".json", ".parquet")
OUTPUT_TYPES = (".csv", ".json", ".parquet")
_ALLOW_UNSAFE_HELP = (
    "Load the graph even if it reaches file-system, Python-callback or network ops "
    "(see docs/trust-model.md). Only for models you trust."
)


class CliError(click.ClickException):
    """A user error: one ``Error: ...`` line on stderr, exit code 2, no traceback."""

    exit_code = 2

    def __init__(self, message: str):
        # MLflow and TensorFlow messages can span lines; a shell error should not.
        super().__init__(" ".join(line.strip() for line in message.splitlines() if line.strip()))


class _Group(click.Group):
    """Turns the library's user-facing exceptions into `CliError` in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            message = _user_error_message(e)
            if message is None:
                raise  # a bug: keep the traceback
            raise CliError(message) from None


def _user_error_message(error: Exception) -> str | None:
    """The message of an error the user can fix (bad model, bad path, bad data), else None."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException):
        return error.message
    if isinstance(error, OSError):
        return str(error)
    return None


def _status(message: str) -> None:
    """Progress on stderr, so stdout stays clean for results and ``--json``."""
    click.echo(message, err=True)


def _load_tensorflow() -> None:
    if "tensorflow" not in sys.modules:
        _status("Loading TensorFlow...")
        import tensorflow  # noqa: F401


def _tag_list(value: str | None) -> list[str] | None:
    """``serve,gpu`` -> ``["serve", "gpu"]``; None keeps the library's default choice."""
    if value is None:
        return None
    tags = [t.strip() for t in value.split(",") if t.strip()]
    if not tags:
        raise CliError("--meta-graph-tags needs at least one tag, e.g. --meta-graph-tags serve.")
    return tags


def _key_values(pairs: tuple[str, ...], flag: str = "--tags") -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{flag} expects KEY=VALUE; got '{pair}'.")
        result[key.strip()] = value
    return result


def _human_size(path: Path) -> str:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} KB"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlflow-tf1")
@click.option(
    "-v", "--verbose", is_flag=True, help="Also show TensorFlow's warnings (hidden by default)."
)
def cli(verbose: bool) -> None:
    """Legacy TensorFlow 1.x SavedModels as MLflow models, from the shell.

    \b
    Examples:
      mlflow-tf1 inspect ./export/00000123
      mlflow-tf1 log ./export --registered-model-name half_plus_two
      mlflow-tf1 predict models:/half_plus_two/1 --input rows.csv --output scores.csv

    Models are logged to MLFLOW_TRACKING_URI (or MLflow's default store).
    User errors print one 'Error: ...' line and exit with code 2.
    """
    if not verbose:
        # TF1 graphs make TensorFlow warn once per reference variable and per
        # signature; those warnings would drown the command's own output.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


# ---------------------------------------------------------------- inspect


@cli.command()
@click.argument("target", metavar="PATH_OR_MODEL_URI")
@click.option(
    "--meta-graph-tags",
    metavar="TAG,TAG",
    help="The MetaGraph to describe (SavedModel folders only). "
    "Default: the one tagged 'serve', else the only one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@click.option("--allow-unsafe-ops", is_flag=True, help=_ALLOW_UNSAFE_HELP)
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
    tags = _tag_list(meta_graph_tags)
    if _is_mlflow_model(target):
        if tags is not None:
            raise CliError("--meta-graph-tags applies to SavedModel folders, not MLflow models.")
        report = _mlflow_model_report(target)
    else:
        report = _saved_model_report(target, tags, allow_unsafe_ops)
    click.echo(json.dumps(report, indent=2) if as_json else _render(report))


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
    return {"source": "mlflow_model", "model_uri": uri, **flavor}


def _saved_model_report(
    path: str, meta_graph_tags: list[str] | None, allow_unsafe_ops: bool
) -> dict[str, Any]:
    """Everything ``log`` would decide about this folder, without writing anything."""
    from mlflow_tf1.metadata import locate_saved_model

    locate_saved_model(path)  # fails fast on a bad path, before TensorFlow loads
    _load_tensorflow()
    import tensorflow as tf

    from mlflow_tf1.examples import example_config, inspect_parser
    from mlflow_tf1.metadata import inspect_saved_model, read_saved_model, tag_sets

    info, meta_graph = inspect_saved_model(path, meta_graph_tags)
    signatures = {key: sig.to_dict() for key, sig in info.signatures.items()}
    for key, sig in info.signatures.items():
        signatures[key].update(example_config(inspect_parser(meta_graph, sig)))
    op_audit = _op_audit(info, meta_graph)
    if op_audit and not allow_unsafe_ops:
        reason = "the op audit found unsafe ops; --allow-unsafe-ops loads the graph"
        backends = dict.fromkeys(info.signatures, "not loaded")
        reasons = dict.fromkeys(info.signatures, reason)
    else:
        backends, reasons = _runtime_backends(info, meta_graph)
    return {
        "source": "saved_model",
        "export_dir": str(info.export_dir),
        "tag_sets": tag_sets(read_saved_model(info.export_dir)),
        "meta_graph_tags": info.meta_graph_tags,
        "signature_name": _default_signature(info.signatures),
        "saved_with_tensorflow": info.tensorflow_version,
        "tensorflow_version": tf.__version__,
        "signatures": signatures,
        "backends": backends,
        "fallback_reasons": reasons,
        "op_audit": op_audit,
    }


def _op_audit(info, meta_graph) -> dict[str, list[str]]:
    """What ``log`` would refuse: ops reaching files, Python or the network (protobuf only)."""
    from mlflow_tf1.audit import audit
    from mlflow_tf1.runtime import init_op_name

    return audit(meta_graph, info.signatures, init_op_name(meta_graph))


def _default_signature(signatures: dict) -> str | None:
    """The signature ``predict`` would use by default, or None when logging must name one."""
    from mlflow.exceptions import MlflowException

    from mlflow_tf1.metadata import default_signature_name

    try:
        return default_signature_name(signatures, None)
    except MlflowException:
        return None


def _runtime_backends(info, meta_graph) -> tuple[dict[str, str], dict[str, str]]:
    """Load the graph as the flavor will, to report each signature's backend and why.

    A graph that cannot load is reported (backend ``unavailable`` with the
    reason) rather than refused: inspecting it is how one finds out why.
    """
    from mlflow.exceptions import MlflowException

    from mlflow_tf1.metadata import check_graph
    from mlflow_tf1.runtime import LoadedSavedModel

    _status("Loading the graph to choose each signature's runtime backend...")
    try:
        check_graph(meta_graph, info.signatures)
        model = LoadedSavedModel(info.export_dir, meta_graph, info.signatures)
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


def _render(report: dict[str, Any]) -> str:
    """The human-readable form of an inspect report: a header, then one block per signature."""
    if report["source"] == "saved_model":
        header = [
            ("SavedModel", report["export_dir"]),
            ("Tag sets", ", ".join(_tags_text(t) for t in report["tag_sets"])),
            ("MetaGraph", _tags_text(report["meta_graph_tags"])),
            ("Written by TensorFlow", report["saved_with_tensorflow"]),
            ("Backends chosen by TensorFlow", report["tensorflow_version"]),
        ]
    else:
        header = [
            ("MLflow model", report["model_uri"]),
            ("MetaGraph", _tags_text(report.get("meta_graph_tags") or [])),
            ("Written by TensorFlow", report.get("saved_with_tensorflow", "unknown")),
            ("Logged with TensorFlow", report.get("tensorflow_version", "unknown")),
        ]
        if "pyfunc_backend" in report:
            header.append(("Pyfunc backend", report["pyfunc_backend"]))
    default = report.get("signature_name") or "none (several signatures, none 'serving_default')"
    header.append(("Default signature", default))
    if "op_audit" in report:
        header.append(("Op audit", _audit_text(report["op_audit"])))
    blocks = [_table(header, headers=None)]
    backends = report.get("backends") or {}
    reasons = report.get("fallback_reasons") or {}
    for key, sig in (report.get("signatures") or {}).items():
        blocks.append(_render_signature(key, sig, backends.get(key, "unknown"), reasons.get(key)))
    return "\n\n".join(blocks)


def _render_signature(key: str, sig: dict[str, Any], backend: str, reason: str | None) -> str:
    lines = [f"Signature '{key}' ({sig.get('method_name') or 'no method name'})"]
    lines.append(f"  backend: {backend}" + (f" ({reason})" if reason else ""))
    for direction in ("inputs", "outputs"):
        tensors = sig.get(direction) or {}
        if not tensors:
            lines.append(f"  {direction}: none")
            continue
        lines.append(f"  {direction}:")
        rows = [
            (
                k,
                t["dtype"],
                _shape_text(t.get("shape")),
                t.get("encoding", "dense"),
                _tensor_text(t),
            )
            for k, t in tensors.items()
        ]
        lines.append(_table(rows, ("KEY", "DTYPE", "SHAPE", "ENCODING", "TENSOR"), indent=4))
    features = sig.get("example_features")
    if features:
        lines.append("  tf.Example features (raw columns accepted in place of the protos):")
        rows = [
            (k, f["dtype"], f["kind"], _shape_text(f.get("shape", [])), _default_text(f))
            for k, f in features.items()
        ]
        lines.append(_table(rows, ("FEATURE", "DTYPE", "KIND", "SHAPE", "DEFAULT"), indent=4))
    if sig.get("raw_rows_refused"):
        lines.append(f"  tf.Example protos only: raw columns refused, {sig['raw_rows_refused']}")
    return "\n".join(lines)


def _audit_text(op_audit: dict[str, list[str]]) -> str:
    if not op_audit:
        return "clean (no file-system, Python-callback or network ops)"
    found = "; ".join(f"{key}: {', '.join(ops)}" for key, ops in sorted(op_audit.items()))
    return f"UNSAFE ops reachable: {found}"


def _tags_text(tags: list[str]) -> str:
    return "[" + ", ".join(tags) + "]"


def _shape_text(shape: list[int] | None) -> str:
    return "unknown rank" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _tensor_text(tensor: dict[str, Any]) -> str:
    if tensor.get("name"):
        return tensor["name"]
    parts = tensor.get("components") or {}
    return " ".join(f"{part}={name}" for part, name in parts.items()) or "-"


def _default_text(feature: dict[str, Any]) -> str:
    if feature["kind"] == "var_len":
        return "(absent: empty)"
    if feature["kind"] == "sequence":
        return f"(absent: empty; padded with {json.dumps(feature['default'][0])})"
    return "required" if feature.get("default") is None else json.dumps(feature["default"])


def _table(rows: list[tuple], headers: tuple[str, ...] | None, indent: int = 0) -> str:
    """Plain aligned columns: no dependency, and greppable."""
    rows = [tuple(str(c) for c in r) for r in ([headers] if headers else []) + list(rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    pad = " " * indent
    return "\n".join(
        pad + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


# ---------------------------------------------------------------- log


@cli.command()
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
@click.option("--allow-unsafe-ops", is_flag=True, help=_ALLOW_UNSAFE_HELP)
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
) -> None:
    """Log a SavedModel folder as a tf1 MLflow model, in a new run.

    PATH is a SavedModel folder or the parent of numbered version folders
    (the highest is used), or a frozen GraphDef (.pb, .pbtxt) or TF1
    checkpoint (.meta, or a folder with a 'checkpoint' index) with --input and
    --output. The model is loaded and checked before anything is logged.
    Prints the model URI, the run id, and the registered version's URI when
    --registered-model-name is given.

    \b
    Examples:
      mlflow-tf1 log ./export --registered-model-name half_plus_two --tags team=legacy
      mlflow-tf1 log ./counter --signature get_counter --experiment-name legacy
      mlflow-tf1 log frozen_inference_graph.pb --input x=x:0 --output probs=probs:0
    """
    model_tags = _key_values(tags)
    graph_tags = _tag_list(meta_graph_tags)
    tensors = {
        "inputs": _key_values(input_tensors, "--input"),
        "outputs": _key_values(output_tensors, "--output"),
    }
    export_dir = _check_before_run(path, graph_tags, signature_name, allow_unsafe_ops, tensors)
    signature = None
    if feature_signature:
        if tensors["inputs"]:
            raise CliError("--feature-signature is for SavedModels with tf.Example signatures.")
        from mlflow_tf1.mlflow_signature import infer_feature_signature

        signature = infer_feature_signature(
            export_dir, meta_graph_tags=graph_tags, signature_name=signature_name
        )

    import mlflow

    import mlflow_tf1

    if experiment_name:
        mlflow.set_experiment(experiment_name)
    from mlflow_tf1.conversion import graph_source_kind

    step = "Converting" if graph_source_kind(path) else "Copying SavedModel"
    _status(f"{step} {export_dir.name} ({_human_size(export_dir)})...")
    _status("Validating the model (loading every signature)...")
    with mlflow.start_run() as run:
        info = mlflow_tf1.log_model(
            path,
            name=name,
            registered_model_name=registered_model_name,
            signature_name=signature_name,
            meta_graph_tags=graph_tags,
            tags=model_tags or None,
            signature=signature,
            allow_unsafe_ops=allow_unsafe_ops,
            **{k: v for k, v in tensors.items() if v},
        )
    click.echo(f"model_uri: {info.model_uri}")
    click.echo(f"run_id: {run.info.run_id}")
    if registered_model_name:
        version = info.registered_model_version
        click.echo(f"registered_model_uri: models:/{registered_model_name}/{version}")


def _check_before_run(
    path: str,
    meta_graph_tags: list[str] | None,
    signature: str | None,
    allow_unsafe_ops: bool,
    tensors: dict[str, dict[str, str]],
) -> Path:
    """Checks before a run starts, so mistakes leave no failed run and name the CLI's flags.

    A frozen graph or checkpoint is converted once into a scratch folder for
    this (log converts it again): bad tensor names, --signature, --meta-graph-tags
    and unsafe ops are then caught the same way as for a SavedModel.
    """
    import tempfile

    from mlflow_tf1.conversion import graph_source_kind, proposal, to_saved_model
    from mlflow_tf1.metadata import locate_saved_model

    kind = graph_source_kind(path)
    if kind is None:
        if tensors["inputs"] or tensors["outputs"]:
            raise CliError("--input and --output are for frozen graphs and checkpoints only.")
        export_dir = locate_saved_model(path)
        _check_saved_model(export_dir, meta_graph_tags, signature, allow_unsafe_ops)
        return export_dir
    _load_tensorflow()
    if not tensors["inputs"] or not tensors["outputs"]:
        raise CliError(
            f"'{path}' is a {kind.replace('_', ' ')}: name its tensors with --input "
            f"KEY=TENSOR and --output KEY=TENSOR. Proposed from the graph: {proposal(path)}."
        )
    with tempfile.TemporaryDirectory() as scratch:
        converted = Path(scratch) / "saved_model"
        to_saved_model(path, converted, tensors["inputs"], tensors["outputs"])
        _check_saved_model(converted, meta_graph_tags, signature, allow_unsafe_ops)
    return Path(path)


def _check_saved_model(
    export_dir: Path, meta_graph_tags: list[str] | None, signature: str | None, allow_unsafe: bool
) -> None:
    from mlflow_tf1.metadata import default_signature_name, inspect_saved_model

    _load_tensorflow()
    info, meta_graph = inspect_saved_model(export_dir, meta_graph_tags)
    default_signature_name(info.signatures, signature)
    op_audit = _op_audit(info, meta_graph)
    if op_audit and not allow_unsafe:
        raise CliError(
            f"Not logged: {_audit_text(op_audit)}. Loading or calling this graph runs those "
            "ops. If you trust this model, pass --allow-unsafe-ops."
        )


# ---------------------------------------------------------------- predict


@cli.command()
@click.argument("model_uri")
@click.option(
    "--input",
    "-i",
    "input_path",
    required=True,
    metavar="FILE",
    help="Rows to score: .csv, .parquet, or .json (records, columns, or MLflow's serving "
    "formats: dataframe_split, dataframe_records, inputs, instances).",
)
@click.option("--signature", "signature_name", help="The signature to run. Default: the model's.")
@click.option(
    "--output",
    "-o",
    "output_path",
    metavar="FILE",
    help="Where to write predictions: .csv, .json or .parquet. Default: JSON on stdout.",
)
def predict(
    model_uri: str, input_path: str, signature_name: str | None, output_path: str | None
) -> None:
    """Score a file of rows with a logged model.

    The model loads with mlflow.pyfunc.load_model and predicts as it would
    under 'mlflow models serve'. Tabular input (CSV, Parquet, JSON records,
    dataframe_*) gives a table, one column per output, when every output has
    one row per input row. Column input (a JSON object of columns, inputs,
    instances) gives {output_key: [...]}; .csv and .parquet outputs turn it
    into a table under the same condition. Multi-dimensional cells are JSON
    lists in CSV and lists in Parquet.

    \b
    Examples:
      mlflow-tf1 predict models:/taxi/1 --input rows.csv --output scores.csv
      mlflow-tf1 predict runs:/<run_id>/model -i rows.json --signature regression
    """
    output_type = _file_type(output_path, OUTPUT_TYPES, "output") if output_path else ".json"
    data, params = _read_input(Path(input_path))
    if signature_name:
        params["signature_name"] = signature_name

    _load_tensorflow()
    import mlflow

    _status(f"Loading model {model_uri}...")
    model = mlflow.pyfunc.load_model(model_uri)
    rows = _row_count(data)
    signature = params.get("signature_name", "the default signature")
    count = "" if rows is None else f"{rows} row(s) "
    _status(f"Predicting {count}with {signature}...")
    result = model.predict(data, params=params or None)
    _write_output(result, rows, output_path, output_type)


def _file_type(path: str, allowed: tuple[str, ...], role: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise CliError(
            f"Unsupported {role} file type '{suffix or Path(path).name}' for '{path}': "
            f"use {', '.join(allowed)}."
        )
    return suffix


def _read_input(path: Path) -> tuple[Any, dict[str, Any]]:
    """The file's data and any MLflow ``params`` it carries (JSON serving requests do)."""
    suffix = _file_type(str(path), INPUT_TYPES, "input")
    if not path.is_file():
        raise CliError(f"Input file '{path}' does not exist (or is not a file).")
    import pandas as pd

    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": _read_json}
    try:
        result = readers[suffix](path)
    except CliError:
        raise
    except Exception as e:  # noqa: BLE001 -- any parse failure is the file's, not ours
        message = getattr(e, "message", None) or str(e)
        raise CliError(f"Could not read '{path}' as {suffix[1:].upper()}: {message}") from None
    return result if isinstance(result, tuple) else (result, {})


def _read_json(path: Path) -> tuple[Any, dict[str, Any]]:
    """JSON as ``mlflow models serve`` reads a request body, plus two plain shapes.

    A list of records becomes a DataFrame (like ``dataframe_records``); an
    object of columns becomes a dict of arrays (like ``inputs``).
    """
    from mlflow.pyfunc.scoring_server import SUPPORTED_FORMATS, infer_and_parse_data
    from mlflow.utils.proto_json_utils import dataframe_from_parsed_json, parse_tf_serving_input

    document = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(document, list):
        return dataframe_from_parsed_json(document, pandas_orient="records"), {}
    if not isinstance(document, dict):
        raise CliError(
            f"JSON input '{path}' must be a list of records or an object; "
            f"got {type(document).__name__}."
        )
    if set(document) & SUPPORTED_FORMATS:
        params = document.get("params") or {}
        request = {k: v for k, v in document.items() if k in SUPPORTED_FORMATS}
        return infer_and_parse_data(request), dict(params)
    return parse_tf_serving_input({"inputs": document}), {}


def _row_count(data: Any) -> int | None:
    """Rows of the input, to tell whether outputs can line up as a table."""
    import numpy as np

    if isinstance(data, dict):
        data = next(iter(data.values()), None)
    return None if data is None or np.ndim(data) == 0 else len(data)


def _write_output(result: Any, rows: int | None, output_path: str | None, kind: str) -> None:
    from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

    if kind == ".json":
        text = json.dumps(_get_jsonable_obj(result, pandas_orient="records"), cls=NumpyEncoder)
        if output_path is None:
            click.echo(text)
        else:
            Path(output_path).write_text(text + "\n", encoding="utf-8")
    else:
        frame = _as_table(result, rows)
        if kind == ".csv":
            _list_cells(frame, as_json=True).to_csv(output_path, index=False)
        else:
            _list_cells(frame, as_json=False).to_parquet(output_path, index=False)
    if output_path is not None:
        _status(f"Wrote {output_path}")


def _as_table(result: Any, rows: int | None):
    """A DataFrame of the predictions, when each output has one row per input row."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return result
    outputs = result if isinstance(result, dict) else {"prediction": result}
    arrays = {k: np.asarray(v) for k, v in outputs.items()}
    shapes = {k: list(a.shape) for k, a in arrays.items()}
    if rows is None or not arrays or any(a.ndim == 0 or len(a) != rows for a in arrays.values()):
        raise CliError(
            f"The outputs {shapes} do not have one row per input row ({rows}), so they "
            "cannot be written as a table; write JSON instead (--output out.json)."
        )
    columns = {}
    for key, a in arrays.items():
        a = a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a
        columns[key] = a if a.ndim == 1 else list(a)
    return pd.DataFrame(columns)


def _list_cells(frame, as_json: bool):
    """Multi-dimensional cells as lists (Parquet) or JSON text (CSV), not numpy's repr."""
    import numpy as np

    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object and any(
            isinstance(v, (np.ndarray, list)) for v in frame[column]
        ):
            lists = [v.tolist() if isinstance(v, np.ndarray) else v for v in frame[column]]
            frame[column] = [json.dumps(v) for v in lists] if as_json else lists
    return frame


# ---------------------------------------------------------------- registry


@cli.command()
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
    check_data = _read_input(Path(check_input))[0] if check_input else None
    _load_tensorflow()
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


@cli.command("export-serving")
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

    _status(f"Exporting {model_uri}...")
    click.echo(str(mlflow_tf1.export_serving(model_uri, out_dir, version)))


if __name__ == "__main__":
    cli()
