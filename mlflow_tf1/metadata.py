"""Read a TF1 SavedModel's protobuf without running it.

Everything the flavor decides before TensorFlow executes a graph lives here:
where the SavedModel is, which MetaGraph and signature to use, and a plain,
YAML-friendly description of every signature for the ``MLmodel`` file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    RESOURCE_DOES_NOT_EXIST,
)

from mlflow_tf1.errors import invalid

PB_FILENAME = "saved_model.pb"
PBTXT_FILENAME = "saved_model.pbtxt"
DEFAULT_SIGNATURE = "serving_default"
DEFAULT_TAG = "serve"
# SignatureDefs TensorFlow adds for its own bookkeeping, never user-facing.
_INTERNAL_SIGNATURE_PREFIX = "__saved_model"


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output, as the graph declares it.

    ``shape`` is None for unknown rank, and uses -1 for unknown dimensions.
    Sparse tensors (``encoding == "coo_sparse"``) name their three components.
    """

    key: str
    dtype: str
    shape: tuple[int, ...] | None
    encoding: str = "dense"
    name: str | None = None
    components: dict[str, str] = field(default_factory=dict)
    # For features fed in place of an example parser: the value the graph uses
    # when a row lacks the feature ([] for var-len ones); None means required.
    default: list | None = None
    # True for a tf.Example feature fed in place of its parser (rows, not tensors).
    feature: bool = False

    @property
    def optional(self) -> bool:
        return self.default is not None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
            "encoding": self.encoding,
        }
        if self.name is not None:
            d["name"] = self.name
        if self.components:
            d["components"] = dict(self.components)
        if self.default is not None:
            d["default"] = list(self.default)
        return d

    @classmethod
    def from_dict(cls, key: str, d: dict[str, Any], feature: bool = False) -> TensorInfo:
        """The inverse of `to_dict` (``MLmodel`` back to a TensorInfo)."""
        shape = d.get("shape")
        return cls(
            key=key,
            dtype=d["dtype"],
            shape=None if shape is None else tuple(shape),
            encoding=d.get("encoding", "dense"),
            name=d.get("name"),
            components=dict(d.get("components") or {}),
            default=None if d.get("default") is None else list(d["default"]),
            feature=feature,
        )

    def describe(self) -> str:
        shape = "unknown rank" if self.shape is None else list(self.shape)
        kind = "" if self.encoding == "dense" else f", {self.encoding}"
        return f"{self.key} ({self.dtype}, shape {shape}{kind})"


@dataclass(frozen=True)
class SignatureInfo:
    """A SignatureDef reduced to what the runtime and the docs need."""

    key: str
    method_name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method_name": self.method_name,
            "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
        }


@dataclass(frozen=True)
class SavedModelInfo:
    """The chosen MetaGraph of a SavedModel folder, described."""

    export_dir: Path
    meta_graph_tags: list[str]
    tensorflow_version: str
    signatures: dict[str, SignatureInfo]

    def signature(self, key: str) -> SignatureInfo:
        if key not in self.signatures:
            raise invalid(
                f"Signature '{key}' is not in this model. "
                f"Available signatures: {sorted(self.signatures)}."
            )
        return self.signatures[key]


def locate_saved_model(path: str | os.PathLike) -> Path:
    """Resolve a SavedModel folder, or the newest numbered version under a parent.

    TF Serving and Estimator exports write ``<base>/<version>/saved_model.pb``;
    users point at ``<base>`` as often as at the version folder.
    """
    root = Path(path)
    if not root.exists():
        raise MlflowException(
            f"SavedModel path '{root}' does not exist.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    if not root.is_dir():
        raise invalid(
            f"SavedModel path '{root}' is a file; expected the folder holding "
            f"'{PB_FILENAME}' (or '{PBTXT_FILENAME}') and 'variables/'."
        )
    if _saved_model_file(root) is not None:
        return root
    versions = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    versions = [p for p in versions if _saved_model_file(p) is not None]
    if versions:
        return max(versions, key=lambda p: int(p.name))
    if (root / "export.meta").exists() or any(root.glob("*.meta")):
        raise invalid(
            f"'{root}' is a pre-SavedModel export (a SessionBundle or checkpoint: "
            "'export.meta' plus checkpoint files), not a SavedModel. Log its '.meta' file "
            "with inputs={key: tensor_name} and outputs={key: tensor_name} (a checkpoint), "
            "or re-export it with tf.compat.v1.saved_model.Builder and log that folder."
        )
    contents = sorted(p.name for p in root.iterdir())[:10]
    raise invalid(
        f"No SavedModel in '{root}': expected '{PB_FILENAME}' or '{PBTXT_FILENAME}', "
        f"or numbered version folders holding one. Found: {contents or 'an empty folder'}."
    )


def _saved_model_file(folder: Path) -> Path | None:
    for name in (PB_FILENAME, PBTXT_FILENAME):
        if (folder / name).is_file():
            return folder / name
    return None


def read_saved_model(export_dir: str | os.PathLike):
    """Parse ``saved_model.pb`` (or ``.pbtxt``) into a ``SavedModel`` proto."""
    from tensorflow.core.protobuf import saved_model_pb2

    file = _saved_model_file(Path(export_dir))
    if file is None:
        raise invalid(f"No '{PB_FILENAME}' or '{PBTXT_FILENAME}' in '{export_dir}'.")
    problem = "is not a valid SavedModel protobuf (truncated or corrupt)"
    proto = parse_proto(file, saved_model_pb2.SavedModel(), problem)
    if not proto.meta_graphs:
        raise invalid(f"'{file}' holds no MetaGraph: it is empty or not a SavedModel.")
    return proto


def parse_proto(file: Path, proto, problem: str):
    """Fill ``proto`` from ``file``: text format for ``.pbtxt``, binary otherwise.

    A parse failure is the user's file, not a crash: it names the file and ``problem``.
    """
    from google.protobuf import message, text_format

    try:
        if file.suffix == ".pbtxt":
            text_format.Parse(file.read_text(encoding="utf-8"), proto)
        else:
            proto.ParseFromString(file.read_bytes())
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as e:
        raise invalid(f"'{file}' {problem}: {e}") from None
    return proto


def tag_sets(proto) -> list[list[str]]:
    return [list(mg.meta_info_def.tags) for mg in proto.meta_graphs]


def select_meta_graph(proto, meta_graph_tags: list[str] | None):
    """Pick the MetaGraph: the given tags, else ``serve``, else the only one."""
    available = tag_sets(proto)
    if meta_graph_tags is None:
        serve = [mg for mg in proto.meta_graphs if list(mg.meta_info_def.tags) == [DEFAULT_TAG]]
        if serve:
            return serve[0]
        if len(proto.meta_graphs) == 1:
            return proto.meta_graphs[0]
        raise invalid(
            f"This SavedModel has several MetaGraphs and none is tagged only '{DEFAULT_TAG}'; "
            f"pass meta_graph_tags= one of {available}."
        )
    wanted = set(meta_graph_tags)
    for mg in proto.meta_graphs:
        if set(mg.meta_info_def.tags) == wanted:
            return mg
    raise invalid(
        f"No MetaGraph with tags {sorted(wanted)} in this SavedModel. Available tag sets: {available}."
    )


def _tensor_info(key: str, proto) -> TensorInfo:
    from tensorflow.python.framework import dtypes

    dtype = dtypes.as_dtype(proto.dtype).base_dtype.name if proto.dtype else "unknown"
    # TF 1.0 wrote no tensor_shape at all: that is "unknown", not a scalar.
    shape_proto = proto.tensor_shape
    if not proto.HasField("tensor_shape") or shape_proto.unknown_rank:
        shape = None
    else:
        shape = tuple(int(d.size) for d in shape_proto.dim)
    encoding = proto.WhichOneof("encoding") or "name"
    if encoding == "name":
        return TensorInfo(key=key, dtype=dtype, shape=shape, name=_tensor_name(proto.name))
    if encoding == "coo_sparse":
        sp = proto.coo_sparse
        return TensorInfo(
            key=key,
            dtype=dtype,
            shape=shape,
            encoding="coo_sparse",
            components={
                "indices": _tensor_name(sp.indices_tensor_name),
                "values": _tensor_name(sp.values_tensor_name),
                "dense_shape": _tensor_name(sp.dense_shape_tensor_name),
            },
        )
    return TensorInfo(key=key, dtype=dtype, shape=shape, encoding=encoding)


def _tensor_name(name: str) -> str:
    """``op:index``. A bare op name means its first output, as TensorFlow's C++ Session
    (TF Serving) reads it; Python's graph lookups would refuse it."""
    return name if not name or ":" in name else f"{name}:0"


def signature_infos(meta_graph) -> dict[str, SignatureInfo]:
    return {
        key: SignatureInfo(
            key=key,
            method_name=sig.method_name,
            inputs={k: _tensor_info(k, v) for k, v in sorted(sig.inputs.items())},
            outputs={k: _tensor_info(k, v) for k, v in sorted(sig.outputs.items())},
        )
        for key, sig in sorted(meta_graph.signature_def.items())
        if not key.startswith(_INTERNAL_SIGNATURE_PREFIX)
    }


def default_signature_name(signatures: dict[str, SignatureInfo], requested: str | None) -> str:
    """``requested`` if it exists, else ``serving_default``, else the only signature."""
    if requested is not None:
        if requested not in signatures:
            raise invalid(
                f"Signature '{requested}' is not in this MetaGraph. "
                f"Available signatures: {sorted(signatures)}."
            )
        return requested
    if DEFAULT_SIGNATURE in signatures:
        return DEFAULT_SIGNATURE
    if len(signatures) == 1:
        return next(iter(signatures))
    if not signatures:
        raise invalid("This MetaGraph has no signatures: there is nothing to call.")
    raise invalid(
        f"This MetaGraph has no '{DEFAULT_SIGNATURE}' signature; pass signature_name= one of "
        f"{sorted(signatures)}."
    )


def inspect_saved_model(
    path: str | os.PathLike, meta_graph_tags: list[str] | None = None
) -> tuple[SavedModelInfo, Any]:
    """Locate, parse and describe a SavedModel; also returns the chosen MetaGraphDef."""
    export_dir = locate_saved_model(path)
    proto = read_saved_model(export_dir)
    meta_graph = select_meta_graph(proto, meta_graph_tags)
    info = SavedModelInfo(
        export_dir=export_dir,
        meta_graph_tags=list(meta_graph.meta_info_def.tags),
        tensorflow_version=meta_graph.meta_info_def.tensorflow_version or "unknown",
        signatures=signature_infos(meta_graph),
    )
    return info, meta_graph


def check_graph(meta_graph, signatures: dict[str, SignatureInfo]) -> None:
    """Refuse what would crash or fail deep inside TensorFlow: unknown ops, missing tensors."""
    from tensorflow.python.framework import op_def_registry

    graph_def = meta_graph.graph_def
    functions = {f.signature.name for f in graph_def.library.function}
    bodies = [n for f in graph_def.library.function for n in f.node_def]
    unknown = sorted(
        {
            n.op
            for n in [*graph_def.node, *bodies]
            if n.op not in functions and op_def_registry.get(n.op) is None
        }
    )
    if unknown:
        raise invalid(
            f"The graph uses op(s) {unknown} that this TensorFlow does not have (they may come "
            "from tf.contrib or a custom op library: load that library first, or re-export)."
        )
    nodes = {n.name: n for n in graph_def.node}
    for key, signature in signatures.items():
        for info in [*signature.inputs.values(), *signature.outputs.values()]:
            for tensor in [info.name] if info.name else info.components.values():
                name = tensor.split(":")[0]
                if name not in nodes:
                    raise invalid(
                        f"Signature '{key}' names tensor '{tensor}' ({info.key}), "
                        "which is not in the graph."
                    )
