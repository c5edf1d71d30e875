"""Legacy TensorFlow 1.x SavedModels as first-class MLflow models.

``log_model`` packages a TF1 SavedModel with its signature metadata;
``mlflow.pyfunc.load_model`` and ``mlflow models serve`` predict with it;
``load_model`` returns native TF2 callables, one per signature.
"""

from mlflow_tf1.flavor import (
    FLAVOR_NAME,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "get_default_conda_env",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
]
