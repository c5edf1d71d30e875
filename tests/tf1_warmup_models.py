"""A TF1 SavedModel that counts the requests it runs, and TF Serving warm-up files for it.

Every serving signature adds to a ``counter`` variable as it runs (predict +1,
classify +10, regress +100 per call), so the ``count`` signature read after a
load says exactly which warm-up records were replayed. The warm-up file is
written with tensorflow-serving-api's own PredictionLog protos, as TF Serving's
documentation shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
SERVE = v1.saved_model.tag_constants.SERVING
PREDICT, CLASSIFY, REGRESS = 1.0, 10.0, 100.0  # what each kind of call adds to the counter


def build_counting_model(export_dir: os.PathLike | str) -> None:
    """``serving_default`` (x -> y = 0.5x + 2), ``classify``/``regress`` on tf.Examples with
    float feature ``x``, each counting its calls; ``count`` reads the counter."""
    utils = v1.saved_model.utils
    signatures = v1.saved_model.signature_def_utils
    with v1.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        counter = v1.get_variable("counter", initializer=0.0, use_resource=True)
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32)})

        def counted(value, step: float):
            with v1.control_dependencies([counter.assign_add(step)]):
                return v1.identity(0.5 * value + 2.0)

        y = counted(x, PREDICT)
        scores = counted(parsed["x"], CLASSIFY)
        outputs = counted(parsed["x"], REGRESS)
        signature_map = {
            "serving_default": signatures.predict_signature_def({"x": x}, {"y": y}),
            "classify": signatures.classification_signature_def(serialized, None, scores),
            "regress": signatures.regression_signature_def(serialized, outputs),
            "count": signatures.build_signature_def(
                outputs={"count": utils.build_tensor_info(counter.read_value())},
                method_name=v1.saved_model.signature_constants.PREDICT_METHOD_NAME,
            ),
        }
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(os.fspath(export_dir))
        builder.add_meta_graph_and_variables(sess, [SERVE], signature_def_map=signature_map)
        builder.save()


def write_warmup_file(export_dir: os.PathLike | str, records: Iterable[bytes]) -> Path:
    """``assets.extra/tf_serving_warmup_requests``: the given records, as a TFRecord file."""
    path = Path(export_dir) / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


def predict_log(xs, signature: str = "", key: str = "x", dtype=np.float32) -> bytes:
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ignored_at_warm_up"
    request.model_spec.signature_name = signature
    request.inputs[key].CopyFrom(tf.make_tensor_proto(np.array(xs, dtype)))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    return log.SerializeToString()


def examples_log(kind: str, xs, signature: str, context_x: float | None = None) -> bytes:
    """A ``classify_log`` or ``regress_log`` with one example per x (in the context when given)."""
    from tensorflow_serving.apis import classification_pb2, prediction_log_pb2, regression_pb2

    request = (
        classification_pb2.ClassificationRequest()
        if kind == "classify"
        else regression_pb2.RegressionRequest()
    )
    request.model_spec.signature_name = signature
    protos = []
    for x in xs:
        example = tf.train.Example()
        if x is not None:
            example.features.feature["x"].float_list.value.append(x)
        protos.append(example)
    if context_x is None:
        request.input.example_list.examples.extend(protos)
    else:
        listed = request.input.example_list_with_context
        listed.examples.extend(protos)
        listed.context.features.feature["x"].float_list.value.append(context_x)
    if kind == "classify":
        log = prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog(request=request)
        )
    else:
        log = prediction_log_pb2.PredictionLog(
            regress_log=prediction_log_pb2.RegressLog(request=request)
        )
    return log.SerializeToString()


def multi_inference_log(tasks: list[tuple[str, str]], xs) -> bytes:
    """A ``multi_inference_log``: ``(signature, "classify" | "regress")`` tasks on one x each."""
    from tensorflow_serving.apis import inference_pb2, prediction_log_pb2

    request = inference_pb2.MultiInferenceRequest()
    for signature, kind in tasks:
        task = request.tasks.add(method_name=f"tensorflow/serving/{kind}")
        task.model_spec.name = "ignored_at_warm_up"
        task.model_spec.signature_name = signature
    for x in xs:
        request.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    log = prediction_log_pb2.PredictionLog(
        multi_inference_log=prediction_log_pb2.MultiInferenceLog(request=request)
    )
    return log.SerializeToString()


def session_run_log() -> bytes:
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog(session_run_log=prediction_log_pb2.SessionRunLog())
    return log.SerializeToString()
