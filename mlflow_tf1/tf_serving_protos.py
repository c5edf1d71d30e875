"""Where TF Serving's API messages come from: the ``tensorflow-serving-api`` package, optional.

That package requires the full ``tensorflow`` wheel, which would be installed
next to ``tensorflow-cpu`` (both ship the ``tensorflow`` module), so it is
installed without its dependencies; its protos import ``tensorflow`` for the
tensor and SignatureDef messages, which either wheel provides.
"""

from __future__ import annotations

import importlib.util

INSTALL_HINT = (
    "pip install grpcio && pip install --no-deps tensorflow-serving-api "
    "(--no-deps: it requires the full 'tensorflow' wheel, which would be installed next to "
    "tensorflow-cpu; its protos only need the 'tensorflow' module either one provides)"
)


def available(*, with_grpc: bool = False) -> bool:
    """Whether the protos (and, ``with_grpc``, grpcio) can be imported; checked without importing."""
    names = ("tensorflow_serving", "grpc") if with_grpc else ("tensorflow_serving",)
    try:
        return all(importlib.util.find_spec(name) is not None for name in names)
    except (ImportError, ValueError):  # a module blocked in sys.modules (None), or broken
        return False
