"""Look inside a legacy SavedModel before migrating it, as ``saved_model_cli show`` does.

Exports a small TF1 model with two signatures (one parsing tf.Examples), then runs
``mlflow-tf1 inspect`` on the export folder (tables) and with ``--json`` (for
scripts), and on the MLflow model after logging it (read from ``MLmodel``).

Run ``python examples/inspect_model.py`` from any folder.
"""

import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import mlflow
import tensorflow as tf

import mlflow_tf1

tf.get_logger().setLevel("ERROR")
v1 = tf.compat.v1
CLI = os.path.join(os.path.dirname(sys.executable), "mlflow-tf1")


def export(export_dir: str) -> None:
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.io.parse_example(serialized, {
            "x": v1.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        })  # fmt: skip
        sigs = v1.saved_model.signature_def_utils
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": sigs.predict_signature_def({"x": x}, {"y": 0.5 * x + 2}),
            "regress": sigs.regression_signature_def(serialized, 0.5 * parsed["x"] + 2),
        })  # fmt: skip
        builder.save()


def inspect(*args: str) -> str:
    result = subprocess.run([CLI, "inspect", *args], capture_output=True, text=True, check=True)
    return result.stdout


def main() -> None:
    if "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri("sqlite:///mlflow.db")
    export_dir = os.path.join(tempfile.mkdtemp(), "export")
    export(export_dir)
    print(inspect(export_dir))
    report = json.loads(inspect(export_dir, "--json"))
    print("As JSON, the keys a script reads:", sorted(report))
    with mlflow.start_run():
        uri = mlflow_tf1.log_model(export_dir).model_uri
    print(inspect(uri))


if __name__ == "__main__":
    main()
