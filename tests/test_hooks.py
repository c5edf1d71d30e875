"""Pre/post-processing hooks, through mlflow.pyfunc, a fresh process and the scoring server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.exceptions import MlflowException

import mlflow_tf1
from mlflow_tf1.hooks import hook_requirements
from tests import tf1_models
from tests.test_serving import serving

LABELS = ["cat", "dog"]
TEXT = ["1,2,3", "0,-1,0.5"]
X = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], np.float32)
TENSORS = {"inputs": {"x": "x:0"}, "outputs": {"probs": "probs:0"}}


def parse_text(data: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows of comma-separated numbers, as a CSV-in-a-column client sends them."""
    if "text" not in data:
        raise ValueError(f"expected a 'text' column, got {list(data.columns)}")
    return {"x": np.stack([np.array(row.split(","), np.float32) for row in data["text"]])}


def to_labels(predictions: pd.DataFrame) -> pd.DataFrame:
    probs = np.stack(predictions["probs"])
    return pd.DataFrame(
        {"label": np.take(LABELS, probs.argmax(axis=1)), "score": probs.max(axis=1)}
    )


@pytest.fixture(scope="module")
def hooked(tmp_path_factory):
    """A frozen classifier logged with both hooks, and the raw Session's answer."""
    graph = tmp_path_factory.mktemp("hooks") / "frozen_inference_graph.pb"
    tf1_models.build_frozen_graph(graph)
    (probs,) = tf1_models.frozen_graph_predict(graph, {"x:0": X}, ["probs:0"])
    with mlflow.start_run():
        info = mlflow_tf1.log_model(
            str(graph), preprocess=parse_text, postprocess=to_labels, **TENSORS
        )
    return info, probs


def expected_labels(probs: np.ndarray) -> list[str]:
    return [LABELS[i] for i in probs.argmax(axis=1)]


def test_hooks_run_around_the_graph_in_pyfunc(hooked):
    info, probs = hooked
    got = mlflow.pyfunc.load_model(info.model_uri).predict(pd.DataFrame({"text": TEXT}))
    assert got["label"].tolist() == expected_labels(probs)
    np.testing.assert_allclose(got["score"], probs.max(axis=1), rtol=1e-6)


def test_hooks_load_where_their_module_does_not_exist(hooked, tmp_path):
    """The hooks live in this test module; a process that cannot import it still runs them."""
    info, probs = hooked
    script = (
        "import sys, mlflow, pandas as pd\n"
        "mlflow.set_tracking_uri(sys.argv[2])\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "print(model.predict(pd.DataFrame({'text': sys.argv[3:]}))['label'].tolist())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, info.model_uri, mlflow.get_tracking_uri(), *TEXT],
        cwd=tmp_path, check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "No module named 'tests'" not in result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(expected_labels(probs))


def test_hook_requirements_are_captured_and_flavor_records_the_hooks(hooked):
    info, _ = hooked
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri))
    requirements = (local / "requirements.txt").read_text().splitlines()
    assert f"numpy=={np.__version__}" in requirements  # called inside parse_text's comprehension
    flavor = mlflow.models.Model.load(str(local)).flavors["tf1"]
    assert set(flavor["hooks"]) == {"preprocess", "postprocess"}
    assert all((local / file).is_file() for file in flavor["hooks"].values())


def test_failing_hook_is_a_clear_error_and_the_model_keeps_working(hooked):
    info, probs = hooked
    model = mlflow.pyfunc.load_model(info.model_uri)
    with pytest.raises(
        MlflowException, match="preprocess hook failed: ValueError: expected a 'text'"
    ):
        model.predict(pd.DataFrame({"x": [1.0]}))
    assert model.predict(pd.DataFrame({"text": TEXT}))["label"].tolist() == expected_labels(probs)


def test_non_callable_hook_is_refused(tmp_path):
    graph = tmp_path / "frozen.pb"
    tf1_models.build_frozen_graph(graph)
    with pytest.raises(MlflowException, match="postprocess must be a callable"):
        mlflow_tf1.save_model(str(graph), tmp_path / "m", postprocess="labels.txt", **TENSORS)
    assert not (tmp_path / "m").exists()


@pytest.mark.serving
def test_served_model_applies_hooks_and_reports_hook_failures(hooked):
    info, probs = hooked
    with serving(info.model_uri) as url:
        good = {"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXT]}}
        bad = {"dataframe_split": {"columns": ["nope"], "data": [[1]]}}
        failed = requests.post(f"{url}/invocations", json=bad, timeout=30)
        answered = requests.post(f"{url}/invocations", json=good, timeout=30)
    assert failed.status_code == 400 and "preprocess hook failed" in failed.text
    assert answered.status_code == 200, answered.text
    rows = answered.json()["predictions"]
    assert [row["label"] for row in rows] == expected_labels(probs)
    np.testing.assert_allclose([row["score"] for row in rows], probs.max(axis=1), rtol=1e-6)
    assert json.loads(failed.text)["error_code"] == "INVALID_PARAMETER_VALUE"


def test_packages_used_inside_comprehensions_are_pinned():
    def frames(predictions: dict) -> list:
        return [pd.DataFrame({key: value}) for key, value in predictions.items()]

    assert f"pandas=={pd.__version__}" in hook_requirements(frames)
