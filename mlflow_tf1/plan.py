"""One plan per signature, made at load: everything about a call that doesn't depend on the data.

Which callable runs (the signature, or its raw-feature twin), the input specs
with the graph's own shapes, whether requests may be split into row chunks,
and whether the signature may be warmed up. A call only routes, converts and runs.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import tensorflow as tf
from mlflow.exceptions import MlflowException

from mlflow_tf1 import batching, samples
from mlflow_tf1.description import SignatureDescription
from mlflow_tf1.errors import first_line, invalid
from mlflow_tf1.outputs import format_outputs
from mlflow_tf1.routing import route
from mlflow_tf1.runtime import LoadedSavedModel, Signature

_logger = logging.getLogger(__name__)


class SignaturePlan:
    """Runs one signature on any accepted input; holds no per-call state (thread-safe)."""

    def __init__(
        self, description: SignatureDescription, signature: Signature, features: Signature | None
    ):
        self.description = description
        self.signature = signature
        self.features = features
        self.feature_info = features.info if features is not None else None
        self.splittable = batching.splittable(signature.info)

    @property
    def key(self) -> str:
        return self.description.key

    def outputs(self, data: Any) -> dict[str, Any]:
        """Graph outputs as numpy arrays (or SparseTensorValues) for ``data``."""
        fed_features, feeds = route(data, self.description, self.signature.info, self.feature_info)
        runner = self.features if fed_features else self.signature
        try:
            return runner.run(feeds)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
            # The graph itself refused the values (e.g. a malformed tf.Example).
            raise invalid(f"Signature '{self.key}' rejected the input: {first_line(e)}") from None

    def predict(self, data: Any) -> Any:
        """``outputs`` shaped for the caller: a DataFrame for a DataFrame, else a dict."""
        return format_outputs(self.outputs(data), as_frame=isinstance(data, pd.DataFrame))

    def warm_up(self) -> None:
        """Run each path a request can take once, so TensorFlow builds its executors now."""
        if self.description.stateful:
            return
        batches = [samples.user_batch(self.description, self.signature.info)]
        if self.features is not None:
            batches.append(samples.feature_frame(self.description))
        for batch in batches:
            if batch is None:
                continue
            try:
                self.outputs(batch)
            except (MlflowException, tf.errors.OpError, ValueError) as e:
                _logger.debug("Warm-up of signature '%s' failed: %s", self.key, first_line(e))


def make_plans(model: LoadedSavedModel) -> dict[str, SignaturePlan]:
    """A plan for every signature the model could build (unavailable ones refuse with the reason)."""
    return {
        key: SignaturePlan(
            model.description.signatures[key], signature, model.feature_signatures.get(key)
        )
        for key, signature in model.signatures.items()
    }
