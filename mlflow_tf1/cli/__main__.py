"""``python -m mlflow_tf1.cli``: the ``mlflow-tf1`` command where the script is not on PATH."""

from mlflow_tf1.cli import cli

cli(prog_name="mlflow-tf1")
