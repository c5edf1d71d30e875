"""Batch scoring with mlflow.pyfunc.spark_udf on local[2], against in-process pyfunc: rows/s.

    .venv/bin/python benchmarks/spark.py [--rows 1000000] [--taxi-repeat 10] [--rounds 3]

Two cases on the same rows both ways: TF Serving's half_plus_two on ``--rows`` doubles,
and the TFX taxi Estimator on the 10,000-row CSV repeated ``--taxi-repeat`` times (read
by Spark, nulls and all). Spark runs end in the ``noop`` sink, so nothing is written and
the whole pipeline (Arrow transfer, UDF, model) is timed; a pandas UDF that returns its
input gives Spark's own floor. In-process is ``mlflow.pyfunc.load_model(uri).predict`` on
the same rows as one pandas DataFrame. Rounds alternate Spark and in-process; medians
are shown. "cold" is the first Spark job: Python workers start, import TensorFlow and
load the model. Everything goes to a temporary folder; the table goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import mlflow_tf1
from benchmarks import fixtures
from benchmarks.run import machine_line, progress, quiet

TAXI_RESULT = "classes array<string>, scores array<float>"


@dataclass
class Result:
    case: str
    rows: int
    cold: float
    spark: list[float]
    floor: list[float]
    in_process: list[float]

    def line(self) -> str:
        spark, floor, local = (
            statistics.median(t) for t in (self.spark, self.floor, self.in_process)
        )
        return (
            f"| {self.case} | {self.rows:,} | {self.cold:.1f} s | {spark:.2f} s | "
            f"{self.rows / spark:,.0f} | {self.rows / floor:,.0f} | {local:.2f} s | "
            f"{self.rows / local:,.0f} | {local / spark:.2f} |"
        )


HEADER = (
    "| case | rows | Spark cold | Spark warm | Spark rows/s | Spark no-op UDF rows/s "
    "| in-process | in-process rows/s | Spark ÷ in-process speed |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def start_spark() -> SparkSession:
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("mlflow-tf1 spark benchmark")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run_noop(frame: DataFrame) -> None:
    frame.write.format("noop").mode("overwrite").save()


def echo_column(column: pd.Series) -> pd.Series:
    """Spark's floor for a column: a pandas UDF that hands it back."""
    return column


def echo_struct(batch: pd.DataFrame) -> pd.Series:
    """Spark's floor for a struct: a pandas UDF that hands its first field back."""
    return batch.iloc[:, 0].astype("float64")


def measure(
    case: str, scored: DataFrame, floor: DataFrame, predict: Callable, rounds: int
) -> Result:
    progress(f"{case}: cold Spark job")
    cold = timed(lambda: run_noop(scored))
    run_noop(floor)
    predict()  # warm-up in-process
    spark, floors, local = [], [], []
    for i in range(rounds):
        progress(f"{case}: round {i + 1} of {rounds}")
        spark.append(timed(lambda: run_noop(scored)))
        floors.append(timed(lambda: run_noop(floor)))
        local.append(timed(predict))
    return Result(case, scored.count(), cold, spark, floors, local)


def half_plus_two(spark: SparkSession, rows: int, rounds: int) -> Result:
    uri = mlflow_tf1.log_model(str(fixtures.HALF_PLUS_TWO), name="half_plus_two").model_uri
    table = spark.range(rows, numPartitions=2).select(((F.col("id") % 1000) * 0.01).alias("x"))
    table = table.cache()
    table.count()
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type="float", env_manager="local")
    scored = table.select(udf("x").alias("y"))
    floor = table.select(F.pandas_udf(echo_column, "double")("x").alias("y"))
    frame = pd.DataFrame({"x": (np.arange(rows) % 1000) * 0.01})
    model = mlflow.pyfunc.load_model(uri)
    first = scored.limit(3).toPandas()["y"]
    np.testing.assert_allclose(first, [2.0, 2.005, 2.01], rtol=1e-6)  # y = 0.5x + 2
    return measure("half_plus_two", scored, floor, lambda: model.predict(frame), rounds)


def taxi(spark: SparkSession, repeat: int, rounds: int) -> Result:
    uri = mlflow_tf1.log_model(str(fixtures.TAXI_EXPORT.parent), name="taxi").model_uri
    csv = spark.read.csv(str(fixtures.TAXI_CSV), header=True, inferSchema=True)
    table = csv.crossJoin(spark.range(repeat).withColumnRenamed("id", "copy")).drop("copy")
    table = table.repartition(2).cache()
    table.count()
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=TAXI_RESULT, env_manager="local")
    scored = table.select(udf(F.struct(*csv.columns)).alias("prediction"))
    floor = table.select(F.pandas_udf(echo_struct, "double")(F.struct(*csv.columns)).alias("echo"))
    frame = pd.concat([fixtures.read_taxi_rows()] * repeat, ignore_index=True)
    model = mlflow.pyfunc.load_model(uri)
    return measure(
        f"taxi Estimator, CSV x {repeat}", scored, floor, lambda: model.predict(frame), rounds
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="half_plus_two rows")
    parser.add_argument("--taxi-repeat", type=int, default=10, help="copies of the taxi CSV")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per case")
    args = parser.parse_args()
    quiet()
    header = machine_line(quick=False)
    home = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="mlflow-tf1-spark-bench-") as tmp:
        os.chdir(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        spark = None
        try:
            with contextlib.redirect_stdout(sys.stderr):
                progress("starting Spark (local[2])")
                spark = start_spark()
                batch = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
                results = [
                    half_plus_two(spark, args.rows, args.rounds),
                    taxi(spark, args.taxi_repeat, args.rounds),
                ]
        finally:
            if spark is not None:
                spark.stop()
            os.chdir(home)
    print(header)
    print(f"Spark local[2], 2 partitions, Arrow batches of {batch} rows, env_manager=local; "
          f"median of {args.rounds} rounds")  # fmt: skip
    print()
    print(HEADER)
    for result in results:
        print(result.line())


if __name__ == "__main__":
    main()
