"""TF1 training-script exports for the TF2 export and Keras layer tests.

Each builder trains nothing but writes its graph the way a TF1 script did:
``tf.compat.v1`` placeholders and variables, an optimizer's train op left in
the graph, ``SavedModelBuilder``. Weights are fixed so tests can compute the
expected outputs by hand as well as with `tests.tf1_models.session_predict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tests.tf1_models import DEFAULT_SIGNATURE, PathLike, _save, _signature, _tf1_session, v1

W1 = np.array([[1.0, -1.0, 0.5, 0.0], [0.5, 1.0, -0.5, 1.0], [-1.0, 0.25, 1.0, 2.0]], np.float32)
B1 = np.array([0.1, 0.2, -0.1, 0.0], np.float32)
W2 = np.array([[1.0], [2.0], [-1.0], [0.5]], np.float32)
B2 = np.array([0.25], np.float32)
SCORE_W = np.array([[2.0], [-3.0]], np.float32)
SCORE_B = np.array([1.0], np.float32)


def dense_regressor(x: np.ndarray, w1=W1, b1=B1, w2=W2, b2=B2) -> dict[str, np.ndarray]:
    """The regressor's outputs computed in numpy, from any weights."""
    hidden = np.maximum(x @ w1 + b1, 0.0)
    return {"hidden": hidden, "y": hidden @ w2 + b2}


def build_dense_regressor(export_dir: PathLike, *, resource_variables: bool = True) -> None:
    """A two-layer regressor, saved with its SGD train op still in the graph.

    ``serving_default``: ``x`` (float32 [-1, 3]) -> ``hidden`` = relu(x W1 + b1)
    (float32 [-1, 4]) and ``y`` = hidden W2 + b2 (float32 [-1, 1]).
    ``scaled``: ``x`` and ``scale`` (float32 [-1, 1]) -> ``y`` = y * scale.
    """
    with _tf1_session(resource_variables=resource_variables) as sess:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        scale = v1.placeholder(tf.float32, [None, 1], name="scale")
        target = v1.placeholder(tf.float32, [None, 1], name="target")
        w1 = _variable("layer1/w", W1)
        assert w1.op.type == ("VarHandleOp" if resource_variables else "VariableV2")
        hidden = tf.nn.relu(tf.matmul(x, w1) + _variable("layer1/b", B1))
        y = tf.add(tf.matmul(hidden, _variable("layer2/w", W2)), _variable("layer2/b", B2))
        v1.train.GradientDescentOptimizer(0.01).minimize(tf.reduce_mean(tf.square(y - target)))
        signatures = {
            DEFAULT_SIGNATURE: _signature({"x": x}, {"hidden": hidden, "y": y}),
            "scaled": _signature({"x": x, "scale": scale}, {"y": y * scale}),
        }
        _save(sess, export_dir, signatures).save()


def score(x: np.ndarray, bonus: np.ndarray | None = None) -> np.ndarray:
    """The example scorer's output for rows ``x`` [n, 2] and per-row ``bonus``."""
    bonus = np.zeros(len(x), np.float32) if bonus is None else bonus
    return (x @ SCORE_W + SCORE_B)[:, 0] + bonus


def build_example_scorer(export_dir: PathLike) -> None:
    """Reference variables (``VariableV2``) read by a tf.Example signature and a dense one.

    ``serving_default``: ``examples`` (serialized tf.Example: ``x`` float [2]
    required, ``bonus`` float [1] default 0) -> ``score`` = x w + b + bonus
    (float32 [-1]). ``predict``: ``x`` (float32 [-1, 2]) -> ``score`` with no bonus.
    """
    with _tf1_session(resource_variables=False) as sess:
        w = _variable("score/w", SCORE_W)
        b = _variable("score/b", SCORE_B)
        assert w.op.type == "VariableV2"
        serialized = v1.placeholder(tf.string, [None], name="input_example_tensor")
        spec = {
            "x": v1.io.FixedLenFeature([2], tf.float32),
            "bonus": v1.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        }
        features = v1.io.parse_example(serialized, spec)
        parsed = (tf.matmul(features["x"], w) + b + features["bonus"])[:, 0]
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        dense = (tf.matmul(x, w) + b)[:, 0]
        loss = tf.reduce_mean(tf.square(parsed))
        v1.train.GradientDescentOptimizer(0.1).minimize(loss)  # ApplyGradientDescent on refs
        signatures = {
            DEFAULT_SIGNATURE: _signature({"examples": serialized}, {"score": parsed}),
            "predict": _signature({"x": x}, {"score": dense}),
        }
        _save(sess, export_dir, signatures).save()


def serialize_examples(x: np.ndarray, bonus: np.ndarray | None = None) -> np.ndarray:
    """Rows as serialized tf.Example protos (``bonus`` left out where None)."""
    protos = []
    for i, row in enumerate(x):
        example = tf.train.Example()
        example.features.feature["x"].float_list.value.extend(row.tolist())
        if bonus is not None:
            example.features.feature["bonus"].float_list.value.append(float(bonus[i]))
        protos.append(example.SerializeToString())
    return np.array(protos, dtype=object)


def build_resource_counter(export_dir: PathLike) -> None:
    """A counter on a resource variable: TF2 keeps its state, no output check can.

    ``incr``: () -> ``count`` = assign_add(counter, 1); ``read``: () -> ``count``.
    """
    with _tf1_session(resource_variables=True) as sess:
        counter = _variable("counter", np.float32(0.0))
        with tf.control_dependencies([counter.assign_add(1.0, read_value=False)]):
            incremented = tf.identity(counter.read_value())
        signatures = {
            "incr": _signature({}, {"count": incremented}),
            "read": _signature({}, {"count": counter.read_value()}),
        }
        _save(sess, export_dir, signatures).save()


def _variable(name: str, value: np.ndarray) -> Any:
    return v1.get_variable(name, initializer=tf.constant(value))
