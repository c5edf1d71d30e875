"""mlflow.pyfunc.spark_udf on a real local Spark session.

Every result is checked against an oracle that shares no code with the flavor
(a raw TF1 Session, or arithmetic) and against in-process ``predict`` on the
same rows. The Spark workers cannot import ``mlflow_tf1`` on their own: it
reaches them only inside the logged model (``code/``), as on a cluster where
the flavor isn't installed.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import mlflow_tf1
from tests.conftest import corpus_path
from tests.test_tf_example import INT64, taxi_examples
from tests.tf1_models import session_predict

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (the test extra has it)")
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

pytestmark = pytest.mark.spark
v1 = tf.compat.v1

# Imported first by every Spark worker: mlflow_tf1 only from a model's code/ folder.
_HIDE_FLAVOR = """
import importlib.machinery, os, sys

class _OnlyFromModelCode:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "mlflow_tf1":
            return None
        code = [p for p in sys.path if os.path.basename(p.rstrip("/")) == "code"]
        spec = importlib.machinery.PathFinder.find_spec(name, code)
        if spec is None:
            raise ModuleNotFoundError("mlflow_tf1 is hidden from Spark workers", name=name)
        return spec

sys.meta_path.insert(0, _OnlyFromModelCode)
"""


def _java_missing() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is None and not (java_home and Path(java_home, "bin/java").exists())


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if _java_missing():
        pytest.skip("Spark needs Java: no `java` on PATH and no JAVA_HOME (install a JDK 17)")
    hide = tmp_path_factory.mktemp("spark_worker_site")
    (hide / "sitecustomize.py").write_text(_HIDE_FLAVOR)
    previous = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mlflow-tf1-tests")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.executorEnv.PYTHONPATH", str(hide))
        .config("spark.executorEnv.TF_CPP_MIN_LOG_LEVEL", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if previous is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = previous


def _udf(spark, uri: str, result_type: str | None, **kwargs):
    return mlflow.pyfunc.spark_udf(
        spark, uri, result_type=result_type, env_manager="local", **kwargs
    )


def _signature(inputs: dict, outputs: dict):
    info = v1.saved_model.utils.build_tensor_info
    return v1.saved_model.signature_def_utils.build_signature_def(
        inputs={k: info(t) for k, t in inputs.items()},
        outputs={k: info(t) for k, t in outputs.items()},
        method_name=v1.saved_model.signature_constants.PREDICT_METHOD_NAME,
    )


def _save(sess, export_dir: Path, signatures: dict) -> None:
    builder = v1.saved_model.Builder(str(export_dir))
    builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures)
    builder.save()


def build_multi_output(export_dir: Path) -> None:
    """``x`` float32 [-1, 3] and ``name`` string [-1] in; five outputs of four dtypes.

    ``serving_default``: total = sum(x), scaled = 2x, positives = count(x > 0)
    (int64), greeting = "hello " + name, any_negative (bool). ``greet``: name ->
    greeting.
    """
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        name = v1.placeholder(tf.string, [None], name="name")
        greeting = tf.strings.join(["hello ", name], name="greeting")
        outputs = {
            "total": tf.reduce_sum(x, axis=1, name="total"),
            "scaled": tf.multiply(x, 2.0, name="scaled"),
            "positives": tf.reduce_sum(tf.cast(x > 0, tf.int64), axis=1, name="positives"),
            "greeting": greeting,
            "any_negative": tf.reduce_any(x < 0, axis=1, name="any_negative"),
        }
        _save(sess, export_dir, {
            "serving_default": _signature({"x": x, "name": name}, outputs),
            "greet": _signature({"name": name}, {"greeting": greeting}),
        })  # fmt: skip


def build_call_counter(export_dir: Path) -> None:
    """``x`` float32 [-1] -> ``call`` int64 [-1]: how many calls this loaded graph has
    served, this one included (a variable incremented per call), on every row."""
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        calls = v1.Variable(0, dtype=tf.int64, name="calls", use_resource=True)
        call = tf.fill(tf.shape(x), v1.assign_add(calls, 1), name="call")
        sess.run(v1.global_variables_initializer())
        _save(sess, export_dir, {"serving_default": _signature({"x": x}, {"call": call})})


@pytest.fixture(scope="module")
def multi_output(tmp_path_factory) -> tuple[Path, str]:
    export = tmp_path_factory.mktemp("multi") / "export"
    build_multi_output(export)
    return export, mlflow_tf1.log_model(str(export), name="multi_output").model_uri


MULTI_RESULT = (
    "total float, scaled array<float>, positives long, greeting string, any_negative boolean"
)
ROWS = [
    ([1.0, -2.0, 3.5], "ann"),
    ([0.5, 0.5, 0.5], "bob"),
    ([-1.0, 0.0, 4.0], "çé 中"),
    ([0.0, 0.0, 0.0], ""),
]


def test_workers_cannot_import_the_flavor_except_from_the_model(spark):
    def importable(ids: pd.Series) -> pd.Series:
        import importlib.util

        try:
            found = str(importlib.util.find_spec("mlflow_tf1"))
        except ModuleNotFoundError as e:
            found = str(e)
        return pd.Series([found] * len(ids))

    check = F.pandas_udf(importable, "string")
    found = {row[0] for row in spark.range(0, 4, numPartitions=2).select(check("id")).collect()}
    assert found == {"mlflow_tf1 is hidden from Spark workers"}


def test_dense_model_column_and_struct_give_half_plus_two(spark):
    export = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    uri = mlflow_tf1.log_model(str(export), name="half_plus_two").model_uri
    x = np.array([-3.0, 0.0, 1.0, 2.0, 5.0, 1e6, 0.1], np.float64)
    frame = spark.createDataFrame(pd.DataFrame({"x": x}))
    predict = _udf(spark, uri, "float")
    got = frame.select(predict("x").alias("column"), predict(F.struct("x")).alias("struct"))
    got = got.toPandas()
    expected = 0.5 * x.astype(np.float32) + 2  # float32 arithmetic, as the graph does it
    np.testing.assert_array_equal(got["column"].to_numpy(np.float32), expected)
    np.testing.assert_array_equal(got["struct"].to_numpy(np.float32), expected)
    in_process = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"x": x}))
    np.testing.assert_array_equal(got["column"].to_numpy(np.float32), in_process["y"])


def test_several_outputs_as_a_struct_strings_as_strings(spark, multi_output):
    export, uri = multi_output
    frame = spark.createDataFrame(ROWS, "x array<double>, name string")
    predict = _udf(spark, uri, MULTI_RESULT)
    scored = frame.withColumn("prediction", predict(F.struct("x", "name")))
    fields = {f.name: f.dataType.simpleString() for f in scored.schema["prediction"].dataType}
    assert fields == {"total": "float", "scaled": "array<float>", "positives": "bigint",
                      "greeting": "string", "any_negative": "boolean"}  # fmt: skip
    got = scored.select("prediction.*").toPandas()

    x = np.array([r[0] for r in ROWS], np.float32)
    names = np.array([r[1].encode() for r in ROWS], object)
    oracle = session_predict(export, "serving_default", {"x": x, "name": names})
    np.testing.assert_array_equal(got["total"].to_numpy(np.float32), oracle["total"])
    np.testing.assert_array_equal(np.stack(got["scaled"]), oracle["scaled"])
    assert got["positives"].tolist() == oracle["positives"].tolist() == [2, 3, 1, 0]
    assert got["greeting"].tolist() == [g.decode() for g in oracle["greeting"]]
    assert got["greeting"][2] == "hello çé 中"
    assert got["any_negative"].tolist() == oracle["any_negative"].tolist()

    in_process = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame(ROWS, columns=["x", "name"]))
    for key in ("total", "positives", "greeting", "any_negative"):
        assert got[key].tolist() == in_process[key].tolist(), key
    np.testing.assert_array_equal(np.stack(got["scaled"]), np.stack(in_process["scaled"]))


def test_other_signature_by_params_single_string_output(spark, multi_output):
    export, uri = multi_output
    frame = spark.createDataFrame([(r[1],) for r in ROWS], "name string")
    greet = _udf(spark, uri, "string", params={"signature_name": "greet"})
    got = [row[0] for row in frame.select(greet("name")).collect()]
    names = np.array([r[1].encode() for r in ROWS], object)
    oracle = session_predict(export, "greet", {"name": names})["greeting"]
    assert got == [g.decode() for g in oracle]


def test_unnamed_columns_are_refused_with_a_hint(spark, multi_output):
    _, uri = multi_output
    frame = spark.createDataFrame(ROWS, "x array<double>, name string")
    with pytest.raises(Exception, match=r"struct\('a', 'b', \.\.\.\)"):
        frame.select(_udf(spark, uri, MULTI_RESULT)("x", "name")).collect()


def test_default_result_type_from_the_signature(spark, multi_output):
    """Without result_type, MLflow reads Spark types from the logged per-row output schema."""
    _, uri = multi_output
    frame = spark.createDataFrame(ROWS, "x array<double>, name string")
    default = frame.select(_udf(spark, uri, None)(F.struct("x", "name")).alias("p"))
    explicit = frame.select(_udf(spark, uri, MULTI_RESULT)(F.struct("x", "name")).alias("p"))
    types = {f.name: f.dataType for f in default.schema["p"].dataType}
    assert types == {f.name: f.dataType for f in explicit.schema["p"].dataType}
    columns = [f"p.{name}" for name in types]
    assert default.select(columns).collect() == explicit.select(columns).collect()


def test_one_load_per_task_reused_across_batches(spark, tmp_path):
    export = tmp_path / "counter"
    build_call_counter(export)
    uri = mlflow_tf1.log_model(str(export), name="call_counter").model_uri
    rows, partitions, batch = 1000, 2, 100
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch))
    try:
        frame = spark.range(0, rows, numPartitions=partitions).select(
            F.col("id").cast("double").alias("x"), F.spark_partition_id().alias("part")
        )
        got = frame.withColumn("call", _udf(spark, uri, "long")("x")).toPandas()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    batches = math.ceil(rows / partitions / batch)
    for _, part in got.groupby("part"):
        # One model per task: its calls count 1, 2, ... across the task's Arrow batches.
        assert part["call"].tolist() == np.repeat(np.arange(1, batches + 1), batch).tolist()


@pytest.fixture(scope="module")
def taxi(spark):
    export = corpus_path("tfx/chicago_taxi_estimator/1646034756")
    csv = corpus_path("tfx/chicago_taxi.csv")
    rows = pd.read_csv(csv)
    uri = mlflow_tf1.log_model(str(export.parent), name="taxi").model_uri
    oracle = session_predict(export, "serving_default", {"inputs": taxi_examples(rows)})
    in_process = mlflow.pyfunc.load_model(uri).predict(rows)
    return csv, rows, uri, oracle, in_process


TAXI_RESULT = "classes array<string>, scores array<float>"


def _score_taxi(spark, uri: str, table) -> pd.DataFrame:
    predict = _udf(spark, uri, TAXI_RESULT)
    scored = table.withColumn("prediction", predict(F.struct(*table.columns)))
    return scored.select("trip_start_timestamp", "prediction.*").toPandas()


def test_taxi_csv_read_by_spark_nulls_and_all(spark, taxi):
    csv, rows, uri, oracle, in_process = taxi
    table = spark.read.csv(str(csv), header=True, inferSchema=True)
    assert table.filter(F.col("company").isNull()).count() == rows["company"].isna().sum() > 0
    got = _score_taxi(spark, uri, table)
    assert got["trip_start_timestamp"].tolist() == rows["trip_start_timestamp"].tolist()
    np.testing.assert_allclose(np.stack(got["scores"]), oracle["scores"], rtol=1e-5)
    np.testing.assert_allclose(np.stack(got["scores"]), np.stack(in_process["scores"]), rtol=1e-6)
    assert {tuple(c) for c in got["classes"]} == {("0", "1")}


def test_taxi_nullable_bigint_columns(spark, taxi):
    """Spark hands a struct's nullable bigint columns to pandas as Int64 with <NA>."""
    csv, rows, uri, oracle, _ = taxi
    table = spark.read.csv(str(csv), header=True, inferSchema=True)
    table = table.select(
        *[F.col(c).cast("bigint") if c in INT64 else F.col(c) for c in table.columns]
    )
    assert table.filter(F.col("dropoff_community_area").isNull()).count() > 0
    got = _score_taxi(spark, uri, table.limit(2000))
    assert got["trip_start_timestamp"].tolist() == rows["trip_start_timestamp"][:2000].tolist()
    np.testing.assert_allclose(np.stack(got["scores"]), oracle["scores"][:2000], rtol=1e-5)


def test_taxi_with_the_opt_in_feature_signature(spark, taxi):
    csv, _, _, oracle, _ = taxi
    export = corpus_path("tfx/chicago_taxi_estimator/1646034756")
    signature = mlflow_tf1.infer_feature_signature(export)
    uri = mlflow_tf1.log_model(str(export), name="taxi_features", signature=signature).model_uri
    table = spark.read.csv(str(csv), header=True, inferSchema=True)
    got = _score_taxi(spark, uri, table)
    np.testing.assert_allclose(np.stack(got["scores"]), oracle["scores"], rtol=1e-5)


def test_taxi_positional_columns_are_refused_not_scored_as_empty_examples(spark, taxi):
    """udf(*columns) hands the UDF columns 0..n-1: once scored as 10,000 identical defaults."""
    csv, _, uri, _, _ = taxi
    table = spark.read.csv(str(csv), header=True, inferSchema=True)
    predict = _udf(spark, uri, TAXI_RESULT)
    with pytest.raises(Exception, match=r"None of the columns .* is a feature.*struct\('a', 'b'"):
        table.select(predict(*table.columns)).collect()
