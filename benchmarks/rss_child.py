"""Child process of the peak-RSS case: ``rss_child.py raw|pyfunc <model dir>``.

``ru_maxrss`` only ever grows, so each measurement needs its own process.
Prints one JSON line: peak RSS in MB after ``import tensorflow, mlflow`` and
after loading the taxi export and predicting once (on 100 raw CSV rows).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROWS = 100


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(mode: str, model_dir: str) -> None:
    import mlflow
    import tensorflow  # noqa: F401 -- the baseline includes both imports

    from benchmarks import fixtures

    # The inputs are built before the baseline: they are not the model's memory.
    rows = fixtures.read_taxi_rows(ROWS)
    serialized = fixtures.serialize_taxi_rows(rows)
    baseline = peak_mb()
    if mode == "raw":
        fixtures.RawSession.load(Path(model_dir)).run({"inputs": serialized})
    else:
        mlflow.pyfunc.load_model(model_dir).predict(rows)
    print(json.dumps({"baseline_mb": baseline, "loaded_mb": peak_mb()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
