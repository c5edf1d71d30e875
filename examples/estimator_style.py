"""An Estimator-style export (serialized tf.Example in) served from raw rows.

1. Exports a TF1 graph the way ``tf.estimator``'s ``build_parsing_serving_input_receiver_fn``
   did: one DT_STRING input of serialized ``tf.Example`` protos, parsed by a
   ``ParseExample`` node, with ``classification`` and ``regression`` signatures.
2. Logs and registers it, then starts the stock ``mlflow models serve`` on loopback.
3. Queries it the way a client does with curl: raw feature rows with nulls
   (``dataframe_records``), TF Serving's ``instances`` of feature dicts, and
   serialized protos as base64, and checks the answers against the export's own
   Session.

Run ``python examples/estimator_style.py`` from any folder (MLflow's embedded store
in the current folder unless MLFLOW_TRACKING_URI is set).
"""

import base64
import os
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import mlflow
import numpy as np
import requests
import tensorflow as tf

import mlflow_tf1

tf.get_logger().setLevel("ERROR")
v1 = tf.compat.v1
ROWS = [
    {"fare": 10.0, "miles": 2.0, "company": "A"},
    {"fare": 4.0, "company": None},
    {"fare": 30.0},
]


def export(export_dir: str) -> None:
    """score = 0.1 * fare + miles (default 1.0) + 5 if company == "A"."""
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        serialized = v1.placeholder(tf.string, [None], name="input_example_tensor")
        features = v1.io.parse_example(serialized, {
            "fare": v1.io.FixedLenFeature([1], tf.float32),
            "miles": v1.io.FixedLenFeature([1], tf.float32, default_value=[1.0]),
            "company": v1.io.VarLenFeature(tf.string),
        })  # fmt: skip
        company = v1.sparse.to_dense(features["company"], default_value="")
        is_a = tf.cast(tf.reduce_any(tf.equal(company, "A"), axis=1, keepdims=True), tf.float32)
        score = 0.1 * features["fare"] + features["miles"] + 5.0 * is_a
        sigs = v1.saved_model.signature_def_utils
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": sigs.regression_signature_def(serialized, score),
            "classification": sigs.classification_signature_def(
                serialized, tf.constant([["low", "high"]]), tf.concat([1 - score / 10, score / 10], 1)
            ),
        })  # fmt: skip
        builder.save()


def example_proto(row: dict) -> bytes:
    example = tf.train.Example()
    for key, value in row.items():
        if value is None:
            continue
        feature = example.features.feature[key]
        if isinstance(value, str):
            feature.bytes_list.value.append(value.encode())
        else:
            feature.float_list.value.append(value)
    return example.SerializeToString()


def serve(model_uri: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
    }
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if requests.get(f"{url}/ping", timeout=1).ok:
                return server, url
        except requests.ConnectionError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("mlflow models serve did not start")


def main() -> None:
    if "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri("sqlite:///mlflow.db")
    export_dir = os.path.join(tempfile.mkdtemp(), "export", "1")
    export(export_dir)
    protos = np.array([example_proto(r) for r in ROWS], dtype=object)
    with v1.Session(graph=v1.Graph()) as sess:
        meta = v1.saved_model.loader.load(sess, ["serve"], export_dir)
        signature = meta.signature_def["serving_default"]
        expected = sess.run(
            signature.outputs["outputs"].name, {signature.inputs["inputs"].name: protos}
        )

    with mlflow.start_run():
        info = mlflow_tf1.log_model(
            os.path.dirname(export_dir), registered_model_name="estimator-tf1"
        )
    uri = f"models:/estimator-tf1/{info.registered_model_version}"
    server, url = serve(uri)
    try:
        records = requests.post(f"{url}/invocations", json={"dataframe_records": ROWS}).json()
        scores = [row["outputs"] for row in records["predictions"]]
        np.testing.assert_allclose(scores, expected.ravel(), rtol=1e-6)
        print("dataframe_records (raw rows with nulls):", scores)
        # TF Serving's classify style; MLflow's parser wants every key in every instance.
        full_rows = [{k: row.get(k) for k in ("fare", "miles", "company")} for row in ROWS]
        body = {"instances": full_rows, "params": {"signature_name": "classification"}}
        classes = requests.post(f"{url}/invocations", json=body).json()["predictions"]
        np.testing.assert_allclose(
            np.array(classes["scores"])[:, 1], expected.ravel() / 10, rtol=1e-6
        )
        print("instances of feature dicts, classification:", classes)
        b64 = [{"b64": base64.b64encode(p).decode()} for p in protos]
        body = {"inputs": {"inputs": b64}}
        served = requests.post(f"{url}/invocations", json=body).json()["predictions"]["outputs"]
        np.testing.assert_allclose(np.ravel(served), expected.ravel(), rtol=1e-6)
        print("serialized tf.Examples as base64:", served)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"Served {uri}: raw rows and serialized examples give the export's own answers.")


if __name__ == "__main__":
    main()
