"""Legacy TensorFlow 1.x SavedModels as first-class MLflow models.

``log_model`` packages a TF1 SavedModel with its signature metadata;
``mlflow.pyfunc.load_model`` and ``mlflow models serve`` predict with it;
``load_model`` returns native TF2 callables, one per signature;
``infer_feature_signature`` is the opt-in column schema of tf.Example models;
``migrate`` / ``migrate_registered_model`` move what MLflow 1.x logged onto
this flavor; ``export_serving`` hands a model to TF Serving; ``export_tf2``
and ``keras_layer`` carry it into native TF2 and Keras code.
"""

# The public names load on first access (PEP 562): importing the package, as
# ``mlflow-tf1 --help`` and every ``mlflow_tf1.<module>`` import do, must not
# wait a second for MLflow, nor several for TensorFlow.

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

# The same names for type checkers and the API reference: griffe reads imports, not __getattr__.
if TYPE_CHECKING:
    from mlflow_tf1.flavor import (
        FLAVOR_NAME,
        get_default_conda_env,
        get_default_pip_requirements,
        load_model,
        log_model,
        save_model,
    )
    from mlflow_tf1.keras_layer import keras_layer
    from mlflow_tf1.migration import MigrationReport, migrate, migrate_registered_model
    from mlflow_tf1.mlflow_signature import infer_feature_signature
    from mlflow_tf1.tf2_export import export_tf2
    from mlflow_tf1.tf_serving import export_serving

_MODULE_OF = {
    "FLAVOR_NAME": "mlflow_tf1.flavor",
    "get_default_conda_env": "mlflow_tf1.flavor",
    "get_default_pip_requirements": "mlflow_tf1.flavor",
    "load_model": "mlflow_tf1.flavor",
    "log_model": "mlflow_tf1.flavor",
    "save_model": "mlflow_tf1.flavor",
    "keras_layer": "mlflow_tf1.keras_layer",
    "MigrationReport": "mlflow_tf1.migration",
    "migrate": "mlflow_tf1.migration",
    "migrate_registered_model": "mlflow_tf1.migration",
    "infer_feature_signature": "mlflow_tf1.mlflow_signature",
    "export_tf2": "mlflow_tf1.tf2_export",
    "export_serving": "mlflow_tf1.tf_serving",
}

__all__ = [
    "FLAVOR_NAME",
    "MigrationReport",
    "export_serving",
    "export_tf2",
    "get_default_conda_env",
    "get_default_pip_requirements",
    "infer_feature_signature",
    "keras_layer",
    "load_model",
    "log_model",
    "migrate",
    "migrate_registered_model",
    "save_model",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``mlflow_tf1.keras_layer`` the function once its same-named submodule loads.

    Importing a submodule sets it as an attribute of its package, which would
    hide the function of the same name from ``__getattr__``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _MODULE_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
