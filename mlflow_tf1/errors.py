"""The one place user-facing errors are made and TensorFlow's errors are read.

Every refusal is an ``MlflowException`` with ``INVALID_PARAMETER_VALUE``, which
the scoring server turns into a 400; TensorFlow's messages carry boilerplate
lines first, so only their informative line is shown.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

_TF_BOILERPLATE = ("Graph execution error", "Detected at node", "Node:", "[[", "Original stack")


def invalid(message: str) -> MlflowException:
    """A refusal of the caller's input or arguments (HTTP 400 in the scoring server)."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def first_line_of(text: str) -> str:
    """The informative line of a TF error (TF 2.x puts boilerplate first)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    useful = [line for line in lines if line and not line.startswith(_TF_BOILERPLATE)]
    return (useful[0] if useful else lines[0] if lines else "")[:500]


def first_line(error: BaseException) -> str:
    """``first_line_of`` an exception, past autograph's "in user code:" header."""
    text = getattr(error, "message", None) or str(error)
    return first_line_of(text.replace("in user code:", "")) or type(error).__name__
