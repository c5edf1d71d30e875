"""Does a migrated model predict what MLflow's leftover 1.x loader predicts?

Today's MLflow still loads 1.x TF models through ``mlflow.tensorflow``; that
loader is the reference a migration is checked against before an alias moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_tf1 import samples
from mlflow_tf1.routing import route


def compare_with_legacy(legacy_path: str, migrated_uri: str, check_input: Any = None) -> str | None:
    """Why the migrated model's predictions differ from the legacy loader's; None if equal.

    Without ``check_input`` a small batch is generated from the default
    signature (tf.Example signatures get serialized examples built from the
    parse spec). The legacy loader is fed exactly typed arrays, since it fails on
    anything else; the migrated model gets ``check_input`` as the user gives it.
    """
    import mlflow.pyfunc

    migrated = mlflow.pyfunc.load_model(migrated_uri)
    raw = migrated.get_raw_model()
    signature = raw.description.signature(None)
    info = raw.signatures[signature.key].info
    data = check_input if check_input is not None else samples.user_batch(signature, info)
    if data is None:
        return (
            f"no check input: cannot generate one for signature '{signature.key}'; pass check_input"
        )
    try:
        # No feature twin given: raw feature rows become serialized examples, the 1.x input.
        _, feeds = route(data, signature, info, None)
        legacy_feed = {k: np.asarray(v) for k, v in feeds.items()}
        expected = mlflow.pyfunc.load_model(legacy_path).predict(legacy_feed)
    except Exception as e:  # noqa: BLE001 -- any failure means the check could not run
        return f"the legacy loader cannot run on the check input: {type(e).__name__}: {e}"
    return difference(_columns(expected), _columns(migrated.predict(data)))


def _columns(predictions: Any) -> dict[str, np.ndarray]:
    """Predictions as ``{output: array}``, whatever shape the loader returned them in."""
    if isinstance(predictions, pd.DataFrame):
        return {c: np.array(predictions[c].to_list()) for c in predictions.columns}
    if isinstance(predictions, dict):
        return {k: np.asarray(v) for k, v in predictions.items()}
    return {"": np.asarray(predictions)}


def difference(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> str | None:
    """How two sets of named outputs differ (floats within 1e-6), or None when they agree."""
    if set(expected) != set(actual):
        return f"outputs differ: legacy {sorted(expected)}, migrated {sorted(actual)}"
    for key, want in expected.items():
        got = actual[key]
        if want.size != got.size:
            return f"output '{key}' has {got.size} values, the legacy loader's {want.size}"
        want, got = want.reshape(-1), got.reshape(-1)
        if want.dtype.kind in "fc":
            equal = np.allclose(want, got.astype(want.dtype), rtol=1e-6, atol=1e-6, equal_nan=True)
        else:
            equal = [_text(v) for v in want] == [_text(v) for v in got]
        if not equal:
            return f"output '{key}' differs from the legacy loader's"
    return None


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
