"""TF1 SavedModels for the ONNX backend: dense graphs it converts, and ones it must not.

Written with the ``tf.compat.v1`` graph API as a TF1 training script would,
with fixed seeds so every build holds the same weights. Expected values come
from a raw Session (``tests.tf1_models.session_predict``), never from ONNX.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tests.tf1_models import DEFAULT_SIGNATURE, PathLike, _save, _signature, _tf1_session, v1

IMAGE = (12, 12, 3)
CLASSES = 5


def _weights(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, shape).astype(np.float32)


def build_mlp(export_dir: PathLike) -> None:
    """A ranking-tower MLP with resource variables.

    ``serving_default``: ``features`` (float32 [-1, 8]) -> ``score`` (float32
    [-1, 1]) = sigmoid(relu(x W1 + b1) W2 + b2), and ``rank`` (int64 [-1]):
    argmax of the hidden layer, an integer output compared exactly.
    """
    with _tf1_session(resource_variables=True) as sess:
        x = v1.placeholder(tf.float32, [None, 8], name="features")
        w1 = v1.get_variable("w1", initializer=_weights((8, 16), 1))
        b1 = v1.get_variable("b1", initializer=_weights((16,), 2))
        w2 = v1.get_variable("w2", initializer=_weights((16, 1), 3))
        hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
        score = tf.sigmoid(tf.matmul(hidden, w2) + 0.1, name="score")
        rank = tf.argmax(hidden, axis=1, name="rank")
        signature = _signature({"features": x}, {"score": score, "rank": rank})
        _save(sess, export_dir, {DEFAULT_SIGNATURE: signature}).save()


def build_cnn(export_dir: PathLike) -> None:
    """A small image classifier with reference variables, as TF 1.x wrote them.

    ``serving_default``: ``images`` (float32 [-1, 12, 12, 3]) -> ``probabilities``
    (float32 [-1, 5]): conv 3x3x8 + relu, 2x2 max-pool, conv 3x3x16 + relu,
    global mean, dense, softmax; ``classes`` (int64 [-1]) their argmax.
    """
    with _tf1_session(resource_variables=False) as sess:
        images = v1.placeholder(tf.float32, [None, *IMAGE], name="images")
        k1 = v1.Variable(_weights((3, 3, 3, 8), 4), name="conv1")
        k2 = v1.Variable(_weights((3, 3, 8, 16), 5), name="conv2")
        dense = v1.Variable(_weights((16, CLASSES), 6), name="dense")
        h = tf.nn.relu(tf.nn.conv2d(images, k1, strides=1, padding="SAME"))
        h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
        h = tf.nn.relu(tf.nn.conv2d(h, k2, strides=1, padding="SAME"))
        logits = tf.matmul(tf.reduce_mean(h, axis=[1, 2]), dense)
        probabilities = tf.nn.softmax(logits, name="probabilities")
        classes = tf.argmax(logits, axis=1, name="classes")
        signature = _signature(
            {"images": images}, {"probabilities": probabilities, "classes": classes}
        )
        _save(sess, export_dir, {DEFAULT_SIGNATURE: signature}).save()


def build_int_lookup(export_dir: PathLike) -> None:
    """A hash table (no ONNX mapping for a TF table) on an integer input.

    ``serving_default``: ``ids`` (int64 [-1]) -> ``codes`` (int64 [-1]): 10 -> 1,
    20 -> 2, 30 -> 3, anything else -1.
    """
    with _tf1_session() as sess:
        ids = v1.placeholder(tf.int64, [None], name="ids")
        initializer = v1.lookup.KeyValueTensorInitializer(
            tf.constant([10, 20, 30], tf.int64), tf.constant([1, 2, 3], tf.int64)
        )
        table = v1.lookup.StaticHashTable(initializer, default_value=-1)
        codes = tf.identity(table.lookup(ids), name="codes")
        _save(
            sess,
            export_dir,
            {DEFAULT_SIGNATURE: _signature({"ids": ids}, {"codes": codes})},
            main_op=tf.group(v1.tables_initializer(), name="init_tables"),
        ).save()


def build_labels(export_dir: PathLike) -> None:
    """A string output from a numeric input (ONNX Gather on a string constant).

    ``serving_default``: ``x`` (float32 [-1]) -> ``label`` (string [-1]):
    b"positive" where x > 0, else b"other".
    """
    with _tf1_session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        names = tf.constant([b"other", b"positive"])
        label = tf.gather(names, tf.cast(x > 0, tf.int32), name="label")
        _save(sess, export_dir, {DEFAULT_SIGNATURE: _signature({"x": x}, {"label": label})}).save()
