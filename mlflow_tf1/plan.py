"""One plan per signature, made at load: everything about a call that doesn't depend on the data.

Which callable runs (the signature, or its raw-feature twin), the input specs
with the graph's own shapes, whether requests may be split into row chunks,
and whether the signature may be warmed up. A call only routes, converts and runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf
from mlflow.exceptions import MlflowException

from mlflow_tf1 import batching, samples
from mlflow_tf1.casting import numpy_dtype
from mlflow_tf1.description import SignatureDescription
from mlflow_tf1.errors import first_line, invalid
from mlflow_tf1.outputs import format_outputs
from mlflow_tf1.request_batching import Batcher
from mlflow_tf1.routing import arrays_as_feeds, plain_inputs, route
from mlflow_tf1.runtime import LoadedSavedModel, Signature


class SignaturePlan:
    """Runs one signature on any accepted input; holds no per-call state (thread-safe)."""

    def __init__(
        self,
        description: SignatureDescription,
        signature: Signature,
        features: Signature | None,
        merging: Merging | None = None,
    ):
        self.description = description
        self.signature = signature
        self.features = features
        self.feature_info = features.info if features is not None else None
        self.splittable = batching.splittable(signature.info)
        self.one_row = batching.one_row_at_a_time(signature.info)
        self._plain_inputs = plain_inputs(description, signature.info)
        row_wise = self.splittable and not description.stateful
        self._no_rows = _no_rows_outputs(signature.info) if row_wise else None
        self._batchers: dict[bool, Batcher] = {}
        if merging is not None and self.splittable and not description.stateful:
            # Stateful signatures never merge: one request's update would be another's.
            runners = {False: signature, True: features}
            self._batchers = {
                fed: Batcher(runner.run, merging.max_rows, merging.timeout_s)
                for fed, runner in runners.items()
                if runner is not None
            }

    @property
    def key(self) -> str:
        return self.description.key

    def outputs(self, data: Any) -> dict[str, Any]:
        """Graph outputs as numpy arrays (or SparseTensorValues) for ``data``."""
        feeds = None if self._plain_inputs is None else arrays_as_feeds(data, self._plain_inputs)
        if feeds is None:
            if self._no_rows is not None and _bare_empty(data):
                return self._no_rows()  # [] or a frame without columns: zero rows of nothing
            fed_features, feeds = route(
                data, self.description, self.signature.info, self.feature_info
            )
        else:
            fed_features = False
        runner = self.features if fed_features else self.signature
        batcher = self._batchers.get(fed_features)
        try:
            return batcher.submit(feeds) if batcher is not None else runner.run(feeds)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
            if self._no_rows is not None and batching.row_count(feeds) == 0:
                # Many graphs can't run zero rows (a reshape of -1); a row-wise one answers none.
                return self._no_rows()
            # The graph itself refused the values (e.g. a malformed tf.Example).
            hint = _IMAGE_HINT if self.description.decodes_images and _about_images(e) else ""
            hint = hint or _unknown_rank_hint(self.signature.info, feeds)
            said = first_line(e)
            said += "." if hint and not said.endswith(".") else ""
            raise invalid(f"Signature '{self.key}' rejected the input: {said}{hint}") from None
        except UnicodeDecodeError:
            # TF quotes the bad bytes (a malformed serialized tf.Example) in its
            # error text, and TF's own decoding of that text fails.
            raise invalid(
                f"Signature '{self.key}' rejected the input: TensorFlow could not read it "
                "(e.g. bytes that are not a serialized tf.Example)."
            ) from None
        except tf.errors.OpError as e:
            # Not the caller's fault (an uninitialized table, a missing file): a server error.
            raise MlflowException(
                f"Signature '{self.key}' failed inside TensorFlow: {first_line(e)}"
            ) from None

    def predict(self, data: Any) -> Any:
        """``outputs`` shaped for the caller: a DataFrame for a DataFrame, else a dict."""
        return format_outputs(self.outputs(data), as_frame=isinstance(data, pd.DataFrame))

    def run_generated(self) -> dict[str, MlflowException | None]:
        """Run each path a request can take once on a generated batch: what failed, and how.

        Builds TensorFlow's executors (the warm-up at load) and proves the
        signature runs (the check at log time). Stateful signatures never run.
        """
        results: dict[str, MlflowException | None] = {}
        for kind, batch in self.generated_batches().items():
            try:
                self.outputs(batch)
                results[kind] = None
            except MlflowException as e:
                results[kind] = e
        return results

    def generated_batches(self) -> dict[str, Any]:
        """``{kind: batch}`` for each path a request can take (none for stateful signatures)."""
        if self.description.stateful:
            return {}
        batches = {BATCH_KINDS[0]: samples.user_batch(self.description, self.signature.info)}
        if self.features is not None:
            batches[BATCH_KINDS[1]] = samples.feature_frame(self.description)
        return {kind: batch for kind, batch in batches.items() if batch is not None}


@dataclass(frozen=True)
class Merging:
    """Server-side batching: concurrent requests merged up to ``max_rows``, waiting ``timeout_s``."""

    max_rows: int
    timeout_s: float


# Image bytes can't travel as JSON text; base64 text sent as a plain string reaches
# the decoder as that text (only ``{"b64": ...}`` values and binary columns are decoded).
_IMAGE_HINT = (
    ' This signature decodes images: send the encoded image bytes, in JSON as {"b64": "<base64>"}.'
)


def _bare_empty(data: Any) -> bool:
    return (isinstance(data, list) and not data) or (
        isinstance(data, pd.DataFrame) and data.shape == (0, 0)
    )


def _no_rows_outputs(info) -> Any:
    """Makes each output with zero rows, where every output's other dimensions are known."""
    shapes = {k: t.shape for k, t in info.outputs.items()}
    if not shapes or any(-1 in s[1:] for s in shapes.values()):
        return None
    dtypes = {k: numpy_dtype(t.dtype) for k, t in info.outputs.items()}
    return lambda: {k: np.empty((0, *shapes[k][1:]), dtypes[k]) for k in shapes}


def _unknown_rank_hint(info, feeds: Any) -> str:
    """Inputs declaring no shape are fed as sent: a table's column is a list, so the
    graph may have been given one value per row where it wanted a single value."""
    fed = {
        k: list(np.shape(feeds[k]))
        for k, i in info.inputs.items()
        if i.shape is None and i.encoding == "dense" and k in feeds and np.ndim(feeds[k])
    }
    if not fed:
        return ""
    example = ", ".join(f'"{k}": <value>' for k in fed)
    return (
        f" Input(s) {sorted(fed)} declare no shape and were fed with shape(s) "
        f"{[fed[k] for k in sorted(fed)]}; if the graph wants a single value, send "
        f"{{{example}}} (a scalar, not a column or list)."
    )


def _about_images(error: Exception) -> bool:
    """A decoder's own refusal, read from the message shown (not the op's name or trace)."""
    message = first_line(error).lower()
    return any(phrase in message for phrase in _DECODER_PHRASES)


_DECODER_PHRASES = ("image file format", "invalid jpeg", "invalid png", "invalid gif", "jpeg::")


# The generated batches `run_generated` tries: what users send, then raw feature rows.
BATCH_KINDS = ("generated inputs", "generated raw feature rows")


def make_plans(model: LoadedSavedModel, merging: Merging | None = None) -> dict[str, SignaturePlan]:
    """A plan for every signature the model could build (unavailable ones refuse with the reason)."""
    return {
        key: SignaturePlan(
            model.description.signatures[key],
            signature,
            model.feature_signatures.get(key),
            merging,
        )
        for key, signature in model.signatures.items()
    }


def verify(model: LoadedSavedModel) -> dict[str, dict[str, Any]]:
    """What running each signature on generated batches showed, for ``MLmodel``.

    ``failed``: TensorFlow could not run it at all (an uninitialized table, a
    missing kernel), so it can't serve; ``rejected``: the graph refused the
    generated values themselves (data it checks), which proves nothing either way.
    """
    records: dict[str, dict[str, Any]] = {}
    for key, plan in make_plans(model).items():
        signature = plan.description
        if signature.refused is not None:
            records[key] = {"not_run": "refused when logged"}
            continue
        if signature.stateful:
            records[key] = {"not_run": "it changes state"}
            continue
        record: dict[str, Any] = {"backend": plan.signature.backend, "ran": []}
        for kind, error in plan.run_generated().items():
            if error is None:
                record["ran"].append(kind)
                continue
            outcome = "rejected" if error.error_code == "INVALID_PARAMETER_VALUE" else "failed"
            record.setdefault(outcome, {})[kind] = error.message.removeprefix(f"Signature '{key}' ")
        records[key] = record
    return records
