"""Every kind of graph the flavor accepts, registered in one place.

A source knows its files and how to write them as a SavedModel; `save_model`,
the CLI and their error messages ask this registry instead of testing suffixes
each on its own. The first source whose ``matches`` accepts a path handles it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlflow_tf1 import conversion
from mlflow_tf1.metadata import PB_FILENAME, PBTXT_FILENAME

Tensors = conversion.Tensors


@dataclass(frozen=True)
class GraphSource:
    kind: str  # recorded in MLmodel's ``converted_from``
    label: str  # for messages: "a frozen graph"
    matches: Callable[[Path], bool]
    # Writes a SavedModel: (path, out_dir, inputs, outputs, signature_name, meta_graph_tags).
    convert: Callable[..., None]
    # The inputs and outputs proposed from the graph: (path, meta_graph_tags).
    propose: Callable[[Path, list[str] | None], str]
    # True when the source has no signatures of its own, so inputs/outputs are required.
    needs_tensors: bool


def _has_saved_model_file(folder: Path) -> bool:
    return any((folder / n).is_file() for n in (PB_FILENAME, PBTXT_FILENAME))


def _is_saved_model(path: Path) -> bool:
    """A SavedModel folder, or the parent of numbered version folders holding one."""
    if not path.is_dir():
        return False
    if _has_saved_model_file(path):
        return True
    return any(p.is_dir() and p.name.isdigit() and _has_saved_model_file(p) for p in path.iterdir())


def _is_session_bundle(path: Path) -> bool:
    return path.is_dir() and (path / "export.meta").is_file() and not _has_saved_model_file(path)


def _is_checkpoint(path: Path) -> bool:
    if path.is_file():
        return path.suffix == ".meta"
    return path.is_dir() and (path / "checkpoint").is_file() and not _has_saved_model_file(path)


def _is_frozen_graph(path: Path) -> bool:
    return (
        path.is_file()
        and path.suffix in (".pb", ".pbtxt")
        and path.name not in (PB_FILENAME, PBTXT_FILENAME)
    )


def _converted(kind: str, label: str, importer: conversion.Importer) -> dict:
    """The convert/propose pair of a source that is imported into a Session and rebuilt."""

    def convert(path, out_dir, inputs, outputs, signature_name, meta_graph_tags) -> None:
        conversion.to_saved_model(
            importer, path, out_dir, inputs, outputs, signature_name, kind, label
        )

    def propose(path: Path, meta_graph_tags: list[str] | None) -> str:
        return conversion.proposal(importer, path)

    return {"convert": convert, "propose": propose}


SAVED_MODEL = GraphSource(
    "saved_model",
    "SavedModel",
    _is_saved_model,
    convert=conversion.cut_saved_model,
    propose=conversion.propose_for_saved_model,
    needs_tensors=False,
)
SOURCES: tuple[GraphSource, ...] = (
    SAVED_MODEL,
    GraphSource(
        "session_bundle",
        "SessionBundle",
        _is_session_bundle,
        **_converted("session_bundle", "SessionBundle", conversion.import_session_bundle),
        needs_tensors=False,
    ),
    GraphSource(
        "checkpoint",
        "checkpoint",
        _is_checkpoint,
        **_converted("checkpoint", "checkpoint", conversion.import_checkpoint),
        needs_tensors=True,
    ),
    GraphSource(
        "frozen_graph",
        "frozen graph",
        _is_frozen_graph,
        **_converted("frozen_graph", "frozen graph", conversion.import_frozen_graph),
        needs_tensors=True,
    ),
)


def source_of(path: str | os.PathLike) -> GraphSource:
    """The registered source for ``path``; SavedModel when none matches, so that the
    SavedModel locator's message (what was expected, what was found) is the one seen."""
    p = Path(path)
    return next((s for s in SOURCES if s.matches(p)), SAVED_MODEL)


def needs_conversion(source: GraphSource, inputs: Tensors | None, outputs: Tensors | None) -> bool:
    """A SavedModel is used as it is unless the caller cuts a new signature from it."""
    return source is not SAVED_MODEL or bool(inputs or outputs)
