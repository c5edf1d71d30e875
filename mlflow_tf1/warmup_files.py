"""TF Serving's warm-up files, replayed at load as TF Serving replays them.

A SavedModel may carry ``assets.extra/tf_serving_warmup_requests``: a TFRecord file
of ``tensorflow.serving.PredictionLog`` records that TF Serving runs once each,
in order, before the model takes traffic (predict, classify, regress and
multi-inference logs; at most 1000 records). Clients moved from TF Serving keep that: the requests run
through the loaded model's own ``predict``, so whatever they initialise (or, for
a stateful signature, change) is as TF Serving would leave it. Unlike TF Serving,
a bad record is logged and skipped: a warm-up never fails the load. Reading the
records needs ``tensorflow-serving-api``'s protos; without them the file is
skipped with one INFO line.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import tensorflow as tf

from mlflow_tf1.errors import first_line, invalid
from mlflow_tf1.serving import calls
from mlflow_tf1.tf_serving_protos import INSTALL_HINT, available

_logger = logging.getLogger(__name__)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving's WarmupConsts::kMaxNumRecords
_VERBS = {"classify_log": calls.CLASSIFY, "regress_log": calls.REGRESS}


def replay(model: Any, export_dir: Path) -> int:
    """Run the warm-up file's requests on ``model`` (the flavor's pyfunc model); how many ran."""
    path = Path(export_dir) / WARMUP_FILE
    if not path.is_file():
        return 0
    if not available():
        _logger.info("Not replaying the TF Serving warm-up file %s: %s", path, INSTALL_HINT)
        return 0
    from tensorflow_serving.apis import prediction_log_pb2

    description = model.get_raw_model().description
    start, replayed, skipped = time.perf_counter(), 0, 0
    records = tf.data.TFRecordDataset(str(path)).as_numpy_iterator()
    index = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except tf.errors.OpError as e:  # a truncated or corrupt file: the rest is unreadable
            _logger.warning(
                "Stopped reading the TF Serving warm-up file %s at record %d (is it in TFRecord "
                "format?): %s",
                path,
                index,
                first_line(e),
            )
            break
        if index == MAX_RECORDS:
            _logger.warning(
                "The TF Serving warm-up file %s has more than %d records (TF Serving's limit); "
                "only the first %d were replayed.",
                path,
                MAX_RECORDS,
                MAX_RECORDS,
            )
            break
        try:
            _run(model, description, prediction_log_pb2.PredictionLog.FromString(record))
            replayed += 1
        except Exception as e:  # noqa: BLE001 -- a bad record is skipped, never failing the load
            skipped += 1
            _logger.warning(
                "Skipped TF Serving warm-up record %d of %s: %s", index, path, first_line(e)
            )
        index += 1
    _logger.info(
        "Replayed %d TF Serving warm-up record(s) from %s in %.0f ms (%d skipped).",
        replayed,
        path,
        (time.perf_counter() - start) * 1000,
        skipped,
    )
    return replayed


def _run(model: Any, description: Any, log: Any) -> None:
    """One PredictionLog's request, answered and checked as the server would answer it."""
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        signature, _ = calls.predict(
            model, description, request.model_spec.signature_name or None, inputs
        )
        calls.output_filter(signature, list(request.output_filter))
    elif kind in _VERBS:
        request = getattr(log, kind).request
        examples = calls.input_examples(request.input)
        verb = _VERBS[kind]
        _, outputs = calls.examples_call(
            model, description, request.model_spec.signature_name or None, verb, examples
        )
        (calls.classes if verb == calls.CLASSIFY else calls.regressions)(outputs, len(examples))
    elif kind == "multi_inference_log":
        request = log.multi_inference_log.request
        tasks = [(t.model_spec.signature_name or None, t.method_name) for t in request.tasks]
        answers, rows = calls.multi_inference(model, description, tasks, request.input)
        for _, verb, outputs in answers:
            (calls.classes if verb == calls.CLASSIFY else calls.regressions)(outputs, rows)
    else:
        raise invalid(
            f"log_type '{kind}' is not replayed; predict_log, classify_log, regress_log and "
            "multi_inference_log are."
        )
