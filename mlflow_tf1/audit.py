"""What a graph can do besides arithmetic, found before it ever runs.

A SavedModel is code: its graph can read and write files or call back into
Python. Loading runs the init op; predicting runs whatever a signature's
outputs depend on. Both are walked here on the protobuf alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlflow_tf1.metadata import SignatureInfo

# Op types whose effect reaches outside the tensors they are given.
UNSAFE_OPS = {
    # file system
    "ReadFile", "WriteFile", "MatchingFiles", "DeleteFile",
    "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice",
    "MergeV2Checkpoints", "ShardedFilename", "WholeFileReader", "WholeFileReaderV2",
    "TextLineReader", "TextLineReaderV2", "TFRecordReader", "TFRecordReaderV2",
    "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "LMDBReader",
    "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "ExperimentalCSVDataset", "CSVDatasetV2", "CSVDataset",
    "SaveDataset", "SaveDatasetV2", "LoadDataset", "SnapshotDataset", "SnapshotDatasetV2",
    "CreateSummaryFileWriter", "WriteSummary", "WriteScalarSummary", "DebugIdentityV2",
    # Python callbacks
    "PyFunc", "PyFuncStateless", "EagerPyFunc",
    # network / other processes
    "_Send", "_Recv", "Send", "Recv", "RemoteCall", "Rpc", "TryRpc",
}  # fmt: skip
INIT = "(load-time init op)"
# Ops that change state a later call can observe.
MUTATING_OPS = {
    "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
    "AssignSubVariableOp", "ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterNdUpdate",
    "ResourceScatterUpdate", "ResourceScatterAdd", "CountUpTo", "LookupTableInsertV2",
    "LookupTableRemoveV2", "QueueEnqueueV2", "QueueDequeueV2",
}  # fmt: skip


def audit(
    meta_graph, signatures: dict[str, SignatureInfo], init_op: str | None
) -> dict[str, list[str]]:
    """``{signature or INIT: sorted unsafe op types it can reach}``, only where non-empty."""
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    roots = {key: _output_nodes(sig) for key, sig in signatures.items()}
    if init_op is not None:
        roots[INIT] = [init_op]
    found = {}
    for key, names in roots.items():
        ops = _unsafe_ops(_reachable(names, nodes), nodes, functions)
        if ops:
            found[key] = sorted(ops)
    return found


def mutates_state(meta_graph, signature: SignatureInfo) -> bool:
    """Whether calling ``signature`` can change what later calls see."""
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    reached = _reachable(_output_nodes(signature), nodes)
    ops = _ops(reached, nodes, functions)
    return bool(ops & MUTATING_OPS)


def _output_nodes(signature: SignatureInfo) -> list[str]:
    names = []
    for info in signature.outputs.values():
        names.extend([info.name] if info.name else info.components.values())
    return names


def _node_name(tensor: str) -> str:
    return tensor.lstrip("^").split(":")[0]


def _reachable(tensors: Iterable[str], nodes: dict) -> set[str]:
    """Every node an output depends on, control dependencies included."""
    seen: set[str] = set()
    stack = [_node_name(t) for t in tensors]
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        stack.extend(_node_name(i) for i in nodes[name].input)
    return seen


def _unsafe_ops(reached: set[str], nodes: dict, functions: dict) -> set[str]:
    return _ops(reached, nodes, functions) & UNSAFE_OPS


def _ops(reached: set[str], nodes: dict, functions: dict) -> set[str]:
    """Op types of the reached nodes and of every function body they call."""
    ops: set[str] = set()
    pending = [nodes[n] for n in reached]
    visited_functions: set[str] = set()
    while pending:
        node = pending.pop()
        ops.add(node.op)
        # Calls into the function library (TF2 exports, Defun): audit the body too.
        called = [node.op] if node.op in functions else []
        for value in node.attr.values():  # f, body, cond, then_branch, ...
            called.extend([value.func.name] if value.HasField("func") else [])
            called.extend(f.name for f in value.list.func)
        for name in called:
            if name in functions and name not in visited_functions:
                visited_functions.add(name)
                pending.extend(functions[name].node_def)
    return ops


def describe(found: dict[str, list[str]]) -> str:
    return "; ".join(f"{key}: {', '.join(ops)}" for key, ops in sorted(found.items()))
