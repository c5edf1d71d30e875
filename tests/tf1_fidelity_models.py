"""TF1 graphs that TensorFlow's own TF1-in-TF2 loader handles and naive loaders get wrong.

Each builder writes a SavedModel with ``tf.compat.v1`` graph-mode code, in the
shape real TF1.x exports had (TF 2.x's own helpers would write them differently:
e.g. every table gets a shared name since TF 2.0, so the raw ops are used here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tests.tf1_models import DEFAULT_SIGNATURE, PathLike, _save, _signature, _tf1_session, v1


def build_vocabulary_table(
    export_dir: PathLike, vocabulary: Sequence[str], shared_name: str = ""
) -> None:
    """An Estimator-style vocabulary-list lookup, as TF 1.x wrote it.

    ``serving_default``: ``words`` (string [-1]) -> ``ids`` (int64 [-1]): the
    word's position in ``vocabulary``, -1 when absent. ``shifted``: the same
    input -> ``ids`` + 10 (a second signature reading the same table).
    ``shared_name=""`` is what TF 1.x's ``index_table_from_tensor`` wrote; a
    fixed name is what two versions of one model share.
    """
    with _tf1_session() as sess:
        words = v1.placeholder(tf.string, [None], name="words")
        table = tf.raw_ops.HashTableV2(
            key_dtype=tf.string,
            value_dtype=tf.int64,
            shared_name=shared_name,
            use_node_name_sharing=False,
            name="vocabulary_table",
        )
        init = tf.raw_ops.InitializeTableV2(
            table_handle=table,
            keys=tf.constant(list(vocabulary)),
            values=tf.range(len(vocabulary), dtype=tf.int64),
        )
        v1.add_to_collection(v1.GraphKeys.TABLE_INITIALIZERS, init)
        ids = tf.raw_ops.LookupTableFindV2(
            table_handle=table, keys=words, default_value=tf.constant(-1, tf.int64)
        )
        ids = tf.identity(ids, name="ids")
        signatures = {
            DEFAULT_SIGNATURE: _signature({"words": words}, {"ids": ids}),
            "shifted": _signature({"words": words}, {"ids": ids + 10}),
        }
        _save(sess, export_dir, signatures, main_op=v1.tables_initializer()).save()


def build_unfed_placeholder(export_dir: PathLike) -> None:
    """A dropout ``keep_prob`` placeholder the training script fed and the export forgot.

    ``serving_default``: ``x`` (float32 [-1]) -> ``y`` = x * keep_prob: needs
    the ``keep_prob`` placeholder, which is no signature input. ``doubled``:
    ``x`` -> ``y`` = x * 2, runnable. ``scaled``: ``x`` -> x * scale, where
    ``scale`` is a ``placeholder_with_default`` (2.5): runnable unfed.
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        keep_prob = v1.placeholder(tf.float32, [], name="keep_prob")
        scale = v1.placeholder_with_default(2.5, [], name="scale")
        signatures = {
            DEFAULT_SIGNATURE: _signature({"x": x}, {"y": x * keep_prob}),
            "doubled": _signature({"x": x}, {"y": x * 2.0}),
            "scaled": _signature({"x": x}, {"y": x * scale}),
        }
        _save(sess, export_dir, signatures).save()


def build_kernelless_op(export_dir: PathLike, in_init_op: bool = False) -> None:
    """A boosted-trees op next to plain arithmetic (TF 1.13-2.15 Estimators wrote these).

    This TensorFlow still knows the op but has no kernel for it, so a Session
    can't even hold the graph: the model is written with the plain part, then
    the trees are added to ``saved_model.pb`` as an older TensorFlow wrote them.
    ``serving_default``: ``x`` (float32 [-1]) -> ``y`` = x * w (w = 3, a
    variable); ``trees``: ``x`` -> ``logits`` from ``BoostedTreesPredict``. With
    ``in_init_op`` the main op also creates the tree ensemble, so loading needs the kernel.
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        w = v1.get_variable("w", initializer=tf.constant(3.0))
        main_op = tf.group(v1.tables_initializer(), name="main_op")
        signatures = {DEFAULT_SIGNATURE: _signature({"x": x}, {"y": x * w})}
        _save(sess, export_dir, signatures, main_op=main_op).save()
    with tf.Graph().as_default() as graph, tf.name_scope("trees"):
        x = v1.placeholder(tf.float32, [None], name="x")
        ensemble = tf.raw_ops.BoostedTreesEnsembleResourceHandleOp(
            container="", shared_name="ensemble", name="ensemble"
        )
        logits = tf.raw_ops.BoostedTreesPredict(
            tree_ensemble_handle=ensemble,
            bucketized_features=[tf.cast(x, tf.int32)],
            logits_dimension=1,
            name="predict_trees",
        )
        tf.raw_ops.BoostedTreesCreateEnsemble(
            tree_ensemble_handle=ensemble,
            stamp_token=tf.constant(0, tf.int64),
            tree_ensemble_serialized=tf.constant(""),
            name="create_ensemble",
        )
        trees = _signature({"x": x}, {"logits": logits})
    trees.inputs["x"].name = "x:0"
    path = Path(export_dir) / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    meta_graph = saved.meta_graphs[0]
    extra = graph.as_graph_def().node
    for node in extra:  # the trees read the model's own input
        node.input[:] = ["x" if i == "trees/x" else i for i in node.input]
    meta_graph.graph_def.node.extend(n for n in extra if n.name != "trees/x")
    meta_graph.signature_def["trees"].CopyFrom(trees)
    if in_init_op:
        [main] = [n for n in meta_graph.graph_def.node if n.name == "main_op"]
        main.input.append("^trees/create_ensemble")
    path.write_bytes(saved.SerializeToString())


def build_uninitialized_table(export_dir: PathLike) -> None:
    """A table whose export forgot to initialize it: loads, then fails on every call.

    ``serving_default``: ``words`` (string [-1]) -> ``ids`` (int64 [-1]), the
    main op a no-op (so TF's loader doesn't run the table initializers either).
    ``plain``: ``x`` (float32 [-1]) -> x + 1, runnable.
    """
    with _tf1_session() as sess:
        words = v1.placeholder(tf.string, [None], name="words")
        x = v1.placeholder(tf.float32, [None], name="x")
        table = tf.raw_ops.HashTableV2(
            key_dtype=tf.string, value_dtype=tf.int64, shared_name="forgotten"
        )
        ids = tf.raw_ops.LookupTableFindV2(
            table_handle=table, keys=words, default_value=tf.constant(-1, tf.int64)
        )
        signatures = {
            DEFAULT_SIGNATURE: _signature({"words": words}, {"ids": ids}),
            "plain": _signature({"x": x}, {"y": x + 1.0}),
        }
        _save(sess, export_dir, signatures, main_op=tf.no_op(name="nothing")).save()


def build_staging_area(export_dir: PathLike) -> None:
    """A run whose ``get`` waits for a ``put`` of the same run (TF1 input pipelines).

    ``serving_default``: ``x`` (float32 [-1]) -> ``y`` = 2x, read back from a
    ``StagingArea`` the same run puts it into, and ``echo`` = x (after the put).
    Nothing orders the get after the put: its kernel blocks its thread until the
    put lands, so the run needs a second thread.
    """
    from tensorflow.python.ops import data_flow_ops

    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        area = data_flow_ops.StagingArea([tf.float32], shapes=[[None]])
        [y] = area.get()
        put = area.put([x * 2.0])
        with tf.control_dependencies([put]):
            echo = tf.identity(x)
        signatures = {DEFAULT_SIGNATURE: _signature({"x": x}, {"y": y, "echo": echo})}
        _save(sess, export_dir, signatures).save()


def build_function_calls(export_dir: PathLike) -> None:
    """A graph whose signatures call a graph function, as tf.Transform layers do.

    ``score(x, words)`` is a ``tf.function`` called from graph mode (a
    ``StatefulPartitionedCall``): ``x @ w`` (a resource variable, w = [[1], [2]])
    plus the word's id in a vocabulary table (``apple`` 0, ``banana`` 1, else -1),
    doubled by a ``tf.cond`` where the sum is negative. ``serving_default``:
    ``x`` (float32 [-1, 2]), ``words`` (string [-1]) -> ``score`` (float32 [-1]).
    ``with_ids``: the same inputs -> ``score`` and ``ids`` (int64 [-1], from a
    second call of the function), so the two signatures are two executors.
    """
    with _tf1_session(resource_variables=True) as sess:
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        words = v1.placeholder(tf.string, [None], name="words")
        w = v1.get_variable("w", initializer=[[1.0], [2.0]], use_resource=True)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(["apple", "banana"], [0, 1], value_dtype=tf.int64),
            default_value=-1,
        )

        @tf.function
        def score(x, words):
            ids = table.lookup(words)
            total = tf.reshape(tf.matmul(x, w), [-1]) + tf.cast(ids, tf.float32)
            doubled = tf.map_fn(
                lambda v: tf.cond(v < 0, lambda: 2 * v, lambda: v),
                total,
                fn_output_signature=tf.float32,
            )
            return doubled, ids

        total, ids = score(x, words)
        sess.run(v1.global_variables_initializer())
        sess.run(v1.tables_initializer())
        signatures = {
            DEFAULT_SIGNATURE: _signature({"x": x, "words": words}, {"score": total}),
            "with_ids": _signature(
                {"x": x, "words": words}, {"score": score(x, words)[0], "ids": ids}
            ),
        }
        _save(sess, export_dir, signatures, main_op=v1.tables_initializer()).save()
