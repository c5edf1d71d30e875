"""The models and inputs the benchmark runs, and the raw-TensorFlow baselines.

Everything here is what a user without this flavor would write: a Session
loaded with the TF1 loader, protos built from CSV rows, an MLflow-1.x model
folder for MLflow's own (legacy) TensorFlow loader.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

v1 = tf.compat.v1

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("MLFLOW_TF1_CORPUS", PROJECT_ROOT.parent / "shared" / "corpus"))
HALF_PLUS_TWO = CORPUS / "tf_serving" / "saved_model_half_plus_two_cpu" / "00000123"
HALF_PLUS_THREE = CORPUS / "tf_serving" / "saved_model_half_plus_three" / "00000123"
MATRIX_HALF_PLUS_TWO = CORPUS / "tf_serving" / "matrix_half_plus_two" / "1"
COUNTER = CORPUS / "tf_serving" / "saved_model_counter" / "00000123"
TAXI_EXPORT = CORPUS / "tfx" / "chicago_taxi_estimator" / "1646034756"
TAXI_CSV = CORPUS / "tfx" / "chicago_taxi.csv"
SERVE = "serve"
DEFAULT_SIGNATURE = "serving_default"

CNN_INPUT, CNN_OUTPUT = "images", "logits"
CNN_IMAGE_SHAPE = (64, 64, 3)


# --- the compute-bound fixture --------------------------------------------------------


def build_cnn(export_dir: Path, seed: int = 0) -> None:
    """A small TF1 image classifier where the convolutions dominate every call.

    ``images`` (uint8 [-1, 64, 64, 3]) -> ``logits`` (float32 [-1, 10]):
    three 3x3 convolutions (32, 64, 64 filters; strides 1, 2, 2) with ReLU,
    global average pooling, one dense layer. Written with the ``tf.compat.v1``
    graph API and ``SavedModelBuilder``, as a TF1 training script would.
    """
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        v1.set_random_seed(seed)
        images = v1.placeholder(tf.uint8, [None, *CNN_IMAGE_SHAPE], name="images")
        net = tf.cast(images, tf.float32) / 255.0
        for i, (filters, stride) in enumerate([(32, 1), (64, 2), (64, 2)]):
            kernel = _variable(f"conv{i}/kernel", [3, 3, int(net.shape[-1]), filters])
            bias = _variable(f"conv{i}/bias", [filters])
            net = tf.nn.relu(tf.nn.conv2d(net, kernel, strides=stride, padding="SAME") + bias)
        pooled = tf.reduce_mean(net, axis=[1, 2])
        logits = tf.add(
            tf.matmul(pooled, _variable("dense/kernel", [64, 10])),
            _variable("dense/bias", [10]),
            name="logits",
        )
        sess.run(v1.global_variables_initializer())
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            {CNN_INPUT: images}, {CNN_OUTPUT: logits}
        )
        builder = v1.saved_model.Builder(str(export_dir))
        builder.add_meta_graph_and_variables(
            sess, [SERVE], signature_def_map={DEFAULT_SIGNATURE: signature}
        )
        builder.save()


def _variable(name: str, shape: list[int]) -> tf.Variable:
    fan_in = math.prod(shape[:-1]) or 1
    init = v1.random_normal_initializer(stddev=math.sqrt(2.0 / fan_in))
    return v1.get_variable(name, shape, tf.float32, initializer=init)


# --- MLflow's own legacy loader ---------------------------------------------------------

_LEGACY_MLMODEL = """\
flavors:
  python_function: {env: conda.yaml, loader_module: mlflow.tensorflow, python_version: 3.11.7}
  tensorflow: {code: null, meta_graph_tags: [serve], saved_model_dir: tfmodel, signature_def_key: serving_default}
mlflow_version: 1.30.1
"""
_LEGACY_CONDA = """\
name: mlflow-env
channels: [conda-forge]
dependencies:
- python=3.11.7
- pip
- pip: [mlflow, tensorflow]
"""


def build_legacy_model(saved_model_dir: Path, dest: Path) -> Path:
    """A model folder as MLflow 1.x ``mlflow.tensorflow.log_model`` wrote it.

    MLflow 3 still loads these through ``mlflow.tensorflow._load_pyfunc``
    (``tf.saved_model.load`` + a thin wrapper): the loader users had before.
    """
    shutil.copytree(saved_model_dir, dest / "tfmodel")
    (dest / "MLmodel").write_text(_LEGACY_MLMODEL)
    (dest / "conda.yaml").write_text(_LEGACY_CONDA)
    return dest


# --- raw TensorFlow -----------------------------------------------------------------------


def load_session(export_dir: Path) -> tuple[v1.Session, Any]:
    """The TF1 loader into a fresh Graph, as TF Serving-era code did."""
    graph = tf.Graph()
    session = v1.Session(graph=graph)
    with graph.as_default():
        meta_graph = v1.saved_model.loader.load(
            session, [SERVE], str(export_dir), clear_devices=True
        )
    return session, meta_graph


class RawSession:
    """One signature of a loaded Session, callable the two ways TF1 code does it.

    ``call`` is a ``make_callable`` (usually the fastest TF1 path) and
    ``feed_dict_call`` is ``session.run(fetches, feed_dict)``; both take numpy
    arrays in ``inputs`` order and return them in ``outputs`` order.
    """

    def __init__(self, session: v1.Session, meta_graph: Any, signature: str = DEFAULT_SIGNATURE):
        signature_def = meta_graph.signature_def[signature]
        graph = session.graph
        self.session = session
        self.inputs = list(signature_def.inputs)
        self.outputs = list(signature_def.outputs)
        feeds = [graph.get_tensor_by_name(signature_def.inputs[k].name) for k in self.inputs]
        fetches = [graph.get_tensor_by_name(signature_def.outputs[k].name) for k in self.outputs]
        self.call: Callable[..., list[np.ndarray]] = session.make_callable(fetches, feeds)
        self._feeds, self._fetches = feeds, fetches

    def feed_dict_call(self, *arrays: Any) -> list[np.ndarray]:
        """``session.run`` with a feed dict, as most TF1 serving code was written."""
        return self.session.run(
            self._fetches, feed_dict=dict(zip(self._feeds, arrays, strict=True))
        )

    @classmethod
    def load(cls, export_dir: Path, signature: str = DEFAULT_SIGNATURE) -> RawSession:
        return cls(*load_session(export_dir), signature)

    def run(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        values = self.call(*[feeds[k] for k in self.inputs])
        return dict(zip(self.outputs, values, strict=True))


def session_per_call(export_dir: Path, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
    """The naive way: open a Session and load the SavedModel for every prediction."""
    raw = RawSession.load(export_dir)
    with raw.session:
        return raw.run(feeds)


# --- the taxi rows ------------------------------------------------------------------------

_TAXI_STRINGS = {"company", "payment_type"}
_TAXI_LABEL = "tips"


def taxi_feature_kind(column: str) -> str | None:
    """The tf.Example list type the Estimator's parse spec expects for a CSV column."""
    if column == _TAXI_LABEL:
        return None
    if column in _TAXI_STRINGS:
        return "bytes"
    if (
        column == "trip_seconds"
        or column.startswith("trip_start_")
        or column.endswith(("_census_tract", "_community_area"))
    ):
        return "int64"
    return "float"


def read_taxi_rows(nrows: int | None = None) -> pd.DataFrame:
    """The raw CSV rows as pandas reads them: what a user holds."""
    return pd.read_csv(TAXI_CSV, nrows=nrows)


def serialize_taxi_rows(frame: pd.DataFrame) -> np.ndarray:
    """One serialized tf.Example per row, empty cells left out; a Python loop on purpose.

    This is how a user feeds an Estimator export by hand, and the "naive"
    contender times exactly this function on every call.
    """
    kinds = {c: k for c in frame.columns if (k := taxi_feature_kind(c)) is not None}
    columns = list(kinds)
    serialized = []
    for row in frame[columns].itertuples(index=False, name=None):
        example = tf.train.Example()
        features = example.features.feature
        for column, value in zip(columns, row, strict=True):
            if pd.isna(value):
                continue
            kind = kinds[column]
            if kind == "bytes":
                features[column].bytes_list.value.append(str(value).encode())
            elif kind == "int64":
                features[column].int64_list.value.append(int(value))
            else:
                features[column].float_list.value.append(float(value))
        serialized.append(example.SerializeToString())
    return np.array(serialized, dtype=object)


def serialize_x_examples(values: list[float]) -> np.ndarray:
    """TF Serving half_plus_two/three protos: features ``x`` and ``x2`` set to each value.

    Parsers ignore features they don't know, so these feed every tf.Example
    signature of those models (``regress_x_to_y`` parses ``x``,
    ``regress_x_to_y2`` ``x2``).
    """
    serialized = []
    for value in values:
        example = tf.train.Example()
        for name in ("x", "x2"):
            example.features.feature[name].float_list.value.append(value)
        serialized.append(example.SerializeToString())
    return np.array(serialized, dtype=object)


def frame_of(array: np.ndarray, column: str) -> pd.DataFrame:
    """A one-column DataFrame: scalar cells for [n, 1] arrays, one array per row otherwise."""
    if array.shape[1:] == (1,):
        return pd.DataFrame({column: array[:, 0]})
    return pd.DataFrame({column: list(array)})


def assert_close(got: Any, want: Any, what: str) -> None:
    """Refuse to time a contender that computes something else than raw TensorFlow."""
    np.testing.assert_allclose(
        np.asarray(got, np.float64).reshape(-1),
        np.asarray(want, np.float64).reshape(-1),
        rtol=1e-4,
        atol=1e-5,
        err_msg=what,
    )
