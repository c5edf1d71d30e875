"""Quickstart: a TF1 SavedModel logged, registered, loaded and predicted with MLflow 3.

1. Trains y = 3*x1 + 2*x2 + 1 the way a TensorFlow 1.x script did (graph mode,
   placeholders, a Session) and exports it with ``tf.compat.v1.saved_model.Builder``.
2. Logs it with ``mlflow_tf1.log_model`` and registers it as ``quickstart-tf1``.
3. Loads the registered version with ``mlflow.pyfunc`` and natively, and checks
   every prediction against the training Session's own.

Run ``python examples/quickstart.py`` from any folder. Unless MLFLOW_TRACKING_URI
is set, it uses MLflow's embedded store and so creates ``mlflow.db`` (runs and
registry) and ``mlruns/`` (artifacts) in the current folder; each run registers
a new version.
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf

import mlflow_tf1

tf.get_logger().setLevel("ERROR")  # the TF1 API's deprecation warnings are expected here
v1 = tf.compat.v1
MODEL_NAME = "quickstart-tf1"
X_TEST = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])  # y = 8, 0.5, 10


def train_and_export(export_dir: str) -> np.ndarray:
    """A TF1-era training script; returns its Session's predictions on X_TEST."""
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(256, 2)).astype(np.float32)
    y_train = x_train @ np.array([[3.0], [2.0]], np.float32) + 1.0
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        y_true = v1.placeholder(tf.float32, [None, 1], name="y_true")
        w = v1.get_variable("w", [2, 1], initializer=v1.zeros_initializer())
        b = v1.get_variable("b", [1], initializer=v1.zeros_initializer())
        y = tf.add(tf.matmul(x, w), b, name="y")
        loss = tf.reduce_mean(tf.square(y - y_true))
        train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        sess.run(v1.global_variables_initializer())
        for _ in range(200):
            sess.run(train_op, {x: x_train, y_true: y_train})
        expected = sess.run(y, {x: X_TEST})
        print(f"trained: w={sess.run(w).ravel().round(3)}, b={sess.run(b).round(3)}")

        builder = v1.saved_model.Builder(export_dir)
        signature = v1.saved_model.predict_signature_def(inputs={"x": x}, outputs={"y": y})
        builder.add_meta_graph_and_variables(
            sess, [v1.saved_model.SERVING], signature_def_map={"serving_default": signature}
        )
        builder.save()
    return expected


def main() -> None:
    if "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri("sqlite:///mlflow.db")

    with tempfile.TemporaryDirectory() as tmp:
        export_dir = os.path.join(tmp, "export")
        expected = train_and_export(export_dir)
        with mlflow.start_run():
            info = mlflow_tf1.log_model(
                export_dir,
                name="model",
                registered_model_name=MODEL_NAME,
                input_example={"x": [[1.0, 2.0]]},
            )
    uri = f"models:/{MODEL_NAME}/{info.registered_model_version}"
    print(f"registered {uri}")

    model = mlflow.pyfunc.load_model(uri)
    frame_out = model.predict(pd.DataFrame({"x": [row.tolist() for row in X_TEST]}))
    dict_out = model.predict({"x": X_TEST})  # float64 is cast to the graph's float32
    print("DataFrame in  ->\n", frame_out)
    print("dict in       ->", dict_out)
    np.testing.assert_allclose(frame_out["y"], expected[:, 0], atol=1e-5)
    np.testing.assert_allclose(dict_out["y"], expected, atol=1e-5)

    native = mlflow_tf1.load_model(uri)
    serving_default = native.signatures["serving_default"]

    @tf.function
    def predict(x: tf.Tensor) -> tf.Tensor:
        return serving_default(x=x)["y"]

    native_out = predict(tf.constant(X_TEST, tf.float32))
    print("tf.function   ->", native_out.numpy().ravel())
    np.testing.assert_allclose(native_out.numpy(), expected, atol=1e-5)

    print("\nAll predictions match the TF1 Session. Serve it (from this folder, venv active):")
    print(f"  mlflow models serve -m {uri} --env-manager local --port 5001")
    print(
        "  curl -s localhost:5001/invocations -H 'Content-Type: application/json' "
        """-d '{"inputs": {"x": [[1.0, 2.0]]}}'"""
    )


if __name__ == "__main__":
    main()
