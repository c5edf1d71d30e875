"""Pre- and post-processing hooks: plain Python callables stored with the model.

They are serialized with cloudpickle, so loading such a model runs pickled
code: only load models whose hooks you trust (docs/trust-model.md). A hook's
own module is pickled by value unless it is an installed package, so a hook
written in a script or notebook loads where that file does not exist.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import sys
import sysconfig
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from mlflow.utils.requirements_utils import _get_pinned_requirement

HOOKS_SUBPATH = "hooks"


def save_hooks(path: Path, hooks: dict[str, Callable | None]) -> tuple[dict[str, str], list[str]]:
    """Pickle each given hook under ``path/hooks``; returns the flavor config and pip pins."""
    config, requirements = {}, set()
    for name, fn in hooks.items():
        if fn is None:
            continue
        if not callable(fn):
            raise MlflowException(
                f"{name} must be a callable taking one argument; got {type(fn).__name__}.",
                INVALID_PARAMETER_VALUE,
            )
        (path / HOOKS_SUBPATH).mkdir(exist_ok=True)
        relative = f"{HOOKS_SUBPATH}/{name}.pkl"
        (path / relative).write_bytes(_dumps(fn))
        config[name] = relative
        requirements |= hook_requirements(fn)
    return config, sorted(requirements)


def load_hooks(path: str, config: dict[str, str] | None) -> dict[str, Callable]:
    """Unpickling runs the hooks' code: only for models the caller trusts (module docstring)."""
    hooks = config or {}
    return {
        name: cloudpickle.loads((Path(path) / file).read_bytes()) for name, file in hooks.items()
    }


def call_hook(name: str, fn: Callable, value: Any) -> Any:
    """A failing preprocess usually means input it can't read (a 4xx); a failing
    postprocess is the model's own bug (a 5xx)."""
    try:
        return fn(value)
    except MlflowException:
        raise
    except Exception as e:
        code = INVALID_PARAMETER_VALUE if name == "preprocess" else INTERNAL_ERROR
        raise MlflowException(
            f"The model's {name} hook failed: {type(e).__name__}: {e}", code
        ) from e


def _dumps(fn: Callable) -> bytes:
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    by_value = module is not None and module.__name__ != "__main__" and not _installed(module)
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(fn)
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _installed(module: types.ModuleType) -> bool:
    file = getattr(module, "__file__", None)
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")}
    return file is None or any(
        Path(file).resolve().is_relative_to(Path(r).resolve()) for r in roots
    )


def _global_names(code: types.CodeType | None) -> set[str]:
    """Names a function's code looks up, including inside its comprehensions and lambdas."""
    if code is None:
        return set()
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def hook_requirements(fn: Callable) -> set[str]:
    """Pinned distributions of the installed packages the hook's code refers to."""
    globals_ = getattr(fn, "__globals__", {})
    names = _global_names(getattr(fn, "__code__", None))
    referred = [v for k, v in globals_.items() if k in names]
    modules = {v for v in referred if inspect.ismodule(v)}
    modules |= {
        sys.modules[m] for v in referred if (m := getattr(v, "__module__", None)) in sys.modules
    }
    distributions = importlib.metadata.packages_distributions()
    pins = set()
    for module in modules:
        if not _installed(module) or module.__name__.split(".")[0] in sys.stdlib_module_names:
            continue
        for dist in distributions.get(module.__name__.split(".")[0], []):
            pins.add(_get_pinned_requirement(dist))
    return pins
