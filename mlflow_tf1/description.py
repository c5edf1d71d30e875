"""The model, described once: what every later step needs to know about each signature.

Built from the SavedModel's protobuf at save time (graph walks run once, here),
written to the ``tf1`` flavor of ``MLmodel``, and read back at load through
`from_config`. The runtime, the input routing, the CLI's reports and the
migration check all read this description instead of re-deriving it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import Any

from mlflow.exceptions import MlflowException

from mlflow_tf1.audit import IMAGE_DECODING_OPS, MUTATING_OPS, audit, signature_ops
from mlflow_tf1.errors import invalid
from mlflow_tf1.examples import ExampleParser, inspect_parser
from mlflow_tf1.graphs import node_name
from mlflow_tf1.metadata import (
    SavedModelInfo,
    SignatureInfo,
    TensorInfo,
    check_graph,
    default_signature_name,
)
from mlflow_tf1.readiness import RESTORE, refusals


@dataclass(frozen=True)
class SignatureDescription:
    """One signature: its tensors, how raw rows reach it, and whether calling it changes state.

    ``parser`` is set when raw tf.Example feature columns can be fed in place of
    the serialized protos; ``protos_only`` says why they can't when the input is
    parsed some other way. ``stateful`` signatures are never warmed up or replayed.
    ``refused`` says why the signature can never run here (found when it was
    logged); it is kept listed, never built, and names the reason when called.
    ``decodes_images``: the graph decodes image bytes, so generated string
    values must be images for a warm-up or check to run rather than be refused.
    """

    info: SignatureInfo
    parser: ExampleParser | None = None
    protos_only: str | None = None
    stateful: bool = False
    refused: str | None = None
    decodes_images: bool = False

    @property
    def key(self) -> str:
        return self.info.key

    def to_config(self, with_features: bool = True) -> dict[str, Any]:
        """``with_features``: the parse spec inline (reports); ``MLmodel`` keeps it per parser."""
        config = self.info.to_dict()
        config["stateful"] = self.stateful
        if self.parser is not None:
            config.update(self.parser.to_config())
            if with_features:
                config["example_features"] = self.parser.features_config()
        if self.protos_only is not None:
            config["raw_rows_refused"] = f"because {self.protos_only}"
        if self.refused is not None:
            config["refused"] = self.refused
        if self.decodes_images:
            config["decodes_images"] = True
        return config

    @classmethod
    def from_config(
        cls, key: str, config: dict[str, Any], parse_specs: dict[str, dict] | None = None
    ) -> SignatureDescription:
        """``parse_specs``: the features recorded per parser node (`ModelDescription.to_config`)."""
        info = SignatureInfo(
            key=key,
            method_name=config.get("method_name", ""),
            inputs=_tensors(config.get("inputs")),
            outputs=_tensors(config.get("outputs")),
        )
        refused = config.get("raw_rows_refused")
        return cls(
            info=info,
            parser=ExampleParser.from_config(config, _parse_spec(config, parse_specs or {})),
            protos_only=refused.removeprefix("because ") if refused else None,
            stateful=bool(config.get("stateful", False)),
            refused=config.get("refused"),
            decodes_images=bool(config.get("decodes_images", False)),
        )


def _parse_spec(config: dict[str, Any], parse_specs: dict[str, dict]) -> dict | None:
    parser = config.get("example_parser")
    return parse_specs.get(parser["node"]) if parser else None


def _tensors(config: dict[str, dict] | None) -> dict[str, TensorInfo]:
    return {k: TensorInfo.from_dict(k, v) for k, v in (config or {}).items()}


@dataclass(frozen=True)
class ModelDescription:
    """The chosen MetaGraph of a SavedModel: tags, signatures, the default one, the audit."""

    meta_graph_tags: list[str]
    default_signature: str | None
    signatures: dict[str, SignatureDescription]
    saved_with_tensorflow: str = "unknown"
    op_audit: dict[str, list[str]] = field(default_factory=dict)

    def signature(self, key: str | None) -> SignatureDescription:
        """``key`` (the default when None), or a refusal listing the signatures there are."""
        key = self.default_signature if key is None else key
        if key not in self.signatures:
            raise invalid(
                f"Unknown signature '{key}'. Available signatures: {sorted(self.signatures)}."
            )
        return self.signatures[key]

    @property
    def stateless(self) -> list[str]:
        return [k for k, s in self.signatures.items() if not s.stateful]

    @property
    def refused(self) -> dict[str, str]:
        return {k: s.refused for k, s in self.signatures.items() if s.refused is not None}

    def refusing(self, reasons: dict[str, str]) -> ModelDescription:
        """This description with more signatures refused; the default one never is."""
        if self.default_signature in reasons:
            usable = [k for k in self.signatures if k not in self.refused and k not in reasons]
            raise invalid(
                f"Signature '{self.default_signature}' can never run: "
                f"{reasons[self.default_signature].rstrip('.')}. {_choice(usable)}"
            )
        signatures = {
            k: replace(s, refused=reasons[k]) if k in reasons else s
            for k, s in self.signatures.items()
        }
        return replace(self, signatures=signatures)

    def to_config(self) -> dict[str, Any]:
        """The keys of the ``tf1`` flavor this description owns.

        Each parser node's spec is written once (``example_features``), not once
        per signature it feeds: an Estimator's four signatures share one, and
        MLflow parses ``MLmodel`` with pure-Python YAML at every load (taxi: 51
        against 24 ms).
        """
        parsers = {s.parser.node: s.parser for s in self.signatures.values() if s.parser}
        return {
            "meta_graph_tags": list(self.meta_graph_tags),
            "signature_name": self.default_signature,
            "signatures": {k: s.to_config(with_features=False) for k, s in self.signatures.items()},
            "example_features": {node: p.features_config() for node, p in parsers.items()},
            "saved_with_tensorflow": self.saved_with_tensorflow,
            "op_audit": dict(self.op_audit),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelDescription:
        return cls(
            meta_graph_tags=list(config["meta_graph_tags"]),
            default_signature=config["signature_name"],
            signatures={
                k: SignatureDescription.from_config(k, v, config.get("example_features"))
                for k, v in (config.get("signatures") or {}).items()
            },
            saved_with_tensorflow=config.get("saved_with_tensorflow", "unknown"),
            op_audit=config.get("op_audit") or {},
        )


def _with_graph_dtypes(info: SavedModelInfo, meta_graph) -> SavedModelInfo:
    """Inputs whose SignatureDef dtype contradicts their placeholder take the graph's.

    TF 1.0 exports declared tf.Example inputs as float32 while the placeholder
    is a string; TensorFlow runs the graph, so the graph is what to feed.
    """
    from tensorflow.python.framework import dtypes

    nodes = {n.name: n for n in meta_graph.graph_def.node}
    signatures = {}
    for key, signature in info.signatures.items():
        inputs = {}
        for name, t in signature.inputs.items():
            node = nodes.get(node_name(t.name)) if t.name else None
            if node is not None and node.op == "Placeholder" and "dtype" in node.attr:
                graph_dtype = dtypes.as_dtype(node.attr["dtype"].type).name
                if graph_dtype != t.dtype:
                    t = replace(t, dtype=graph_dtype)
            inputs[name] = t
        signatures[key] = replace(signature, inputs=inputs)
    return replace(info, signatures=signatures)


def describe(
    info: SavedModelInfo, meta_graph, signature_name: str | None = None, strict: bool = True
) -> ModelDescription:
    """Describe a parsed SavedModel: the one place the graph is walked.

    ``strict`` refuses what could not be logged: an unknown ``signature_name``
    or no way to pick a default, graphs that would fail deep inside TensorFlow
    (unknown ops, missing tensors), and models whose loading or default
    signature can never run here (`readiness`). ``inspect`` describes those too.
    Other signatures that can never run are kept, marked ``refused``.
    """
    default = None
    if strict:
        default = default_signature_name(info.signatures, signature_name)
        check_graph(meta_graph, info.signatures)
    else:
        with contextlib.suppress(MlflowException):
            default = default_signature_name(info.signatures, signature_name)
    info = _with_graph_dtypes(info, meta_graph)
    ops = signature_ops(meta_graph, info.signatures)
    refused = refusals(meta_graph, info.signatures)
    if strict:
        _refuse_unservable(refused, default, list(info.signatures))
    setup = refused.pop(RESTORE, None)
    signatures = {}
    for key, signature in info.signatures.items():
        found = inspect_parser(meta_graph, signature)
        signatures[key] = SignatureDescription(
            info=signature,
            parser=found if isinstance(found, ExampleParser) else None,
            protos_only=found if isinstance(found, str) else None,
            stateful=bool(ops[key] & MUTATING_OPS),
            refused=setup or refused.get(key),
            decodes_images=bool(ops[key] & IMAGE_DECODING_OPS),
        )
    return ModelDescription(
        meta_graph_tags=info.meta_graph_tags,
        default_signature=default,
        signatures=signatures,
        saved_with_tensorflow=info.tensorflow_version,
        op_audit=audit(meta_graph, info.signatures),
    )


def _refuse_unservable(refused: dict[str, str], default: str | None, keys: list[str]) -> None:
    """A model is logged only when it loads and its default signature runs."""
    if RESTORE in refused:
        raise invalid(f"This model can't be loaded by this TensorFlow: {refused[RESTORE]}.")
    if default in refused:
        usable = [k for k in keys if k not in refused]
        reason = refused[default].rstrip(".")
        raise invalid(f"Signature '{default}' can never run: {reason}. {_choice(usable)}")


def _choice(usable: list[str]) -> str:
    if not usable:
        return "No signature of this model can run here."
    return f"Signatures that can run: {usable}; pass signature_name= to make one the default."
