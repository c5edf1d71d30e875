"""tf.Example signatures: the feature spec from the parser node, raw columns in.

Estimator exports take serialized ``tf.Example`` protos and parse them with a
``ParseExample``/``ParseExampleV2`` node. Users hold raw rows. Building protos
row by row in Python costs many times the model itself, so when the serialized
input feeds nothing but the parser, raw columns are fed straight to the
parser's outputs (dense values, sparse COO parts): the same tensors the parser
would produce, without serializing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from mlflow_tf1.graphs import consumers
from mlflow_tf1.metadata import SignatureInfo, TensorInfo

_PARSERS = {"ParseExample", "ParseExampleV2"}
_OTHER_PARSERS = {
    "ParseSingleExample",
    "ParseSequenceExample",
    "ParseSequenceExampleV2",
    "ParseSingleSequenceExample",
}
_PASS_THROUGH = {"Identity", "Reshape"}


@dataclass(frozen=True)
class ExampleParser:
    """Where a signature's serialized input is parsed, and into which features.

    ``features`` are TensorInfos named after the parser's outputs, so the
    runtime can feed them; a dense feature's ``default`` is None when required,
    a var-len (sparse) feature's is ``[]``.
    """

    input_key: str
    node: str
    features: dict[str, TensorInfo]
    direct: bool  # the serialized input feeds only the parser: features can be fed

    def feature_signature(self, signature: SignatureInfo) -> SignatureInfo:
        return SignatureInfo(
            key=signature.key,
            method_name=signature.method_name,
            inputs=self.features,
            outputs=signature.outputs,
        )

    def parse_signature(self, signature: SignatureInfo) -> SignatureInfo:
        """The parser alone: serialized protos in, the parsed features out."""
        return SignatureInfo(
            key=signature.key,
            method_name=signature.method_name,
            inputs={self.input_key: signature.inputs[self.input_key]},
            outputs=self.features,
        )

    def to_config(self) -> dict[str, Any]:
        """As a signature records it in ``MLmodel``: its input and the parser node."""
        return {
            "example_input": self.input_key,
            "example_parser": {"node": self.node, "direct": self.direct},
        }

    def features_config(self) -> dict[str, Any]:
        """The parse spec, as recorded once per parser node: each feature's spec and tensor."""
        return {
            key: {
                "dtype": t.dtype,
                "kind": _kind(t),
                **(
                    {"shape": list(t.shape[1:]), "default": t.default, "name": t.name}
                    if t.encoding == "dense"
                    else {"components": dict(t.components)}
                ),
            }
            for key, t in self.features.items()
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], features: dict[str, Any] | None = None
    ) -> ExampleParser | None:
        """The parser `to_config` recorded, or None for a signature without one.

        ``features``: the parse spec recorded for its node; older ``MLmodel``
        files kept it in each signature, as ``example_features``.
        """
        parser = config.get("example_parser")
        if parser is None:
            return None
        parsed = {}
        for key, f in (features or config["example_features"]).items():
            if f["kind"] == "var_len":
                shape, default, encoding = (-1, -1), [], "coo_sparse"
            else:
                shape, default, encoding = (-1, *f["shape"]), f.get("default"), "dense"
            parsed[key] = TensorInfo.from_dict(
                key,
                {
                    "dtype": f["dtype"],
                    "shape": shape,
                    "encoding": encoding,
                    "default": default,
                    "name": f.get("name"),
                    "components": f.get("components"),
                },
                feature=True,
            )
        return cls(config["example_input"], parser["node"], parsed, bool(parser["direct"]))


def _kind(feature: TensorInfo) -> str:
    if feature.encoding == "coo_sparse":
        return "var_len"
    return "sequence" if is_sequence(feature) else "fixed_len"


def inspect_parser(meta_graph, signature: SignatureInfo) -> ExampleParser | str | None:
    """The example parser behind a one-string-input signature; or, when its
    serialized input is parsed in a way raw columns can't feed, why not; else None."""
    if len(signature.inputs) != 1:
        return None
    (info,) = signature.inputs.values()
    if info.dtype != "string" or info.name is None:
        return None
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    readers = consumers(meta_graph.graph_def)
    source = info.name.split(":")[0]
    reached, frontier = set(), [source]
    while frontier:
        name = frontier.pop()
        for consumer in readers.get(name, []):
            if consumer not in reached:
                reached.add(consumer)
                if nodes[consumer].op in _PASS_THROUGH:
                    frontier.append(consumer)
    parsers = [nodes[n] for n in reached if nodes[n].op in _PARSERS | _OTHER_PARSERS]
    if not parsers:
        return None
    if len(parsers) > 1:
        return f"it feeds {len(parsers)} parse nodes"
    parser = parsers[0]
    problem = _unsupported(parser)
    if problem is not None:
        return problem
    features = _features(parser, nodes)
    if features is None:
        return f"the feature keys of {parser.name} are not constants"
    others = [n for n in reached if n != parser.name and nodes[n].op not in _PASS_THROUGH]
    if others and any(is_sequence(t) for t in features.values()):
        return "it has sequence features and its input is also read beyond the parser"
    return ExampleParser(info.key, parser.name, features, direct=not others)


def is_sequence(feature: TensorInfo) -> bool:
    """A FixedLenSequenceFeature: any number of values per row, padded by the parser."""
    return (
        feature.feature
        and feature.encoding == "dense"
        and feature.shape is not None
        and feature.shape[1:2] == (-1,)
    )


def _unsupported(parser) -> str | None:
    if parser.op not in _PARSERS:
        return f"it is parsed by a {parser.op} node"
    problems = []
    if parser.op == "ParseExampleV2" and parser.attr["ragged_value_types"].list.type:
        problems.append("ragged features (tf.io.RaggedFeature)")
    shapes = parser.attr["dense_shapes"].list.shape
    if any(d.size == -1 for shape in shapes for d in list(shape.dim)[1:]):
        problems.append("dense features of unknown inner shape")
    return f"it has {' and '.join(problems)}" if problems else None


def _const(nodes, name: str) -> np.ndarray | None:
    """The constant behind ``name``, through Identity/Reshape (folded by hand)."""
    node = nodes.get(name.split(":")[0].lstrip("^"))
    while node is not None and node.op in _PASS_THROUGH:
        node = nodes.get(node.input[0].split(":")[0])
    if node is None or node.op != "Const":
        return None
    return tf.make_ndarray(node.attr["value"].tensor)


def _keys(nodes, names: list[str]) -> list[str] | None:
    values = [_const(nodes, n) for n in names]
    if any(v is None for v in values):
        return None
    return [k.decode() for v in values for k in np.atleast_1d(v)]


def _features(parser, nodes) -> dict[str, TensorInfo] | None:
    attr = parser.attr
    inputs = list(parser.input)
    sparse_types = [tf.as_dtype(t).name for t in attr["sparse_types"].list.type]
    dense_types = [tf.as_dtype(t).name for t in attr["Tdense"].list.type]
    dense_shapes = [tuple(d.size for d in s.dim) for s in attr["dense_shapes"].list.shape]
    n_sparse, n_dense = len(sparse_types), len(dense_types)
    if parser.op == "ParseExample":
        sparse_keys = _keys(nodes, inputs[2 : 2 + n_sparse])
        dense_keys = _keys(nodes, inputs[2 + n_sparse : 2 + n_sparse + n_dense])
        defaults = inputs[2 + n_sparse + n_dense :]
    else:
        sparse_keys, dense_keys = _keys(nodes, [inputs[2]]), _keys(nodes, [inputs[3]])
        defaults = inputs[5:]
    if sparse_keys is None or dense_keys is None:
        return None
    features: dict[str, TensorInfo] = {}
    for i, (key, dtype) in enumerate(zip(sparse_keys, sparse_types, strict=True)):
        parts = ("indices", "values", "dense_shape")
        names = {p: f"{parser.name}:{i + j * n_sparse}" for j, p in enumerate(parts)}
        features[key] = TensorInfo(
            key, dtype, (-1, -1), encoding="coo_sparse", components=names, default=[], feature=True
        )
    for i, (key, dtype, shape) in enumerate(
        zip(dense_keys, dense_types, dense_shapes, strict=True)
    ):
        default = _const(nodes, defaults[i])
        default = None if default is None or default.size == 0 else _plain(default, dtype)
        if shape[:1] == (-1,):
            # FixedLenSequenceFeature: rows padded to the longest with this value (or zero).
            default = default or ["" if dtype == "string" else 0]
        features[key] = TensorInfo(
            key,
            dtype,
            (-1, *shape),
            name=f"{parser.name}:{3 * n_sparse + i}",
            default=default,
            feature=True,
        )
    return features


def _plain(value: np.ndarray, dtype: str) -> list:
    flat = value.reshape(-1).tolist()
    return [v.decode() if isinstance(v, bytes) else v for v in flat] if dtype == "string" else flat


def serialize(feeds: dict, features: dict[str, TensorInfo]) -> np.ndarray:
    """tf.Example protos from converted feature feeds, row by row.

    The slow path, for graphs that read the serialized input beyond the parser.
    """
    rows = _rows(feeds, features)
    examples = [tf.train.Example() for _ in range(rows)]
    for key, info in features.items():
        value = feeds[key]
        if info.encoding == "coo_sparse":
            per_row = [[] for _ in range(rows)]
            for (row, _), v in zip(value.indices, value.values, strict=True):
                per_row[row].append(v)
        else:
            per_row = [np.reshape(v, -1).tolist() for v in value]
        for example, values in zip(examples, per_row, strict=True):
            if len(values):
                _fill(example.features.feature[key], info.dtype, values)
    return np.array([e.SerializeToString() for e in examples], dtype=object)


def _rows(feeds: dict, features: dict[str, TensorInfo]) -> int:
    for key, info in features.items():
        value = feeds[key]
        return int(value.dense_shape[0]) if info.encoding == "coo_sparse" else len(value)
    return 0


def _fill(feature, dtype: str, values: list) -> None:
    if dtype == "string":
        feature.bytes_list.value.extend(values)
    elif dtype == "int64":
        feature.int64_list.value.extend(int(v) for v in values)
    else:
        feature.float_list.value.extend(float(v) for v in values)
