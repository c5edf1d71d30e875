"""Interleaved timing and the result table.

On a shared machine absolute times drift by tens of percent within a minute.
Every contender is therefore timed once per round, in a freshly shuffled
order, and results are medians of per-round ratios: two contenders timed
seconds apart see the same load, so the drift cancels in their ratio.
"""

from __future__ import annotations

import gc
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Contender:
    """One way of doing the case's work; ``call`` does it once.

    ``repeats`` calls make one timing sample, so that sub-millisecond calls
    are not lost in timer and scheduler noise; it is set by :func:`calibrate`.
    """

    name: str
    call: Callable[[], Any]
    repeats: int = 1


@dataclass
class Timings:
    """Per-call seconds of each contender, one value per round, plus who failed."""

    per_round: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def ran(self, name: str) -> bool:
        return bool(self.per_round.get(name))

    def median(self, name: str) -> float:
        return statistics.median(self.per_round[name])

    def ratio(self, numerator: str, denominator: str) -> float:
        """Median over rounds of numerator / denominator, timed in the same round."""
        pairs = zip(self.per_round[numerator], self.per_round[denominator], strict=True)
        return statistics.median(n / d for n, d in pairs)


_TF_NOISE = (
    re.compile(r"cannot compute \S+ as "),  # TF2 function names: __inference_pruned_1234
    re.compile(r"\s*\[Op:[^\]]*\]"),
)


def short_error(error: BaseException) -> str:
    """The first line of an exception, without TF's generated names, short enough for a cell."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    for pattern in _TF_NOISE:
        text = pattern.sub("", text)
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    text = text.replace("|", "/")
    return text if len(text) <= 100 else text[:97] + "..."


def calibrate(contender: Contender, target_seconds: float, max_repeats: int) -> None:
    """Pick ``repeats`` so one sample lasts about ``target_seconds``."""
    start = time.perf_counter()
    contender.call()
    elapsed = time.perf_counter() - start
    contender.repeats = max(1, min(max_repeats, round(target_seconds / max(elapsed, 1e-9))))


def measure(
    contenders: Sequence[Contender],
    rounds: int,
    rng: random.Random,
    target_seconds: float = 0.02,
    max_repeats: int = 200,
) -> Timings:
    """Warm every contender up, drop the ones that fail, then time interleaved rounds.

    The first call of each contender is outside the timing (it traces, fills
    caches and surfaces errors, which are recorded instead of a time).
    """
    timings = Timings()
    alive = []
    for contender in contenders:
        try:
            contender.call()
        except Exception as error:  # noqa: BLE001 -- a failing contender is a result
            timings.errors[contender.name] = short_error(error)
            continue
        if target_seconds > 0:
            calibrate(contender, target_seconds, max_repeats)
        alive.append(contender)
        timings.per_round[contender.name] = []
    for _ in range(rounds):
        order = list(alive)
        rng.shuffle(order)
        gc.collect()  # a collection inside someone's sample would be charged to them
        for contender in order:
            timings.per_round[contender.name].append(_sample(contender))
    return timings


def _sample(contender: Contender) -> float:
    start = time.perf_counter()
    for _ in range(contender.repeats):
        contender.call()
    return (time.perf_counter() - start) / contender.repeats


@dataclass(frozen=True)
class Goal:
    """A target ratio from the issue: ``<= limit`` (or ``>= limit``).

    ``label`` is the issue's wording of the case: a row judged against a
    labelled goal is also listed in the summary table, so that the issue's
    table can be read off the output line by line.
    """

    limit: float
    at_most: bool = True
    label: str = ""

    def text(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit}"

    def met(self, value: float) -> str:
        ok = value <= self.limit if self.at_most else value >= self.limit
        return "yes" if ok else "**no**"


@dataclass
class Row:
    """One line of the result table."""

    case: str
    contender: str
    value: str
    ratio: str
    goal: str = ""
    met: str = ""
    summary: str = ""  # the label, for the summary table; "" = not listed there

    @classmethod
    def judged(
        cls,
        case: str,
        contender: str,
        value: str,
        ratio: float,
        goal: Goal | None,
        note: str = "",
        summary: str | None = None,
    ) -> Row:
        """A row whose ratio is checked against ``goal`` (when it has one).

        ``summary`` overrides the goal's label in the summary table (to say,
        for example, which raw way was the denominator).
        """
        text = f"{format_ratio(ratio, goal)}{f' {note}' if note else ''}"
        if goal is None:
            return cls(case, contender, value, text)
        label = goal.label if summary is None else summary
        return cls(case, contender, value, text, goal.text(), goal.met(ratio), label)

    @classmethod
    def failed(cls, case: str, contender: str, reason: str, goal: Goal | None) -> Row:
        """A contender that could not be measured: a goal it had is not met."""
        if goal is None:
            return cls(case, contender, "—", f"error: {reason}")
        return cls(case, contender, "—", f"error: {reason}", goal.text(), "**no**", goal.label)


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_ratio(ratio: float, goal: Goal | None) -> str:
    """Two decimals, or as many more as it takes for the shown figure to carry the
    verdict (1.0512 against a goal of 1.05 must not read as 1.05)."""
    for places in range(2, 7):
        text = f"{ratio:.{places}f}"
        if goal is None or goal.met(float(text)) == goal.met(ratio):
            return text
    return text


HEADER = ("case", "contender", "median time", "ratio vs raw (or vs the stated denominator)")


def markdown(rows: Sequence[Row]) -> str:
    """The table, with the case name shown only where it changes."""
    lines = [
        "| " + " | ".join((*HEADER, "goal", "met?")) + " |",
        "|" + "---|" * (len(HEADER) + 2),
    ]
    previous = None
    for row in rows:
        case = row.case if row.case != previous else ""
        previous = row.case
        cells = (case, row.contender, row.value, row.ratio, row.goal, row.met)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_markdown(rows: Sequence[Row]) -> str:
    """The issue's table: one line per labelled goal, in the order the run measured them."""
    lines = ["| case | measured | goal | met? |", "|---|---|---|---|"]
    for row in rows:
        if row.summary:
            lines.append(f"| {row.summary} | {row.ratio} | {row.goal} | {row.met} |")
    return "\n".join(lines)
