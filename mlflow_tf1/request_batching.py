"""Concurrent requests for one signature merged into one run, as TF Serving's ``--enable_batching``.

A scoring server runs each request on its own thread; on a small model each
run costs TensorFlow's fixed per-call overhead, on a big one the hardware is
better used by one batch of 8 rows than by 8 runs of one. A request that
arrives while a batch runs waits, at most ``timeout``, for it to finish,
gathering the requests that arrive meanwhile (a lone client never waits);
they run as one batch of at most ``max_rows`` rows, and each request gets
its own rows back. When the merged
run fails, each request is run alone, so a bad request fails by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Feeds = Mapping[str, Any]
Outputs = dict[str, Any]


class _Batch:
    def __init__(self) -> None:
        self.requests: list[tuple[Feeds, int]] = []
        self.rows = 0
        self.closed = False
        self.done = threading.Event()
        self.outcomes: list[Outputs | BaseException] = []


class Batcher:
    """Merges concurrent ``submit`` calls of one runner; thread-safe.

    A batch's first request waits only while another batch runs (measured:
    also waiting for requests still converting their input cost more than it
    merged); one batch runs at a time, as TensorFlow uses every core for it.
    """

    def __init__(self, run: Callable[[Feeds], Outputs], max_rows: int, timeout_s: float):
        self._run = run
        self._max_rows = max_rows
        self._timeout = timeout_s
        self._cond = threading.Condition()
        self._open: _Batch | None = None
        self._running = 0

    def submit(self, feeds: Feeds) -> Outputs:
        """``run(feeds)``, possibly as part of a bigger batch; only this request's rows come back."""
        rows = _rows(feeds)
        if rows is None or rows >= self._max_rows:
            return self._run(feeds)
        with self._cond:
            batch = self._open
            if batch is not None and batch.rows + rows > self._max_rows:
                self._close(batch)
                batch = None
            leader = batch is None
            if leader:
                batch = self._open = _Batch()
            index = len(batch.requests)
            batch.requests.append((feeds, rows))
            batch.rows += rows
            self._cond.notify_all()
            if batch.rows >= self._max_rows:
                self._close(batch)
            if leader:
                self._gather(batch)
        if leader:
            self._execute(batch)
        else:
            batch.done.wait()
        outcome = batch.outcomes[index]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _gather(self, batch: _Batch) -> None:
        """Wait (lock held) while another batch runs, until this one is full or timed out."""
        deadline = time.monotonic() + self._timeout
        while not batch.closed and self._running > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        self._close(batch)
        self._running += 1

    def _close(self, batch: _Batch) -> None:
        batch.closed = True
        if self._open is batch:
            self._open = None
        self._cond.notify_all()

    def _execute(self, batch: _Batch) -> None:
        try:
            if len(batch.requests) == 1:
                batch.outcomes = [self._outcome(batch.requests[0][0])]
            else:
                batch.outcomes = self._merged(batch)
        finally:
            batch.done.set()
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _merged(self, batch: _Batch) -> list[Outputs | BaseException]:
        keys = list(batch.requests[0][0])
        try:
            merged = {k: np.concatenate([feeds[k] for feeds, _ in batch.requests]) for k in keys}
            outputs = self._run(merged)
        except Exception:  # noqa: BLE001 -- each request is retried alone, errors stay its own
            return [self._outcome(feeds) for feeds, _ in batch.requests]
        if not all(_rows_of(v) == batch.rows for v in outputs.values()):
            # Outputs not row-aligned with the inputs: never hand out another request's rows.
            return [self._outcome(feeds) for feeds, _ in batch.requests]
        results, start = [], 0
        for _, rows in batch.requests:
            results.append({k: v[start : start + rows] for k, v in outputs.items()})
            start += rows
        return results

    def _outcome(self, feeds: Feeds) -> Outputs | BaseException:
        try:
            return self._run(feeds)
        except Exception as e:  # noqa: BLE001 -- handed to the request it belongs to
            return e


def _rows(feeds: Feeds) -> int | None:
    """The common leading dimension of dense array feeds, else None (run alone)."""
    counts = {_rows_of(v) for v in feeds.values()}
    if len(counts) != 1 or None in counts:
        return None
    return counts.pop()


def _rows_of(value: Any) -> int | None:
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        return value.shape[0]
    return None
