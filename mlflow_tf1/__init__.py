"""Legacy TensorFlow 1.x SavedModels as first-class MLflow models.

``log_model`` packages a TF1 SavedModel with its signature metadata;
``mlflow.pyfunc.load_model`` and ``mlflow models serve`` predict with it;
``load_model`` returns native TF2 callables, one per signature;
``infer_feature_signature`` is the opt-in column schema of tf.Example models;
``migrate`` / ``migrate_registered_model`` move what MLflow 1.x logged onto
this flavor; ``export_serving`` hands a model to TF Serving; ``export_tf2``
and ``keras_layer`` carry it into native TF2 and Keras code.
"""

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
