"""TF Serving's REST routes (``/v1/models/...``), dispatched as its ``http_rest_api_handler``.

Paths are matched with TF Serving's own regular expressions, so what it calls
a malformed request (``GET /v1/foo``, ``/versions/abc``) is a 400 here too; an
unknown model or version is a 404; every error is ``{"error": "..."}`` and the
server keeps serving. Predictions run through the version's pyfunc model,
with the MLflow parser ``/invocations`` uses for ``instances`` and ``inputs``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from mlflow.exceptions import MlflowException
from mlflow.utils.proto_json_utils import parse_tf_serving_input

from mlflow_tf1.errors import invalid
from mlflow_tf1.serving import calls, tf_json
from mlflow_tf1.serving.versions import ServedModel, ServedVersion

_logger = logging.getLogger(__name__)

_VERSION = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
_PREDICTION = re.compile(
    rf"/v1/models/([^/:]+){_VERSION}:(classify|regress|predict)", re.IGNORECASE
)
_STATUS = re.compile(rf"/v1/models(?:/([^/:]+))?{_VERSION}(?:/(metadata))?", re.IGNORECASE)
_INT64_MAX = 2**63 - 1
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def router(served: ServedModel) -> APIRouter:
    """The ``/v1/...`` routes for ``served``, to mount on MLflow's scoring app."""
    api = APIRouter()

    # TF Serving matches "(?i)/v1/.*" and answers every method (other than GET and
    # POST, a "Malformed request" 400).
    @api.api_route("/{prefix}/{path:path}", methods=_METHODS, include_in_schema=False)
    async def tf_serving(request: Request, prefix: str) -> Response:
        if prefix.lower() != "v1":
            raise HTTPException(status_code=404)
        body = await request.body()
        status, answer = await asyncio.to_thread(
            handle, served, request.method, request.scope["path"], body
        )
        return Response(content=answer, status_code=status, media_type="application/json")

    return api


def handle(served: ServedModel, method: str, path: str, body: bytes) -> tuple[int, str]:
    """``(HTTP status, JSON text)`` for one request; never raises."""
    try:
        return 200, tf_json.dumps(_dispatch(served, method, path, body))
    except MlflowException as e:
        return e.get_http_status_code(), tf_json.dumps({"error": e.message})
    except Exception:  # a bug: logged with its traceback, and the server keeps serving
        _logger.exception("TF Serving REST request %s %s failed", method, path)
        return 500, tf_json.dumps(
            {"error": f"Internal error serving {method} {path}; see the server log."}
        )


def _dispatch(served: ServedModel, method: str, path: str, body: bytes) -> dict[str, Any]:
    if method == "POST" and (match := _PREDICTION.fullmatch(path)):
        name, version, label, verb = match.groups()
        target = served.version(name, _version(version), label)
        return _VERBS[verb.lower()](target, tf_json.parse_body(body))
    if method == "GET" and (match := _STATUS.fullmatch(path)):
        name, version, label, metadata = match.groups()
        if metadata:
            target = served.version(name, _version(version), label)
            return tf_json.model_metadata(served.name, target.version, target.signature_defs)
        return tf_json.model_status(served.status_versions(name, _version(version), label))
    raise invalid(f"Malformed request: {method} {path}")


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    if int(text) > _INT64_MAX:
        raise invalid(f"Failed to convert version: {text} to numeric.")
    return int(text)


def _predict(target: ServedVersion, doc: dict[str, Any]) -> dict[str, Any]:
    name = tf_json.signature_name(doc)
    target.description.signature(name)  # an unknown one is refused before the body is read
    form, value = tf_json.predict_request(doc)
    try:
        data = parse_tf_serving_input(
            {form: value}, schema=target.model.metadata.get_input_schema()
        )
    except MlflowException:
        tf_json.refuse_ragged(form, value)  # a clearer refusal than numpy's, where it applies
        raise
    signature, outputs = calls.predict(target.model, target.description, name, data)
    ranks = tf_json.given_ranks(form, value)
    drop = tf_json.drops_trailing_one(ranks, target.fed_inputs[signature.key])
    return tf_json.predict_answer(outputs, form, drop)


def _classify(target: ServedVersion, doc: dict[str, Any]) -> dict[str, Any]:
    name, examples = tf_json.signature_name(doc), tf_json.serialized_examples(doc)
    _, outputs = calls.examples_call(
        target.model, target.description, name, calls.CLASSIFY, examples
    )
    return tf_json.classify_answer(calls.classes(outputs, len(examples)))


def _regress(target: ServedVersion, doc: dict[str, Any]) -> dict[str, Any]:
    name, examples = tf_json.signature_name(doc), tf_json.serialized_examples(doc)
    _, outputs = calls.examples_call(
        target.model, target.description, name, calls.REGRESS, examples
    )
    return tf_json.regress_answer(calls.regressions(outputs, len(examples)))


_VERBS = {"predict": _predict, "classify": _classify, "regress": _regress}
