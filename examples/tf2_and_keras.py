"""A TF1 model in TF2 code: exported as a native TF2 SavedModel, and used as a Keras 3 layer.

1. Trains a small two-layer regressor the way a TensorFlow 1.x script did
   (graph mode, reference variables, a Session) and exports it with
   ``tf.compat.v1.saved_model.Builder``.
2. Logs it with ``mlflow_tf1.log_model``.
3. ``export_tf2`` writes it as a native TF2 SavedModel (checked against the
   TF1 graph before it returns); ``tf.saved_model.load`` reloads it.
4. ``keras_layer`` puts it in Keras models: frozen, as a feature extractor
   under a new head, then trainable, fine-tuned on a shifted target.

Run ``python examples/tf2_and_keras.py`` from any folder. Unless
MLFLOW_TRACKING_URI is set, it uses MLflow's embedded store and so creates
``mlflow.db`` and ``mlruns/`` in the current folder.
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import keras
import mlflow
import numpy as np
import tensorflow as tf

import mlflow_tf1
from mlflow_tf1 import export_tf2, keras_layer

tf.get_logger().setLevel("ERROR")  # the TF1 API's deprecation warnings are expected here
v1 = tf.compat.v1
RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 4)).astype(np.float32)
Y = np.sin(X @ np.array([[1.0], [-2.0], [0.5], [1.5]], np.float32))


def train_and_export(export_dir: str) -> np.ndarray:
    """A TF1-era training script; returns its Session's predictions on X[:3]."""
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        y_true = v1.placeholder(tf.float32, [None, 1], name="y_true")
        # use_resource=False: the reference variables (VariableV2) TF 1.x created.
        init = v1.glorot_uniform_initializer(seed=0)
        w1 = v1.get_variable("hidden/w", [4, 8], initializer=init, use_resource=False)
        b1 = v1.get_variable(
            "hidden/b", [8], initializer=v1.zeros_initializer(), use_resource=False
        )
        w2 = v1.get_variable("out/w", [8, 1], initializer=init, use_resource=False)
        b2 = v1.get_variable("out/b", [1], initializer=v1.zeros_initializer(), use_resource=False)
        features = tf.tanh(tf.matmul(x, w1) + b1, name="features")
        y = tf.add(tf.matmul(features, w2), b2, name="y")
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(
            tf.reduce_mean((y - y_true) ** 2)
        )
        sess.run(v1.global_variables_initializer())
        for _ in range(300):
            sess.run(train_op, {x: X, y_true: Y})
        expected = sess.run(y, {x: X[:3]})

        builder = v1.saved_model.Builder(export_dir)
        signature = v1.saved_model.predict_signature_def(
            inputs={"x": x}, outputs={"features": features, "y": y}
        )
        builder.add_meta_graph_and_variables(
            sess, [v1.saved_model.SERVING], signature_def_map={"serving_default": signature}
        )
        builder.save()
    return expected


def mse(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(model.evaluate(x, y, verbose=0))


def main() -> None:
    if "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri("sqlite:///mlflow.db")

    with tempfile.TemporaryDirectory() as tmp:
        expected = train_and_export(os.path.join(tmp, "export"))
        with mlflow.start_run():
            uri = mlflow_tf1.log_model(os.path.join(tmp, "export"), name="model").model_uri
        print(f"logged {uri}")

        # 1. A native TF2 SavedModel, for tf.saved_model.load and TF Serving 2.
        out = export_tf2(uri, os.path.join(tmp, "tf2"))
        reloaded = tf.saved_model.load(out)
        y = reloaded.signatures["serving_default"](x=tf.constant(X[:3]))["y"].numpy()
        print(f"export_tf2 -> {sorted(reloaded.signatures)}, variables:")
        print("  ", sorted(f"{v.name} {v.shape}" for v in reloaded.variables))
        print("TF2 SavedModel y  ->", y.ravel().round(4))
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)

    # 2. Frozen feature extractor under a new Keras head, on a new target.
    extractor = keras_layer(uri, output_key="features")  # trainable=False by default
    inputs = keras.Input(shape=(4,))
    head = keras.Model(inputs, keras.layers.Dense(1)(extractor(inputs)))
    head.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    target = np.cos(X[:, :1])
    frozen = [w.numpy().copy() for w in extractor.weights]
    before = mse(head, X, target)
    head.fit(X, target, epochs=20, batch_size=32, verbose=0)
    print(f"frozen extractor + new head: mse {before:.4f} -> {mse(head, X, target):.4f}")
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(frozen, extractor.weights, strict=True))

    # 3. Fine-tuning: the TF1 variables are the layer's trainable weights.
    layer = keras_layer(uri, output_key="y", trainable=True)
    model = keras.Sequential([keras.Input(shape=(4,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    shifted = Y + 0.5
    before = mse(model, X, shifted)
    model.fit(X, shifted, epochs=10, batch_size=32, verbose=0)
    after = mse(model, X, shifted)
    print(
        f"fine-tuned {[w.name for w in layer.trainable_weights]}: mse {before:.4f} -> {after:.4f}"
    )
    assert after < before

    print("\nThe TF2 export reproduces the TF1 Session; the Keras layers train as expected.")


if __name__ == "__main__":
    main()
