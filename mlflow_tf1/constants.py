"""Names shared by the flavor's modules and the CLI, defined once (no imports: cheap to load)."""

FLAVOR_NAME = "tf1"
# Where the SavedModel lives inside an MLflow model folder.
SAVED_MODEL_SUBPATH = "tfmodel"
# Bumped when the description in MLmodel changes what older readers expect.
# 2: the description in full; 3: each parser's tf.Example spec once, not per signature.
DESCRIPTION_VERSION = 3
FULL_DESCRIPTION_SINCE = 2
DEFAULT_MAX_BATCH_SIZE = 65_536
# pyfunc params (MLflow's ``params=``), recorded in the logged signature.
SIGNATURE_PARAM = "signature_name"
MAX_BATCH_PARAM = "max_batch_size"
# Server-side batching (TF Serving's --enable_batching): a save option, or these at serve time.
BATCHING_ENV = "MLFLOW_TF1_ENABLE_BATCHING"
BATCH_TIMEOUT_ENV = "MLFLOW_TF1_BATCH_TIMEOUT_MICROS"
DEFAULT_BATCH_TIMEOUT_MICROS = 1000
