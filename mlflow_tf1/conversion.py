"""Graphs that are not (yet) the SavedModel to serve, written as one.

Much TF1 code never wrote a SavedModel: object-detection pipelines shipped
``frozen_inference_graph.pb``, research code left ``model.ckpt-N.meta``, TF
Serving before 2017 loaded SessionBundles (``export.meta``). Frozen graphs and
checkpoints don't name their inputs and outputs, so the caller does, and when
they don't, the error proposes the graph's placeholders and sink nodes. A
SavedModel without signatures (or whose user wants another cut) gets the same
treatment, as TF's ``WrappedFunction.prune`` allows. Everything downstream then
sees an ordinary SavedModel. Which function handles which files is decided in
`sources`, the one registry of graph kinds.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from mlflow_tf1.errors import invalid
from mlflow_tf1.metadata import (
    DEFAULT_SIGNATURE,
    DEFAULT_TAG,
    PB_FILENAME,
    PBTXT_FILENAME,
    locate_saved_model,
    parse_proto,
    read_saved_model,
    select_meta_graph,
)

# Written beside a converted SavedModel (``assets.extra/`` is TF's place for files
# that travel with a SavedModel): whoever logs it later records where it came from.
ORIGIN_FILE = "assets.extra/mlflow_tf1_origin.json"
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
# A SessionBundle's signatures: a ``tensorflow.serving.Signatures`` proto packed in an Any.
_BUNDLE_SIGNATURES = "serving_signatures"
_BUNDLE_META = "export.meta"

Tensors = dict[str, str]
# Imports a graph into the default graph (restoring variables into ``session`` when
# given) and returns the SignatureDefs the source already has.
Importer = Callable[[Path, object], dict]


def import_frozen_graph(path: Path, session) -> dict:
    import tensorflow as tf

    tf.compat.v1.import_graph_def(_read_graph_def(path), name="")
    return {}


def import_checkpoint(path: Path, session) -> dict:
    meta, prefix = _checkpoint_files(path)
    _import_meta_graph(_read_meta_graph(meta), meta, prefix, session)
    return {}


def import_session_bundle(path: Path, session) -> dict:
    """``export.meta`` and its variables, with the signatures of its manifest
    converted to SignatureDefs the way TF Serving's bundle shim converts them."""
    meta = path / _BUNDLE_META
    meta_graph = _read_meta_graph(meta)
    prefix = _indexed_checkpoint(path) or str(path / "export")
    _import_meta_graph(meta_graph, meta, prefix, session)
    return bundle_signature_defs(meta_graph)


def to_saved_model(
    importer: Importer,
    path: Path,
    out_dir: Path,
    inputs: Tensors | None,
    outputs: Tensors | None,
    signature_name: str | None,
    kind: str,
    label: str,
) -> None:
    """Write the graph (and its variables) at ``path`` as a SavedModel tagged ``serve``.

    Signatures the source already has are kept; ``inputs``/``outputs`` add one
    named ``signature_name`` (default ``serving_default``).
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        signatures = importer(path, session)
        if inputs or outputs or not signatures:
            name = signature_name or DEFAULT_SIGNATURE
            signatures[name] = _signature(graph, inputs, outputs, label)
        builder = v1.saved_model.Builder(os.fspath(out_dir))
        tables = [op for op in graph.get_operations() if op.type in _TABLE_INITIALIZERS]
        builder.add_meta_graph_and_variables(
            session,
            [DEFAULT_TAG],
            signature_def_map=signatures,
            main_op=tf.group(*tables) if tables else None,
            strip_default_attrs=True,
        )
        builder.save()
    _write_origin(out_dir, {"kind": kind, "file": path.name})


def cut_saved_model(
    path: Path,
    out_dir: Path,
    inputs: Tensors | None,
    outputs: Tensors | None,
    signature_name: str | None,
    meta_graph_tags: list[str] | None,
) -> None:
    """A copy of the SavedModel with one more signature, pruned from ``inputs`` to ``outputs``.

    Only the SignatureDef map changes: variables and assets are copied byte for
    byte, and the graph is imported (never run) just to resolve tensor names.
    """
    import tensorflow as tf

    export_dir = locate_saved_model(path)
    proto = read_saved_model(export_dir)
    meta_graph = select_meta_graph(proto, meta_graph_tags)
    name = signature_name or DEFAULT_SIGNATURE
    if not inputs or not outputs:
        raise invalid(
            "inputs= and outputs= cut a new signature from a SavedModel: pass both. "
            f"Proposed from the graph: {propose_for_saved_model(path, meta_graph_tags)}."
        )
    if name in meta_graph.signature_def:
        raise invalid(
            f"This SavedModel already has a signature '{name}'; inputs= and outputs= add a new "
            f"one: pass signature_name= a new name (existing: {sorted(meta_graph.signature_def)})."
        )
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.import_meta_graph(meta_graph, clear_devices=True)
        signature = _signature(graph, inputs, outputs, "SavedModel")
    meta_graph.signature_def[name].CopyFrom(signature)
    shutil.copytree(export_dir, out_dir, ignore=shutil.ignore_patterns(PBTXT_FILENAME))
    (out_dir / PB_FILENAME).write_bytes(proto.SerializeToString())
    _write_origin(out_dir, {"kind": "saved_model", "file": export_dir.name, "added": name})


def read_origin(export_dir: Path) -> dict[str, str] | None:
    """What `to_saved_model` or `cut_saved_model` recorded, if this SavedModel is theirs."""
    file = export_dir / ORIGIN_FILE
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


def _write_origin(out_dir: Path, origin: dict[str, str]) -> None:
    file = out_dir / ORIGIN_FILE
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(origin), encoding="utf-8")


def proposal(importer: Importer, path: Path) -> str:
    """The inputs and outputs proposed for the graph at ``path`` (variables not restored)."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        importer(path, None)
    return _proposal(graph)


def propose_for_saved_model(path: Path, meta_graph_tags: list[str] | None) -> str:
    import tensorflow as tf

    meta_graph = select_meta_graph(read_saved_model(locate_saved_model(path)), meta_graph_tags)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.import_meta_graph(meta_graph, clear_devices=True)
    return _proposal(graph)


def _import_meta_graph(meta_graph, meta: Path, prefix: str, session) -> None:
    """Import a MetaGraph; restore its variables when a session is given."""
    import tensorflow as tf

    saver = tf.compat.v1.train.import_meta_graph(meta_graph, clear_devices=True)
    if session is not None and saver is not None:  # no variables: nothing to restore
        _restore(saver, session, meta, prefix)


def _read_meta_graph(meta: Path):
    from tensorflow.core.protobuf import meta_graph_pb2

    problem = "is not a MetaGraphDef protobuf (truncated or corrupt?)"
    return parse_proto(meta, meta_graph_pb2.MetaGraphDef(), problem)


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


def _signature(graph, inputs: Tensors | None, outputs: Tensors | None, label: str):
    import tensorflow as tf

    v1 = tf.compat.v1
    if not inputs or not outputs:
        raise invalid(
            f"A {label} has no signatures: pass inputs={{key: tensor_name}} and "
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


def bundle_signature_defs(meta_graph) -> dict:
    """SignatureDefs for a SessionBundle's manifest, as TF Serving's bundle shim makes them:
    the default classification or regression signature becomes ``serving_default``
    (method classify or regress), and generic ``inputs``/``outputs`` named
    signatures a predict signature (``serving_default`` if still free, else ``predict``)."""
    import tensorflow as tf

    collection = meta_graph.collection_def.get(_BUNDLE_SIGNATURES)
    if collection is None or not collection.any_list.value:
        return {}
    manifest = _manifest_messages()["Signatures"]()
    collection.any_list.value[0].Unpack(manifest)
    constants = tf.compat.v1.saved_model.signature_constants
    build = tf.compat.v1.saved_model.signature_def_utils.build_signature_def
    graph = tf.compat.v1.get_default_graph()

    def info(binding):
        return tf.compat.v1.saved_model.utils.build_tensor_info(
            graph.get_tensor_by_name(binding.tensor_name)
        )

    signatures = {}
    default = manifest.default_signature
    if default.HasField("classification_signature"):
        c = default.classification_signature
        outputs = {k: info(getattr(c, k)) for k in ("classes", "scores") if c.HasField(k)}
        signatures[DEFAULT_SIGNATURE] = build(
            {"inputs": info(c.input)}, outputs, constants.CLASSIFY_METHOD_NAME
        )
    elif default.HasField("regression_signature"):
        r = default.regression_signature
        signatures[DEFAULT_SIGNATURE] = build(
            {"inputs": info(r.input)}, {"outputs": info(r.output)}, constants.REGRESS_METHOD_NAME
        )
    named = manifest.named_signatures
    if "inputs" in named and "outputs" in named:
        key = "predict" if DEFAULT_SIGNATURE in signatures else DEFAULT_SIGNATURE
        signatures[key] = build(
            {k: info(b) for k, b in named["inputs"].generic_signature.map.items()},
            {k: info(b) for k, b in named["outputs"].generic_signature.map.items()},
            constants.PREDICT_METHOD_NAME,
        )
    return signatures


def _manifest_messages() -> dict:
    """TF Serving's ``session_bundle/manifest.proto`` (gone with tf.contrib), declared here
    so old bundles can still be read without it."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(
        name="mlflow_tf1/manifest.proto", package="tensorflow.serving", syntax="proto3"
    )
    message = descriptor_pb2.FieldDescriptorProto
    optional, repeated = message.LABEL_OPTIONAL, message.LABEL_REPEATED

    def add(name: str, fields: list[tuple], nested=None):
        proto = file.message_type.add(name=name)
        for number, (field, type_name, label, oneof) in enumerate(fields, 1):
            f = proto.field.add(name=field, number=number, label=label)
            if type_name == "string":
                f.type = message.TYPE_STRING
            else:
                f.type, f.type_name = message.TYPE_MESSAGE, type_name
            if oneof:
                f.oneof_index = 0
        if any(f[3] for f in fields):
            proto.oneof_decl.add(name="type")
        for entry_name, value_type in nested or []:
            entry = proto.nested_type.add(name=entry_name)
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, label=optional, type=message.TYPE_STRING)
            entry.field.add(
                name="value", number=2, label=optional, type=message.TYPE_MESSAGE,
                type_name=value_type,
            )  # fmt: skip
        return proto

    ns = ".tensorflow.serving."
    add("TensorBinding", [("tensor_name", "string", optional, False)])
    add("Signatures", [("default_signature", ns + "Signature", optional, False),
                       ("named_signatures", ns + "Signatures.NamedSignaturesEntry", repeated,
                        False)],
        [("NamedSignaturesEntry", ns + "Signature")])  # fmt: skip
    add("Signature", [("regression_signature", ns + "RegressionSignature", optional, True),
                      ("classification_signature", ns + "ClassificationSignature", optional,
                       True),
                      ("generic_signature", ns + "GenericSignature", optional, True)])  # fmt: skip
    binding = ns + "TensorBinding"
    add("RegressionSignature", [("input", binding, optional, False),
                                ("output", binding, optional, False)])  # fmt: skip
    add("ClassificationSignature", [("input", binding, optional, False),
                                    ("classes", binding, optional, False),
                                    ("scores", binding, optional, False)])  # fmt: skip
    add("GenericSignature", [("map", ns + "GenericSignature.MapEntry", repeated, False)],
        [("MapEntry", binding)])  # fmt: skip
    pool.Add(file)
    names = ("Signatures", "Signature", "TensorBinding")
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{n}"))
        for n in names
    }
