"""cProfile of the pyfunc path for one benchmark case: where the time over raw TF goes.

    .venv/bin/python benchmarks/profile_pyfunc.py hp2-dict|hp2-frame|cnn-dict|cnn-frame|taxi-rows|taxi-load

Prints the top functions by cumulative time, then by own time. Not part of
the benchmark run: this is what ``docs/performance.md`` quotes.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf

import mlflow_tf1
from benchmarks import fixtures


def _pyfunc(source: Path, workdir: Path) -> tuple[Path, object]:
    folder = workdir / "model"
    mlflow_tf1.save_model(source, folder)
    return folder, mlflow.pyfunc.load_model(str(folder))


def workload(case: str, workdir: Path) -> tuple[Callable[[], object], int]:
    """The call to profile and how many times to repeat it."""
    if case.startswith("hp2"):
        _, model = _pyfunc(fixtures.HALF_PLUS_TWO, workdir)
        data = {"x": np.array([[1.0]])} if case == "hp2-dict" else pd.DataFrame({"x": [1.0]})
        return lambda: model.predict(data), 3000
    if case in ("cnn-dict", "cnn-frame"):
        fixtures.build_cnn(workdir / "cnn")
        _, model = _pyfunc(workdir / "cnn", workdir)
        images = np.random.default_rng(0).integers(0, 256, (64, *fixtures.CNN_IMAGE_SHAPE))
        data = {fixtures.CNN_INPUT: images.astype(np.float64)}
        if case == "cnn-frame":
            data = fixtures.frame_of(data[fixtures.CNN_INPUT], fixtures.CNN_INPUT)
        return lambda: model.predict(data), 20
    if case == "taxi-rows":
        _, model = _pyfunc(fixtures.TAXI_EXPORT, workdir)
        rows = fixtures.read_taxi_rows()
        return lambda: model.predict(rows), 20
    if case == "taxi-load":
        folder, _ = _pyfunc(fixtures.TAXI_EXPORT, workdir)
        return lambda: mlflow.pyfunc.load_model(str(folder)), 3
    raise SystemExit(f"unknown case {case!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "case", choices=["hp2-dict", "hp2-frame", "cnn-dict", "cnn-frame", "taxi-rows", "taxi-load"]
    )
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")
    with tempfile.TemporaryDirectory(prefix="mlflow-tf1-profile-") as tmp:
        call, repeats = workload(args.case, Path(tmp))
        call()  # first-call costs are case (e)'s business, not this profile's
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(repeats):
            call()
        profiler.disable()
    print(f"{args.case}: {repeats} calls")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
