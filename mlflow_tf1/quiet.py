"""Silence what TensorFlow says about the flavor's own actions, and nothing else.

Loading a TF1 graph makes TensorFlow warn about deprecated loaders, variables it
cannot mirror as Python objects and the like: noise to a user who did nothing
wrong. The ``tensorflow`` logger is raised to ERROR only while the flavor
acts and restored after, so the user's own TensorFlow logging stays as set.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from tensorflow.python.util import deprecation


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[None]:
    logger = logging.getLogger("tensorflow")
    previous = logger.level
    if previous in (logging.NOTSET, logging.WARNING):  # TF's default: nobody asked for more
        logger.setLevel(logging.ERROR)
    try:
        with deprecation.silence():
            yield
    finally:
        logger.setLevel(previous)
