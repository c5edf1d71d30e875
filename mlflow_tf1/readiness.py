"""Why a signature could never run here, found on the protobuf before anything is restored.

Two classes of graph load fine and then fail on every call, with an error
that blames the wrong thing: outputs that need a placeholder the signature
doesn't feed ("You must feed a value for placeholder", read as the caller's
fault), and ops this TensorFlow build has no kernel for (removed since, or
built only for another device), which surface as a checkpoint "mismatch"
when the restore needs them. Both are named here, per signature.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from mlflow_tf1.audit import output_tensors
from mlflow_tf1.graphs import init_op_name, node_name, nodes_of, reachable
from mlflow_tf1.metadata import SignatureInfo

# Op families whose kernels TensorFlow dropped while keeping the op: where to run them.
_REMOVED_KERNELS = {
    "BoostedTrees": "TensorFlow 2.16 dropped the kernels of tf.estimator's boosted trees "
    "(the last release with them is 2.15)",
}
RESTORE = "(variable restore and init op)"


def refusals(meta_graph, signatures: dict[str, SignatureInfo]) -> dict[str, str]:
    """``{signature or RESTORE: why it can never run on this host}``, only where it can't."""
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    devices = _device_types()
    checked: dict[int, bool] = {}  # id(NodeDef) -> has a kernel; signatures share nodes
    found = {}
    setup = _setup_roots(meta_graph)
    missing = _missing_kernels(reachable(setup, nodes), nodes, functions, devices, checked)
    if missing:
        found[RESTORE] = f"loading it needs {missing}"
    for key, signature in signatures.items():
        reasons = []
        fed = _input_tensors(signature)
        reached = reachable(output_tensors(signature), nodes, fed)
        unfed = sorted(n for n in reached if nodes[n].op == "Placeholder")
        if unfed:
            reasons.append(
                f"its outputs need placeholder(s) {unfed}, which are not among its inputs "
                f"{sorted(signature.inputs)}, so TensorFlow cannot run it (re-export with them "
                "as signature inputs, or as tf.compat.v1.placeholder_with_default)"
            )
        missing = _missing_kernels(reached, nodes, functions, devices, checked)
        if missing:
            reasons.append(f"it needs {missing}")
        if reasons:
            found[key] = "; ".join(reasons)
    return found


def _input_tensors(signature: SignatureInfo) -> list[str]:
    names = []
    for info in signature.inputs.values():
        names.extend([info.name] if info.name else info.components.values())
    return names


def _setup_roots(meta_graph) -> list[str]:
    """What loading runs: the saver's restore op and the init op (or the table initializers)."""
    roots = []
    if meta_graph.HasField("saver_def") and meta_graph.saver_def.restore_op_name:
        roots.append(meta_graph.saver_def.restore_op_name)
    init = init_op_name(meta_graph)
    if init is not None:
        roots.append(init)
    else:
        tables = meta_graph.collection_def.get("table_initializer")
        roots.extend(tables.node_list.value if tables is not None else [])
    return roots


def _missing_kernels(
    reached: Iterable[str],
    nodes: dict,
    functions: dict,
    devices: tuple[str, ...],
    checked: dict[int, bool],
) -> str:
    """'op(s) X (node 'a', ...) that ... has no kernel for', or '' when every node has one."""
    from tensorflow import __version__

    lacking: dict[str, list[str]] = {}
    for node in nodes_of(reached, nodes, functions):
        if id(node) not in checked:
            checked[id(node)] = node.op in functions or _has_kernel(node, devices)
        if not checked[id(node)]:
            lacking.setdefault(node.op, []).append(node.name)
    if not lacking:
        return ""
    parts, notes = [], []
    for op, names in sorted(lacking.items()):
        shown = ", ".join(f"'{node_name(n)}'" for n in sorted(names)[:3])
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        parts.append(f"{op} (node {shown}{more})")
        note = _elsewhere(op, devices)
        if note and note not in notes:
            notes.append(note)
    hosts = [d for d in devices if d != "DEFAULT"]
    why = f": {'; '.join(notes)}" if notes else ""
    return (
        f"op(s) {', '.join(parts)} that this TensorFlow ({__version__}, on {'/'.join(hosts)}) "
        f"has no kernel for{why}"
    )


def _elsewhere(op: str, devices: tuple[str, ...]) -> str:
    """Where a kernel-less op would run, when that is knowable."""
    for prefix, history in _REMOVED_KERNELS.items():
        if op.startswith(prefix):
            return history
    others = sorted({k.device_type for k in _kernels(op)} - set(devices))
    return f"{op} has kernels only for {others}" if others else ""


def _has_kernel(node, devices: tuple[str, ...]) -> bool:
    types = tuple(
        sorted(
            (name, (value.type,) if value.WhichOneof("value") == "type" else tuple(value.list.type))
            for name, value in node.attr.items()
            if value.WhichOneof("value") == "type" or value.list.type
        )
    )
    return _kernel_for(node.op, types, devices)


@functools.cache
def _kernel_for(op: str, types: tuple, devices: tuple[str, ...]) -> bool:
    """Whether a kernel on one of ``devices`` accepts these type attributes."""
    given = dict(types)
    return any(
        kernel.device_type in devices
        and all(
            not c.allowed_values.list.type
            or c.name not in given
            or set(given[c.name]) <= set(c.allowed_values.list.type)
            for c in kernel.constraint
        )
        for kernel in _kernels(op)
    )


@functools.cache
def _kernels(op: str) -> tuple:
    from tensorflow.python.framework import kernels

    return tuple(kernels.get_registered_kernels_for_op(op).kernel)


@functools.cache
def _device_types() -> tuple[str, ...]:
    """The devices a Session with soft placement may put an op on here."""
    import tensorflow as tf

    present = {d.device_type for d in tf.config.list_physical_devices()}
    # DEFAULT kernels (NoOp, Identity on host memory, ...) run on every device.
    return tuple(sorted({"CPU", "DEFAULT", *present}))
