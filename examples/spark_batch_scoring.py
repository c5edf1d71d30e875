"""Batch scoring on Apache Spark: a table in, a scored Parquet table out, on local[*].

1. Logs and registers a TF1 model: the TFX taxi Estimator export from the shared corpus
   when it is there (``MLFLOW_TF1_CORPUS``, default ``../shared/corpus`` next to the
   project), otherwise a small Estimator-style export built here.
2. Reads the table with Spark: the taxi CSV (empty cells become nulls), or a Parquet table
   of raw rows with nulls written here.
3. Scores it with ``mlflow.pyfunc.spark_udf``, the raw feature columns passed as one
   struct, and writes ``scored.parquet``.
4. Checks the scored file against in-process ``mlflow.pyfunc`` predictions on the same rows.

Run ``python examples/spark_batch_scoring.py`` from any folder; Spark needs Java 17. It
writes ``mlflow.db``, ``mlruns/`` and ``scored.parquet`` to the current folder (MLflow's
embedded store unless MLFLOW_TRACKING_URI is set); each run registers a new version.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter

import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import mlflow_tf1

tf.get_logger().setLevel("ERROR")
v1 = tf.compat.v1
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("MLFLOW_TF1_CORPUS", PROJECT_ROOT.parent / "shared" / "corpus"))
TAXI_EXPORT = CORPUS / "tfx" / "chicago_taxi_estimator"
TAXI_CSV = CORPUS / "tfx" / "chicago_taxi.csv"
MODEL_NAME = "spark-batch-tf1"
OUTPUT = "scored.parquet"


def build_export(export_dir: str) -> None:
    """An Estimator-style export: score = 0.1 * fare + miles (default 1.0) + 5 if company is A."""
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
        signature = v1.saved_model.signature_def_utils.regression_signature_def(serialized, score)
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(
            sess, ["serve"], signature_def_map={"serving_default": signature}
        )
        builder.save()


def write_table(path: str, rows: int = 5_000) -> None:
    """Raw rows as a warehouse holds them: some miles and companies missing."""
    rng = np.random.default_rng(0)
    miles = rng.uniform(0.5, 20.0, rows)
    miles[rng.random(rows) < 0.2] = np.nan
    company = rng.choice(np.array(["A", "B", None], dtype=object), rows)
    frame = pd.DataFrame({"fare": rng.uniform(3.0, 80.0, rows), "miles": miles, "company": company})
    frame.to_parquet(path, index=False)


def choose_model(workdir: str) -> tuple[str, str]:
    """(SavedModel folder, table): the corpus taxi model if present."""
    if TAXI_EXPORT.exists() and TAXI_CSV.exists():
        print(f"Model: the TFX taxi Estimator export from {CORPUS}")
        return str(TAXI_EXPORT), str(TAXI_CSV)
    print(f"No corpus at {CORPUS}: building a small Estimator-style export")
    export_dir = os.path.join(workdir, "export", "1")
    build_export(export_dir)
    table = os.path.join(workdir, "rows.parquet")
    write_table(table)
    return export_dir, table


def read_table(spark: SparkSession, path: str):
    if path.endswith(".csv"):
        return spark.read.csv(path, header=True, inferSchema=True)  # empty cells -> nulls
    return spark.read.parquet(path)


def read_pandas(path: str) -> pd.DataFrame:
    return pd.read_csv(path) if path.endswith(".csv") else pd.read_parquet(path)


def _plain(value):
    """A Parquet cell (struct -> dict, array -> numpy) as plain Python, for printing."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    return round(value, 4) if isinstance(value, float) else value


def main() -> None:
    if "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri("sqlite:///mlflow.db")
    workdir = tempfile.mkdtemp()
    export_dir, table_path = choose_model(workdir)
    with mlflow.start_run():
        info = mlflow_tf1.log_model(export_dir, registered_model_name=MODEL_NAME)
    uri = f"models:/{MODEL_NAME}/{info.registered_model_version}"

    spark = (
        SparkSession.builder.master("local[*]")
        .appName("mlflow-tf1 batch scoring")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        table = read_table(spark, table_path)
        features = table.columns
        # Keep the file order for the check below, then use every core.
        table = table.withColumn("row_id", F.monotonically_increasing_id())
        table = table.repartition(spark.sparkContext.defaultParallelism)
        # result_type comes from the logged output schema: a struct for several outputs
        # (taxi: classes array<string>, scores array<float>), a column for one.
        predict = mlflow.pyfunc.spark_udf(spark, uri, env_manager="local")
        scored = table.withColumn("prediction", predict(F.struct(*features)))
        start = time.perf_counter()
        scored.write.mode("overwrite").parquet(OUTPUT)
        seconds = time.perf_counter() - start
    finally:
        spark.stop()

    result = pd.read_parquet(OUTPUT).sort_values("row_id")
    print(
        f"Scored {len(result):,} rows into {OUTPUT} in {seconds:.1f} s (starting Python workers included)"
    )
    for prediction in result["prediction"].head(3):
        print("  prediction:", _plain(prediction))
    expected = mlflow.pyfunc.load_model(uri).predict(read_pandas(table_path))
    if "scores" not in expected:
        np.testing.assert_allclose(result["prediction"], expected["outputs"], rtol=1e-6)
    else:
        got = np.stack([p["scores"] for p in result["prediction"]])
        np.testing.assert_allclose(got, np.stack(expected["scores"]), rtol=1e-6)
        assert all(list(p["classes"]) == ["0", "1"] for p in result["prediction"])
    print(f"{uri}: the scored Parquet matches in-process predictions on the same rows.")


if __name__ == "__main__":
    main()
