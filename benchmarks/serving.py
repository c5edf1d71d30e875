"""(g) Scoring-server throughput: the flavor vs a no-op pyfunc, same server, same load.

Both servers run at once and are hit in alternating rounds, so a busy
neighbour slows both alike; the goal is the median of per-round throughput
ratios. Loopback only, a bounded number of requests, a time budget.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from benchmarks.harness import Goal, Row

BODY = {"inputs": {"x": [[1.0]]}}
THROUGHPUT_GOAL = Goal(
    0.9, at_most=False, label="scoring server throughput ÷ no-op pyfunc (4 clients, single rows)"
)
ECHO_MODEL = '''\
"""A pyfunc that returns its input: the scoring server's own cost, and nothing else."""
import mlflow


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Echo())
'''


def write_echo_model(folder: Path) -> Path:
    """The no-op model as a models-from-code file (nothing to pickle)."""
    path = folder / "echo_model.py"
    path.write_text(ECHO_MODEL)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Server:
    process: subprocess.Popen
    log: IO[bytes]
    url: str


def _start(model_uri: str, workdir: Path, tf_serving: tuple[str, ...] | None = None) -> _Server:
    """``mlflow models serve`` on a free loopback port, logging to a file in ``workdir``;
    ``mlflow-tf1 serve`` with these extra arguments when ``tf_serving`` is given."""
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    if tf_serving is not None:
        command = [sys.executable, "-m", "mlflow_tf1.cli", "serve", "-m", model_uri,
                   "--port", str(port), *tf_serving]  # fmt: skip
    # MLflow starts `uvicorn` by name: this interpreter's bin folder must be on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    log = (workdir / f"serve-{port}.log").open("wb")
    # A session of its own, so that the uvicorn child can be stopped with it.
    process = subprocess.Popen(
        command,
        env={**os.environ, "PATH": path},
        cwd=workdir,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    return _Server(process, log, f"http://127.0.0.1:{port}")


@contextlib.contextmanager
def scoring_servers(
    model_uris: dict[str, str],
    workdir: Path,
    tf_serving: dict[str, tuple[str, ...]] | None = None,
) -> Iterator[dict[str, str]]:
    """One server per model, all at once; yields name -> base URL once every one answers.

    Names in ``tf_serving`` run ``mlflow-tf1 serve`` with those arguments instead.
    """
    servers: dict[str, _Server] = {}
    try:
        for name, uri in model_uris.items():
            servers[name] = _start(uri, workdir, (tf_serving or {}).get(name))
        for server in servers.values():
            _wait_ready(server.url, server.process, workdir)
        yield {name: server.url for name, server in servers.items()}
    finally:
        for server in servers.values():
            _stop(server.process)
            server.log.close()


def _wait_ready(url: str, process: subprocess.Popen, workdir: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"mlflow models serve exited with {process.returncode}; logs in {workdir}"
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/ping", timeout=2).ok:
                return
        time.sleep(0.5)
    raise RuntimeError(f"mlflow models serve did not answer /ping within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and its uvicorn child: the process group this benchmark created."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Load:
    """What one server did: per-round throughput and every request's latency."""

    throughput: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0


def _burst(
    url: str, count: int, threads: int, path: str = "/invocations", body: dict = BODY
) -> tuple[float, list[float]]:
    """``count`` single-row requests from ``threads`` clients, one Session each."""
    latencies: list[float] = []
    remaining = [count]
    lock = threading.Lock()
    errors: list[str] = []

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if remaining[0] <= 0 or errors:
                        return
                    remaining[0] -= 1
                start = time.perf_counter()
                response = session.post(f"{url}{path}", json=body, timeout=30)
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                with lock:
                    latencies.append(elapsed)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"{url}: {errors[0]}")
    return time.perf_counter() - start, latencies


def check(url: str, expected: dict) -> None:
    """The server must answer the benchmark's request correctly before it is timed."""
    response = requests.post(f"{url}/invocations", json=BODY, timeout=30)
    if response.status_code != 200 or response.json() != expected:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")


def drive(
    urls: dict[str, str],
    total: int,
    rounds: int,
    threads: int = 4,
    budget: float = 60.0,
    requests_for: dict[str, tuple[str, dict]] | None = None,
) -> dict[str, Load]:
    """Alternate bursts between the servers: ``total`` requests each, or ``budget`` s each.

    ``requests_for`` gives a target its own ``(path, body)`` (default: ``/invocations``, BODY).
    """
    targets = {name: (requests_for or {}).get(name, ("/invocations", BODY)) for name in urls}
    for name, url in urls.items():
        _burst(url, 4 * threads, threads, *targets[name])  # warm-up: connections, first calls
    loads = {name: Load() for name in urls}
    per_round = max(1, total // rounds)
    order = list(urls)
    for index in range(rounds):
        if any(load.seconds > budget for load in loads.values()):
            break
        for name in order if index % 2 == 0 else reversed(order):
            seconds, latencies = _burst(urls[name], per_round, threads, *targets[name])
            load = loads[name]
            load.throughput.append(per_round / seconds)
            load.latencies.extend(latencies)
            load.requests += per_round
            load.seconds += seconds
    return loads


def _describe(load: Load) -> str:
    quantiles = statistics.quantiles(load.latencies, n=100)
    rate = load.requests / load.seconds
    return f"{rate:.0f} req/s, p50 {quantiles[49] * 1e3:.1f} ms, p99 {quantiles[98] * 1e3:.1f} ms"


def server_rows(
    loads: dict[str, Load], flavor: str, noop: str, goal: Goal = THROUGHPUT_GOAL
) -> list[Row]:
    ours, base = loads[flavor], loads[noop]
    ratio = statistics.median(o / b for o, b in zip(ours.throughput, base.throughput, strict=True))
    case = f"(g) scoring server, 4 clients, {ours.requests} single-row requests each"
    return [
        Row.judged(case, f"{noop} **[raw]**", _describe(base), 1.0, None),
        Row.judged(case, flavor, _describe(ours), ratio, goal, note="(throughput)"),
    ]
