"""(i) TF Serving's REST API and server-side batching, on real servers on loopback.

    .venv/bin/python benchmarks/serving_batching.py     (also part of benchmarks/run.py)

Each goal compares two servers (or two routes of one) hit in alternating
rounds, so a busy neighbour slows both alike, as in (g).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mlflow
import numpy as np

import mlflow_tf1
from benchmarks import fixtures, serving
from benchmarks.harness import Goal, Row, markdown, summary_markdown

REST_GOAL = Goal(1.0, at_most=False, label="REST :predict ÷ /invocations, same server, 4 clients")
BATCHED_GOAL = Goal(
    0.9, at_most=False, label="batching on, 8 clients, half_plus_two: throughput ÷ no-op pyfunc"
)
CNN_GOAL = Goal(1.5, at_most=False, label="batching on, CNN, 8 clients: throughput ÷ batching off")
P99_GOAL = Goal(1.2, label="p99 latency with batching, 1 client ÷ without")
HP2_BODY = {"inputs": {"x": [[1.0]]}}


HEAVY_IMAGE = (24, 24, 3)


def build_heavy_cnn(export_dir: Path) -> None:
    """A compute-bound CNN (about 65 MFLOP per image, a small JSON body), TF1-style.

    ``serving_default``: ``images`` (float32 [-1, 24, 24, 3]) -> ``logits`` [-1, 10]:
    four 3x3 convolutions of 64 channels with relu, a global mean, a dense layer.
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    rng = np.random.default_rng(0)
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
        images = v1.placeholder(tf.float32, [None, *HEAVY_IMAGE], name="images")
        h, channels = images, HEAVY_IMAGE[-1]
        for i in range(4):
            kernel = rng.normal(0, 0.1, (3, 3, channels, 64)).astype(np.float32)
            h = tf.nn.relu(tf.nn.conv2d(h, v1.Variable(kernel, name=f"conv{i}"), 1, "SAME"))
            channels = 64
        dense = v1.Variable(rng.normal(0, 0.1, (64, 10)).astype(np.float32), name="dense")
        logits = tf.matmul(tf.reduce_mean(h, axis=[1, 2]), dense, name="logits")
        session.run(v1.global_variables_initializer())
        v1.saved_model.simple_save(
            session, str(export_dir), inputs={"images": images}, outputs={"logits": logits}
        )


def rows(workdir: Path, requests_per_server: int = 1200, rounds: int = 6) -> list[Row]:
    cnn_export = workdir / "cnn-batching"
    build_heavy_cnn(cnn_export)
    image = np.random.default_rng(0).uniform(0, 1, (1, *HEAVY_IMAGE)).round(3)
    cnn_body = {"inputs": {"images": image.tolist()}}
    with mlflow.start_run():
        uris = {
            "hp2": mlflow_tf1.log_model(str(fixtures.HALF_PLUS_TWO), name="hp2").model_uri,
            "hp2 batched": mlflow_tf1.log_model(
                str(fixtures.HALF_PLUS_TWO), name="hp2b", enable_batching=True
            ).model_uri,
            "cnn": mlflow_tf1.log_model(str(cnn_export), name="cnn").model_uri,
            "cnn batched": mlflow_tf1.log_model(
                str(cnn_export), name="cnnb", enable_batching=True
            ).model_uri,
            "no-op": mlflow.pyfunc.log_model(
                name="echo", python_model=str(serving.write_echo_model(workdir))
            ).model_uri,
            "mlflow-tf1 serve": mlflow_tf1.log_model(
                str(fixtures.HALF_PLUS_TWO), name="t"
            ).model_uri,
        }
    tf_serving = {"mlflow-tf1 serve": ("--model-name", "half_plus_two")}
    found: list[Row] = []
    with serving.scoring_servers(uris, workdir, tf_serving) as urls:
        same = urls["mlflow-tf1 serve"]
        rest = {"REST :predict": same, "/invocations": same}
        paths = {
            "REST :predict": ("/v1/models/half_plus_two:predict", {"instances": [[1.0]]}),
            "/invocations": ("/invocations", HP2_BODY),
        }
        loads = serving.drive(rest, requests_per_server, rounds, threads=4, requests_for=paths)
        found += _throughput("(i) mlflow-tf1 serve, 4 clients, single rows", loads,
                             "REST :predict", "/invocations", REST_GOAL)  # fmt: skip
        pair = {"hp2 batched": urls["hp2 batched"], "no-op": urls["no-op"]}
        loads = serving.drive(pair, requests_per_server, rounds, threads=8)
        found += _throughput("(i) batching on, 8 clients, half_plus_two single rows", loads,
                             "hp2 batched", "no-op", BATCHED_GOAL)  # fmt: skip
        pair = {"cnn batched": urls["cnn batched"], "cnn": urls["cnn"]}
        bodies = {name: ("/invocations", cnn_body) for name in pair}
        loads = serving.drive(
            pair, requests_per_server // 3, rounds, threads=8, requests_for=bodies
        )
        found += _throughput("(i) compute-bound CNN (24x24x3, 4 conv layers), 8 clients, single images", loads,
                             "cnn batched", "cnn", CNN_GOAL)  # fmt: skip
        pair = {"hp2 batched": urls["hp2 batched"], "hp2": urls["hp2"]}
        loads = serving.drive(pair, requests_per_server // 2, rounds, threads=1)
        found += _p99("(i) half_plus_two, 1 client", loads, "hp2 batched", "hp2", P99_GOAL)
    return found


def _throughput(case: str, loads: dict, ours: str, base: str, goal: Goal) -> list[Row]:
    pairs = zip(loads[ours].throughput, loads[base].throughput, strict=True)
    ratio = statistics.median(o / b for o, b in pairs)
    return [
        Row.judged(case, f"{base} **[raw]**", _describe(loads[base]), 1.0, None),
        Row.judged(case, ours, _describe(loads[ours]), ratio, goal, note="(throughput)"),
    ]


def _p99(case: str, loads: dict, ours: str, base: str, goal: Goal) -> list[Row]:
    ratio = _quantile(loads[ours], 98) / _quantile(loads[base], 98)
    return [
        Row.judged(case, f"{base} (batching off) **[raw]**", _describe(loads[base]), 1.0, None),
        Row.judged(case, ours, _describe(loads[ours]), ratio, goal, note="(p99 latency)"),
    ]


def _quantile(load, index: int) -> float:
    return statistics.quantiles(load.latencies, n=100)[index]


def _describe(load) -> str:
    rate = load.requests / load.seconds
    return f"{rate:.0f} req/s, p50 {_quantile(load, 49) * 1e3:.1f} ms, p99 {_quantile(load, 98) * 1e3:.1f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlflow-tf1-bench-batching-") as tmp:
        workdir = Path(tmp)
        home = Path.cwd()
        os.chdir(workdir)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        try:
            with contextlib.redirect_stdout(sys.stderr):
                found = rows(workdir)
        finally:
            os.chdir(home)
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    print(summary_markdown(found))
    print()
    print(markdown(found))


if __name__ == "__main__":
    main()
