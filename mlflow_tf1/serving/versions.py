"""The versions ``mlflow-tf1 serve`` serves: one registered model, like a TF Serving model config.

Each ``-m`` URI resolves to a registry version (``models:/NAME/3``,
``models:/NAME@champion``, ``models:/NAME/latest``) and is loaded once, pinned
to that version. TF Serving's version numbers are the registry's, and its
version labels are the registry's aliases, looked up when a request names one
(aliases move; the served versions don't).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST
from mlflow.pyfunc import PyFuncModel
from mlflow.store.artifact.utils.models import get_model_name_and_version

from mlflow_tf1.constants import FLAVOR_NAME
from mlflow_tf1.description import ModelDescription
from mlflow_tf1.errors import invalid
from mlflow_tf1.metadata import TensorInfo, read_saved_model, select_meta_graph

# TF Serving's --model_name default, for a model that is not a registry version.
DEFAULT_MODEL_NAME = "default"


@dataclass(frozen=True)
class ServedVersion:
    """One loaded version: its pyfunc model and the SignatureDef protos of its MetaGraph.

    ``fed_inputs`` are each signature's inputs with the shapes the graph gives them
    (what the flavor feeds), where the SignatureDef may say "unknown rank".
    """

    version: int
    model_uri: str
    model: PyFuncModel
    description: ModelDescription
    fed_inputs: dict[str, dict[str, TensorInfo]]
    signature_defs: dict[str, Any]


@dataclass(frozen=True)
class ServedModel:
    """The served versions of one model, newest first; ``registered_name`` resolves labels."""

    name: str
    versions: dict[int, ServedVersion]
    registered_name: str | None

    @property
    def latest(self) -> ServedVersion:
        return self.versions[max(self.versions)]

    def version(self, name: str, version: int | None, label: str | None) -> ServedVersion:
        """The version a request names (the latest when it names none)."""
        if name != self.name:
            spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise not_found(f"Servable not found for request: {spec}")
        if label is not None:
            version = self._labelled(label)
        if version is None:
            return self.latest
        if version not in self.versions:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return self.versions[version]

    def status_versions(
        self, name: str | None, version: int | None, label: str | None
    ) -> list[int]:
        """The versions a GetModelStatus request names: all served ones when it names none."""
        if not name:
            raise invalid("Missing model name in request.")
        if name != self.name:
            raise not_found(f"Could not find any versions of model {name}")
        if version is not None and version not in self.versions:
            raise not_found(f"Could not find version {version} of model {name}")
        if version is None and label is None:
            return list(self.versions)
        return [self.version(name, version, label).version]

    def _labelled(self, label: str) -> int:
        served = sorted(self.versions, reverse=True)
        if self.registered_name is None:
            raise invalid(
                f"Unrecognized servable version label: {label} ('{self.name}' is not served "
                "from the registry, so it has no aliases)."
            )
        try:
            version = int(
                MlflowClient().get_model_version_by_alias(self.registered_name, label).version
            )
        except MlflowException:
            raise invalid(
                f"Unrecognized servable version label: {label} (registered model "
                f"'{self.registered_name}' has no alias '{label}'; served versions: {served})."
            ) from None
        if version not in self.versions:
            raise invalid(
                f"Unrecognized servable version label: {label} (alias '{label}' points to "
                f"version {version}, which this server does not serve; served versions: {served})."
            )
        return version


def not_found(message: str) -> MlflowException:
    """An unknown model or version: TF Serving's NOT_FOUND, HTTP 404."""
    return MlflowException(message, error_code=RESOURCE_DOES_NOT_EXIST)


def load(model_uris: list[str], model_name: str | None = None) -> ServedModel:
    """Resolve and load every ``-m`` URI; they must be distinct versions of one model."""
    resolved = [_resolve(uri) for uri in model_uris]
    registered = {name for name, _ in resolved if name is not None}
    if len(registered) > 1:
        raise invalid(
            f"Every -m must be a version of one registered model; got {sorted(registered)}. "
            "Start one server per model."
        )
    if len(model_uris) > 1 and any(name is None for name, _ in resolved):
        outside = [uri for uri, (name, _) in zip(model_uris, resolved, strict=True) if name is None]
        raise invalid(
            f"Several -m must each be a registry version (models:/NAME/VERSION or "
            f"models:/NAME@ALIAS), so each has a version number; {outside} is not."
        )
    numbers = [version for _, version in resolved]
    if len(set(numbers)) < len(numbers):
        raise invalid(f"Each version may be served once; -m resolved to versions {numbers}.")
    registered_name = registered.pop() if registered else None
    versions = {}
    for uri, (name, version) in zip(model_uris, resolved, strict=True):
        pinned = f"models:/{name}/{version}" if name is not None else uri
        versions[version] = _load_version(version, pinned)
    return ServedModel(
        name=model_name or registered_name or DEFAULT_MODEL_NAME,
        versions=dict(sorted(versions.items(), reverse=True)),
        registered_name=registered_name,
    )


def _resolve(uri: str) -> tuple[str | None, int]:
    """``(registered name, version)``; ``(None, 1)`` for a model outside the registry."""
    if not uri.startswith("models:/"):
        return None, 1
    resolved = get_model_name_and_version(MlflowClient(), uri)
    if len(resolved) != 2:  # models:/<logged model id>
        return None, 1
    return resolved[0], int(resolved[1])


def _load_version(version: int, uri: str) -> ServedVersion:
    model = mlflow.pyfunc.load_model(uri)
    try:
        raw = model.get_raw_model()
    except NotImplementedError:
        raw = None
    description = getattr(raw, "description", None)
    if not isinstance(description, ModelDescription):
        raise invalid(
            f"'{uri}' is not a {FLAVOR_NAME} model (flavors: {sorted(model.metadata.flavors)}); "
            "mlflow-tf1 serve serves TF1 SavedModels logged with mlflow_tf1."
        )
    meta_graph = select_meta_graph(read_saved_model(raw.export_dir), description.meta_graph_tags)
    signature_defs = dict(meta_graph.signature_def)
    fed_inputs = {key: signature.info.inputs for key, signature in raw.signatures.items()}
    return ServedVersion(version, uri, model, description, fed_inputs, signature_defs)
