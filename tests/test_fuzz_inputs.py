"""Property: any DataFrame, dict or array either predicts correctly or raises MlflowException."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_models

DTYPES = st.sampled_from(["float64", "float32", "int64", "int8", "uint8", "bool", "<U3", "object"])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """y = 3x - 1 (x float32 [-1]) and the mixed-dtype model, through pyfunc."""
    loaded = {}
    for name in ["pbtxt", "mixed_dtypes"]:
        export = tmp_path_factory.mktemp(name) / "export"
        getattr(tf1_models, f"build_{name}")(export)
        loaded[name] = mlflow.pyfunc.load_model(mlflow_tf1.log_model(str(export)).model_uri)
    return loaded


arrays = hnp.arrays(
    dtype=DTYPES.map(np.dtype),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    elements={"allow_nan": True, "allow_infinity": True},
)
values = st.one_of(
    arrays,
    st.lists(
        st.one_of(st.floats(), st.integers(-300, 300), st.text(max_size=3), st.none()), max_size=5
    ),
    st.floats(),
    st.none(),
    st.dictionaries(st.sampled_from(["b64", "x"]), st.text(max_size=5), max_size=2),
)
payloads = st.one_of(
    values,
    st.dictionaries(st.sampled_from(["x", "i32", "text", "bias", "junk"]), values, max_size=4),
    st.builds(
        lambda cols, n: pd.DataFrame({c: np.arange(n) * 0.5 for c in cols}),
        st.lists(st.sampled_from(["x", "t", "other"]), unique=True, max_size=3),
        st.integers(0, 4),
    ),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=payloads, which=st.sampled_from(["pbtxt", "mixed_dtypes"]))
def test_predict_answers_or_refuses_cleanly(models, data, which):
    try:
        out = models[which].predict(data)
    except MlflowException:
        return
    if which == "pbtxt":
        with np.errstate(over="ignore", invalid="ignore"):
            expected = 3 * _as_x(data) - np.float32(1)
        np.testing.assert_allclose(np.ravel(out["y"]), expected, rtol=1e-5, equal_nan=True)


def _as_x(data) -> np.ndarray:
    """The x values that were accepted, read back the plain way."""
    if isinstance(data, pd.DataFrame):
        if data.columns.empty:
            return np.zeros(0, np.float32)  # a frame of no rows and no columns: zero rows
        data = data["x"] if "x" in data.columns else data.iloc[:, 0]
    if isinstance(data, dict):
        data = data["x"]
    return np.asarray(data, dtype=np.float64).reshape(-1).astype(np.float32)
