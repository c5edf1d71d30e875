"""The MLflow flavor: save, log and load TF1 SavedModels as MLflow models.

Mirrors MLflow's own flavors (``mlflow.onnx``, ``mlflow.sklearn``) and leaves
environment, signature, example and registry handling to MLflow's helpers.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from mlflow import pyfunc
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelInputExample, ModelSignature
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.models.utils import _save_example, _split_input_data_and_params
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracking.artifact_utils import _download_artifact_from_uri
from mlflow.utils.environment import (
    _CONDA_ENV_FILE_NAME,
    _CONSTRAINTS_FILE_NAME,
    _PYTHON_ENV_FILE_NAME,
    _REQUIREMENTS_FILE_NAME,
    _mlflow_conda_env,
    _process_pip_requirements,
    _PythonEnv,
)
from mlflow.utils.file_utils import write_to
from mlflow.utils.model_utils import (
    _validate_and_copy_code_paths,
    _validate_and_prepare_target_save_path,
)
from mlflow.utils.requirements_utils import _get_pinned_requirement

from mlflow_tf1 import logged_model
from mlflow_tf1.constants import (
    DEFAULT_BATCH_TIMEOUT_MICROS,
    DEFAULT_MAX_BATCH_SIZE,
    DESCRIPTION_VERSION,
    FLAVOR_NAME,
    SAVED_MODEL_SUBPATH,
    SIGNATURE_PARAM,
)
from mlflow_tf1.description import ModelDescription
from mlflow_tf1.legacy import accepts_mlflow1_keywords
from mlflow_tf1.metadata import SavedModelInfo

# mlflow.pyfunc runs TF1 graphs on a Session: measured faster per call, 10x
# faster to load and half the memory of the TF2 backend (docs/performance.md).
# mlflow_tf1.load_model builds TF2 callables ("auto") for use in TF2 code.
PYFUNC_BACKEND = "session"
_PACKAGE_DIR = Path(__file__).resolve().parent
_logger = logging.getLogger(__name__)


def _tensorflow_distribution() -> str:
    """The installed TensorFlow distribution (``tensorflow-cpu``, ``tensorflow``, ...)."""
    providers = importlib.metadata.packages_distributions().get("tensorflow", [])
    for name in providers:
        if name.lower().replace("_", "-").startswith("tensorflow"):
            return name.lower().replace("_", "-")
    return "tensorflow"


def get_default_pip_requirements() -> list[str]:
    """Pinned TensorFlow as installed now; MLflow adds itself.

    The flavor's own code travels inside the model, so it is not a requirement.
    """
    dist = _tensorflow_distribution()
    return [_get_pinned_requirement(dist, version=importlib.metadata.version(dist))]


def get_default_conda_env() -> dict[str, Any]:
    return _mlflow_conda_env(additional_pip_deps=get_default_pip_requirements())


@accepts_mlflow1_keywords
def save_model(
    saved_model_dir: str | os.PathLike,
    path: str | os.PathLike,
    *,
    meta_graph_tags: list[str] | str | None = None,
    signature_name: str | None = None,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    preprocess: Callable[[Any], Any] | None = None,
    postprocess: Callable[[Any], Any] | None = None,
    signature: ModelSignature | None = None,
    input_example: ModelInputExample | None = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    code_paths: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    conda_env: dict | str | None = None,
    mlflow_model: Model | None = None,
    allow_unsafe_ops: bool = False,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    enable_batching: bool = False,
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS,
    pyfunc_backend: str = "session",
    onnx_tolerance: dict[str, float] | None = None,
) -> None:
    """Package a TF1 SavedModel folder as an MLflow model at ``path``.

    Graphs whose signatures or init op reach file-system, Python-callback or
    network ops are refused unless ``allow_unsafe_ops=True``; the audit is
    recorded in ``MLmodel`` either way. ``max_batch_size`` bounds the rows run
    at once; bigger requests are split and joined (also a per-request param).
    ``enable_batching`` merges concurrent requests for a stateless signature
    into one run of at most ``max_batch_size`` rows, waiting at most
    ``batch_timeout_micros`` for requests already in flight, as TF Serving's
    ``--enable_batching`` (``MLFLOW_TF1_ENABLE_BATCHING`` overrides it at serve time).

    ``pyfunc_backend="onnx"`` converts each stateless signature with tf2onnx
    and runs it on onnxruntime in ``mlflow.pyfunc`` when, on generated
    batches, it answers as the Session does within ``onnx_tolerance``
    (default ``{"rtol": 1e-5, "atol": 1e-6}``; integers and strings exactly);
    the others stay on the Session, and ``MLmodel`` records why.

    ``saved_model_dir`` may also be a frozen ``GraphDef`` (``.pb``/``.pbtxt``),
    a TF1 checkpoint (``.meta`` file, or a folder with a ``checkpoint`` index)
    or a SessionBundle (``export.meta``); it is packaged as a SavedModel
    (`mlflow_tf1.sources` lists what is recognised). ``inputs``/``outputs``
    map keys to tensor names: they add a signature named ``signature_name``
    (default ``serving_default``), which frozen graphs and checkpoints need and
    a SavedModel or SessionBundle may take as an extra cut.

    ``preprocess(data)`` and ``postprocess(predictions)`` run around the graph
    in ``mlflow.pyfunc``; they are pickled with cloudpickle, so loading the
    model runs them (see the trust model).

    The model is loaded (and ``input_example`` predicted) before anything is
    written, so an unusable model fails here, not at serving time; a failed
    save leaves no folder behind.
    """
    from mlflow_tf1.sources import needs_conversion, source_of

    if isinstance(meta_graph_tags, str):
        meta_graph_tags = [meta_graph_tags]  # one tag, as tf.saved_model.load(tags="serve")
    source = source_of(saved_model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        if needs_conversion(source, inputs, outputs):
            converted = Path(tmp) / "saved_model"
            source.convert(
                Path(saved_model_dir), converted, inputs, outputs, signature_name, meta_graph_tags
            )
            saved_model_dir = converted
        _save_saved_model(
            saved_model_dir,
            Path(os.path.abspath(path)),
            meta_graph_tags=meta_graph_tags,
            signature_name=signature_name,
            allow_unsafe_ops=allow_unsafe_ops,
            write_options={
                "max_batch_size": max_batch_size,
                "batching": _batching(enable_batching, batch_timeout_micros),
                "onnx": _onnx_request(pyfunc_backend, onnx_tolerance),
                "signature": signature,
                "input_example": input_example,
                "pip_requirements": pip_requirements,
                "extra_pip_requirements": extra_pip_requirements,
                "conda_env": conda_env,
                "code_paths": code_paths,
                "metadata": metadata,
                "mlflow_model": mlflow_model,
                "hooks": {"preprocess": preprocess, "postprocess": postprocess},
            },
        )


def _save_saved_model(
    saved_model_dir: str | os.PathLike,
    path: Path,
    *,
    meta_graph_tags: list[str] | None,
    signature_name: str | None,
    allow_unsafe_ops: bool,
    write_options: dict[str, Any],
) -> None:
    """Check the SavedModel, then write the MLflow model; a failure leaves no folder."""
    from mlflow_tf1.audit import describe as describe_audit
    from mlflow_tf1.description import describe
    from mlflow_tf1.metadata import inspect_saved_model

    info, meta_graph = inspect_saved_model(saved_model_dir, meta_graph_tags)
    description = describe(info, meta_graph, signature_name)
    if description.op_audit and not allow_unsafe_ops:
        raise MlflowException(
            "This graph can touch the file system, run Python or reach the network: "
            f"{describe_audit(description.op_audit)}. Loading or calling it runs those ops. "
            "If you trust this model, pass allow_unsafe_ops=True.",
            INVALID_PARAMETER_VALUE,
        )
    existed = path.exists()
    _validate_and_prepare_target_save_path(str(path))
    try:
        _write_model(path, info, meta_graph, description, **write_options)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        if existed:
            path.mkdir(parents=True, exist_ok=True)
        raise


def _write_model(
    path: Path,
    info: SavedModelInfo,
    meta_graph,
    description: ModelDescription,
    *,
    max_batch_size: int,
    batching: dict[str, Any],
    onnx: dict[str, float] | None,
    signature: ModelSignature | None,
    input_example: ModelInputExample | None,
    pip_requirements,
    extra_pip_requirements,
    conda_env,
    code_paths: list[str] | None,
    metadata: dict[str, Any] | None,
    mlflow_model: Model | None,
    hooks: dict[str, Callable | None],
) -> None:
    import tensorflow as tf

    from mlflow_tf1.conversion import read_origin
    from mlflow_tf1.hooks import call_hook, load_hooks, save_hooks
    from mlflow_tf1.mlflow_signature import infer_signature
    from mlflow_tf1.onnx_selection import onnx_files
    from mlflow_tf1.plan import verify
    from mlflow_tf1.pyfunc import TF1PyfuncModel
    from mlflow_tf1.quiet import quiet_tensorflow
    from mlflow_tf1.runtime import LoadedSavedModel

    # Loaded from the source, so a load error names the user's folder, not the copy.
    with quiet_tensorflow():
        model = LoadedSavedModel(info.export_dir, meta_graph, description, PYFUNC_BACKEND)
        verified = verify(model)
    failures = _failures(verified)
    description = description.refusing(failures)
    for key, reason in failures.items():
        _logger.warning("Signature '%s' is logged as refused: %s", key, reason)
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(info.export_dir, path / SAVED_MODEL_SUBPATH)
    # MLflow's (data, params) form: the params name the signature the example goes to.
    example, example_params = _split_input_data_and_params(input_example)
    example_signature = description.signature((example_params or {}).get(SIGNATURE_PARAM)).key
    onnx_records = {}
    if onnx is not None:
        from mlflow_tf1.onnx_selection import select

        routed = example
        if routed is not None and hooks.get("preprocess") is not None:
            routed = call_hook("preprocess", hooks["preprocess"], routed)
        with quiet_tensorflow():
            onnx_records = select(
                model, meta_graph, description, path, onnx, routed, example_signature
            )
    onnx_used = list(onnx_files(onnx_records))
    uses_onnxruntime = bool(onnx_used or onnx_files(onnx_records, "raw_rows"))
    hook_files, hook_requirements = save_hooks(path, hooks)
    if input_example is not None:
        # Proves the example runs (through the stored hooks); MLflow keeps it with the model.
        hooked = load_hooks(str(path), hook_files)
        TF1PyfuncModel(model, hooks=hooked).predict(example, example_params)
        verified[example_signature]["input_example"] = True

    code_subpath = _validate_and_copy_code_paths([str(_PACKAGE_DIR), *(code_paths or [])], path)
    mlflow_model = mlflow_model or Model()
    default_signature = infer_signature(
        description, max_batch_size, with_outputs="postprocess" not in hook_files
    )
    if signature is not None and signature.params is None:
        # Without them MLflow drops the signature_name / max_batch_size params.
        signature = ModelSignature(signature.inputs, signature.outputs, default_signature.params)
    mlflow_model.signature = signature or default_signature
    if input_example is not None:
        _save_example(mlflow_model, input_example, str(path))
    if metadata is not None:
        mlflow_model.metadata = metadata
    pyfunc.add_to_model(
        mlflow_model,
        loader_module="mlflow_tf1.pyfunc",
        conda_env=_CONDA_ENV_FILE_NAME,
        python_env=_PYTHON_ENV_FILE_NAME,
        code=code_subpath,
    )
    origin = read_origin(info.export_dir)
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        saved_model_dir=SAVED_MODEL_SUBPATH,
        description_version=DESCRIPTION_VERSION,
        **description.to_config(),
        tensorflow_version=tf.__version__,
        pyfunc_backend=PYFUNC_BACKEND,
        backends={
            k: "onnx" if k in onnx_used else b
            for k, b in model.backends.items()
            if k not in description.refused
        },
        **({"onnx": onnx_records} if onnx_records else {}),
        verified=verified,
        max_batch_size=max_batch_size,
        **batching,
        code=code_subpath,
        **({"hooks": hook_files} if hook_files else {}),
        **({"converted_from": origin} if origin else {}),
    )
    mlflow_model.save(str(path / MLMODEL_FILE_NAME))
    runtime_requirements = [_pinned("onnxruntime")] if uses_onnxruntime else []
    _write_environment(
        path,
        pip_requirements,
        extra_pip_requirements,
        conda_env,
        hook_requirements + runtime_requirements,
    )


def _onnx_request(backend: str, tolerance: dict[str, float] | None) -> dict[str, float] | None:
    """The ONNX tolerance when ONNX was asked for, else None (the Session only)."""
    if backend not in ("session", "onnx"):
        raise MlflowException(
            f"Unknown pyfunc_backend '{backend}'; valid: ['session', 'onnx'].",
            INVALID_PARAMETER_VALUE,
        )
    unknown = sorted(set(tolerance or {}) - {"rtol", "atol"})
    if unknown:
        raise MlflowException(
            f"Unknown onnx_tolerance key(s) {unknown}; valid: ['atol', 'rtol'].",
            INVALID_PARAMETER_VALUE,
        )
    return dict(tolerance or {}) if backend == "onnx" else None


def _pinned(package: str) -> str:
    return _get_pinned_requirement(package, version=importlib.metadata.version(package))


def _batching(enabled: bool, timeout_micros: int) -> dict[str, Any]:
    if not isinstance(timeout_micros, int) or timeout_micros < 0:
        raise MlflowException(
            f"batch_timeout_micros must be a whole number of microseconds >= 0; got {timeout_micros!r}.",
            INVALID_PARAMETER_VALUE,
        )
    return {"enable_batching": bool(enabled), "batch_timeout_micros": timeout_micros}


def _failures(verified: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Signatures TensorFlow could not run at all on generated batches: they can't serve."""
    return {
        key: "on a generated batch when logged, it " + "; ".join(record["failed"].values())
        for key, record in verified.items()
        if "failed" in record
    }


def _write_environment(
    path: Path, pip_requirements, extra_pip_requirements, conda_env, hook_requirements: list[str]
) -> None:
    from mlflow.utils.environment import _process_conda_env, _validate_env_arguments

    _validate_env_arguments(conda_env, pip_requirements, extra_pip_requirements)
    if conda_env is None:
        default = (
            get_default_pip_requirements() + hook_requirements if pip_requirements is None else None
        )
        conda_env, pip_reqs, constraints = _process_pip_requirements(
            default, pip_requirements, extra_pip_requirements
        )
    else:
        conda_env, pip_reqs, constraints = _process_conda_env(conda_env)
    with open(path / _CONDA_ENV_FILE_NAME, "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    if constraints:
        write_to(str(path / _CONSTRAINTS_FILE_NAME), "\n".join(constraints))
    write_to(str(path / _REQUIREMENTS_FILE_NAME), "\n".join(pip_reqs))
    _PythonEnv.current().to_yaml(str(path / _PYTHON_ENV_FILE_NAME))


@accepts_mlflow1_keywords
def log_model(
    saved_model_dir: str | os.PathLike,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    meta_graph_tags: list[str] | str | None = None,
    signature_name: str | None = None,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
    preprocess: Callable[[Any], Any] | None = None,
    postprocess: Callable[[Any], Any] | None = None,
    signature: ModelSignature | None = None,
    input_example: ModelInputExample | None = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    code_paths: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    conda_env: dict | str | None = None,
    await_registration_for: int = 300,
    allow_unsafe_ops: bool = False,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    enable_batching: bool = False,
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS,
    pyfunc_backend: str = "session",
    onnx_tolerance: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
):
    """Log a TF1 SavedModel as an MLflow model (and register it); returns ``ModelInfo``.

    ``tags`` and ``params`` are MLflow's (the logged model's); the SavedModel's
    tag set is ``meta_graph_tags``. Frozen graphs, checkpoints (``inputs``,
    ``outputs``) and hooks (``preprocess``, ``postprocess``): see `save_model`.
    """
    import mlflow_tf1

    if name is None and artifact_path is None:
        name = "model"
    return Model.log(
        artifact_path=artifact_path,
        name=name,
        flavor=mlflow_tf1,
        saved_model_dir=saved_model_dir,
        registered_model_name=registered_model_name,
        meta_graph_tags=meta_graph_tags,
        signature_name=signature_name,
        inputs=inputs,
        outputs=outputs,
        preprocess=preprocess,
        postprocess=postprocess,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
        conda_env=conda_env,
        await_registration_for=await_registration_for,
        allow_unsafe_ops=allow_unsafe_ops,
        max_batch_size=max_batch_size,
        enable_batching=enable_batching,
        batch_timeout_micros=batch_timeout_micros,
        pyfunc_backend=pyfunc_backend,
        onnx_tolerance=onnx_tolerance,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        model_id=model_id,
    )


def load_model(
    model_uri: str,
    dst_path: str | None = None,
    backend: str = "auto",
    *,
    tf_sess: Any = None,
):
    """Load the native model: ``.signatures[name]`` are TF2 callables.

    ``backend`` forces ``"tf2"`` or ``"session"``; ``"auto"`` uses TF2 where it
    can convert the graph and a ``tf.compat.v1.Session`` where it cannot.
    ``tf_sess``: MLflow 1.x's graph-mode door, for TF1 code that runs
    ``sess.run`` itself. The SavedModel is loaded into that Session's graph
    and the default signature's SignatureDef comes back.
    """
    local_path = _download_artifact_from_uri(model_uri, output_path=dst_path)
    model = logged_model.read(local_path, model_uri)
    if tf_sess is not None:
        return logged_model.load_into_session(model, tf_sess)
    return logged_model.load_graph(model, backend)
