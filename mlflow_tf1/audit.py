"""What a graph can do besides arithmetic, found before it ever runs.

A SavedModel is code: its graph can read and write files or call back into
Python. Loading runs the init op; predicting runs whatever a signature's
outputs depend on. Both are walked here on the protobuf alone.
"""

from __future__ import annotations

from mlflow_tf1.graphs import init_op_name, ops_of, reachable
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
# Each of these also decodes a JPEG, the format generated image values take.
IMAGE_DECODING_OPS = {"DecodeJpeg", "DecodeAndCropJpeg", "DecodePng", "DecodeImage", "DecodeGif"}
# Ops that change state a later call can observe.
MUTATING_OPS = {
    "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
    "AssignSubVariableOp", "ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterNdUpdate",
    "ResourceScatterUpdate", "ResourceScatterAdd", "CountUpTo", "LookupTableInsertV2",
    "LookupTableRemoveV2", "QueueEnqueueV2", "QueueDequeueV2",
}  # fmt: skip


def audit(meta_graph, signatures: dict[str, SignatureInfo]) -> dict[str, list[str]]:
    """``{signature or INIT: sorted unsafe op types it can reach}``, only where non-empty."""
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    roots = {key: output_tensors(sig) for key, sig in signatures.items()}
    init_op = init_op_name(meta_graph)
    if init_op is not None:
        roots[INIT] = [init_op]
    found = {}
    for key, names in roots.items():
        ops = ops_of(reachable(names, nodes), nodes, functions) & UNSAFE_OPS
        if ops:
            found[key] = sorted(ops)
    return found


def stateful_signatures(meta_graph, signatures: dict[str, SignatureInfo]) -> set[str]:
    """The signatures whose call can change what later calls see (a counter's increment)."""
    return {k for k, ops in signature_ops(meta_graph, signatures).items() if ops & MUTATING_OPS}


def signature_ops(meta_graph, signatures: dict[str, SignatureInfo]) -> dict[str, set[str]]:
    """``{signature: every op type its outputs depend on}``, function bodies included."""
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    return {
        key: ops_of(reachable(output_tensors(sig), nodes), nodes, functions)
        for key, sig in signatures.items()
    }


def output_tensors(signature: SignatureInfo) -> list[str]:
    names = []
    for info in signature.outputs.values():
        names.extend([info.name] if info.name else info.components.values())
    return names


def describe(found: dict[str, list[str]]) -> str:
    return "; ".join(f"{key}: {', '.join(ops)}" for key, ops in sorted(found.items()))
