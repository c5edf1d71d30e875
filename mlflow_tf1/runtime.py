"""Turn a TF1 MetaGraph into callables, one per signature.

Two backends share one interface (`Signature`):

* ``tf2``: the graph imported inside ``tf.compat.v1.wrap_function`` and pruned
  per signature, as ``tf.saved_model.load`` does for TF1 graphs. These are real
  TF2 ``ConcreteFunction`` objects that compose with ``tf.function``.
* ``session``: a ``tf.compat.v1.Session`` for what TF2 cannot convert
  (reference variables, graphs whose unused parts fail TF2 shape inference).

Unlike ``tf.saved_model.load``, signatures are pruned one at a time, so one
unconvertible signature never blocks the others.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from mlflow.exceptions import MlflowException
from tensorflow.python.saved_model import loader_impl

from mlflow_tf1.description import ModelDescription
from mlflow_tf1.errors import first_line, invalid
from mlflow_tf1.graphs import has_reference_variables, has_variables, op_types
from mlflow_tf1.metadata import SignatureInfo, TensorInfo
from mlflow_tf1.pruning import without_signatures

_logger = logging.getLogger(__name__)

BACKENDS = ("auto", "tf2", "session")
_SPARSE_PARTS = ("indices", "values", "dense_shape")
# A callable to build: (signature key, fed at the tf.Example parser's outputs?).
Target = tuple[str, bool]


class Signature:
    """One signature, callable the TF2 way or the numpy way.

    ``sig(x=...)`` (or ``sig(value)`` for one input) returns a dict of
    ``tf.Tensor`` and works eagerly and inside ``tf.function``. ``sig.run``
    takes and returns numpy, the fast path the pyfunc model uses.
    """

    backend: str = ""

    def __init__(self, info: SignatureInfo):
        self.info = info
        self._input_keys = list(info.inputs)
        self._output_keys = list(info.outputs)

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, tf.Tensor]:
        return self._call_tensors(self._bind(args, kwargs))

    def _call_tensors(self, values: dict[str, Any]) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def _host_call(self, values: dict[str, Any]) -> dict[str, tf.Tensor]:
        """Run inside a traced ``tf.function`` as a host callback to ``run``."""
        if any(
            t.encoding != "dense" for t in (*self.info.inputs.values(), *self.info.outputs.values())
        ):
            raise invalid(
                f"Signature '{self.info.key}' ({self.backend} backend) has sparse tensors "
                "and cannot be traced into a tf.function."
            )
        keys = list(self.info.inputs)

        def host(*arrays):
            outputs = self.run(dict(zip(keys, arrays, strict=True)))
            return [np.asarray(outputs[k]) for k in self._output_keys]

        out_types = [tf.as_dtype(t.dtype) for t in self.info.outputs.values()]
        results = tf.numpy_function(host, [values[k] for k in keys], out_types, stateful=True)
        return dict(zip(self._output_keys, results, strict=True))

    def _bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """Map call arguments to input keys, the way TF2 signatures do."""
        if args:
            if len(args) > 1 or kwargs or len(self._input_keys) != 1:
                raise invalid(
                    f"Signature '{self.info.key}' takes keyword arguments "
                    f"{self._input_keys}; positional use is only for one-input signatures."
                )
            kwargs = {self._input_keys[0]: args[0]}
        missing = [k for k in self._input_keys if k not in kwargs]
        unknown = [k for k in kwargs if k not in self.info.inputs]
        if missing or unknown:
            raise invalid(
                f"Signature '{self.info.key}' expects inputs {self._input_keys}; "
                f"missing {missing}, unknown {unknown}."
            )
        return {k: _as_tensor(kwargs[k], self.info.inputs[k]) for k in self._input_keys}

    def __repr__(self) -> str:
        ins = ", ".join(t.describe() for t in self.info.inputs.values())
        return f"<Signature '{self.info.key}' ({ins}) -> {self._output_keys} on {self.backend}>"


def _as_tensor(value: Any, info: TensorInfo):
    dtype = tf.as_dtype(info.dtype)
    if info.encoding == "coo_sparse":
        if isinstance(value, tf.compat.v1.SparseTensorValue):
            value = tf.SparseTensor(value.indices, value.values, value.dense_shape)
        if not isinstance(value, tf.SparseTensor):
            raise invalid(f"Input '{info.key}' is sparse: pass a tf.SparseTensor.")
        return value if value.dtype == dtype else tf.cast(value, dtype)
    tensor = tf.convert_to_tensor(value) if dtype == tf.string else value
    if not isinstance(tensor, tf.Tensor):
        tensor = tf.convert_to_tensor(np.asarray(value))
    return tensor if tensor.dtype == dtype else tf.cast(tensor, dtype)


def _flatten(values: Mapping[str, Any], inputs: Mapping[str, TensorInfo]) -> list[Any]:
    """Inputs in signature order, sparse ones split into their three components."""
    flat = []
    for key, info in inputs.items():
        value = values[key]
        if info.encoding == "coo_sparse":
            flat.extend((value.indices, value.values, value.dense_shape))
        else:
            flat.append(value)
    return flat


def _graph_element(graph: tf.Graph, info: TensorInfo):
    if info.encoding == "coo_sparse":
        parts = [graph.get_tensor_by_name(info.components[p]) for p in _SPARSE_PARTS]
        return tf.SparseTensor(*parts)
    if info.name is None:
        raise invalid(f"Tensor '{info.key}' uses the unsupported '{info.encoding}' encoding.")
    return graph.get_tensor_by_name(info.name)


def _with_graph_shapes(info: SignatureInfo, graph: tf.Graph) -> SignatureInfo:
    """Inputs the SignatureDef leaves unshaped (TF 1.0 wrote no shapes) get the
    graph's static shape, so rows are fitted to it instead of failing in TF."""
    inputs = {}
    for key, t in info.inputs.items():
        if t.shape is None and t.encoding == "dense" and t.name is not None:
            shape = graph.get_tensor_by_name(t.name).shape
            if shape.rank is not None:
                t = replace(t, shape=tuple(-1 if d is None else d for d in shape.as_list()))
        inputs[key] = t
    return replace(info, inputs=inputs)


def _feed_tensors(graph: tf.Graph, inputs: Mapping[str, TensorInfo]) -> list[tf.Tensor]:
    flat = []
    for info in inputs.values():
        element = _graph_element(graph, info)
        if isinstance(element, tf.SparseTensor):
            flat.extend((element.indices, element.values, element.dense_shape))
        else:
            flat.append(element)
    return flat


def _to_numpy(value: Any) -> Any:
    if isinstance(value, tf.SparseTensor):
        return tf.compat.v1.SparseTensorValue(
            value.indices.numpy(), value.values.numpy(), value.dense_shape.numpy()
        )
    return value.numpy() if hasattr(value, "numpy") else value


class _TF2Signature(Signature):
    backend = "tf2"

    def __init__(self, info: SignatureInfo, function: Callable, traceable: bool):
        super().__init__(info)
        self.function = function
        # Reference variables live under their node names; a tf.function renames
        # the nodes it inlines, so such graphs are reached through a host call.
        self._traceable = traceable

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        tensors = {}
        for key, info in self.info.inputs.items():
            value = feeds[key]
            if info.encoding == "coo_sparse":
                tensors[key] = tf.SparseTensor(value.indices, value.values, value.dense_shape)
            else:
                tensors[key] = tf.constant(value)
        return {k: _to_numpy(v) for k, v in self._call_tensors(tensors).items()}

    def _call_tensors(self, values: dict[str, Any]) -> dict[str, tf.Tensor]:
        if not self._traceable and not tf.executing_eagerly():
            return self._host_call(values)
        return self.function(*_flatten(values, self.info.inputs))


class _SessionSignature(Signature):
    backend = "session"

    def __init__(self, info: SignatureInfo, session: tf.compat.v1.Session, inline: bool):
        super().__init__(_with_graph_shapes(info, session.graph))
        self._callable = _SessionRun(session, info, inline)

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        values = iter(self._callable(*_flatten(feeds, self.info.inputs)))
        return {
            key: tf.compat.v1.SparseTensorValue(*(next(values) for _ in _SPARSE_PARTS))
            if t.encoding == "coo_sparse"
            else next(values)
            for key, t in self.info.outputs.items()
        }

    def _call_tensors(self, values: dict[str, Any]) -> dict[str, tf.Tensor]:
        if tf.executing_eagerly():
            feeds = {k: _to_numpy(v) for k, v in values.items()}
            return {k: tf.convert_to_tensor(v) for k, v in self.run(feeds).items()}
        return self._host_call(values)


class _ParsedSignature(_SessionSignature):
    """A tf.Example signature run as its parser, then its raw-feature callable.

    Every executor TensorFlow builds costs a tenth of a second or more on an
    Estimator graph (measured: taxi load 2.5 s to 1.2 s); this way serialized
    protos and raw rows share one executor per signature, and all signatures of
    one parser share the parsing one.
    """

    def __init__(self, info: SignatureInfo, parser: Signature, features: Signature):
        Signature.__init__(self, replace(info, inputs=parser.info.inputs))
        self._parser = parser
        self._features = features

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        return self._features.run(self._parser.run(feeds))

    def with_features(self, features: Signature) -> _ParsedSignature:
        return _ParsedSignature(self.info, self._parser, features)


# Up to this many rows a call runs in the caller's thread: TF's inter-op pool
# hands every op to another thread, which costs more than it parallelizes on a
# small batch. Measured on 2 cores: half_plus_two 26 -> 9 us, CNN batch 1 954 ->
# 844 us, taxi Estimator 1 row 1024 -> 889 us, 16 rows 2362 -> 2249 us, 32 rows
# even, 100 rows 1902 -> 2225 us (the pool wins from there).
INLINE_ROWS = 32
# Ops whose kernel blocks its thread until another op of the same run acts (a
# StagingArea get waiting for its put): in the caller's thread alone such a run
# never finishes. Queue, barrier and accumulator kernels wait asynchronously.
_BLOCKING_OP_PARTS = ("stage", "peek")


def _runs_inline_safely(graph_def) -> bool:
    """No op in the graph (or its functions) may block waiting for another."""
    return not any(part in op.lower() for op in op_types(graph_def) for part in _BLOCKING_OP_PARTS)


class _SessionRun:
    """A signature's run on a Session: numpy in, numpy out, through TF's C API.

    TF's ``Session.run`` minus its Python feed and fetch bookkeeping (about
    half of a small model's call). Unlike a ``make_callable`` callable, the run
    options are chosen per call (in the caller's thread for small batches, see
    ``INLINE_ROWS``) on one executor, and signatures fetching the same tensors
    from the same feeds share that executor. Sparse tensors travel as their
    three components.
    """

    def __init__(self, session: tf.compat.v1.Session, info: SignatureInfo, inline: bool):
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.client import pywrap_tf_session

        graph = session.graph
        feeds = _feed_tensors(graph, info.inputs)
        fetches = _feed_tensors(graph, info.outputs)
        fed = {t.name: i for i, t in enumerate(feeds)}
        # A tensor can't be both fed and fetched (a sparse output passing its
        # input's dense_shape through): such outputs are the fed value itself.
        computed = {t.name: t for t in fetches if t.name not in fed}
        position = {name: i for i, name in enumerate(computed)}
        self._order = [(t.name in fed, fed.get(t.name, position.get(t.name))) for t in fetches]
        self._session = session
        self._feeds = [t._as_tf_output() for t in feeds]
        self._fetches = [t._as_tf_output() for t in computed.values()]
        self._run = pywrap_tf_session.TF_SessionRun_wrapper
        self._inline = None
        if inline:
            options = config_pb2.RunOptions(inter_op_thread_pool=-1).SerializeToString()
            self._inline = pywrap_tf_session.TF_NewBufferFromString(options)
            weakref.finalize(self, pywrap_tf_session.TF_DeleteBuffer, self._inline)

    def __call__(self, *values: Any) -> list[Any]:
        first = values[0] if values else None
        small = getattr(first, "ndim", 0) == 0 or len(first) <= INLINE_ROWS
        results = self._run(
            self._session._session,
            self._inline if small else None,
            dict(zip(self._feeds, values, strict=True)),
            self._fetches,
            [],
            None,
        )
        return [values[i] if was_fed else results[i] for was_fed, i in self._order]


class _UnavailableSignature(Signature):
    """Keeps a signature that neither backend could build listed, with the reason."""

    backend = "unavailable"

    def __init__(self, info: SignatureInfo, reason: str):
        super().__init__(info)
        self.reason = reason

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        raise invalid(f"Signature '{self.info.key}' cannot run: {self.reason}")

    _call_tensors = run


class LoadedSavedModel:
    """A MetaGraph ready to run: ``signatures[key]`` are `Signature` objects.

    ``feature_signatures[key]`` run a tf.Example signature fed at its parser's
    outputs, for raw feature rows (only where the description says they can be).
    """

    def __init__(
        self,
        export_dir: str | os.PathLike,
        meta_graph,
        description: ModelDescription,
        backend: str = "auto",
    ):
        if backend not in BACKENDS:
            raise invalid(f"Unknown backend '{backend}'; valid backends: {list(BACKENDS)}.")
        self.export_dir = Path(export_dir)
        self.description = description
        self.fallback_reasons: dict[str, str] = {}
        self._session: tf.compat.v1.Session | None = None
        refused = description.refused
        if refused:
            # A Session places the whole graph: nodes only refused signatures use
            # (an op without a kernel) must go for the others to run.
            meta_graph = without_signatures(meta_graph, refused)
        targets: dict[Target, SignatureInfo] = {}
        for key, signature in description.signatures.items():
            if key in refused:
                continue
            targets[(key, False)] = signature.info
            if signature.parser is not None and signature.parser.direct:
                targets[(key, True)] = signature.parser.feature_signature(signature.info)
        built: dict[Target, Signature] = {}
        if backend != "session":
            built = self._build_tf2(meta_graph, targets)
        pending = [t for t in targets if t not in built]
        if pending and backend == "tf2":
            reasons = {k: r for k, r in self.fallback_reasons.items()}
            raise MlflowException(f"TF2 cannot convert these signatures: {reasons}")
        if pending and built and has_variables(meta_graph.graph_def):
            # Variables must live in one place, or a stateful graph's signatures
            # would each see their own copy.
            _logger.debug("Some signatures need a Session; running all of them there.")
            pending, built = list(targets), {}
        if pending:
            built.update(self._build_session(meta_graph, targets, pending))
        for key, reason in refused.items():
            info = description.signatures[key].info
            built[(key, False)] = _UnavailableSignature(info, f"refused when logged: {reason}")
        self.signatures = {k: s for (k, features), s in built.items() if not features}
        self.feature_signatures = {
            k: s for (k, features), s in built.items() if features and s.backend != "unavailable"
        }
        if all(s.backend == "unavailable" for s in self.signatures.values()):
            reasons = {k: s.reason for k, s in self.signatures.items()}
            raise MlflowException(f"No signature of this model can run: {reasons}")

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, tf.Tensor]:
        """The default signature: what MLflow 1.x's ``load_model`` returned under TF2."""
        return self.signatures[self.description.signature(None).key](*args, **kwargs)

    @property
    def backends(self) -> dict[str, str]:
        return {k: s.backend for k, s in self.signatures.items()}

    @property
    def session(self) -> tf.compat.v1.Session | None:
        """The Session the ``session`` backend runs on (None when every signature is TF2)."""
        return self._session

    def use(self, key: str, signature: Signature) -> None:
        """Run ``key`` on another backend (onnxruntime), keeping its inputs and outputs."""
        self.signatures[key] = signature

    def use_features(self, key: str, features: Signature) -> None:
        """Run ``key``'s part after its parser on another backend: raw feature rows,
        and serialized protos once the Session has parsed them."""
        self.feature_signatures[key] = features
        current = self.signatures[key]
        if isinstance(current, _ParsedSignature):
            self.signatures[key] = current.with_features(features)

    def _build_tf2(
        self, meta_graph, targets: dict[Target, SignatureInfo]
    ) -> dict[Target, Signature]:
        try:
            wrapped = _import_in_wrap_function(self.export_dir, meta_graph)
        except Exception as e:  # noqa: BLE001 -- any TF error here means "use a Session"
            reason = f"TF2 could not import the graph: {first_line(e)}"
            self.fallback_reasons.update(dict.fromkeys((k for k, _ in targets), reason))
            return {}
        traceable = not has_reference_variables(meta_graph.graph_def)
        built = {}
        for target, info in targets.items():
            try:
                fetches = {k: _graph_element(wrapped.graph, t) for k, t in info.outputs.items()}
                feeds = _feed_tensors(wrapped.graph, info.inputs)
                # An input signature makes TF build the lean function it builds for
                # tf.saved_model.load (measured: 0.2 ms instead of 8.6 ms per call).
                specs = {f"input_{i}": tf.TensorSpec(t.shape, t.dtype) for i, t in enumerate(feeds)}
                function = wrapped.prune(
                    feeds,
                    fetches,
                    input_signature=((), specs),
                    are_keyword_args_also_positional=True,
                )
                info = _with_graph_shapes(info, wrapped.graph)
                built[target] = _TF2Signature(info, function, traceable)
            except Exception as e:  # noqa: BLE001 -- recorded; the Session takes over
                key, features = target
                if not features:
                    self.fallback_reasons[key] = f"TF2 could not prune it: {first_line(e)}"
        return built

    def _build_session(
        self, meta_graph, targets: dict[Target, SignatureInfo], pending: list[Target]
    ) -> dict[Target, Signature]:
        try:
            self._session = _load_session(self.export_dir, meta_graph)
        except (tf.errors.OpError, ValueError, OSError) as e:
            raise MlflowException(
                f"TensorFlow could not load the SavedModel at '{self.export_dir}' "
                f"(missing or corrupt variables/ or assets/?): {first_line(e)}"
            ) from None
        built: dict[Target, Signature] = {}
        inline = _runs_inline_safely(meta_graph.graph_def)
        for target in sorted(pending, key=lambda t: not t[1]):  # raw-feature callables first
            key, features = target
            info = targets[target]
            try:
                parser = self.description.signatures[key].parser
                raw = built.get((key, True))
                if not features and raw is not None and raw.backend == "session":
                    # Signatures sharing the parser share its executor.
                    parse = _SessionSignature(parser.parse_signature(info), self._session, inline)
                    built[target] = _ParsedSignature(info, parse, raw)
                else:
                    built[target] = _SessionSignature(info, self._session, inline)
            except Exception as e:  # noqa: BLE001 -- kept listed with its reason
                reason = f"{self.fallback_reasons.get(key, '')}; Session: {first_line(e)}"
                built[target] = _UnavailableSignature(info, reason.lstrip("; "))
        return built


def _variables_path(export_dir: Path) -> str:
    return str(export_dir / "variables" / "variables")


def _owning_resources(meta_graph):
    """A copy of the MetaGraph whose tables and variables belong to this load alone.

    Eager functions share one resource manager per process: a table whose
    ``shared_name`` is empty would be a fresh, uninitialized table in every
    pruned function, and two models whose tables share a name (one vocabulary
    path, two versions) would read each other's. Every resource gets its own
    name plus a per-load suffix, and library functions fresh names, as
    ``tf.saved_model.load`` does for TF1 graphs (``load_v1_in_v2``).
    """
    from tensorflow.python.framework import ops
    from tensorflow.python.saved_model import function_deserialization

    suffix = f"_mlflow_tf1_load_{ops.uid()}"
    owned = type(meta_graph)()
    owned.CopyFrom(meta_graph)
    functions = function_deserialization.load_function_def_library(
        owned.graph_def.library, load_shared_name_suffix=suffix
    )
    owned.graph_def.library.Clear()
    for function in functions.values():
        owned.graph_def.library.function.add().CopyFrom(function.function_def)
    for node in owned.graph_def.node:
        function_deserialization.fix_node_def(node, functions, suffix)
    return owned


def _import_in_wrap_function(export_dir: Path, meta_graph):
    saver_holder: list[Any] = []
    owned = _owning_resources(meta_graph)

    def import_graph() -> None:
        saver_holder.append(tf.compat.v1.train.import_meta_graph(owned, clear_devices=True))

    wrapped = tf.compat.v1.wrap_function(import_graph, [])
    graph = wrapped.graph
    saver = saver_holder[0]
    if saver is not None:
        filename = graph.as_graph_element(saver.saver_def.filename_tensor_name)
        restore = wrapped.prune(
            [filename],
            [filename, graph.as_graph_element(saver.saver_def.restore_op_name)],
        )
        restore(tf.constant(_variables_path(export_dir)))
    with graph.as_default():
        assets = loader_impl.get_asset_tensors(str(export_dir), meta_graph)
        init_op = loader_impl.get_init_op(meta_graph)
        init_op = init_op if init_op is not None else _default_init_op()
        anchor = tf.constant(0.0)
    feeds = [graph.as_graph_element(name) for name in assets]
    init = wrapped.prune(feeds, [anchor, init_op])
    init(*[tf.constant(path) for path in assets.values()])
    return wrapped


def _load_session(export_dir: Path, meta_graph) -> tf.compat.v1.Session:
    """A Session with the SavedModel loaded, as TF's loader does it, from the proto
    already read (no second parse); devices cleared so GPU pins run on CPU."""
    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True)
    # Lowering functional If/While to Switch/Merge makes TF's type inference warn
    # on Estimator summaries (int32 vs int64 Merge); kept functional, outputs are equal.
    config.experimental.disable_functional_ops_lowering = True
    # Without lowering, each executor instantiates (and optimizes) every function
    # call it reaches, for itself: the taxi export's tf.Transform layer is 7 calls
    # per executor. Inlined into the graph instead, the three feature executors
    # measured 92-168 ms each against 218-269 ms (taxi load, median of 8 interleaved:
    # 0.81 against 0.87 s), and 10,000 raw rows 19.5 against 21.4 ms; outputs equal.
    config.graph_options.optimizer_options.do_function_inlining = True
    _fast_grappler(config.graph_options.rewrite_options, meta_graph.graph_def)
    session = tf.compat.v1.Session(graph=graph, config=config)
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(meta_graph, clear_devices=True)
        if saver is not None:
            saver.restore(session, _variables_path(export_dir))
        init_op = loader_impl.get_init_op(meta_graph)
        # No main op (e.g. tf.Transform graphs): initialize tables and local
        # variables as tf.saved_model.load does.
        session.run(
            init_op if init_op is not None else _default_init_op(),
            feed_dict=loader_impl.get_asset_tensors(str(export_dir), meta_graph),
        )
    return session


def _fast_grappler(rewrite_options, graph_def) -> None:
    """Grappler where it makes calls faster, and only the passes that do.

    Grappler optimizes every executor the Session builds (each signature's, the
    restore's, the init's), so its cost is paid once per signature at load: 75 ms
    of each of the taxi Estimator's 105 ms executors (2,000 nodes; remapper 23 ms,
    constant folding 11, the rest 2-8 each). What it buys at inference on this
    CPU build was measured per model kind, steady calls with and without it:
    convolutions with batch norm 24.5 against 28.4 ms (batch 64; the remapper
    folds the norm into the convolution), plain convolutions 25.9 against 25.5,
    a 1024-wide MLP 2.50 against 2.38 ms, the taxi Estimator's 10,000 rows 14.7
    against 14.4 ms. So graphs with convolutions, batch norms or TF1 while loops
    (whose bodies run many times a call; not measured, kept as before) get it,
    and every other graph is executed as written. Turning the passes off rather
    than the meta-optimizer keeps what switching it off also loses (the plain
    CNN measured 31 ms with ``disable_meta_optimizer``).

    Where it runs: the TFG pass (attribute and order bookkeeping, 0.41 s of
    1.5 s on the taxi export), the memory optimizer (swapping and recomputation
    for training on accelerators, 0.12 s) and the second round of every
    optimizer (about half of the rest) are left out; the steady calls measured
    the same without them.
    """
    from tensorflow.core.protobuf import rewriter_config_pb2

    config = rewriter_config_pb2.RewriterConfig
    rewrite_options.disable_tfg_optimizer = True
    rewrite_options.memory_optimization = config.NO_MEM_OPT
    rewrite_options.meta_optimizer_iterations = config.ONE
    if not _grappler_pays_off(graph_def):
        for option in _GRAPPLER_PASSES:
            setattr(rewrite_options, option, config.OFF)
        rewrite_options.disable_model_pruning = True


def _grappler_pays_off(graph_def) -> bool:
    """Whether the graph (or a function it calls) has ops Grappler's rewrites speed up."""
    return any(op.startswith(_GRAPPLER_WINS) for op in op_types(graph_def))


# Op name prefixes: convolutions (fused with their bias, activation and batch
# norm by the remapper), batch norms, and TF1 while-loop frames.
_GRAPPLER_WINS = ("Conv", "DepthwiseConv", "FusedBatchNorm", "_FusedConv", "Enter")
_GRAPPLER_PASSES = (
    "layout_optimizer",
    "constant_folding",
    "shape_optimization",
    "remapping",
    "common_subgraph_elimination",
    "arithmetic_optimization",
    "dependency_optimization",
    "loop_optimization",
    "function_optimization",
    "debug_stripper",
    "scoped_allocator_optimization",
    "pin_to_host_optimization",
    "implementation_selector",
    "auto_mixed_precision",
)


def _default_init_op():
    return tf.group(tf.compat.v1.local_variables_initializer(), tf.compat.v1.tables_initializer())
