"""The cases of TensorFlow's own TF1-in-TF2 loader tests, through this flavor's doors.

``tensorflow/python/saved_model/load_v1_in_v2_test.py`` checks ``tf.saved_model.load``
on TF1 SavedModels; each of its models is rebuilt here with ``tf.compat.v1`` (our own
code, same graph shapes), logged, and run through ``mlflow.pyfunc`` and
``mlflow_tf1.load_model`` (eagerly and inside ``tf.function``). Expected values are
the arithmetic those tests assert.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import mlflow
import numpy as np
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests.tf1_models import SERVE, _tf1_session, v1


def _simple_save(sess, path, inputs, outputs, **kwargs) -> None:
    v1.saved_model.simple_save(sess, str(path), inputs=inputs, outputs=outputs, **kwargs)


def single_metagraph(path, use_resource: bool) -> None:
    with _tf1_session(resource_variables=use_resource) as sess:
        start = v1.placeholder(tf.float32, None, name="start")
        distractor = v1.Variable(-1.0, name="distractor", use_resource=False)
        v = v1.Variable(3.0, name="v", use_resource=use_resource)
        local = v1.Variable(
            1.0, collections=[v1.GraphKeys.LOCAL_VARIABLES], trainable=False, use_resource=True
        )
        output = tf.identity(start * v * local, name="output")
        sess.run([v.initializer, distractor.initializer, local.initializer])
        _simple_save(
            sess, path, {"start": start}, {"output": output}, legacy_init_op=local.initializer
        )


def asset_table(path, clear_shared_name: bool) -> None:
    vocab = os.path.join(os.path.dirname(path), f"vocab_{clear_shared_name}.txt")
    with open(vocab, "w") as f:
        f.write("alpha\nbeta\ngamma\n")
    with _tf1_session() as sess:
        initializer = v1.lookup.TextFileInitializer(
            vocab,
            tf.string,
            v1.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64,
            v1.lookup.TextFileIndex.LINE_NUMBER,
        )
        table = v1.lookup.StaticHashTable(initializer, default_value=-1)
        start = v1.placeholder(tf.string, None, name="in")
        output = table.lookup(start, name="out")
        if clear_shared_name:
            table.resource_handle.op._clear_attr("shared_name")
        sess.run(table.initializer)
        _simple_save(
            sess, path, {"start": start}, {"output": output}, legacy_init_op=table.initializer
        )
    os.remove(vocab)  # only the copy in assets/ can serve


def cond(path) -> None:
    with _tf1_session(control_flow_v2=False) as sess:
        selector = v1.placeholder(tf.bool, [], name="branch_selector")
        output = tf.cond(selector, lambda: tf.ones([]), lambda: tf.zeros([]))
        _simple_save(sess, path, {"branch_selector": selector}, {"output": output})


def while_loop(path, nested: bool) -> None:
    def inner(iterations):
        return v1.while_loop(
            lambda i, acc: i <= iterations,
            lambda i, acc: (i + 1, acc + i),
            [tf.constant(0), tf.constant(0)],
        )[1]

    with _tf1_session(control_flow_v2=False) as sess:
        iterations = v1.placeholder(tf.int32, [], name="loop_iterations")
        step = (lambda i, acc: (i + 1, acc + inner(i))) if nested else None
        output = v1.while_loop(
            lambda i, acc: i <= iterations,
            step or (lambda i, acc: (i + 1, acc + i)),
            [tf.constant(0), tf.constant(0)],
        )[1]
        _simple_save(sess, path, {"loop_iterations": iterations}, {"output": output})


def no_signatures(path) -> None:
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [], name="x")
        tf.identity(x + 1.0, name="out")
        builder = v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(sess, [SERVE], signature_def_map={})
        builder.save()


def _signature(inputs, outputs):
    info = v1.saved_model.utils.build_tensor_info
    return v1.saved_model.signature_def_utils.build_signature_def(
        {k: info(t) for k, t in inputs.items()}, {k: info(t) for k, t in outputs.items()}
    )


def no_inputs(path, unfed: bool) -> None:
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [], name="x")
        output = tf.random.normal([2])
        output = x * output if unfed else output
        builder = v1.saved_model.Builder(str(path))
        signatures = {"key": _signature({}, {"value": output})}
        builder.add_meta_graph_and_variables(sess, [SERVE], signature_def_map=signatures)
        builder.save()


def multi_metagraph(path) -> None:
    with _tf1_session(resource_variables=True) as sess:
        start = v1.placeholder(tf.float32, [None], name="start")
        v = v1.Variable(21.0, use_resource=True)
        first = tf.identity(start * v, name="first_output")
        second = tf.identity(v, name="second_output")
        sess.run(v.initializer)
        builder = v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(
            sess,
            ["first"],
            {"first_key": _signature({"first_start": start}, {"first_output": first})},
        )
        builder.add_meta_graph(
            ["second"],
            {"second_key": _signature({"second_start": start}, {"second_output": second})},
        )
        builder.save()


def sparse_output(path) -> None:
    with _tf1_session() as sess:
        start = v1.placeholder(tf.int64, [1])
        output = tf.SparseTensor(indices=[[0]], values=start, dense_shape=[1]) * 2
        _simple_save(sess, path, {"start": start}, {"output": output})


def sparse_input(path) -> None:
    with _tf1_session() as sess:
        start = v1.sparse_placeholder(tf.int64, [2, 2])
        output = tf.SparseTensor(start.indices, start.values, start.dense_shape) * 2
        _simple_save(sess, path, {"start": start}, {"output": output})


def defun(path) -> None:
    from tensorflow.python.framework import function

    with _tf1_session() as sess:

        @function.Defun(tf.int64)
        def z(x):
            return x + 1

        @function.Defun(tf.int64)
        def g(x):
            return z(x) + 1

        @function.Defun(tf.int64)
        def f(x):
            return g(x) + 1

        start = v1.placeholder(tf.int64, [1])
        _simple_save(sess, path, {"start": start}, {"output": f(start)})


def partitioned(path) -> None:
    with _tf1_session(resource_variables=True) as sess:
        variable = v1.get_variable(
            "a",
            shape=[6],
            initializer=v1.constant_initializer(13),
            partitioner=v1.fixed_size_partitioner(2),
            use_resource=True,
        )
        x = v1.placeholder(tf.float32, [])
        sess.run(v1.global_variables_initializer())
        _simple_save(sess, path, {"x": x}, {"y": x * variable})


# name: (builder, save options, [(signature, inputs, output key, expected output)])
CASES: dict[str, tuple[Callable, dict, list[tuple]]] = {
    "resource_variable_import": (
        lambda p: single_metagraph(p, True),
        {},
        [("serving_default", {"start": np.float32(2.0)}, "output", 6.0)],
    ),
    "ref_variable_import": (
        lambda p: single_metagraph(p, False),
        {},
        [("serving_default", {"start": np.float32(2.0)}, "output", 6.0)],
    ),
    "asset_loading": (
        lambda p: asset_table(p, False),
        {},
        [("serving_default", {"start": np.array([b"gamma", b"alpha"], object)}, "output", [2, 0])],
    ),
    "node_name_sharing": (
        lambda p: asset_table(p, True),
        {},
        [("serving_default", {"start": np.array([b"gamma", b"alpha"], object)}, "output", [2, 0])],
    ),
    "cond": (
        cond,
        {},
        [
            ("serving_default", {"branch_selector": np.bool_(True)}, "output", 1.0),
            ("serving_default", {"branch_selector": np.bool_(False)}, "output", 0.0),
        ],
    ),
    "while": (
        lambda p: while_loop(p, False),
        {},
        [
            ("serving_default", {"loop_iterations": np.int32(4)}, "output", 10),
            ("serving_default", {"loop_iterations": np.int32(5)}, "output", 15),
        ],
    ),
    "nested_while": (
        lambda p: while_loop(p, True),
        {},
        [
            ("serving_default", {"loop_iterations": np.int32(4)}, "output", 20),
            ("serving_default", {"loop_iterations": np.int32(5)}, "output", 35),
        ],
    ),
    "custom_pruning": (
        no_signatures,
        {"inputs": {"x": "x:0"}, "outputs": {"out": "out:0"}},
        [("serving_default", {"x": np.float32(1.0)}, "out", 2.0)],
    ),
    "multi_meta_graph_first": (
        multi_metagraph,
        {"meta_graph_tags": ["first"]},
        [("first_key", {"first_start": np.array([2.0], np.float32)}, "first_output", [42.0])],
    ),
    "multi_meta_graph_second": (
        multi_metagraph,
        {"meta_graph_tags": ["second"]},
        [("second_key", {"second_start": np.array([2.0], np.float32)}, "second_output", 21.0)],
    ),
    "load_defun": (
        defun,
        {},
        [("serving_default", {"start": np.array([42], np.int64)}, "output", [45])],
    ),
    "partitioned_variables": (
        partitioned,
        {},
        [("serving_default", {"x": np.float32(2.0)}, "y", [26.0] * 6)],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tf_loader_case(case, tmp_path):
    build, options, calls = CASES[case]
    export = tmp_path / "export"
    build(export)
    model_dir = str(tmp_path / "model")
    mlflow_tf1.save_model(str(export), model_dir, **options)
    pyfunc = mlflow.pyfunc.load_model(model_dir)
    native = mlflow_tf1.load_model(model_dir)
    for signature, inputs, key, expected in calls:
        params = {"signature_name": signature}
        np.testing.assert_allclose(pyfunc.predict(inputs, params=params)[key], expected)
        function = native.signatures[signature]
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        np.testing.assert_allclose(function(**tensors)[key].numpy(), expected)
        traced = tf.function(lambda f=function, t=tensors, k=key: f(**t)[k])
        np.testing.assert_allclose(traced().numpy(), expected)


def test_multi_meta_graph_needs_tags(tmp_path):
    multi_metagraph(tmp_path / "export")
    with pytest.raises(MlflowException, match="first") as refused:
        mlflow_tf1.save_model(str(tmp_path / "export"), str(tmp_path / "model"))
    assert "second" in refused.value.message


def test_signature_with_no_inputs(tmp_path):
    no_inputs(tmp_path / "export", unfed=False)
    model_dir = str(tmp_path / "model")
    mlflow_tf1.save_model(str(tmp_path / "export"), model_dir)
    assert mlflow.pyfunc.load_model(model_dir).predict(None)["value"].shape == (2,)
    assert mlflow_tf1.load_model(model_dir).signatures["key"]()["value"].shape == (2,)


def test_unfed_placeholder_is_refused(tmp_path):
    no_inputs(tmp_path / "export", unfed=True)
    with pytest.raises(MlflowException, match=r"placeholder\(s\) \['x'\]"):
        mlflow_tf1.save_model(str(tmp_path / "export"), str(tmp_path / "model"))


def test_sparse_output_and_input(tmp_path):
    sparse_output(tmp_path / "out_export")
    mlflow_tf1.save_model(str(tmp_path / "out_export"), str(tmp_path / "out"))
    start = np.array([42], np.int64)
    predicted = mlflow.pyfunc.load_model(str(tmp_path / "out")).predict({"start": start})
    np.testing.assert_array_equal(predicted["output"].values, [84])
    native = mlflow_tf1.load_model(str(tmp_path / "out")).signatures["serving_default"]
    np.testing.assert_array_equal(native(tf.constant(start))["output"].values.numpy(), [84])

    sparse_input(tmp_path / "in_export")
    mlflow_tf1.save_model(str(tmp_path / "in_export"), str(tmp_path / "in"))
    value = tf.compat.v1.SparseTensorValue(
        np.array([[0, 0], [0, 1], [1, 1]], np.int64), np.array([42, 43, 44], np.int64), [2, 2]
    )
    predicted = mlflow.pyfunc.load_model(str(tmp_path / "in")).predict({"start": value})
    np.testing.assert_array_equal(predicted["output"].values, [84, 86, 88])
    native = mlflow_tf1.load_model(str(tmp_path / "in")).signatures["serving_default"]
    np.testing.assert_array_equal(native(value)["output"].values.numpy(), [84, 86, 88])
