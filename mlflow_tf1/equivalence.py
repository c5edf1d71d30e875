"""Does a migrated model predict what MLflow's leftover 1.x loader predicts?

Today's MLflow still loads 1.x TF models through ``mlflow.tensorflow``; that
loader is the reference a migration is checked against before an alias moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlflow_tf1.examples import serialize
from mlflow_tf1.inputs import prepare_feeds
from mlflow_tf1.metadata import SignatureInfo

_CHECK_ROWS = 4


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
    name = migrated.metadata.flavors["tf1"]["signature_name"]
    info, parser = raw.signatures[name].info, raw.parsers.get(name)
    data = check_input if check_input is not None else generated_batch(info, parser)
    if data is None:
        return f"no check input: cannot generate one for signature '{name}'; pass check_input"
    try:
        legacy_feed = _legacy_feed(data, info, parser)
        expected = mlflow.pyfunc.load_model(legacy_path).predict(legacy_feed)
    except Exception as e:  # noqa: BLE001 -- any failure means the check could not run
        return f"the legacy loader cannot run on the check input: {type(e).__name__}: {e}"
    return _difference(_columns(expected), _columns(migrated.predict(data)))


def generated_batch(info: SignatureInfo, parser) -> dict[str, np.ndarray] | None:
    """A few distinct rows for every input of ``info``; None where one cannot be made."""
    if parser is not None:
        features = {k: _column(t.dtype, t.shape) for k, t in parser.features.items()}
        if any(v is None for v in features.values()):
            return None
        return {parser.input_key: serialize(_sparse_as_coo(features, parser), parser.features)}
    batch = {}
    for key, t in info.inputs.items():
        if t.encoding != "dense" or (column := _column(t.dtype, t.shape)) is None:
            return None
        batch[key] = column
    return batch or None


def _column(dtype: str, shape: tuple[int, ...] | None) -> np.ndarray | None:
    dims = (_CHECK_ROWS, *[d if d > 0 else 1 for d in (shape or (-1,))[1:]])
    count = int(np.prod(dims))
    if dtype == "string":
        values = np.array([f"v{i % 3}".encode() for i in range(count)], dtype=object)
    elif dtype == "bool":
        values = np.arange(count) % 2 == 0
    else:
        import tensorflow as tf

        try:
            numpy_dtype = tf.as_dtype(dtype).as_numpy_dtype
        except TypeError:
            return None
        values = (np.arange(count) % 7 + 1).astype(numpy_dtype)
    return values.reshape(dims)


def _sparse_as_coo(features: dict[str, np.ndarray], parser) -> dict[str, Any]:
    """Var-len features as one-value-per-row COO values, as ``serialize`` expects."""
    import tensorflow as tf

    feeds = {}
    for key, column in features.items():
        if parser.features[key].encoding == "coo_sparse":
            values = column.reshape(_CHECK_ROWS, -1)[:, 0]
            indices = np.stack([np.arange(_CHECK_ROWS), np.zeros(_CHECK_ROWS, int)], axis=1)
            feeds[key] = tf.compat.v1.SparseTensorValue(indices, values, [_CHECK_ROWS, 1])
        else:
            feeds[key] = column
    return feeds


def _legacy_feed(data: Any, info: SignatureInfo, parser) -> dict[str, np.ndarray]:
    """``data`` as the exactly typed arrays the legacy loader needs."""
    if parser is not None and not _has(data, parser.input_key):
        feeds = prepare_feeds(data, parser.feature_signature(info))
        return {parser.input_key: serialize(feeds, parser.features)}
    feeds = prepare_feeds(data, info)
    return {k: np.asarray(v) for k, v in feeds.items()}


def _has(data: Any, key: str) -> bool:
    return key in data.columns if isinstance(data, pd.DataFrame) else key in data


def _columns(predictions: Any) -> dict[str, np.ndarray]:
    """Predictions as ``{output: array}``, whatever shape the loader returned them in."""
    if isinstance(predictions, pd.DataFrame):
        return {c: np.array(predictions[c].to_list()) for c in predictions.columns}
    if isinstance(predictions, dict):
        return {k: np.asarray(v) for k, v in predictions.items()}
    return {"": np.asarray(predictions)}


def _difference(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> str | None:
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
