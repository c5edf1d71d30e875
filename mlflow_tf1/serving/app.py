"""MLflow's scoring app with TF Serving's REST API mounted on it.

``/invocations``, ``/ping``, ``/health`` and ``/version`` are MLflow's own
(``mlflow.pyfunc.scoring_server.init``), on the latest served version, as TF
Serving answers version-less requests; ``/v1/...`` is `rest`'s.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from mlflow.pyfunc import scoring_server
from starlette.exceptions import HTTPException

from mlflow_tf1.serving import rest
from mlflow_tf1.serving.versions import ServedModel


def build_app(served: ServedModel) -> FastAPI:
    """The app uvicorn serves: MLflow's routes and middleware, plus ``/v1/...``."""
    app = scoring_server.init(served.latest.model)
    app.include_router(rest.router(served))

    async def unknown_path(request: Request, error: HTTPException):
        # TF Serving's clients read {"error": ...}; other HTTP errors stay FastAPI's.
        if error.status_code == 404:
            message = f"Not found: {request.method} {request.url.path}"
            return JSONResponse({"error": message}, status_code=404)
        return await http_exception_handler(request, error)

    app.add_exception_handler(HTTPException, unknown_path)
    return app
