"""(h) The ONNX backend: pyfunc on onnxruntime against raw TensorFlow and MLflow's onnx flavor.

Each model is logged with ``pyfunc_backend="onnx"``; its ``.onnx`` file (what
the flavor converted and verified) is also saved with ``mlflow.onnx``, so
MLflow's own flavor runs the very same graph. Raw TensorFlow is timed in the
same rounds, its fastest way the denominator, as in the other cases.
"""

from __future__ import annotations

import random
from pathlib import Path

import mlflow
import numpy as np
import tensorflow as tf
import yaml

import mlflow_tf1
from benchmarks import fixtures
from benchmarks.cases import (
    RAW_CALLABLE,
    RAW_FEED_DICT,
    RAW_TF2,
    Comparison,
    LatencyCase,
    TF2Signature,
    evaluate,
)
from benchmarks.harness import Contender, Goal, Row

PYFUNC_ONNX = "mlflow-tf1 pyfunc on ONNX, dict float64"
PYFUNC_SESSION = "mlflow-tf1 pyfunc on the Session, dict float64"
MLFLOW_ONNX = "MLflow's onnx flavor, same .onnx, dict"
HP2_VS_RAW = Goal(0.5, label="ONNX: half_plus_two batch 1, pyfunc dict")
HP2_VS_ONNX_FLAVOR = Goal(
    1.3, label="ONNX: half_plus_two batch 1, pyfunc dict ÷ MLflow's onnx flavor"
)
CNN_VS_RAW = {
    1: Goal(1.0, label="ONNX: CNN batch 1, pyfunc dict"),
    64: Goal(1.0, label="ONNX: CNN batch 64, pyfunc dict"),
}


def prepare(workdir: Path, cnn_source: Path) -> dict[str, dict[str, Path]]:
    """half_plus_two and the CNN: the flavor on ONNX, and MLflow's onnx flavor on its file."""
    import onnx

    models = {}
    for name, source in {"half_plus_two": fixtures.HALF_PLUS_TWO, "cnn": cnn_source}.items():
        flavored = workdir / f"{name}-tf1-onnx"
        mlflow_tf1.save_model(source, flavored, pyfunc_backend="onnx")
        record = yaml.safe_load((flavored / "MLmodel").read_text())["flavors"]["tf1"]["onnx"]
        chosen = record[fixtures.DEFAULT_SIGNATURE]
        models[name] = {"source": source, "flavored": flavored, "record": chosen}
        if chosen["backend"] == "onnx":
            reference = workdir / f"{name}-mlflow-onnx"
            mlflow.onnx.save_model(onnx.load(str(flavored / chosen["file"])), str(reference))
            models[name]["mlflow_onnx"] = reference
    return models


def rows(
    models: dict[str, dict], session_folders: dict[str, Path], rounds: int, rng: random.Random
) -> list[Row]:
    data = np.random.default_rng(1)
    found: list[Row] = []
    hp2 = models["half_plus_two"]
    x = data.uniform(-10, 10, (1, 1)).astype(np.float32)
    found += _case("(h) ONNX, half_plus_two, batch 1", hp2, session_folders["half_plus_two"], "x", x,
                   rounds, {PYFUNC_ONNX: HP2_VS_RAW}, HP2_VS_ONNX_FLAVOR, rng)  # fmt: skip
    cnn = models["cnn"]
    for batch in (1, 64):
        images = data.integers(0, 256, (batch, *fixtures.CNN_IMAGE_SHAPE), dtype=np.uint8)
        found += _case(f"(h) ONNX, CNN, batch {batch}", cnn, session_folders["cnn"],
                       fixtures.CNN_INPUT, images, rounds, {PYFUNC_ONNX: CNN_VS_RAW[batch]}, None,
                       rng)  # fmt: skip
    return found


def _case(name, model, session_folder, key, exact, rounds, goals, flavor_goal, rng) -> list[Row]:
    if model["record"]["backend"] != "onnx":
        reason = f"not on ONNX: {model['record'].get('reason')}"
        return [Row.failed(name, PYFUNC_ONNX, reason, goal) for goal in goals.values()]
    raw = fixtures.RawSession.load(model["source"])
    tf2 = TF2Signature.load(model["source"])
    ours = mlflow.pyfunc.load_model(str(model["flavored"]))
    session = mlflow.pyfunc.load_model(str(session_folder))
    reference = mlflow.pyfunc.load_model(str(model["mlflow_onnx"]))
    wide, tensor = exact.astype(np.float64), tf.constant(exact)
    want = raw.run({key: exact})
    for output, value in ours.predict({key: wide}).items():
        fixtures.assert_close(value, want[output], f"{name}: pyfunc on ONNX {output}")
    contenders = [
        Contender(RAW_FEED_DICT, lambda: raw.feed_dict_call(exact)),
        Contender(RAW_CALLABLE, lambda: raw.call(exact)),
        Contender(RAW_TF2, lambda: tf2(**{key: tensor})),
        Contender(PYFUNC_ONNX, lambda: ours.predict({key: wide})),
        Contender(PYFUNC_SESSION, lambda: session.predict({key: wide})),
        Contender(MLFLOW_ONNX, lambda: reference.predict({key: exact})),
    ]
    comparisons = []
    if flavor_goal is not None:
        comparisons.append(Comparison("mlflow-tf1 pyfunc on ONNX", PYFUNC_ONNX, [MLFLOW_ONNX],
                                      flavor_goal, versus="MLflow's onnx flavor"))  # fmt: skip
    case = LatencyCase(name, contenders, [RAW_FEED_DICT, RAW_CALLABLE, RAW_TF2], rounds, goals,
                       comparisons)  # fmt: skip
    return evaluate(case, rng)
