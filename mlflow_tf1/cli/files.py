"""Rows in and predictions out: the CSV, JSON and Parquet files of ``predict`` and ``migrate``.

JSON is read with MLflow's own serving parsers, so a file holds exactly what a
``mlflow models serve`` request body would; pandas and numpy load on first use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlflow_tf1.cli.common import CliError, status

INPUT_TYPES = (".csv", ".json", ".parquet")
OUTPUT_TYPES = (".csv", ".json", ".parquet")


def file_type(path: str, allowed: tuple[str, ...], role: str) -> str:
    """The file's suffix, refused unless ``allowed``."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise CliError(
            f"Unsupported {role} file type '{suffix or Path(path).name}' for '{path}': "
            f"use {', '.join(allowed)}."
        )
    return suffix


def read_input(path: Path) -> tuple[Any, dict[str, Any]]:
    """The file's data and any MLflow ``params`` it carries (JSON serving requests do)."""
    suffix = file_type(str(path), INPUT_TYPES, "input")
    if not path.is_file():
        raise CliError(f"Input file '{path}' does not exist (or is not a file).")
    import pandas as pd

    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": _read_json}
    try:
        result = readers[suffix](path)
    except CliError:
        raise
    except Exception as e:  # noqa: BLE001 -- any parse failure is the file's, not ours
        message = getattr(e, "message", None) or str(e)
        raise CliError(f"Could not read '{path}' as {suffix[1:].upper()}: {message}") from None
    return result if isinstance(result, tuple) else (result, {})


def _read_json(path: Path) -> tuple[Any, dict[str, Any]]:
    """JSON as ``mlflow models serve`` reads a request body, plus two plain shapes.

    A list of records becomes a DataFrame (like ``dataframe_records``); an
    object of columns becomes a dict of arrays (like ``inputs``).
    """
    from mlflow.pyfunc.scoring_server import SUPPORTED_FORMATS, infer_and_parse_data
    from mlflow.utils.proto_json_utils import dataframe_from_parsed_json, parse_tf_serving_input

    document = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(document, list):
        return dataframe_from_parsed_json(document, pandas_orient="records"), {}
    if not isinstance(document, dict):
        raise CliError(
            f"JSON input '{path}' must be a list of records or an object; "
            f"got {type(document).__name__}."
        )
    if set(document) & SUPPORTED_FORMATS:
        params = document.get("params") or {}
        request = {k: v for k, v in document.items() if k in SUPPORTED_FORMATS}
        return infer_and_parse_data(request), dict(params)
    return parse_tf_serving_input({"inputs": document}), {}


def row_count(data: Any) -> int | None:
    """Rows of the input, to tell whether outputs can line up as a table."""
    import numpy as np

    if isinstance(data, dict):
        data = next(iter(data.values()), None)
    return None if data is None or np.ndim(data) == 0 else len(data)


def write_output(result: Any, rows: int | None, output_path: str | None, kind: str) -> None:
    """Predictions as JSON (stdout when no path), or as a CSV or Parquet table."""
    from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

    if kind == ".json":
        text = json.dumps(_get_jsonable_obj(result, pandas_orient="records"), cls=NumpyEncoder)
        if output_path is None:
            click.echo(text)
        else:
            Path(output_path).write_text(text + "\n", encoding="utf-8")
    else:
        frame = as_table(result, rows)
        if kind == ".csv":
            _list_cells(frame, as_json=True).to_csv(output_path, index=False)
        else:
            _list_cells(frame, as_json=False).to_parquet(output_path, index=False)
    if output_path is not None:
        status(f"Wrote {output_path}")


def as_table(result: Any, rows: int | None):
    """A DataFrame of the predictions, when each output has one row per input row."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return result
    outputs = result if isinstance(result, dict) else {"prediction": result}
    arrays = {k: np.asarray(v) for k, v in outputs.items()}
    shapes = {k: list(a.shape) for k, a in arrays.items()}
    if rows is None or not arrays or any(a.ndim == 0 or len(a) != rows for a in arrays.values()):
        raise CliError(
            f"The outputs {shapes} do not have one row per input row ({rows}), so they "
            "cannot be written as a table; write JSON instead (--output out.json)."
        )
    columns = {}
    for key, a in arrays.items():
        a = a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a
        columns[key] = a if a.ndim == 1 else list(a)
    return pd.DataFrame(columns)


def _list_cells(frame, as_json: bool):
    """Multi-dimensional cells as lists (Parquet) or JSON text (CSV), not numpy's repr."""
    import numpy as np

    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object and any(
            isinstance(v, (np.ndarray, list)) for v in frame[column]
        ):
            lists = [v.tolist() if isinstance(v, np.ndarray) else v for v in frame[column]]
            frame[column] = [json.dumps(v) for v in lists] if as_json else lists
    return frame
