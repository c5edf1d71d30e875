"""Frozen graphs and checkpoints in: packaged as a SavedModel with one ``serving_default``.

Much TF1 code never wrote a SavedModel: object-detection pipelines shipped
``frozen_inference_graph.pb``, research code left ``model.ckpt-N.meta``. Neither
names its inputs and outputs, so the caller does, and when they don't, the
error proposes the graph's placeholders and sink nodes. Everything downstream
then sees an ordinary SavedModel.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_tf1.metadata import DEFAULT_SIGNATURE, DEFAULT_TAG, PB_FILENAME, PBTXT_FILENAME

FROZEN_GRAPH = "frozen_graph"
CHECKPOINT = "checkpoint"
# Sinks that are bookkeeping, not answers: savers, initializers, training steps.
_NOT_OUTPUTS = {"NoOp", "Assign", "AssignVariableOp", "SaveV2", "RestoreV2", "Const",
                "VarHandleOp", "VariableV2", "Variable", "VarIsInitializedOp", "Placeholder"}  # fmt: skip
_NOT_OUTPUT_SCOPES = ("save/", "save_", "gradients/", "init", "report_uninitialized")


def graph_source_kind(path: str | os.PathLike) -> str | None:
    """``frozen_graph``, ``checkpoint``, or None for a SavedModel (or anything else)."""
    p = Path(path)
    if p.is_file():
        if p.suffix == ".meta":
            return CHECKPOINT
        if p.suffix in (".pb", ".pbtxt") and p.name not in (PB_FILENAME, PBTXT_FILENAME):
            return FROZEN_GRAPH
    elif (
        p.is_dir()
        and (p / "checkpoint").is_file()
        and not any((p / n).is_file() for n in (PB_FILENAME, PBTXT_FILENAME))
    ):
        return CHECKPOINT
    return None


def to_saved_model(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    inputs: dict[str, str] | None,
    outputs: dict[str, str] | None,
) -> str:
    """Write the graph (and a checkpoint's variables) at ``path`` as a SavedModel; returns its kind."""
    import tensorflow as tf

    v1 = tf.compat.v1
    kind = graph_source_kind(path)
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        if kind == FROZEN_GRAPH:
            v1.import_graph_def(_read_graph_def(Path(path)), name="")
        else:
            meta, prefix = _checkpoint_files(Path(path))
            saver = v1.train.import_meta_graph(str(meta), clear_devices=True)
            if saver is None:
                raise _invalid(f"'{meta}' has no saver: there are no variables to restore.")
            saver.restore(session, prefix)
        signature = _signature(graph, inputs, outputs, kind)
        builder = v1.saved_model.Builder(os.fspath(out_dir))
        tables = v1.get_collection(v1.GraphKeys.TABLE_INITIALIZERS)
        builder.add_meta_graph_and_variables(
            session,
            [DEFAULT_TAG],
            signature_def_map={DEFAULT_SIGNATURE: signature},
            main_op=v1.tables_initializer() if tables else None,
            strip_default_attrs=True,
        )
        builder.save()
    return kind


def proposal(path: str | os.PathLike) -> str:
    """The inputs and outputs `to_saved_model` would propose for ``path``."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        if graph_source_kind(path) == FROZEN_GRAPH:
            tf.compat.v1.import_graph_def(_read_graph_def(Path(path)), name="")
        else:
            tf.compat.v1.train.import_meta_graph(str(_checkpoint_files(Path(path))[0]))
    return _proposal(graph)


def _read_graph_def(path: Path):
    from google.protobuf import message, text_format
    from tensorflow.core.framework import graph_pb2

    graph_def = graph_pb2.GraphDef()
    try:
        if path.suffix == ".pbtxt":
            text_format.Parse(path.read_text(encoding="utf-8"), graph_def)
        else:
            graph_def.ParseFromString(path.read_bytes())
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as e:
        raise _invalid(
            f"'{path}' is not a GraphDef protobuf (truncated or corrupt?): {e}"
        ) from None
    if not graph_def.node:
        raise _invalid(f"'{path}' holds no graph nodes: it is empty or not a frozen GraphDef.")
    return graph_def


def _checkpoint_files(path: Path) -> tuple[Path, str]:
    """The ``.meta`` graph and the variables' prefix of a checkpoint file or folder."""
    import tensorflow as tf

    if path.is_dir():
        prefix = _indexed_checkpoint(path)
        if prefix is None:
            raise _invalid(f"The 'checkpoint' index in '{path}' names no checkpoint that exists.")
        meta = Path(prefix + ".meta")
    else:
        meta, prefix = path, str(path.with_suffix(""))
    if not meta.is_file():
        raise _invalid(f"No graph for this checkpoint: '{meta}' is missing.")
    if not tf.io.gfile.glob(prefix + ".index") and not tf.io.gfile.glob(prefix + "*"):
        raise _invalid(f"No variables for '{meta}': no files named '{prefix}.*'.")
    return meta, prefix


def _indexed_checkpoint(folder: Path) -> str | None:
    """The prefix the folder's ``checkpoint`` index names, or the same name beside it:
    indexes often hold absolute paths of the machine that trained."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(str(folder))
    if state is None or not state.model_checkpoint_path:
        return None
    named = state.model_checkpoint_path
    for prefix in (named, str(folder / Path(named).name)):
        if tf.io.gfile.glob(f"{prefix}.index") or tf.io.gfile.exists(prefix):  # V2, V1 formats
            return prefix
    return None


def _signature(graph, inputs: dict[str, str] | None, outputs: dict[str, str] | None, kind: str):
    import tensorflow as tf

    v1 = tf.compat.v1
    if not inputs or not outputs:
        raise _invalid(
            f"A {kind.replace('_', ' ')} has no signatures: pass inputs={{key: tensor_name}} and "
            f"outputs={{key: tensor_name}}. Proposed from the graph: {_proposal(graph)}."
        )
    tensors = {}
    for role, mapping in (("inputs", inputs), ("outputs", outputs)):
        for key, name in mapping.items():
            name = name if ":" in name else f"{name}:0"
            try:
                tensors[(role, key)] = graph.get_tensor_by_name(name)
            except (KeyError, ValueError):
                raise _invalid(
                    f"{role}['{key}'] names '{name}', which is not a tensor of this graph. "
                    f"Proposed from the graph: {_proposal(graph)}."
                ) from None
    build = v1.saved_model.utils.build_tensor_info
    return v1.saved_model.signature_def_utils.build_signature_def(
        inputs={k: build(t) for (role, k), t in tensors.items() if role == "inputs"},
        outputs={k: build(t) for (role, k), t in tensors.items() if role == "outputs"},
        method_name=v1.saved_model.signature_constants.PREDICT_METHOD_NAME,
    )


def _proposal(graph) -> str:
    """Placeholders as inputs, sink nodes as outputs, keyed by their short names."""
    operations = graph.get_operations()
    consumed = {t.op.name for op in operations for t in op.inputs}
    consumed |= {c.name for op in operations for c in op.control_inputs}
    placeholders = [op for op in operations if op.type == "Placeholder"]
    sinks = [
        op
        for op in operations
        if op.name not in consumed
        and op.outputs
        and op.type not in _NOT_OUTPUTS
        and not op.name.startswith(_NOT_OUTPUT_SCOPES)
    ]
    if not placeholders and not sinks:
        return "nothing (no placeholders or sink nodes): name the tensors yourself"

    def keyed(ops) -> dict[str, str]:
        return {op.name.split("/")[-1]: op.outputs[0].name for op in ops[:10]}

    return f"inputs={keyed(placeholders)}, outputs={keyed(sinks)}"


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, INVALID_PARAMETER_VALUE)
