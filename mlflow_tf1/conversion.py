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

from mlflow_tf1.errors import invalid
from mlflow_tf1.metadata import (
    DEFAULT_SIGNATURE,
    DEFAULT_TAG,
    PB_FILENAME,
    PBTXT_FILENAME,
    parse_proto,
)

FROZEN_GRAPH = "frozen_graph"
CHECKPOINT = "checkpoint"
# Sinks that are bookkeeping, not answers: savers, initializers, training steps.
# Sinks that are bookkeeping (saving, initializing, training, summaries), never predictions.
_NOT_OUTPUTS = {"NoOp", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "SaveV2",
                "RestoreV2", "Const", "VarHandleOp", "VariableV2", "Variable",
                "VarIsInitializedOp", "Placeholder", "Assert", "ScalarSummary",
                "HistogramSummary", "ImageSummary", "MergeSummary"}  # fmt: skip
_NOT_OUTPUT_SCOPES = ("save/", "save_", "gradients/", "init/", "init_", "report_uninitialized")
# A frozen GraphDef has no TABLE_INITIALIZERS collection: its tables are found by op type.
_TABLE_INITIALIZERS = {"InitializeTable", "InitializeTableV2", "InitializeTableFromTextFile",
                       "InitializeTableFromTextFileV2", "LookupTableImport",
                       "LookupTableImportV2"}  # fmt: skip
_PROPOSED = 10


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
            if saver is not None:  # a graph without variables has nothing to restore
                _restore(saver, session, meta, prefix)
        signature = _signature(graph, inputs, outputs, kind)
        builder = v1.saved_model.Builder(os.fspath(out_dir))
        tables = [op for op in graph.get_operations() if op.type in _TABLE_INITIALIZERS]
        builder.add_meta_graph_and_variables(
            session,
            [DEFAULT_TAG],
            signature_def_map={DEFAULT_SIGNATURE: signature},
            main_op=tf.group(*tables) if tables else None,
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
    from tensorflow.core.framework import graph_pb2

    problem = "is not a GraphDef protobuf (truncated or corrupt?)"
    graph_def = parse_proto(path, graph_pb2.GraphDef(), problem)
    if not graph_def.node:
        raise invalid(f"'{path}' holds no graph nodes: it is empty or not a frozen GraphDef.")
    return graph_def


def _checkpoint_files(path: Path) -> tuple[Path, str]:
    """The ``.meta`` graph and the variables' prefix of a checkpoint file or folder."""
    if path.is_dir():
        prefix = _indexed_checkpoint(path)
        if prefix is None:
            raise invalid(f"The 'checkpoint' index in '{path}' names no checkpoint that exists.")
        meta = Path(prefix + ".meta")
    else:
        meta, prefix = path, str(path.with_suffix(""))
    if not meta.is_file():
        raise invalid(f"No graph for this checkpoint: '{meta}' is missing.")
    return meta, prefix


def _restore(saver, session, meta: Path, prefix: str) -> None:
    import tensorflow as tf

    if not _has_variables(prefix):
        raise invalid(
            f"No variables for '{meta}': neither '{prefix}.index' (with its .data files) nor "
            f"'{prefix}' exists. Copy the checkpoint's data files next to the .meta file."
        )
    try:
        saver.restore(session, prefix)
    except (ValueError, tf.errors.OpError) as e:
        raise invalid(
            f"Could not restore the variables of '{meta}' from '{prefix}': "
            f"{str(e).strip().splitlines()[0]}"
        ) from None


def _has_variables(prefix: str) -> bool:
    """V2 checkpoints write ``prefix.index``; V1 (TF 0.x) a single file named ``prefix``."""
    import tensorflow as tf

    return tf.io.gfile.exists(f"{prefix}.index") or tf.io.gfile.exists(prefix)


def _indexed_checkpoint(folder: Path) -> str | None:
    """The prefix the folder's ``checkpoint`` index names, or the same name beside it:
    indexes often hold absolute paths of the machine that trained."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(str(folder))
    if state is None or not state.model_checkpoint_path:
        return None
    named = state.model_checkpoint_path
    for prefix in (named, str(folder / Path(named).name)):
        if _has_variables(prefix):
            return prefix
    return None


def _signature(graph, inputs: dict[str, str] | None, outputs: dict[str, str] | None, kind: str):
    import tensorflow as tf

    v1 = tf.compat.v1
    if not inputs or not outputs:
        raise invalid(
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
                raise invalid(
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

    def keyed(ops) -> str:
        short = [op.name.split("/")[-1] for op in ops]
        unique = len(set(short)) == len(short)  # else dense_1/BiasAdd, dense_2/BiasAdd collide
        keys = short if unique else [op.name.replace("/", "_") for op in ops]
        proposed = {
            k: op.outputs[0].name for k, op in list(zip(keys, ops, strict=True))[:_PROPOSED]
        }
        more = f" (and {len(ops) - _PROPOSED} more)" if len(ops) > _PROPOSED else ""
        return f"{proposed}{more}"

    return f"inputs={keyed(placeholders)}, outputs={keyed(sinks)}"
