"""Real server processes on loopback for tests: a free port, a start that waits for ``/ping``."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_tf1_serve(*args: str, timeout: float = 180) -> Iterator[str]:
    """``mlflow-tf1 serve ARGS`` on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow_tf1.cli", "serve", *args, "--port", str(port)]
    process = subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, url, f"mlflow-tf1 serve {' '.join(args)}", timeout)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_answering(
    process: subprocess.Popen, url: str, what: str, timeout: float = 180
) -> None:
    """Returns once ``url/ping`` answers; fails the test if the server exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}")
        try:
            if requests.get(f"{url}/ping", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.5)
    pytest.fail(f"{what} did not answer /ping within {timeout} s")
