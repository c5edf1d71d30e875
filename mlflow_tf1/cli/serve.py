"""``mlflow-tf1 serve``: MLflow's scoring server with TF Serving's REST API (and gRPC, optionally).

The app is MLflow's own (``/invocations``, ``/ping``, ``/health``,
``/version``) with ``/v1/models/...`` mounted on it (`mlflow_tf1.serving`),
served by uvicorn in this process.
"""

from __future__ import annotations

import os

import click

from mlflow_tf1.cli.common import CliError, load_tensorflow, status
from mlflow_tf1.constants import BATCH_TIMEOUT_ENV, BATCHING_ENV
from mlflow_tf1.tf_serving_protos import INSTALL_HINT, available


@click.command(context_settings={"help_option_names": ["--help"]})
@click.option(
    "-m",
    "--model-uri",
    "model_uris",
    multiple=True,
    required=True,
    metavar="URI",
    help="A model to serve (repeatable: versions of one registered model, "
    "e.g. -m models:/NAME/1 -m models:/NAME/2).",
)
@click.option(
    "--model-name",
    help="The name in /v1/models/NAME. Default: the registered model's name "
    "('default' for a model outside the registry).",
)
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="The interface to bind.")
@click.option("-p", "--port", default=8501, show_default=True, type=int, help="The HTTP port.")
@click.option(
    "--grpc-port",
    type=click.IntRange(min=1, max=65535),
    help="Also serve TF Serving's gRPC API (PredictionService, ModelService) on this port. "
    "Needs grpcio and tensorflow-serving-api (installed with --no-deps).",
)
@click.option(
    "--enable-batching/--disable-batching",
    default=None,
    help="Merge concurrent requests for a stateless signature into one run, as TF Serving's "
    "--enable_batching. Default: as each model was logged.",
)
@click.option(
    "--batch-timeout-micros",
    type=click.IntRange(min=0),
    help="With batching: the longest a batch waits for requests in flight. Default: as logged.",
)
def serve(
    model_uris: tuple[str, ...],
    model_name: str | None,
    host: str,
    port: int,
    grpc_port: int | None,
    enable_batching: bool | None,
    batch_timeout_micros: int | None,
) -> None:
    """Serve TF1 models with MLflow's scoring API and TF Serving's REST API.

    Every -m is loaded once, pinned to the registry version it resolves to;
    that version number is TF Serving's version, and registry aliases are its
    version labels (/v1/models/NAME/labels/ALIAS). Requests naming no version
    go to the highest one, and so does /invocations.

    \b
    Examples:
      mlflow-tf1 serve -m models:/half_plus_two/1 -m models:/half_plus_two/2
      curl -d '{"instances": [1.0, 2.0]}' localhost:8501/v1/models/half_plus_two:predict
      mlflow-tf1 serve -m models:/half_plus_two@champion --port 9000 --grpc-port 8500
    """
    if grpc_port is not None and not available(with_grpc=True):
        raise CliError(f"--grpc-port needs TF Serving's API definitions: {INSTALL_HINT}.")
    # The pyfunc models read these as they load (as under `mlflow models serve`).
    if enable_batching is not None:
        os.environ[BATCHING_ENV] = "true" if enable_batching else "false"
    if batch_timeout_micros is not None:
        os.environ[BATCH_TIMEOUT_ENV] = str(batch_timeout_micros)
    load_tensorflow()
    import uvicorn

    from mlflow_tf1.serving import versions
    from mlflow_tf1.serving.app import build_app

    status(f"Loading {len(model_uris)} model version(s)...")
    served = versions.load(list(model_uris), model_name)
    grpc_server = None
    if grpc_port is not None:
        from mlflow_tf1.serving import grpc_service

        grpc_server = grpc_service.start(served, host, grpc_port)
    status(
        f"Serving '{served.name}' versions {list(served.versions)} on http://{host}:{port} "
        f"(TF Serving REST under /v1/models/{served.name}; MLflow's /invocations: version "
        f"{served.latest.version})"
        + (f" and TF Serving gRPC on {host}:{grpc_port}." if grpc_port is not None else ".")
    )
    try:
        uvicorn.run(build_app(served), host=host, port=port, log_level="warning")
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=5).wait()
