"""TF Serving's calls (predict, classify, regress, multi-inference) on a pyfunc model, whatever the transport.

REST (`rest`), gRPC (`grpc_service`) and warm-up replay (`mlflow_tf1.warmup_files`)
differ only in how a request is decoded and an answer encoded; the signature
choice, the classify/regress checks, the tf.Example input and the reading of
``classes``/``scores``/``outputs`` are here once, so the three agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import tensorflow as tf
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import NOT_IMPLEMENTED

from mlflow_tf1.constants import SIGNATURE_PARAM
from mlflow_tf1.description import ModelDescription, SignatureDescription
from mlflow_tf1.errors import invalid

CLASSIFY, REGRESS = "classify", "regress"
_METHOD_NAMES = {CLASSIFY: "tensorflow/serving/classify", REGRESS: "tensorflow/serving/regress"}
_METHODS = {CLASSIFY: "classification", REGRESS: "regression"}
NO_TASKS = "MultiInferenceRequest has no tasks: add classify or regress tasks."
_TASK_VERBS = {method: verb for verb, method in _METHOD_NAMES.items()}


class Predictor(Protocol):
    """``mlflow.pyfunc.PyFuncModel`` (the server) or the flavor's own model (warm-up)."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class Classes:
    """A classify answer: per example and class, a label and/or a score (float array)."""

    labels: list[list[str]] | None
    scores: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        if self.scores is not None:
            return self.scores.shape
        return len(self.labels), len(self.labels[0]) if self.labels else 0


def predict(
    model: Predictor, description: ModelDescription, name: str | None, inputs: Any
) -> tuple[SignatureDescription, dict[str, np.ndarray]]:
    """Run signature ``name`` (None: the default) on ``inputs``; its outputs by name."""
    signature = description.signature(name)
    outputs = model.predict(inputs, params={SIGNATURE_PARAM: signature.key})
    return signature, named_tensors(outputs)


def examples_call(
    model: Predictor,
    description: ModelDescription,
    name: str | None,
    verb: str,
    serialized: np.ndarray,
) -> tuple[SignatureDescription, dict[str, np.ndarray]]:
    """Classify or regress: serialized tf.Examples fed to the signature's one input."""
    signature = examples_signature(description, name, verb)
    (key,) = signature.info.inputs
    outputs = model.predict({key: serialized}, params={SIGNATURE_PARAM: signature.key})
    return signature, named_tensors(outputs)


def examples_signature(
    description: ModelDescription, name: str | None, verb: str
) -> SignatureDescription:
    """Signature ``name`` (None: the default), refused unless it can ``verb`` examples."""
    signature = description.signature(name)
    expected = _METHOD_NAMES[verb]
    if signature.info.method_name != expected:
        fitting = sorted(
            k for k, s in description.signatures.items() if s.info.method_name == expected
        )
        raise invalid(
            f"Expected {_METHODS[verb]} signature method_name to be {expected}. Was: "
            f"{signature.info.method_name}. Signatures with that method: {fitting}; "
            "pick one with 'signature_name'."
        )
    if len(signature.info.inputs) != 1:
        raise invalid(
            f"Expected one input Tensor; '{signature.key}' has {len(signature.info.inputs)}."
        )
    return signature


def multi_inference(
    model: Predictor,
    description: ModelDescription,
    tasks: Sequence[tuple[str | None, str]],
    request_input: Any,
) -> tuple[list[tuple[str, str, dict[str, np.ndarray]]], int]:
    """MultiInference: classify and regress ``tasks`` (signature name or None, method
    name) on one example list, all checked before any runs, as TF Serving's
    ``TensorFlowMultiInferenceRunner`` checks them: each signature once, all fed the
    same input tensor. Per task its signature key, verb and outputs; and the example count.
    """
    if not tasks:
        raise invalid(NO_TASKS)
    planned: list[tuple[str, str]] = []
    input_names: set[str | None] = set()
    for name, method in tasks:
        key = description.signature(name).key
        if any(key == done for done, _ in planned):
            raise invalid(f"Duplicate evaluation of signature: {key}")
        verb = _TASK_VERBS.get(method)
        if verb is None:
            raise MlflowException(
                f"Unsupported signature method_name: {method}; MultiInference runs "
                f"{sorted(_TASK_VERBS)}.",
                NOT_IMPLEMENTED,
            )
        signature = examples_signature(description, key, verb)
        input_names.update(t.name for t in signature.info.inputs.values())
        if len(input_names) > 1:
            raise invalid("Input tensor must be the same for all Signatures.")
        planned.append((key, verb))
    examples = input_examples(request_input)
    answers = [
        (key, verb, examples_call(model, description, key, verb, examples)[1])
        for key, verb in planned
    ]
    return answers, len(examples)


def input_examples(request_input: Any) -> np.ndarray:
    """A ``tensorflow.serving.Input`` proto as serialized tf.Examples, as TF Serving feeds them.

    With ``example_list_with_context`` each example is the context's bytes followed
    by its own: parsed, that is the context merged with the example (the example's
    features win), exactly what TF Serving's ``InputToSerializedExampleTensor`` feeds.
    """
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples, context = request_input.example_list.examples, b""
    elif kind == "example_list_with_context":
        listed = request_input.example_list_with_context
        examples, context = listed.examples, listed.context.SerializeToString()
    else:
        raise invalid("Input is empty: set example_list or example_list_with_context.")
    if not examples:
        raise invalid("Input is empty: the example list has no examples.")
    serialized = np.empty(len(examples), dtype=object)
    for i, example in enumerate(examples):
        serialized[i] = context + example.SerializeToString()
    return serialized


def classes(tensors: Mapping[str, np.ndarray], examples: int) -> Classes:
    """The ``classes`` and/or ``scores`` outputs, checked as TF Serving's classifier checks them."""
    labels, scores = tensors.get("classes"), tensors.get("scores")
    if labels is None and scores is None:
        raise invalid(
            "Expected classification signature outputs to contain 'classes' and/or 'scores'; "
            f"got {sorted(tensors)}."
        )
    for key, tensor in (("classes", labels), ("scores", scores)):
        if tensor is not None and (tensor.ndim != 2 or len(tensor) != examples):
            raise invalid(
                f"Expected Tensor shape: [batch_size num_classes] for '{key}' with batch_size "
                f"{examples} but got {list(tensor.shape)}"
            )
    if labels is not None and scores is not None and labels.shape != scores.shape:
        raise invalid(
            f"Tensors class and score should match in shape, but had shapes "
            f"{list(labels.shape)} and {list(scores.shape)}"
        )
    if scores is not None and not np.issubdtype(scores.dtype, np.floating):
        raise invalid(f"Expected scores Tensor of DT_FLOAT; got {scores.dtype}.")
    text = [[_label(c) for c in row] for row in labels] if labels is not None else None
    return Classes(text, scores)


def regressions(tensors: Mapping[str, np.ndarray], examples: int) -> np.ndarray:
    """The ``outputs`` tensor as one float per example, checked as TF Serving's regressor does."""
    if "outputs" not in tensors:
        raise invalid(
            f"Expected a regression signature output named 'outputs'; got {sorted(tensors)}."
        )
    values = tensors["outputs"]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise invalid(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{list(tensors['outputs'].shape)}"
        )
    if len(values) != examples:
        raise invalid(
            f"Input batch size did not match output batch size: {examples} vs. {len(values)}"
        )
    if not np.issubdtype(values.dtype, np.floating):
        raise invalid(f"Expected output Tensor of DT_FLOAT; got {values.dtype}.")
    return values


def output_filter(signature: SignatureDescription, wanted: list[str]) -> list[str]:
    """The outputs a Predict request asks for (all when it names none), as TF Serving checks them."""
    outputs = sorted(signature.info.outputs)
    if not wanted:
        return outputs
    for alias in wanted:
        if alias not in signature.info.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(outputs)}}}."
            )
    if len(set(wanted)) < len(wanted):
        duplicate = next(a for a in wanted if wanted.count(a) > 1)
        raise invalid(f"duplicate output tensor alias: {duplicate}")
    return wanted


def named_tensors(outputs: Any) -> dict[str, np.ndarray]:
    """The model's answer as named arrays (a hook may have returned a table or an array)."""
    if hasattr(outputs, "columns") and hasattr(outputs, "to_numpy"):  # a DataFrame
        return {str(c): outputs[c].to_numpy() for c in outputs.columns}
    if not isinstance(outputs, Mapping):
        return {"outputs": np.asarray(outputs)}
    tensors = {}
    for key, value in outputs.items():
        if isinstance(value, tf.compat.v1.SparseTensorValue):
            raise invalid(
                f"Output '{key}' is sparse; TF Serving's API has no sparse form. "
                "Ask for a signature with dense outputs, or use /invocations."
            )
        tensors[str(key)] = np.asarray(value)
    return tensors


def _label(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
