"""One signature as an ONNX model run by onnxruntime, and the check that it answers as TF does.

For plain dense graphs onnxruntime is many times faster per call than a
``Session`` (measured, half_plus_two batch 1: about 10 µs against 260 µs for a
raw ``Session.run``), but ``tf2onnx``
converts only part of what TF1 graphs contain (not ParseExample, lookup tables,
text ops on this host...), and a converted graph may round differently. So a
signature is converted alone, frozen from a Session and cut at its own feeds
(a tf.Example signature at its parser's outputs), any failure is a reason
instead of a traceback, and `verify` compares both backends on the same
batches before anything chooses ONNX.

``tf2onnx`` is needed only to convert (at log time); ``onnxruntime`` to run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from mlflow.exceptions import MlflowException

from mlflow_tf1.audit import stateful_signatures
from mlflow_tf1.casting import cast, numpy_dtype
from mlflow_tf1.errors import first_line, invalid
from mlflow_tf1.graphs import node_name
from mlflow_tf1.metadata import SignatureInfo, signature_infos
from mlflow_tf1.quiet import quiet_tensorflow
from mlflow_tf1.runtime import Signature

# Tried in this order, each only where this onnxruntime build has it. CUDA first
# where installed (onnxruntime-gpu); CPU always last, so every node has a kernel.
# Others (Azure, TensorRT) are left out: they change numerics or call out.
PROVIDER_ORDER = ("CUDAExecutionProvider", "CPUExecutionProvider")
# Feeds are cut in as new placeholders under this prefix, then renamed to the input keys.
_FEED_PREFIX = "mlflow_tf1_onnx_feed"
_EXACT_KINDS = "biuSOU"  # bool, ints, strings: compared exactly
# "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions ..."
_ORT_ERROR = re.compile(r"\[ONNXRuntimeError\] : \d+ : (\w+) : ")


def versions() -> dict[str, str]:
    """The converter and runtime versions installed, for what the model records."""
    found = {}
    for module in ("tf2onnx", "onnxruntime", "onnx"):
        with contextlib.suppress(ImportError):
            found[module] = __import__(module).__version__
    return found


def convert(
    export_dir: str | os.PathLike,
    meta_graph,
    signature_info: SignatureInfo,
    feature_info: SignatureInfo | None = None,
    session: tf.compat.v1.Session | None = None,
    opset: int | None = None,
) -> bytes | str:
    """The serialized ONNX model of one signature, or why it can't be converted.

    ``feature_info`` (a tf.Example signature fed at its parser's outputs) is
    converted instead of ``signature_info`` when given: the graph after the
    parser. ``session`` is a Session of ``meta_graph`` with its variables
    loaded (one is made from ``export_dir`` when None). The ONNX model's
    inputs and outputs are named after the signature's keys.
    """
    info = feature_info if feature_info is not None else signature_info
    problem = _unconvertible(meta_graph, info)
    if problem is not None:
        return problem
    try:
        import onnx  # noqa: F401 -- tf2onnx needs it; checked here to give a reason
        import tf2onnx
    except ImportError as e:
        return (
            f"converting needs tf2onnx and onnx; '{e.name}' is not installed (pip install {e.name})"
        )
    with quiet_tensorflow(), _quiet_converter():
        try:
            with contextlib.ExitStack() as own:
                if session is None:
                    session = _load_session(export_dir, meta_graph)
                    own.callback(session.close)
                graph_def, feeds, fetches = _frozen_cut(session, info)
        except Exception as e:  # noqa: BLE001 -- any TF error here is a reason to stay on TF
            return f"TensorFlow could not freeze the signature's graph: {first_line(e)}"
        try:
            model, _ = tf2onnx.convert.from_graph_def(
                graph_def, input_names=list(feeds.values()), output_names=list(fetches.values()),
                opset=opset,
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 -- tf2onnx raises anything on what it can't map
            return f"tf2onnx could not convert it: {first_line(e)}"
    unmapped = _unmapped_ops(model)
    if unmapped:
        return f"tf2onnx has no ONNX mapping for op(s) {unmapped}"
    problem = _name_after_keys(model, feeds, fetches)
    if problem is not None:
        return problem
    serialized = model.SerializeToString()
    try:
        _inference_session(serialized, threads=1)
    except ImportError:
        return "running needs onnxruntime, which is not installed (pip install onnxruntime)"
    except Exception as e:  # noqa: BLE001 -- onnxruntime's own error types, read as a reason
        return f"onnxruntime cannot load the converted graph: {first_line(e)}"
    return serialized


def _unconvertible(meta_graph, info: SignatureInfo) -> str | None:
    """What rules a signature out before converting: state, sparse or unknown tensors, bytes."""
    stateful = stateful_signatures(meta_graph, signature_infos(meta_graph))
    if stateful:
        return (
            f"the graph has stateful signatures {sorted(stateful)}: a frozen copy would "
            "not see the state they change"
        )
    if not info.outputs:
        return "it has no outputs"
    for t in (*info.inputs.values(), *info.outputs.values()):
        if t.encoding != "dense" or t.name is None:
            return f"'{t.key}' is a {t.encoding} tensor; ONNX takes dense tensors only"
        if t.dtype in ("unknown", "resource", "variant"):
            return f"'{t.key}' has dtype {t.dtype}, which ONNX has no type for"
    for t in info.inputs.values():
        if t.dtype == "string":
            # A silent wrong answer otherwise: onnxruntime str()s bytes ("b'a'").
            return (
                f"string input '{t.key}': onnxruntime takes text, TensorFlow arbitrary bytes "
                "(serialized protos among them), so not every value could be fed"
            )
    return None


def _load_session(export_dir: str | os.PathLike, meta_graph) -> tf.compat.v1.Session:
    """A Session with the variables restored and the init op run, devices cleared."""
    from tensorflow.python.saved_model import loader_impl

    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(meta_graph, clear_devices=True)
        if saver is not None:
            saver.restore(session, str(Path(export_dir) / "variables" / "variables"))
        init_op = loader_impl.get_init_op(meta_graph)
        if init_op is not None:
            session.run(init_op, loader_impl.get_asset_tensors(str(export_dir), meta_graph))
    return session


def _frozen_cut(session: tf.compat.v1.Session, info: SignatureInfo):
    """The signature's graph with variables as constants, starting at its own feeds.

    A feed may be any tensor (a parser's output, ``x2:0`` inside a graph): each
    becomes a new placeholder its consumers read, so nothing upstream is converted.
    Returns the GraphDef and the tensor names standing for each input and output key.
    """
    graph = session.graph
    fetched = {k: graph.get_tensor_by_name(t.name).name for k, t in info.outputs.items()}
    graph_def = tf.compat.v1.graph_util.convert_variables_to_constants(
        session, graph.as_graph_def(), sorted({node_name(n) for n in fetched.values()})
    )
    taken = {n.name for n in graph_def.node}
    replaced, feeds = {}, {}
    for i, (key, t) in enumerate(info.inputs.items()):
        tensor = graph.get_tensor_by_name(t.name)
        if tensor.shape.rank is None:
            raise ValueError(f"input '{key}' has unknown rank; ONNX inputs need one")
        placeholder = f"{_FEED_PREFIX}_{i}"
        while placeholder in taken:
            placeholder += "_"
        node = graph_def.node.add(name=placeholder, op="Placeholder")
        node.attr["dtype"].type = tensor.dtype.base_dtype.as_datatype_enum
        node.attr["shape"].shape.CopyFrom(tensor.shape.as_proto())
        replaced[tensor.name] = f"{placeholder}:0"
        feeds[key] = f"{placeholder}:0"
    for node in graph_def.node:
        for j, name in enumerate(node.input):
            full = name if ":" in name or name.startswith("^") else f"{name}:0"
            if full in replaced:
                node.input[j] = replaced[full]
    fetches = {k: replaced.get(name, name) for k, name in fetched.items()}
    # Inputs the outputs don't use stay, so the ONNX model takes every input the signature has.
    kept = {node_name(n) for n in (*fetches.values(), *feeds.values())}
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(graph_def, sorted(kept))
    return graph_def, feeds, fetches


def _unmapped_ops(model) -> list[str]:
    """TF ops tf2onnx left in the ONNX graph as they were (it logs them and goes on)."""
    import onnx

    found = set()
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain in ("", "ai.onnx", "ai.onnx.ml") and not onnx.defs.has(
                node.op_type, node.domain
            ):
                found.add(node.op_type)
    return sorted(found)


def _graphs(graph) -> Iterator:
    """A graph and every subgraph its nodes carry (If branches, Loop bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            for sub in [attribute.g] if attribute.HasField("g") else attribute.graphs:
                yield from _graphs(sub)


def _name_after_keys(model, feeds: dict[str, str], fetches: dict[str, str]) -> str | None:
    """Inputs renamed to the signature's keys; each output an Identity named after its key.

    So the ``.onnx`` file reads like the signature for anyone opening it (MLflow's
    onnx flavor, Netron), and two keys may fetch one tensor.
    """
    import onnx

    graph = model.graph
    used = {name for g in _graphs(graph) for n in g.node for name in (*n.input, *n.output)}
    used |= {v.name for v in graph.initializer}
    own = set(feeds.values()) | set(fetches.values())
    clashes = sorted({k for k in (*feeds, *fetches) if k in used and k not in own})
    clashes += sorted(set(feeds) & set(fetches))
    if clashes:
        return f"signature key(s) {clashes} clash with other names in the ONNX graph"
    renamed = {tensor: key for key, tensor in feeds.items()}
    for value in graph.input:
        value.name = renamed.get(value.name, value.name)
    for sub in _graphs(graph):
        for node in sub.node:
            for j, name in enumerate(node.input):
                node.input[j] = renamed.get(name, name)
    outputs = {v.name: v for v in graph.output}
    kept = []
    for key, tensor in fetches.items():
        source = outputs[tensor]
        graph.node.append(onnx.helper.make_node("Identity", [renamed.get(tensor, tensor)], [key]))
        value = onnx.ValueInfoProto()
        value.CopyFrom(source)
        value.name = key
        kept.append(value)
    del graph.output[:]
    graph.output.extend(kept)
    return None


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """tf2onnx logs every op it can't map at ERROR: the returned reason says it once."""
    logger = logging.getLogger("tf2onnx")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def host_threads() -> int:
    """Intra-op threads for one InferenceSession: every CPU this process may use, as TF does.

    Measured on this 2-core host (64x64x3 CNN): batch 64 takes 30 ms on 2
    threads against 54 ms on 1, batch 1 the same either way (0.7 ms), so the
    compute-bound case decides. ``OnnxSignature(threads=)`` overrides it. CPUs
    are the affinity mask, capped by a cgroup CPU quota.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    return max(1, cpus)


def providers() -> list[str]:
    """`PROVIDER_ORDER` restricted to what this onnxruntime build has."""
    import onnxruntime

    available = set(onnxruntime.get_available_providers())
    return [p for p in PROVIDER_ORDER if p in available]


def _inference_session(model: bytes | str | os.PathLike, threads: int):
    """An InferenceSession whose threads fit the host.

    An intra-op pool of ``threads`` (see `host_threads`), no inter-op pool (the
    graph runs sequentially), and pool threads that sleep instead of spinning
    between calls (spinning measured slower on a shared host). ``run`` is
    thread-safe: concurrent calls share one session, each on its caller's thread.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors reach the caller as exceptions
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = os.fspath(model) if isinstance(model, os.PathLike) else model
    return onnxruntime.InferenceSession(source, sess_options=options, providers=providers())


class OnnxSignature(Signature):
    """A signature run by onnxruntime, with `Signature.run`'s numpy-in, numpy-out contract.

    ``model`` is what `convert` returned (bytes) or an ``.onnx`` file. Inputs
    are cast to the signature's dtypes as a Session would take them; string
    outputs come back as bytes, as TensorFlow gives them.
    """

    backend = "onnx"

    def __init__(
        self, info: SignatureInfo, model: bytes | str | os.PathLike, threads: int | None = None
    ):
        super().__init__(info)
        self.threads = threads or host_threads()
        self._session = _inference_session(model, self.threads)
        names = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if sorted(names) != sorted(info.inputs) or sorted(outputs) != sorted(info.outputs):
            raise invalid(
                f"The ONNX model of signature '{info.key}' takes {sorted(names)} and gives "
                f"{sorted(outputs)}; the signature has inputs {sorted(info.inputs)} and "
                f"outputs {sorted(info.outputs)}."
            )
        self._dtypes = {k: np.dtype(numpy_dtype(t.dtype)) for k, t in info.inputs.items()}
        self._strings = [k for k, t in info.outputs.items() if t.dtype == "string"]

    @property
    def providers(self) -> list[str]:
        """The execution providers the session runs on, in the order they are tried."""
        return self._session.get_providers()

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        arrays = {}
        for key, dtype in self._dtypes.items():
            value = feeds.get(key)
            if value is None:
                missing = [k for k in self._input_keys if k not in feeds]
                raise invalid(
                    f"Signature '{self.info.key}' expects inputs {self._input_keys}; "
                    f"missing {missing}."
                )
            if getattr(value, "dtype", None) != dtype:
                # What routing hands over is exact already; direct callers get casting's checks.
                value = cast(np.asarray(value), self.info.inputs[key])
            arrays[key] = value
        try:
            values = self._session.run(self._output_keys, arrays)
        except Exception as e:  # noqa: BLE001 -- onnxruntime's errors are not importable types
            raise _refusal(self.info, e) from None
        results = dict(zip(self._output_keys, values, strict=True))
        for key in self._strings:
            results[key] = _as_bytes(results[key])
        return results

    def _call_tensors(self, values: dict[str, Any]) -> dict[str, tf.Tensor]:
        if tf.executing_eagerly():
            feeds = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in values.items()}
            return {k: tf.convert_to_tensor(v) for k, v in self.run(feeds).items()}
        return self._host_call(values)


def _refusal(info: SignatureInfo, error: Exception) -> MlflowException:
    """onnxruntime's error as the caller's (invalid input: HTTP 400) or the server's fault."""
    text = " ".join(str(error).split())  # its messages run over several lines
    text = text.replace(" Please fix either the inputs/outputs or the model.", "")
    match = _ORT_ERROR.search(text)
    status, message = (match.group(1), text[match.end() :]) if match else ("", text)
    if status == "INVALID_ARGUMENT":
        inputs = ", ".join(t.describe() for t in info.inputs.values())
        return invalid(
            f"Signature '{info.key}' rejected the input: {message[:500]}. Its inputs: {inputs}."
        )
    return MlflowException(f"Signature '{info.key}' failed inside onnxruntime: {message[:500]}")


def _as_bytes(values: np.ndarray) -> np.ndarray:
    flat = [v.encode() if isinstance(v, str) else v for v in values.ravel()]
    return np.array(flat, dtype=object).reshape(values.shape)


def opset(model: bytes) -> int | None:
    """The default-domain ONNX opset ``model`` (as `convert` returned it) was converted for."""
    import onnx

    imports = onnx.load_from_string(model).opset_import
    return next((o.version for o in imports if o.domain in ("", "ai.onnx")), None)


def verify(
    session_signature: Signature,
    onnx_signature: Signature,
    batches: Iterable[Mapping[str, Any] | None],
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> dict[str, Any]:
    """Both signatures on the same batches: the largest differences per output, and a verdict.

    Floats match when ``|onnx - tf| <= atol + rtol * |tf|`` everywhere (NaN where
    TF has NaN); bools, integers and strings only when equal. Shapes and dtypes
    must agree. ``None`` batches (none could be generated) are skipped. The
    result is plain YAML (for ``MLmodel``): ``matches``, ``batches``, the
    tolerances, ``outputs`` per key, and ``reason`` when it doesn't match.
    """
    keys = list(session_signature.info.outputs)
    outputs: dict[str, dict[str, Any]] = {
        k: {"max_abs_diff": 0.0, "max_rel_diff": 0.0, "matches": True} for k in keys
    }
    result: dict[str, Any] = {"matches": False, "batches": 0, "rtol": rtol, "atol": atol}
    result["outputs"] = outputs
    for batch in batches:
        if batch is None:
            continue
        try:
            expected = session_signature.run(batch)
        except Exception as e:  # noqa: BLE001 -- nothing to compare against: not verified
            result["reason"] = f"the Session failed on a batch: {first_line(e)}"
            return result
        try:
            got = onnx_signature.run(batch)
        except Exception as e:  # noqa: BLE001 -- a batch TF takes and ONNX doesn't: no match
            result["reason"] = f"onnxruntime failed on a batch TF ran: {first_line(e)}"
            return result
        result["batches"] += 1
        for key in keys:
            _compare(outputs[key], np.asarray(expected[key]), np.asarray(got[key]), rtol, atol)
    if not result["batches"]:
        result["reason"] = "no batch to compare on"
        return result
    differing = [k for k in keys if not outputs[k]["matches"]]
    result["matches"] = not differing
    if differing:
        result["reason"] = "; ".join(f"{k}: {outputs[k]['reason']}" for k in differing)
    return result


def _compare(record: dict[str, Any], expected: np.ndarray, got: np.ndarray, rtol, atol) -> None:
    """Fold one batch's comparison of one output into its running ``record``."""
    if expected.shape != got.shape or expected.dtype != got.dtype:
        record.update(
            matches=False, max_abs_diff=float("inf"), max_rel_diff=float("inf"),
            reason=f"TF gives {expected.dtype} {list(expected.shape)}, "
            f"ONNX {got.dtype} {list(got.shape)}",
        )  # fmt: skip
        return
    if expected.dtype.kind in _EXACT_KINDS:
        if not np.array_equal(expected, got):
            record.update(matches=False, reason="values differ (compared exactly)")
            if expected.dtype.kind in "iub":
                diff = np.abs(expected.astype(np.float64) - got.astype(np.float64))
                record["max_abs_diff"] = max(record["max_abs_diff"], float(diff.max()))
        return
    tf_values, onnx_values = expected.astype(np.float64), got.astype(np.float64)
    same = (tf_values == onnx_values) | (np.isnan(tf_values) & np.isnan(onnx_values))
    with np.errstate(invalid="ignore", divide="ignore"):
        # NaN on one side only, or inf against a number: an infinite difference.
        diff = np.nan_to_num(np.where(same, 0.0, np.abs(onnx_values - tf_values)), nan=np.inf)
        rel = np.nan_to_num(np.where(same, 0.0, diff / np.abs(tf_values)), nan=np.inf)
    if diff.size:
        record["max_abs_diff"] = max(record["max_abs_diff"], float(diff.max()))
        record["max_rel_diff"] = max(record["max_rel_diff"], float(rel.max()))
    if not np.isclose(onnx_values, tf_values, rtol=rtol, atol=atol, equal_nan=True).all():
        record.update(matches=False, reason=f"differs beyond rtol {rtol} / atol {atol}")
