"""``mlflow-tf1 predict``: score a file of rows with a logged model, as ``mlflow models serve``.

A signature name the model's ``MLmodel`` does not list is refused from that
file alone, before TensorFlow and the graph load (seconds, and gigabytes for
big models).
"""

from __future__ import annotations

from pathlib import Path

import click

from mlflow_tf1.cli.common import CliError, load_tensorflow, status
from mlflow_tf1.cli.files import OUTPUT_TYPES, file_type, read_input, row_count, write_output
from mlflow_tf1.constants import FLAVOR_NAME, SIGNATURE_PARAM


@click.command()
@click.argument("model_uri")
@click.option(
    "--input",
    "-i",
    "input_path",
    required=True,
    metavar="FILE",
    help="Rows to score: .csv, .parquet, or .json (records, columns, or MLflow's serving "
    "formats: dataframe_split, dataframe_records, inputs, instances).",
)
@click.option("--signature", "signature_name", help="The signature to run. Default: the model's.")
@click.option(
    "--output",
    "-o",
    "output_path",
    metavar="FILE",
    help="Where to write predictions: .csv, .json or .parquet. Default: JSON on stdout.",
)
def predict(
    model_uri: str, input_path: str, signature_name: str | None, output_path: str | None
) -> None:
    """Score a file of rows with a logged model.

    The model loads with mlflow.pyfunc.load_model and predicts as it would
    under 'mlflow models serve'. Tabular input (CSV, Parquet, JSON records,
    dataframe_*) gives a table, one column per output, when every output has
    one row per input row. Column input (a JSON object of columns, inputs,
    instances) gives {output_key: [...]}; .csv and .parquet outputs turn it
    into a table under the same condition. Multi-dimensional cells are JSON
    lists in CSV and lists in Parquet.

    \b
    Examples:
      mlflow-tf1 predict models:/taxi/1 --input rows.csv --output scores.csv
      mlflow-tf1 predict runs:/<run_id>/model -i rows.json --signature regression
    """
    output_type = file_type(output_path, OUTPUT_TYPES, "output") if output_path else ".json"
    data, params = read_input(Path(input_path))
    if signature_name:
        params[SIGNATURE_PARAM] = signature_name
    if params.get(SIGNATURE_PARAM):
        _check_signature(model_uri, params[SIGNATURE_PARAM])

    load_tensorflow()
    import mlflow

    status(f"Loading model {model_uri}...")
    model = mlflow.pyfunc.load_model(model_uri)
    rows = row_count(data)
    signature = params.get(SIGNATURE_PARAM, "the default signature")
    count = "" if rows is None else f"{rows} row(s) "
    status(f"Predicting {count}with {signature}...")
    result = model.predict(data, params=params or None)
    write_output(result, rows, output_path, output_type)


def _check_signature(model_uri: str, name: str) -> None:
    """Refuses a signature the ``tf1`` flavor in ``MLmodel`` does not list; reads that file only.

    Models of other flavors, or without a recorded signature list, are left to
    the model to judge.
    """
    from mlflow.models import Model

    signatures = (Model.load(model_uri).flavors.get(FLAVOR_NAME) or {}).get("signatures")
    if isinstance(signatures, dict) and name not in signatures:
        raise CliError(f"Unknown signature '{name}'. Available signatures: {sorted(signatures)}.")
