"""Loading and predicting the corpus models prints nothing at warning level from TensorFlow.

A fresh process imports TensorFlow and MLflow first (their own start-up lines
are the user's, not the flavor's), marks stderr, then loads and predicts; what
follows the mark is what the flavor's actions caused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pytest
import tensorflow as tf

import mlflow_tf1
from tests import tf1_models
from tests.conftest import PROJECT_ROOT, corpus_path

MARK = "@@flavor-starts@@"
WARNING_LINE = ("W0000", "E0000", "WARNING", "Warning:", "Traceback")

SCRIPT = textwrap.dedent(
    """
    import logging, os, sys
    import mlflow, numpy as np, pandas as pd, tensorflow as tf
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mlflow_tf1").setLevel(logging.INFO)
    sys.stderr.flush(); os.write(2, b"{mark}\\n")
    import mlflow_tf1
    hp2 = mlflow.pyfunc.load_model({hp2!r})
    for name in ["serving_default", "regress_x2_to_y3"]:
        hp2.predict({{"x": np.array([[1.0]])}} if name == "serving_default"
                    else {{"inputs": np.array([[1.0]])}}, params={{"signature_name": name}})
    taxi = mlflow.pyfunc.load_model({taxi!r})
    rows = pd.read_csv({csv!r}, nrows=50)
    for name in ["serving_default", "regression", "predict"]:
        taxi.predict(rows, params={{"signature_name": name}})
    native = mlflow_tf1.load_model({hp2!r})
    native.signatures["serving_default"](x=tf.constant([[1.0]]))
    """
)


@pytest.fixture(scope="module")
def uris():
    hp2 = corpus_path("tf_serving/saved_model_half_plus_two_cpu/00000123")
    taxi = corpus_path("tfx/chicago_taxi_estimator/1646034756")
    csv = corpus_path("tfx/chicago_taxi.csv")
    with mlflow.start_run():
        return (
            mlflow_tf1.log_model(str(hp2), name="hp2").model_uri,
            mlflow_tf1.log_model(str(taxi), name="taxi").model_uri,
            str(csv),
        )


def _after_mark(script: str) -> list[str]:
    """stderr lines the flavor's part of ``script`` printed, TF's C++ logging fully on."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr.split(MARK, 1)[1].splitlines()


def _noisy(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(WARNING_LINE) or "WARNING:" in line]


def test_loads_and_predictions_print_no_tensorflow_warnings(uris):
    hp2, taxi, csv = uris
    after = _after_mark(SCRIPT.format(mark=MARK, hp2=hp2, taxi=taxi, csv=csv))
    noisy = _noisy(after)
    assert noisy == [], "\n".join(noisy[:40])
    loaded = [line for line in after if "Loaded TF1 model" in line]
    assert len(loaded) == 3, after  # one INFO line per load: two pyfunc loads, one native
    assert all("backends:" in line for line in loaded)


def test_models_whose_graph_checks_its_data_load_quietly(tmp_path):
    """An image decoder and a graph assertion: the warm-up must not trip either at each load."""
    uris = []
    for name in ("image_classifier", "checked_input"):
        getattr(tf1_models, f"build_{name}")(tmp_path / name)
        with mlflow.start_run():
            uris.append(mlflow_tf1.log_model(str(tmp_path / name), name=name).model_uri)
    png = tf.io.encode_png(np.full((3, 3, 3), 9, np.uint8)).numpy()
    script = textwrap.dedent(
        f"""
        import os, sys
        import mlflow, tensorflow as tf
        sys.stderr.flush(); os.write(2, b"{MARK}\\n")
        mlflow.pyfunc.load_model({uris[0]!r}).predict({{"image_bytes": [{png!r}]}})
        mlflow.pyfunc.load_model({uris[1]!r}).predict({{"kelvin": [300.0]}})
        """
    )
    noisy = _noisy(_after_mark(script))
    assert noisy == [], "\n".join(noisy[:40])
