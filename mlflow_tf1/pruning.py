"""A MetaGraph reduced to some of its signatures.

Nodes only the other signatures use are dropped, with everything that uses
them, so a part this TensorFlow cannot place or convert (an op without a
kernel, a reference-variable update) never blocks the signatures kept.
Variables, tables, the init and restore ops are always kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlflow_tf1.graphs import init_op_name, node_name, reachable

VARIABLE_COLLECTIONS = (
    "variables",
    "local_variables",
    "trainable_variables",
    "model_variables",
    "metric_variables",
    "moving_average_variables",
)


def signature_tensors(meta_graph, keys: Iterable[str]) -> list[str]:
    names = []
    for key in keys:
        signature = meta_graph.signature_def[key]
        for info in [*signature.inputs.values(), *signature.outputs.values()]:
            sparse = info.coo_sparse
            names += [info.name, sparse.indices_tensor_name, sparse.values_tensor_name]
            names.append(sparse.dense_shape_tensor_name)
    return [n for n in names if n]


def roots(meta_graph, keys: list[str]) -> list[str]:
    """What the TF2 model runs: the kept signatures, init, restore and variable initializers."""
    from tensorflow.core.framework import variable_pb2

    roots = signature_tensors(meta_graph, keys)
    saver = meta_graph.saver_def
    roots += [saver.restore_op_name, saver.save_tensor_name, saver.filename_tensor_name]
    roots += [init_op_name(meta_graph) or ""]
    roots += [a.tensor_info.name for a in meta_graph.asset_file_def]
    for key in (*VARIABLE_COLLECTIONS, "table_initializer"):
        collection = meta_graph.collection_def.get(key)
        if collection is None:
            continue
        roots += list(collection.node_list.value)
        for raw in collection.bytes_list.value:
            variable = variable_pb2.VariableDef.FromString(raw)
            roots += [variable.variable_name, variable.initializer_name, variable.snapshot_name]
    return [r for r in roots if r]


def dependents(start: set[str], graph_def) -> set[str]:
    """``start`` and every node that uses them, directly or not (data or control)."""
    users: dict[str, list[str]] = {}
    for node in graph_def.node:
        for tensor in node.input:
            users.setdefault(node_name(tensor), []).append(node.name)
    found, stack = set(), list(start)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(users.get(name, []))
    return found


def without_signatures(meta_graph, dropped_keys: Iterable[str]):
    """A copy of ``meta_graph`` without ``dropped_keys`` and the nodes only they need."""
    from tensorflow.core.protobuf import meta_graph_pb2

    reduced = meta_graph_pb2.MetaGraphDef()
    reduced.CopyFrom(meta_graph)
    dropped_keys = [k for k in dropped_keys if k in reduced.signature_def]
    kept = [k for k in reduced.signature_def if k not in dropped_keys]
    graph_def = reduced.graph_def
    nodes = {n.name: n for n in graph_def.node}
    needed = reachable(roots(reduced, kept), nodes)
    unused = reachable(signature_tensors(reduced, dropped_keys), nodes) - needed
    dropped = dependents(unused, graph_def)
    for key in dropped_keys:
        del reduced.signature_def[key]
    kept_nodes = [n for n in graph_def.node if n.name not in dropped]
    del graph_def.node[:]
    graph_def.node.extend(kept_nodes)
    drop_from_node_lists(reduced, dropped)
    return reduced


def drop_from_node_lists(meta_graph, dropped: set[str]) -> None:
    """Collections may name removed nodes (summaries, queue runners): those names go too."""
    for collection in meta_graph.collection_def.values():
        if collection.HasField("node_list"):
            names = [n for n in collection.node_list.value if node_name(n) not in dropped]
            del collection.node_list.value[:]
            collection.node_list.value.extend(names)
