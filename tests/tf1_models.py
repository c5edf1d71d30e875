"""TF1-style SavedModel fixtures and an independent ``Session``-based oracle.

``mlflow-tf1`` exists to serve SavedModels written by TensorFlow 1.x training
scripts. Those models are graph-mode artefacts with features TF2 code rarely
produces: v1 control flow (``Enter``/``Exit``/``Merge``/``Switch``), asset
files plus ``main_op`` table initialisers, COO-sparse signature inputs,
text-format ``saved_model.pbtxt``, several MetaGraphs per SavedModel,
partitioned variables and reference variables. Each ``build_*`` function below
writes one such SavedModel the way an old training script would, using only the
``tf.compat.v1`` graph API (no eager code).

``session_predict`` is the ground truth the tests compare against: it loads the
SavedModel with the TF1 loader into a fresh ``Graph``/``Session`` and runs a
signature directly. It depends on nothing but TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
PathLike = str | os.PathLike[str]

SERVE = v1.saved_model.tag_constants.SERVING
DEFAULT_SIGNATURE = v1.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY
PREDICT_METHOD = v1.saved_model.signature_constants.PREDICT_METHOD_NAME
VOCABULARY = ("apple", "banana", "cherry")


@contextlib.contextmanager
def _tf1_session(
    *, control_flow_v2: bool | None = None, resource_variables: bool | None = None
) -> Iterator[v1.Session]:
    """Open a Session on a fresh Graph, temporarily setting the v1/v2 toggles.

    The global toggles are restored on exit so builders leave no trace.
    """
    saved_cf = v1.control_flow_v2_enabled()
    saved_rv = v1.resource_variables_enabled()
    try:
        if control_flow_v2 is not None:
            (v1.enable_control_flow_v2 if control_flow_v2 else v1.disable_control_flow_v2)()
        if resource_variables is not None:
            (
                v1.enable_resource_variables
                if resource_variables
                else v1.disable_resource_variables
            )()
        with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
            yield sess
    finally:
        (v1.enable_control_flow_v2 if saved_cf else v1.disable_control_flow_v2)()
        (v1.enable_resource_variables if saved_rv else v1.disable_resource_variables)()


def _info(tensor: Any) -> Any:
    return v1.saved_model.utils.build_tensor_info(tensor)


def _signature(inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """``build_signature_def`` (unlike ``predict_signature_def``) allows no inputs."""
    return v1.saved_model.signature_def_utils.build_signature_def(
        inputs={k: _info(t) for k, t in inputs.items()},
        outputs={k: _info(t) for k, t in outputs.items()},
        method_name=PREDICT_METHOD,
    )


def _save(
    sess: v1.Session,
    export_dir: PathLike,
    signatures: Mapping[str, Any],
    tags: Iterable[str] = (SERVE,),
    **kwargs: Any,
) -> v1.saved_model.Builder:
    """Initialise variables and write a single-MetaGraph SavedModel."""
    sess.run(v1.global_variables_initializer())
    builder = v1.saved_model.Builder(os.fspath(export_dir))
    builder.add_meta_graph_and_variables(
        sess, list(tags), signature_def_map=dict(signatures), **kwargs
    )
    return builder


def build_while_loop(export_dir: PathLike) -> None:
    """v1 control flow: ``Enter``/``Exit``/``Merge``/``Switch``/``NextIteration``.

    ``serving_default``: ``start`` (float32 [-1], placeholder ``x_in``) ->
    ``result``: each element doubled until it exceeds 100 (at most 20 rounds).
    """
    with _tf1_session(control_flow_v2=False) as sess:
        x = v1.placeholder(tf.float32, [None], name="x_in")
        _, y = v1.while_loop(
            lambda i, v: tf.reduce_any(v <= 100.0),
            lambda i, v: (i + 1, tf.where(v <= 100.0, v * 2.0, v)),
            (tf.constant(0), x),
            maximum_iterations=20,
        )
        y = tf.identity(y, name="doubled")
        assert any(op.type == "Enter" for op in sess.graph.get_operations())
        _save(sess, export_dir, {DEFAULT_SIGNATURE: _signature({"start": x}, {"result": y})}).save()


def build_asset_table(export_dir: PathLike) -> None:
    """Asset file + hash table initialised by ``main_op``.

    ``serving_default``: ``words`` (string [-1]) -> ``ids`` (int64 [-1]):
    apple=0, banana=1, cherry=2, anything else -1. The vocabulary is written to
    a temp dir that is deleted after saving, so only the copy under
    ``assets/`` can satisfy the loader.
    """
    tmp = tempfile.mkdtemp()
    try:
        vocab = os.path.join(tmp, "vocab.txt")
        with open(vocab, "w") as f:
            f.write("\n".join(VOCABULARY) + "\n")
        with _tf1_session() as sess:
            words = v1.placeholder(tf.string, [None], name="input_words")
            init = v1.lookup.TextFileInitializer(
                vocab,
                tf.string,
                v1.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                v1.lookup.TextFileIndex.LINE_NUMBER,
            )
            table = v1.lookup.StaticHashTable(init, default_value=-1)
            ids = tf.identity(table.lookup(words), name="word_ids")
            _save(
                sess,
                export_dir,
                {DEFAULT_SIGNATURE: _signature({"words": words}, {"ids": ids})},
                assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                main_op=tf.group(v1.tables_initializer(), name="init_tables"),
            ).save()
    finally:
        shutil.rmtree(tmp)


def build_sparse_input(export_dir: PathLike) -> None:
    """A ``coo_sparse`` signature input next to a dense one.

    ``serving_default``: ``sp`` (SparseTensor float32 [-1, 4]) and ``scale``
    (float32 [-1]) -> ``row_sums`` (float32 [-1]) = sum(sp, axis=1) * scale and
    ``dense`` = sp as a dense matrix (its width is the dense_shape fed).
    """
    with _tf1_session() as sess:
        sp = v1.sparse_placeholder(tf.float32, [None, 4], name="sp_in")
        scale = v1.placeholder(tf.float32, [None], name="scale_in")
        row_sums = tf.multiply(tf.sparse.reduce_sum(sp, axis=1), scale, name="row_sums")
        dense = tf.sparse.to_dense(sp, name="dense")
        sig = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"sp": sp, "scale": scale}, outputs={"row_sums": row_sums, "dense": dense}
        )
        assert sig.inputs["sp"].WhichOneof("encoding") == "coo_sparse"
        _save(sess, export_dir, {DEFAULT_SIGNATURE: sig}).save()


def build_sparse_rank3(export_dir: PathLike) -> None:
    """``serving_default``: ``sp`` (SparseTensor float32 [-1, 2, 3]) -> ``total`` = sum(sp)."""
    with _tf1_session() as sess:
        sp = v1.sparse_placeholder(tf.float32, [None, 2, 3], name="sp_in")
        total = tf.sparse.reduce_sum(sp, name="total")
        sig = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"sp": sp}, outputs={"total": total}
        )
        _save(sess, export_dir, {DEFAULT_SIGNATURE: sig}).save()


def build_bare_tensor_names(export_dir: PathLike) -> None:
    """``serving_default``: ``x`` (float32 [-1]) -> ``y`` = 3x, its TensorInfos naming bare
    ops (``x``, ``y``, no ``:0``), as hand-written exports do; TF Serving serves those."""
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        y = tf.identity(x * 3.0, name="y")
        sig = v1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y})
        sig.inputs["x"].name, sig.outputs["y"].name = "x", "y"
        _save(sess, export_dir, {DEFAULT_SIGNATURE: sig}).save()


def build_pbtxt(export_dir: PathLike) -> None:
    """Text-format SavedModel: ``saved_model.pbtxt`` and no ``saved_model.pb``.

    ``serving_default``: ``x`` (float32 [-1]) -> ``y`` = 3x - 1 (variables).
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        w = v1.Variable(3.0, name="w")
        b = v1.Variable(-1.0, name="b")
        y = tf.add(w * x, b, name="y")
        _save(sess, export_dir, {DEFAULT_SIGNATURE: _signature({"x": x}, {"y": y})}).save(
            as_text=True
        )


def build_multi_metagraph(export_dir: PathLike) -> None:
    """Two MetaGraphs sharing one checkpoint.

    tags ``["serve"]``, ``serving_default``: ``x`` -> ``y`` = x + 1;
    tags ``["train"]``, ``train_sig``: ``x`` -> ``y`` = x * 10 (float32 [-1]).
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        one = v1.Variable(1.0, name="one")
        ten = v1.Variable(10.0, name="ten")
        builder = _save(
            sess,
            export_dir,
            {DEFAULT_SIGNATURE: _signature({"x": x}, {"y": tf.add(x, one, name="plus_one")})},
        )
        builder.add_meta_graph(
            ["train"],
            signature_def_map={
                "train_sig": _signature({"x": x}, {"y": tf.multiply(x, ten, name="times_ten")})
            },
        )
        builder.save()


def build_two_tagsets_no_serve(export_dir: PathLike) -> None:
    """Two MetaGraphs, neither tagged ``serve``; each has ``serving_default``.

    tags ``["alpha"]``: ``x`` -> ``y`` = x + 1; tags ``["beta"]``: ``x`` ->
    ``y`` = x * 10 (float32 [-1]).
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        alpha = _signature({"x": x}, {"y": tf.add(x, 1.0, name="alpha_y")})
        beta = _signature({"x": x}, {"y": tf.multiply(x, 10.0, name="beta_y")})
        builder = _save(sess, export_dir, {DEFAULT_SIGNATURE: alpha}, tags=["alpha"])
        builder.add_meta_graph(["beta"], signature_def_map={DEFAULT_SIGNATURE: beta})
        builder.save()


def build_partitioned_vars(export_dir: PathLike) -> None:
    """A ``PartitionedVariable`` (3 shards of a [6, 2] weight).

    ``serving_default``: ``x`` (float32 [-1, 6]) -> ``y`` (float32 [-1, 2]) =
    x @ W with W = arange(12).reshape(6, 2).
    """
    full = np.arange(12, dtype=np.float32).reshape(6, 2)

    def init(shape: Any, dtype: Any = None, partition_info: Any = None) -> tf.Tensor:
        start = partition_info.var_offset[0] if partition_info is not None else 0
        return tf.constant(full[start : start + shape[0]], dtype=dtype)

    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None, 6], name="features")
        w = v1.get_variable("W", [6, 2], tf.float32, init, partitioner=v1.fixed_size_partitioner(3))
        assert len(list(w)) == 3
        y = tf.matmul(x, w, name="logits")
        _save(sess, export_dir, {DEFAULT_SIGNATURE: _signature({"x": x}, {"y": y})}).save()


def build_mixed_dtypes(export_dir: PathLike) -> None:
    """Many dtypes, a true scalar input, and two signatures sharing a placeholder.

    ``serving_default`` inputs: ``i32`` int32 [-1], ``flag`` bool [-1],
    ``half`` float16 [-1], ``dbl`` float64 [-1], ``pix`` uint8 [-1, 2, 2],
    ``text`` string [-1], ``bias`` float32 [] (scalar). Outputs: ``sum``
    float64 [-1], ``flag_out`` bool, ``text_len`` int32, ``upper`` string.
    ``only_text``: ``t`` (the same text placeholder) -> ``upper``.
    """
    with _tf1_session() as sess:
        i32 = v1.placeholder(tf.int32, [None], name="ph_int")
        flag = v1.placeholder(tf.bool, [None], name="ph_flag")
        half = v1.placeholder(tf.float16, [None], name="ph_half")
        dbl = v1.placeholder(tf.float64, [None], name="ph_dbl")
        pix = v1.placeholder(tf.uint8, [None, 2, 2], name="ph_pix")
        text = v1.placeholder(tf.string, [None], name="ph_text")
        bias = v1.placeholder(tf.float32, [], name="ph_bias")
        f64 = tf.float64
        total = tf.add_n(
            [
                tf.cast(i32, f64),
                tf.cast(half, f64),
                dbl,
                tf.reduce_sum(tf.cast(pix, f64), [1, 2]),
                tf.fill(tf.shape(dbl), tf.cast(bias, f64)),
            ],
            name="out_sum",
        )
        upper = tf.strings.upper(text, name="out_upper")
        outputs = {
            "sum": total,
            "flag_out": tf.logical_not(flag, name="out_flag"),
            "text_len": tf.strings.length(text, name="out_len"),
            "upper": upper,
        }
        inputs = {
            "i32": i32,
            "flag": flag,
            "half": half,
            "dbl": dbl,
            "pix": pix,
            "text": text,
            "bias": bias,
        }
        signatures = {
            DEFAULT_SIGNATURE: _signature(inputs, outputs),
            "only_text": _signature({"t": text}, {"upper": upper}),
        }
        _save(sess, export_dir, signatures).save()


def build_image_classifier(export_dir: PathLike) -> None:
    """TF Serving's image-classifier shape: encoded image bytes in, a score per image out.

    ``serving_default``: ``image_bytes`` string [-1] (JPEG or PNG, any size) ->
    ``brightness``: the mean pixel after decoding to RGB and resizing to 8x8.
    """
    with _tf1_session() as sess:
        images = v1.placeholder(tf.string, [None], name="image_bytes")

        def decode(encoded: tf.Tensor) -> tf.Tensor:
            pixels = tf.image.decode_jpeg(encoded, channels=3)
            return tf.reduce_mean(v1.image.resize_bilinear(tf.cast([pixels], tf.float32), [8, 8]))

        brightness = tf.map_fn(decode, images, dtype=tf.float32, name="brightness")
        signature = _signature({"image_bytes": images}, {"brightness": brightness})
        _save(sess, export_dir, {DEFAULT_SIGNATURE: signature}).save()


def build_pixel_means(export_dir: PathLike) -> None:
    """Images as a DataFrame of array cells: one uint8 and one float32 signature.

    ``serving_default``: ``pixels`` uint8 [-1, 8, 8, 3] -> ``mean`` float32 [-1],
    the mean pixel value. ``scaled``: ``images`` float32 [-1, 8, 8, 3] ->
    ``mean`` float32 [-1], the same mean.
    """
    with _tf1_session() as sess:
        pixels = v1.placeholder(tf.uint8, [None, 8, 8, 3], name="pixels")
        images = v1.placeholder(tf.float32, [None, 8, 8, 3], name="images")
        pixel_mean = tf.reduce_mean(tf.cast(pixels, tf.float32), [1, 2, 3], name="pixel_mean")
        image_mean = tf.reduce_mean(images, [1, 2, 3], name="image_mean")
        signatures = {
            DEFAULT_SIGNATURE: _signature({"pixels": pixels}, {"mean": pixel_mean}),
            "scaled": _signature({"images": images}, {"mean": image_mean}),
        }
        _save(sess, export_dir, signatures).save()


def build_scalar_text(export_dir: PathLike) -> None:
    """One scalar string input (a query, a document): ``text`` string [] -> ``length`` int32 []."""
    with _tf1_session() as sess:
        text = v1.placeholder(tf.string, [], name="text")
        length = tf.strings.length(text, unit="UTF8_CHAR", name="length")
        _save(
            sess, export_dir, {DEFAULT_SIGNATURE: _signature({"text": text}, {"length": length})}
        ).save()


def build_numeric_text(export_dir: PathLike) -> None:
    """Numbers sent as text, as CSV-fed graphs take them: ``amount`` string [-1] -> ``doubled``."""
    with _tf1_session() as sess:
        amount = v1.placeholder(tf.string, [None], name="amount")
        doubled = tf.multiply(tf.strings.to_number(amount), 2.0, name="doubled")
        signature = _signature({"amount": amount}, {"doubled": doubled})
        _save(sess, export_dir, {DEFAULT_SIGNATURE: signature}).save()


def build_one_row_graph(export_dir: PathLike) -> None:
    """Exported for batches of exactly one (as mobile and detection exports often are).

    ``serving_default``: ``image`` float32 [1, 4, 4, 3] -> ``features`` float32 [1, 2]:
    a 3x3 convolution (fixed weights), averaged over the image.
    """
    with _tf1_session() as sess:
        image = v1.placeholder(tf.float32, [1, 4, 4, 3], name="image")
        kernel = v1.Variable(np.linspace(-1.0, 1.0, 54).reshape(3, 3, 3, 2), dtype=tf.float32)
        conv = tf.nn.conv2d(image, kernel, 1, "SAME")
        features = tf.reduce_mean(conv, axis=[1, 2], name="features")
        signature = _signature({"image": image}, {"features": features})
        _save(sess, export_dir, {DEFAULT_SIGNATURE: signature}).save()


def build_checked_input(export_dir: PathLike) -> None:
    """A graph that validates its data: ``kelvin`` float32 [-1] must be >= 200.

    ``serving_default`` -> ``celsius`` = kelvin - 273.15; smaller values fail the
    graph's own assertion (so no small generated batch can run it).
    """
    with _tf1_session() as sess:
        kelvin = v1.placeholder(tf.float32, [None], name="kelvin")
        check = v1.assert_greater_equal(kelvin, 200.0, message="kelvin below 200")
        with tf.control_dependencies([check]):
            celsius = tf.subtract(kelvin, 273.15, name="celsius")
        signature = _signature({"kelvin": kelvin}, {"celsius": celsius})
        _save(sess, export_dir, {DEFAULT_SIGNATURE: signature}).save()


def build_no_inputs(export_dir: PathLike) -> None:
    """A signature with no inputs; no ``serving_default`` at all.

    ``get_version``: () -> ``version`` (int32 scalar, read from a variable = 7).
    """
    with _tf1_session() as sess:
        version = v1.Variable(7, dtype=tf.int32, name="model_version")
        out = tf.identity(version, name="version")
        _save(sess, export_dir, {"get_version": _signature({}, {"version": out})}).save()


def build_reference_counter(export_dir: PathLike) -> None:
    """TF Serving's counter model: a stateful reference (non-resource) variable.

    ``incr``: () -> ``output`` = assign_add(counter, 1) (float32 scalar);
    ``get``: () -> ``output`` = the variable itself, so its TensorInfo dtype is
    ``DT_FLOAT_REF`` exactly as TF1 wrote it. No ``serving_default``.
    """
    with _tf1_session(resource_variables=False) as sess:
        counter = v1.Variable(0.0, name="counter")
        assert counter.op.type == "VariableV2"
        incr = v1.assign_add(counter, 1.0, name="incr_counter")
        signatures = {
            "incr": _signature({}, {"output": incr}),
            "get": _signature({}, {"output": counter}),
        }
        _save(sess, export_dir, signatures).save()


def session_predict(
    export_dir: PathLike,
    signature_name: str = DEFAULT_SIGNATURE,
    feeds: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (SERVE,),
) -> dict[str, Any]:
    """Run one signature of a SavedModel with the TF1 loader and a ``Session``.

    ``feeds`` maps signature input keys to numpy arrays, or to a
    ``tf.compat.v1.SparseTensorValue`` for ``coo_sparse`` inputs. Returns
    ``{output_key: np.ndarray}`` (a ``SparseTensorValue`` for sparse outputs).
    Every signature input must be fed; unknown keys are an error.
    """
    feeds = dict(feeds or {})
    # Soft placement and cleared devices, as TF Serving runs GPU-pinned graphs on a CPU host.
    config = v1.ConfigProto(allow_soft_placement=True)
    with v1.Graph().as_default() as graph, v1.Session(graph=graph, config=config) as sess:
        meta_graph = v1.saved_model.loader.load(
            sess, list(tags), os.fspath(export_dir), clear_devices=True
        )
        collections = meta_graph.collection_def
        if not ({"saved_model_main_op", "legacy_init_op"} & set(collections)) and (
            "__saved_model_init_op" not in meta_graph.signature_def
        ):
            # No main op (tf.Transform graphs): initialize tables as TF Transform does.
            from tensorflow.python.saved_model import loader_impl

            assets = loader_impl.get_asset_tensors(os.fspath(export_dir), meta_graph)
            sess.run(v1.tables_initializer(), feed_dict=assets)
        signature = meta_graph.signature_def[signature_name]
        missing = set(signature.inputs) - set(feeds)
        unknown = set(feeds) - set(signature.inputs)
        if missing or unknown:
            raise ValueError(f"missing inputs {sorted(missing)}, unknown {sorted(unknown)}")

        feed_dict: dict[str, Any] = {}
        for key, info in signature.inputs.items():
            encoding = info.WhichOneof("encoding")
            if encoding == "name":
                feed_dict[info.name] = np.asarray(feeds[key])
            elif encoding == "coo_sparse":
                value = feeds[key]
                coo = info.coo_sparse
                feed_dict[coo.indices_tensor_name] = np.asarray(value.indices, np.int64)
                feed_dict[coo.values_tensor_name] = np.asarray(value.values)
                feed_dict[coo.dense_shape_tensor_name] = np.asarray(value.dense_shape, np.int64)
            else:
                raise NotImplementedError(f"input {key!r} has encoding {encoding!r}")

        fetches: dict[str, Any] = {}
        for key, info in signature.outputs.items():
            encoding = info.WhichOneof("encoding")
            if encoding == "name":
                fetches[key] = info.name
            elif encoding == "coo_sparse":
                coo = info.coo_sparse
                fetches[key] = v1.SparseTensorValue(
                    coo.indices_tensor_name, coo.values_tensor_name, coo.dense_shape_tensor_name
                )
            else:
                raise NotImplementedError(f"output {key!r} has encoding {encoding!r}")

        results = sess.run(fetches, feed_dict=feed_dict)
    return {
        k: v if isinstance(v, v1.SparseTensorValue) else np.asarray(v) for k, v in results.items()
    }


def build_estimator_style(export_dir: PathLike) -> None:
    """An Estimator-style export: serialized tf.Examples parsed by ``ParseExampleV2``.

    Features: ``age`` float [1] default 30; ``scores`` float [3] required
    (fixed-length multi-valued); ``tags`` var-len string; ``count`` int64 [1]
    default 0; ``city`` string [1] default "unknown". ``serving_default``
    (predict, input ``examples``) -> ``score`` = 0.1 * age + sum(scores) +
    count + 100 * (tags contain "a") + 1000 * (city == "paris");
    ``regression`` (regress, input ``inputs``) -> ``outputs`` = score.
    """
    with _tf1_session() as sess:
        serialized = v1.placeholder(tf.string, [None], name="input_example_tensor")
        spec = {
            "age": v1.io.FixedLenFeature([1], tf.float32, default_value=[30.0]),
            "scores": v1.io.FixedLenFeature([3], tf.float32),
            "tags": v1.io.VarLenFeature(tf.string),
            "count": v1.io.FixedLenFeature([1], tf.int64, default_value=[0]),
            "city": v1.io.FixedLenFeature([1], tf.string, default_value=["unknown"]),
        }
        features = v1.io.parse_example(serialized, spec)
        tags = v1.sparse.to_dense(features["tags"], default_value="")
        has_a = tf.cast(tf.reduce_any(tf.equal(tags, "a"), axis=1), tf.float32)
        score = (
            0.1 * features["age"][:, 0]
            + tf.reduce_sum(features["scores"], axis=1)
            + tf.cast(features["count"][:, 0], tf.float32)
            + 100.0 * has_a
            + 1000.0 * tf.cast(tf.equal(features["city"][:, 0], "paris"), tf.float32)
        )
        regress = v1.saved_model.signature_def_utils.regression_signature_def(serialized, score)
        signatures = {
            DEFAULT_SIGNATURE: _signature({"examples": serialized}, {"score": score}),
            "regression": regress,
        }
        _save(sess, export_dir, signatures).save()


def build_batch_sized_classifier(export_dir: PathLike) -> None:
    """A canned-classifier-style export whose input is read beyond its parser.

    Features: ``age`` float [1] required, ``tags`` var-len string. ``serving_default``
    (classify, input ``inputs``) -> ``scores`` = [age + count(tags), -age] and
    ``classes`` = ["pos", "neg"] tiled to the batch size of the serialized input
    (``tf.shape(serialized)``), as Estimator heads build their class labels.
    """
    with _tf1_session() as sess:
        serialized = v1.placeholder(tf.string, [None], name="input_example_tensor")
        spec = {
            "age": v1.io.FixedLenFeature([1], tf.float32),
            "tags": v1.io.VarLenFeature(tf.string),
        }
        features = v1.io.parse_example(serialized, spec)
        tags = features["tags"]
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(tags.values, tf.float32), tags.indices[:, 0], tags.dense_shape[0]
        )
        age = features["age"][:, 0]
        scores = tf.stack([age + counts, -age], axis=1)
        classes = tf.tile(tf.constant([["pos", "neg"]]), [tf.shape(serialized)[0], 1])
        signature = v1.saved_model.signature_def_utils.classification_signature_def(
            serialized, classes, scores
        )
        _save(sess, export_dir, {DEFAULT_SIGNATURE: signature}).save()


def build_sequence_features(export_dir: PathLike) -> None:
    """tf.Examples with a sequence feature, and with a ragged one raw columns can't feed.

    ``serving_default`` (predict, input ``examples``) -> ``y`` = sum(seq) * w, with ``seq`` a
    FixedLenSequenceFeature (float, padded with -1.0, so padding shows in the sum) and
    ``w`` float default 1.0. ``ragged`` (input ``examples``) -> ``total`` = sum(r), ``r`` a
    RaggedFeature (int64).
    """
    with _tf1_session() as sess:
        serialized = v1.placeholder(tf.string, [None], name="input_example_tensor")
        spec = {
            "seq": v1.io.FixedLenSequenceFeature(
                [], tf.float32, allow_missing=True, default_value=-1.0
            ),
            "w": v1.io.FixedLenFeature([], tf.float32, default_value=1.0),
        }
        features = v1.io.parse_example(serialized, spec)
        y = tf.reduce_sum(features["seq"], axis=1) * features["w"]
        other = v1.placeholder(tf.string, [None], name="ragged_examples")
        ragged = v1.io.parse_example(other, {"r": tf.io.RaggedFeature(tf.int64)})["r"]
        signatures = {
            DEFAULT_SIGNATURE: _signature({"examples": serialized}, {"y": y}),
            "ragged": _signature({"examples": other}, {"total": tf.reduce_sum(ragged, axis=1)}),
        }
        _save(sess, export_dir, signatures).save()


def build_reads_files(export_dir: PathLike) -> None:
    """A graph that reads any file it is given (``ReadFile``) and calls Python (``PyFunc``).

    ``serving_default``: ``path`` (string [-1]) -> ``contents``; ``shout``:
    ``text`` -> ``loud`` through ``tf.compat.v1.py_func``; ``safe``: ``x`` -> ``x + 1``.
    """
    with _tf1_session() as sess:
        path = v1.placeholder(tf.string, [None], name="path")
        contents = tf.map_fn(tf.io.read_file, path)
        text = v1.placeholder(tf.string, [None], name="text")
        loud = v1.py_func(lambda t: t, [text], tf.string)
        x = v1.placeholder(tf.float32, [None], name="x")
        signatures = {
            DEFAULT_SIGNATURE: _signature({"path": path}, {"contents": contents}),
            "shout": _signature({"text": text}, {"loud": loud}),
            "safe": _signature({"x": x}, {"y": x + 1.0}),
        }
        _save(sess, export_dir, signatures).save()


def corrupt(export_dir: PathLike, how: str) -> None:
    """Damage a SavedModel the ways real exports get damaged."""
    from tensorflow.core.protobuf import saved_model_pb2

    root = Path(export_dir)
    pb = root / "saved_model.pb"
    if how == "truncated_pb":
        pb.write_bytes(pb.read_bytes()[:200])
    elif how == "random_pb":
        pb.write_bytes(np.random.default_rng(0).bytes(4096))
    elif how in ("unknown_op", "missing_tensor"):
        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString(pb.read_bytes())
        graph = proto.meta_graphs[0]
        if how == "unknown_op":
            arithmetic = {"Mul", "MatMul", "Add", "AddV2"}
            next(n for n in graph.graph_def.node if n.op in arithmetic).op = "LegacyContribMul"
        else:
            outputs = graph.signature_def[DEFAULT_SIGNATURE].outputs
            next(iter(outputs.values())).name = "no_such_node:0"
        pb.write_bytes(proto.SerializeToString())
    elif how == "no_variables":
        shutil.rmtree(root / "variables")
    elif how == "corrupt_variables":
        data = next((root / "variables").glob("variables.data-*"))
        data.write_bytes(b"\x00" * 3)
    else:
        raise ValueError(how)


def _classifier(sess: v1.Session) -> None:
    """A small dense classifier, as old image/tabular training scripts built one:
    ``x`` float [-1, 3] -> ``logits`` [-1, 2] -> ``probs`` (softmax)."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    weights = v1.get_variable("w", initializer=np.arange(6, dtype=np.float32).reshape(3, 2) / 5)
    bias = v1.get_variable("b", initializer=np.array([0.5, -0.5], np.float32))
    logits = tf.add(tf.matmul(x, weights), bias, name="logits")
    tf.nn.softmax(logits, name="probs")
    sess.run(v1.global_variables_initializer())


def build_frozen_graph(path: PathLike) -> None:
    """``frozen_inference_graph.pb`` style: variables folded into constants.

    A ``.pbtxt`` suffix writes the text format.
    """
    with _tf1_session() as sess:
        _classifier(sess)
        frozen = v1.graph_util.convert_variables_to_constants(
            sess, sess.graph.as_graph_def(), ["probs"]
        )
    path = Path(path)
    v1.io.write_graph(frozen, str(path.parent), path.name, as_text=path.suffix == ".pbtxt")


def build_checkpoint(folder: PathLike) -> Path:
    """``model.ckpt-N`` written by ``tf.compat.v1.train.Saver``; returns the ``.meta`` file."""
    with _tf1_session() as sess:
        _classifier(sess)
        prefix = v1.train.Saver().save(sess, os.path.join(folder, "model.ckpt"), global_step=7)
    return Path(prefix + ".meta")


def frozen_graph_predict(path: PathLike, feeds: Mapping[str, Any], fetches: list[str]) -> list:
    """The oracle for frozen graphs: the GraphDef imported into a raw Session."""
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        v1.import_graph_def(graph_def, name="")
        return sess.run(fetches, feed_dict=dict(feeds))


def checkpoint_predict(meta: PathLike, feeds: Mapping[str, Any], fetches: list[str]) -> list:
    """The oracle for checkpoints: ``import_meta_graph`` + ``restore`` in a raw Session."""
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        saver = v1.train.import_meta_graph(os.fspath(meta))
        saver.restore(sess, os.fspath(meta).removesuffix(".meta"))
        return sess.run(fetches, feed_dict=dict(feeds))


def build_frozen_table(path: PathLike) -> None:
    """A frozen vocabulary lookup: ``word`` string [-1] -> ``id`` int64 (a=1, b=2, else -1).

    Frozen with its ``init_all_tables`` node, as exporters of lookup graphs did.
    """
    with _tf1_session() as sess:
        word = v1.placeholder(tf.string, [None], name="word")
        table = v1.lookup.StaticHashTable(
            v1.lookup.KeyValueTensorInitializer(["a", "b"], np.array([1, 2], np.int64)), -1
        )
        tf.identity(table.lookup(word), name="id")
        v1.tables_initializer(name="init_all_tables")
        frozen = v1.graph_util.convert_variables_to_constants(
            sess, sess.graph.as_graph_def(), ["id", "init_all_tables"]
        )
    path = Path(path)
    v1.io.write_graph(frozen, str(path.parent), path.name, as_text=False)


def build_unsigned_saved_model(export_dir: PathLike) -> None:
    """A SavedModel with no SignatureDef at all: ``x`` [-1, 1] -> ``y = 3x + w`` (w = 1).

    As some TF1 training code wrote them (``Builder`` with no signature map).
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        w = v1.get_variable("w", initializer=1.0)
        tf.add(3.0 * x, w, name="y")
        _save(sess, export_dir, {}).save()


def _length_delimited(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, hand-encoded (lengths stay under 128 here)."""
    assert len(payload) < 128
    return bytes([field << 3 | 2, len(payload)]) + payload


def _binding(tensor_name: str) -> bytes:
    return _length_delimited(1, tensor_name.encode())  # TensorBinding.tensor_name = 1


def build_session_bundle(folder: PathLike) -> None:
    """A TF Serving SessionBundle (``export.meta`` + ``export`` checkpoint), as
    ``session_bundle.exporter`` wrote it: ``y = 0.5x + b`` (b = 2.0).

    Its manifest (``serving_signatures``, a ``tensorflow.serving.Signatures`` in an
    Any) is hand-encoded from manifest.proto's field numbers: a default regression
    signature x -> y, and generic ``inputs``/``outputs`` named signatures.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        b = v1.get_variable("b", initializer=2.0)
        tf.add(0.5 * x, b, name="y")
        sess.run(v1.global_variables_initializer())
        saver = v1.train.Saver()
        saver.save(sess, os.fspath(folder / "export"), write_meta_graph=False)
        meta_graph = saver.export_meta_graph()
    regression = _length_delimited(1, _binding("x:0")) + _length_delimited(2, _binding("y:0"))
    default = _length_delimited(1, regression)  # Signature.regression_signature = 1

    def generic(key: str, tensor: str) -> bytes:  # Signature.generic_signature = 3
        entry = _length_delimited(1, key.encode()) + _length_delimited(2, _binding(tensor))
        return _length_delimited(3, _length_delimited(1, entry))

    named = b"".join(
        _length_delimited(2, _length_delimited(1, key.encode()) + _length_delimited(2, sig))
        for key, sig in (("inputs", generic("x", "x:0")), ("outputs", generic("y", "y:0")))
    )
    packed = meta_graph.collection_def["serving_signatures"].any_list.value.add()
    packed.type_url = "type.googleapis.com/tensorflow.serving.Signatures"
    packed.value = _length_delimited(1, default) + named
    (folder / "export.meta").write_bytes(meta_graph.SerializeToString())
