"""Reference variables (``VariableV2``) rewritten as resource variables, for TF2's loader.

TF2's loader (``tf.saved_model.load``) turns a TF1 graph's resource variables
into TF2 objects, but leaves reference variables (most TF1 exports,
``half_plus_two`` included) inside the functions, untracked: saving that
object writes a model whose variables are never restored. So reference
variables the graph only reads (and assigns when initializing or restoring)
are rewritten to resource variables, restored from the same checkpoint.
Graphs whose kept parts update them otherwise (``AssignAdd``, optimizer ops,
``tf.cond`` on a variable) are refused; unused training ops are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlflow_tf1.errors import invalid
from mlflow_tf1.graphs import REF_VARIABLE_OPS, consumers, node_name, reachable
from mlflow_tf1.pruning import (
    VARIABLE_COLLECTIONS,
    dependents,
    drop_from_node_lists,
    roots,
    signature_tensors,
)

_INTERNAL_SIGNATURE_PREFIX = "__saved_model"
_REFUSAL_ADVICE = (
    "Re-export the model from TF1 code with resource variables "
    "(tf.compat.v1.enable_resource_variables() before building the graph), or keep "
    "serving it as it is: mlflow.pyfunc and TF Serving run TF1 SavedModels unchanged "
    "(mlflow_tf1.export_serving)."
)


def lift_reference_variables(meta_graph, keys: list[str]):
    """A copy of ``meta_graph`` for TF2's loader: ``keys`` only, reference variables lifted.

    Nodes only the other signatures use are dropped, so a part TF2 cannot
    import never blocks the signatures asked for. Reads of a reference variable
    go through one ``ReadVariableOp``; ``Assign`` becomes ``AssignVariableOp``
    and ``IsVariableInitialized`` ``VarIsInitializedOp``. Any other use of a
    reference (optimizer updates, ``AssignAdd``, a ``tf.cond`` on a variable)
    is dropped with its dependents when nothing kept needs it, and refused otherwise.
    """
    from tensorflow.core.protobuf import meta_graph_pb2

    reduced = meta_graph_pb2.MetaGraphDef()
    reduced.CopyFrom(meta_graph)
    graph_def = reduced.graph_def
    nodes = {n.name: n for n in graph_def.node}
    others = [k for k in reduced.signature_def if k not in keys and not _internal(k)]
    needed = reachable(roots(reduced, keys), nodes)
    unused = reachable(signature_tensors(reduced, others), nodes) - needed
    for key in others:
        del reduced.signature_def[key]
    refs = {n.name: n for n in graph_def.node if n.op in REF_VARIABLE_OPS}
    readers = consumers(graph_def)
    named = {node_name(t) for t in signature_tensors(meta_graph, meta_graph.signature_def)}
    blocking = {
        user
        for name in refs
        for user in readers.get(name, [])
        if not _convertible(nodes[user], refs, readers, named)
    }
    if stuck := blocking & needed:
        raise invalid(_stuck_message(reduced, keys, stuck, nodes))
    dropped = dependents(blocking | unused, graph_def)
    reads = {name: _unique(f"{name}/lifted_read", nodes) for name in refs if name not in dropped}
    kept = [n for n in graph_def.node if n.name not in dropped]
    del graph_def.node[:]
    graph_def.node.extend(_rewritten(node, refs, reads) for node in kept)
    graph_def.node.extend(_read_node(refs[name], read) for name, read in reads.items())
    _rewrite_collections(reduced, dropped, reads)
    _rewrite_signatures(reduced, reads)
    return reduced


def _stuck_message(meta_graph, keys: list[str], stuck: set[str], nodes: dict) -> str:
    """Which signatures (or the init and restore ops) update reference variables, and how."""
    culprits = [k for k in keys if reachable(signature_tensors(meta_graph, [k]), nodes) & stuck]
    ops = sorted({nodes[n].op for n in stuck})
    where = f"Signature(s) {culprits}" if culprits else "The model's init or restore ops"
    others = [k for k in keys if k not in culprits]
    advice = f"Export the others (signatures={others}), or r" if culprits and others else "R"
    return (
        f"{where} update reference variables (VariableV2) with {ops} ops, which TF2 cannot "
        f"turn into resource variables. {advice}{_REFUSAL_ADVICE[1:]}"
    )


def _internal(key: str) -> bool:
    return key.startswith(_INTERNAL_SIGNATURE_PREFIX)


def _convertible(node, refs: dict, consumers: dict[str, list[str]], named: set[str]) -> bool:
    """Whether ``node``'s use of a reference variable has a resource-variable equivalent.

    ``named``: the nodes some signature names as an input or output.
    """
    from tensorflow.python.framework import op_def_registry

    if node.op == "Assign":  # AssignVariableOp has no output to feed anything or return
        used = consumers.get(node.name) or node.name in named
        return node_name(node.input[0]) in refs and not used
    if node.op == "IsVariableInitialized":
        return True
    op_def = op_def_registry.get(node.op)
    return op_def is None or not any(arg.is_ref for arg in op_def.input_arg)


def _unique(name: str, nodes: dict) -> str:
    candidate, i = name, 0
    while candidate in nodes:
        i += 1
        candidate = f"{name}_{i}"
    return candidate


def _rewritten(node, refs: dict, reads: dict[str, str]):
    """``node`` with its uses of reference variables turned into resource-variable ones."""
    from tensorflow.core.framework import node_def_pb2

    if node.name in refs:
        handle = node_def_pb2.NodeDef(name=node.name, op="VarHandleOp", device=node.device)
        for attr in ("dtype", "shape", "container", "_class"):
            if attr in node.attr:
                handle.attr[attr].CopyFrom(node.attr[attr])
        handle.attr["shared_name"].s = node.attr["shared_name"].s or node.name.encode()
        return handle
    converted = {"Assign": "AssignVariableOp", "IsVariableInitialized": "VarIsInitializedOp"}
    if node.op in converted and node_name(node.input[0]) in refs:
        new = node_def_pb2.NodeDef(name=node.name, op=converted[node.op], device=node.device)
        new.input.append(node_name(node.input[0]))
        new.input.extend(_read_inputs(node.input[1:], reads))
        if node.op == "Assign":
            new.attr["dtype"].CopyFrom(node.attr["T"])
        if "_class" in node.attr:
            new.attr["_class"].CopyFrom(node.attr["_class"])
        return new
    new = node_def_pb2.NodeDef()
    new.CopyFrom(node)
    del new.input[:]
    new.input.extend(_read_inputs(node.input, reads))
    return new


def _read_inputs(inputs: Iterable[str], reads: dict[str, str]) -> list[str]:
    """Data inputs from a reference variable, read from its ``ReadVariableOp`` instead."""
    return [
        f"{reads[node_name(t)]}:0" if not t.startswith("^") and node_name(t) in reads else t
        for t in inputs
    ]


def _read_node(variable, name: str):
    from tensorflow.core.framework import node_def_pb2

    read = node_def_pb2.NodeDef(name=name, op="ReadVariableOp", device=variable.device)
    read.input.append(variable.name)
    read.attr["dtype"].CopyFrom(variable.attr["dtype"])
    return read


def _rewrite_collections(meta_graph, dropped: set[str], reads: dict[str, str]) -> None:
    """Drop removed nodes from node lists; mark lifted variables as resource ones."""
    drop_from_node_lists(meta_graph, dropped)
    for key, collection in meta_graph.collection_def.items():
        if key in VARIABLE_COLLECTIONS and collection.HasField("bytes_list"):
            values = list(collection.bytes_list.value)
            del collection.bytes_list.value[:]
            collection.bytes_list.value.extend(_resource_variable_def(v, reads) for v in values)


def _resource_variable_def(raw: bytes, reads: dict[str, str]) -> bytes:
    from tensorflow.core.framework import variable_pb2

    variable = variable_pb2.VariableDef.FromString(raw)
    name = node_name(variable.variable_name)
    if name in reads:
        variable.is_resource = True
        variable.snapshot_name = f"{reads[name]}:0"
    return variable.SerializeToString()


def _rewrite_signatures(meta_graph, reads: dict[str, str]) -> None:
    """Signature tensors naming a variable itself (``DT_FLOAT_REF``) read it instead."""
    from tensorflow.python.framework import dtypes

    for signature in meta_graph.signature_def.values():
        for info in [*signature.inputs.values(), *signature.outputs.values()]:
            if info.name and node_name(info.name) in reads:
                info.name = f"{reads[node_name(info.name)]}:0"
                info.dtype = dtypes.as_dtype(info.dtype).base_dtype.as_datatype_enum
