"""Walks over a MetaGraph's GraphDef, on the protobuf alone (nothing runs).

The audit, the stateful-signature check, the tf.Example parser search and the
reference-variable rewrite all ask the same questions of a graph: which nodes
an output depends on, which ops those are (inside called functions too), who
consumes a tensor, and which op initializes tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

# TF1 reference variables: TF2 functions cannot capture them by name.
REF_VARIABLE_OPS = frozenset({"Variable", "VariableV2", "AutoReloadVariable"})
VARIABLE_OPS = REF_VARIABLE_OPS | {"VarHandleOp"}


def node_name(tensor: str) -> str:
    """``"^scope/op:1"`` -> ``"scope/op"``."""
    return tensor.lstrip("^").split(":")[0]


def reachable(tensors: Iterable[str], nodes: dict, fed: Iterable[str] = ()) -> set[str]:
    """Every node the given tensors depend on, control dependencies included.

    ``fed`` tensors are given a value by the caller, so what they depend on is not reached.
    """
    seen: set[str] = set()
    stop = {node_name(t) for t in fed}
    stack = [node_name(t) for t in tensors]
    while stack:
        name = stack.pop()
        if name in seen or name in stop or name not in nodes:
            continue
        seen.add(name)
        stack.extend(node_name(i) for i in nodes[name].input)
    return seen


def ops_of(reached: Iterable[str], nodes: dict, functions: dict) -> set[str]:
    """Op types of the reached nodes and of every function body they call."""
    return {node.op for node in nodes_of(reached, nodes, functions)}


def nodes_of(reached: Iterable[str], nodes: dict, functions: dict) -> Iterator:
    """The reached NodeDefs and those of every function body they call."""
    pending = [nodes[n] for n in reached]
    visited: set[str] = set()
    while pending:
        node = pending.pop()
        yield node
        # Calls into the function library (TF2 exports, Defun): their bodies count too.
        called = [node.op] if node.op in functions else []
        for value in node.attr.values():  # f, body, cond, then_branch, ...
            called.extend([value.func.name] if value.HasField("func") else [])
            called.extend(f.name for f in value.list.func)
        for name in called:
            if name in functions and name not in visited:
                visited.add(name)
                pending.extend(functions[name].node_def)


def consumers(graph_def) -> dict[str, list[str]]:
    """Node name -> the nodes reading one of its outputs (data edges only)."""
    result: dict[str, list[str]] = {}
    for node in graph_def.node:
        for name in node.input:
            if not name.startswith("^"):
                result.setdefault(node_name(name), []).append(node.name)
    return result


def op_types(graph_def) -> set[str]:
    """Every op type the graph uses, its functions' bodies included."""
    ops = {n.op for n in graph_def.node}
    ops.update(n.op for f in graph_def.library.function for n in f.node_def)
    return ops


def has_variables(graph_def) -> bool:
    return any(node.op in VARIABLE_OPS for node in graph_def.node)


def has_reference_variables(graph_def) -> bool:
    return any(node.op in REF_VARIABLE_OPS for node in graph_def.node)


def init_op_name(meta_graph) -> str | None:
    """The op that initializes tables and local state, wherever this TF wrote it."""
    init = meta_graph.signature_def.get("__saved_model_init_op")
    if init is not None:
        return init.outputs["__saved_model_init_op"].name
    for collection in ("saved_model_main_op", "legacy_init_op"):
        nodes = meta_graph.collection_def.get(collection)
        if nodes is not None and nodes.node_list.value:
            return nodes.node_list.value[0]
    return None
