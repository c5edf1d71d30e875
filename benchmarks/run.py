"""mlflow-tf1 against raw TensorFlow and MLflow's legacy loader: one command, three tables.

    .venv/bin/python benchmarks/run.py [--quick]

Every ratio's denominator is measured in the same run. Everything (tracking
store, model folders, server logs) goes to a temporary folder that is
deleted at the end. Progress goes to stderr; stdout gets one machine line,
the goals of the performance issue (case, ratio, goal, met?), the full table
(every contender, with times) and the first-call ratio of every signature.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mlflow
import numpy as np
import tensorflow as tf

import mlflow_tf1
from benchmarks import cases, first_call, fixtures, memory, onnx_cases, serving, serving_batching
from benchmarks.harness import Goal, Row, markdown, summary_markdown

# The goals of the performance issue, worded as its table words them.
HP2_BATCH1_DICT = Goal(1.2, label="half_plus_two batch 1, float64 dict")
HP2_BATCH1_FRAME = Goal(1.5, label="half_plus_two batch 1, DataFrame")
HP2_BATCH1000_DICT = Goal(1.2, label="half_plus_two batch 1000, float64 dict")
CNN_DICT = Goal(1.05, label="CNN batch 64, float64 dict")
CNN_FRAME = Goal(1.05, label="CNN batch 64, DataFrame")
TAXI_ROWS = Goal(1.0, label="taxi 10,000 raw CSV rows")
TAXI_LOAD = Goal(1.5, label="taxi `pyfunc.load_model` ÷ raw Session loader")
FIRST_CALL = Goal(1.5, label="first call ÷ steady call, every stateless signature")


@dataclass(frozen=True)
class Settings:
    """Round counts: modest, so that the whole run stays within a few minutes."""

    small_rounds: int = 40  # half_plus_two, batch 1 and 1000
    cnn_rounds: int = 20
    taxi_rounds: int = 30
    load_rounds: int = 6
    steady_calls: int = 50  # per signature, after the first call
    first_call_processes: int = 3  # per signature
    server_requests: int = 2000  # per server
    server_rounds: int = 10


QUICK = Settings(
    small_rounds=15,
    cnn_rounds=7,
    taxi_rounds=5,
    load_rounds=3,
    steady_calls=20,
    first_call_processes=1,
    server_requests=120,
    server_rounds=4,
)


START = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - START:6.1f} s] {message}", file=sys.stderr, flush=True)


def flavor_version() -> str:
    """The commit measured, marked when mlflow_tf1/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> subprocess.CompletedProcess:
        command = ["git", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "mlflow-tf1 (not a git checkout)"
    dirty = git("status", "--porcelain", "--", "mlflow_tf1").stdout.strip()
    return f"mlflow-tf1 {head.stdout.strip()}{' + local changes' if dirty else ''}"


def machine_line(quick: bool) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, MLflow {mlflow.__version__}, {flavor_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at start{' (--quick)' if quick else ''}"
    )


def quiet() -> None:
    """Keep TensorFlow's and MLflow's chatter out of the output."""
    warnings.filterwarnings("ignore")
    tf.get_logger().setLevel("ERROR")
    for name in ("mlflow", "mlflow_tf1", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def prepare_models(workdir: Path) -> dict[str, dict[str, Path]]:
    """Each model three ways: its SavedModel, an mlflow-tf1 folder, an MLflow-1.x folder;
    the taxi export also with the opt-in feature column signature."""
    cnn = workdir / "cnn_savedmodel"
    fixtures.build_cnn(cnn)
    sources = {"half_plus_two": fixtures.HALF_PLUS_TWO, "cnn": cnn, "taxi": fixtures.TAXI_EXPORT}
    models = {}
    for name, source in sources.items():
        flavored = workdir / f"{name}-tf1"
        mlflow_tf1.save_model(source, flavored)
        legacy = fixtures.build_legacy_model(source, workdir / f"{name}-legacy")
        models[name] = {"source": source, "flavored": flavored, "legacy": legacy}
    featured = workdir / "taxi-tf1-feature-signature"
    signature = mlflow_tf1.infer_feature_signature(fixtures.TAXI_EXPORT)
    mlflow_tf1.save_model(fixtures.TAXI_EXPORT, featured, signature=signature)
    models["taxi"]["featured"] = featured
    models["onnx"] = onnx_cases.prepare(workdir, cnn)
    return models


def latency_rows(models: dict, settings: Settings, rng: random.Random) -> list[Row]:
    data = np.random.default_rng(0)
    rows: list[Row] = []
    hp2 = models["half_plus_two"]
    model = cases.DenseModel.load(hp2["source"], "x", hp2["flavored"], hp2["legacy"])
    for batch, goals in [
        (1, {cases.PYFUNC_DICT: HP2_BATCH1_DICT, cases.PYFUNC_FRAME: HP2_BATCH1_FRAME}),
        (1000, {cases.PYFUNC_DICT: HP2_BATCH1000_DICT}),
    ]:
        progress(f"(a) half_plus_two, batch {batch}")
        x = data.uniform(-10, 10, (batch, 1)).astype(np.float32)
        case = cases.dense_case(
            f"(a) half_plus_two, batch {batch}", model, x, settings.small_rounds, goals
        )
        rows += cases.evaluate(case, rng)

    progress("(b) CNN, batch 64")
    cnn = models["cnn"]
    model = cases.DenseModel.load(cnn["source"], fixtures.CNN_INPUT, cnn["flavored"], cnn["legacy"])
    images = data.integers(0, 256, (64, *fixtures.CNN_IMAGE_SHAPE), dtype=np.uint8)
    goals = {cases.PYFUNC_DICT: CNN_DICT, cases.PYFUNC_FRAME: CNN_FRAME}
    rows += cases.evaluate(
        cases.dense_case("(b) CNN, batch 64", model, images, settings.cnn_rounds, goals), rng
    )

    progress("(c) taxi, 10,000 raw rows")
    taxi = models["taxi"]
    case, _ = cases.taxi_case(
        taxi["flavored"],
        taxi["legacy"],
        fixtures.read_taxi_rows(),
        settings.taxi_rounds,
        TAXI_ROWS,
        featured=taxi["featured"],
    )
    rows += cases.evaluate(case, rng)

    progress("(h) ONNX backend")
    session_folders = {name: models[name]["flavored"] for name in ("half_plus_two", "cnn")}
    rows += onnx_cases.rows(models["onnx"], session_folders, settings.small_rounds, rng)
    return rows


def server_rows(workdir: Path, settings: Settings) -> list[Row]:
    flavor, noop = "mlflow-tf1 half_plus_two", "no-op pyfunc (returns its input)"
    on_onnx = "mlflow-tf1 half_plus_two, pyfunc on ONNX"
    with mlflow.start_run():
        ours = mlflow_tf1.log_model(str(fixtures.HALF_PLUS_TWO), name="half_plus_two")
        ours_onnx = mlflow_tf1.log_model(
            str(fixtures.HALF_PLUS_TWO), name="half_plus_two_onnx", pyfunc_backend="onnx"
        )
        echo = mlflow.pyfunc.log_model(
            name="echo", python_model=str(serving.write_echo_model(workdir))
        )
    uris = {flavor: ours.model_uri, on_onnx: ours_onnx.model_uri, noop: echo.model_uri}
    with serving.scoring_servers(uris, workdir) as urls:
        for name in (flavor, on_onnx):
            serving.check(urls[name], {"predictions": {"y": [[2.5]]}})
        serving.check(urls[noop], {"predictions": {"x": [[1.0]]}})
        loads = serving.drive(urls, settings.server_requests, settings.server_rounds)
    onnx_goal = Goal(
        0.9, at_most=False, label="ONNX: scoring server throughput ÷ no-op pyfunc, half_plus_two"
    )
    ours = serving.server_rows(loads, flavor, noop)
    return ours + serving.server_rows(loads, on_onnx, noop, onnx_goal)[1:]


def run(workdir: Path, settings: Settings) -> tuple[list[Row], list[first_call.FirstCall]]:
    """Every case in turn: the rows of the full table and the per-signature first calls."""
    rng = random.Random(0)
    progress("building fixtures and model folders")
    models = prepare_models(workdir)
    corpus = first_call.save_corpus(workdir)
    rows = latency_rows(models, settings, rng)
    progress("(d) taxi load time")
    rows += cases.load_time_rows(models["taxi"]["flavored"], settings.load_rounds, rng, TAXI_LOAD)
    progress("(e) first call after load, fresh processes")
    firsts = first_call.measure_all(
        corpus, settings.steady_calls, settings.first_call_processes, progress
    )
    rows += first_call.rows(firsts, FIRST_CALL)
    progress("(f) peak RSS, in child processes")
    rows += memory.rss_rows(models["taxi"]["flavored"])
    progress("(g) scoring servers")
    rows += server_rows(workdir, settings)
    progress("(i) TF Serving's REST API and server-side batching")
    rows += serving_batching.rows(workdir, settings.server_requests, settings.server_rounds)
    progress("done")
    return rows, firsts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, about half the time")
    args = parser.parse_args()
    settings = QUICK if args.quick else Settings()
    quiet()
    header = machine_line(args.quick)
    home = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="mlflow-tf1-bench-") as tmp:
        workdir = Path(tmp)
        os.chdir(workdir)  # MLflow writes mlruns/ next to the store: keep it here
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        try:
            # Anything a library prints must not land in the table.
            with contextlib.redirect_stdout(sys.stderr):
                rows, firsts = run(workdir, settings)
        finally:
            os.chdir(home)
    print(header)
    print()
    print(summary_markdown(rows))
    print()
    print(markdown(rows))
    print()
    print(first_call.markdown(firsts, FIRST_CALL))
    print()
    print(f"Run time: {time.monotonic() - START:.0f} s")


if __name__ == "__main__":
    main()
