"""The in-process cases: prediction latency and load time.

Each latency case lists its contenders, which of them are "raw" TensorFlow
(every raw way is timed in the same rounds and the fastest one becomes the
denominator), the goals against raw, and comparisons with another
denominator: MLflow's legacy loader, or (taxi) the naive way, protos built
in Python, against the flavor. First call after load is in ``first_call``.
"""

from __future__ import annotations

import random
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf

from benchmarks import fixtures
from benchmarks.harness import Contender, Goal, Row, Timings, format_seconds, measure

RAW_FEED_DICT = "raw Session.run(feed_dict)"
RAW_CALLABLE = "raw Session.make_callable"
RAW_TF2 = "raw TF2 saved_model.load(...).signatures[k]"
PYFUNC_DICT = "mlflow-tf1 pyfunc, dict float64"
PYFUNC_FRAME = "mlflow-tf1 pyfunc, DataFrame float64"
NAIVE = "naive: Session + load per call"
LEGACY = "MLflow legacy loader"
LEGACY_GOAL = Goal(0.9)


@dataclass(frozen=True)
class Comparison:
    """A goal against a denominator other than raw: the first of ``denominators`` that ran."""

    label: str
    numerator: str
    denominators: Sequence[str]
    goal: Goal
    versus: str = LEGACY


@dataclass
class LatencyCase:
    name: str
    contenders: list[Contender]
    raw: list[str]
    rounds: int
    goals: dict[str, Goal] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)


def evaluate(case: LatencyCase, rng: random.Random) -> list[Row]:
    """Time the case and turn it into table rows (ratios vs raw, then vs legacy)."""
    timings = measure(case.contenders, case.rounds, rng)
    raw = fastest_raw(case, timings)
    title = f"{case.name}; raw = {raw.removeprefix('raw ')}"
    rows = [
        _contender_row(title, c.name, raw, case.goals.get(c.name), timings) for c in case.contenders
    ]
    rows += [_comparison_row(title, comparison, timings) for comparison in case.comparisons]
    return rows


def fastest_raw(case: LatencyCase, timings: Timings) -> str:
    """The fastest raw way in this run: the denominator of the case's goals.

    Which way wins depends on the model, the batch and the TensorFlow build,
    so it is measured, never assumed; progress says who won and by how much.
    It is judged by the statistic the goals use, per-round ratios: the way
    that every other raw way's median ratio against is at least 1 (the one
    fastest against a common reference if no way beats all the others).
    Medians of absolute times would let drift pick it, and could show
    another raw way at a ratio below 1.
    """
    ran = [name for name in case.raw if timings.ran(name)]
    if not ran:
        raise RuntimeError(f"{case.name}: no raw TensorFlow way ran: {timings.errors}")
    beats_all = [w for w in ran if all(timings.ratio(o, w) >= 1 for o in ran if o != w)]
    raw = beats_all[0] if beats_all else min(ran, key=lambda n: timings.ratio(n, ran[0]))
    others = ", ".join(
        f"{n.removeprefix('raw ')} {timings.ratio(n, raw):.2f}x" for n in ran if n != raw
    )
    print(
        f"  fastest raw: {raw.removeprefix('raw ')} (others: {others or 'none'})", file=sys.stderr
    )
    return raw


def _contender_row(case: str, name: str, raw: str, goal: Goal | None, timings: Timings) -> Row:
    if name in timings.errors:
        return Row.failed(case, name, timings.errors[name], goal)
    label = f"{name} **[raw]**" if name == raw else name
    summary = None
    if goal is not None and goal.label:
        summary = f"{goal.label} ÷ raw TF (fastest here: {raw.removeprefix('raw ')})"
    value = format_seconds(timings.median(name))
    return Row.judged(case, label, value, timings.ratio(name, raw), goal, summary=summary)


def _comparison_row(case: str, comparison: Comparison, timings: Timings) -> Row:
    denominator = next((d for d in comparison.denominators if timings.ran(d)), None)
    if not timings.ran(comparison.numerator):
        return Row(
            case, comparison.label, "—", "numerator failed", comparison.goal.text(), "**no**"
        )
    if denominator is None:
        reason = timings.errors[comparison.denominators[-1]]
        return Row(
            case,
            comparison.label,
            "—",
            f"{comparison.versus} errors: {reason}",
            comparison.goal.text(),
            f"n/a ({comparison.versus} fails)",
        )
    label = f"{comparison.label} ÷ {denominator.removeprefix(comparison.versus + ', ')}"
    ratio = timings.ratio(comparison.numerator, denominator)
    return Row.judged(case, label, "", ratio, comparison.goal, note=f"vs {comparison.versus}")


# --- (a) half_plus_two and (b) the CNN: dense inputs ------------------------------------


@dataclass
class TF2Signature:
    """``tf.saved_model.load(dir).signatures[k]``, or why TF2 could not load it.

    A failed load is kept and re-raised on call, so the raw TF2 way shows up
    as an error in the table instead of stopping the case.
    """

    function: Callable[..., dict[str, tf.Tensor]] | None
    loaded: Any  # keeps the variables the signature closes over alive
    error: Exception | None = None

    @classmethod
    def load(cls, export_dir: Path, signature: str = fixtures.DEFAULT_SIGNATURE) -> TF2Signature:
        try:
            loaded = tf.saved_model.load(str(export_dir))
            return cls(loaded.signatures[signature], loaded)
        except Exception as error:  # noqa: BLE001 -- "TF2 can't load it" is a result
            return cls(None, None, error)

    def __call__(self, **tensors: tf.Tensor) -> dict[str, np.ndarray]:
        if self.function is None:
            raise RuntimeError(f"tf.saved_model.load failed: {self.error}") from self.error
        return {k: v.numpy() for k, v in self.function(**tensors).items()}


@dataclass
class DenseModel:
    """One dense-input SavedModel, loaded in every way the cases compare."""

    export_dir: Path
    input_key: str
    raw: fixtures.RawSession
    tf2: TF2Signature
    pyfunc: Any
    legacy: Any

    @classmethod
    def load(cls, export_dir: Path, input_key: str, flavored: Path, legacy: Path) -> DenseModel:
        return cls(
            export_dir=export_dir,
            input_key=input_key,
            raw=fixtures.RawSession.load(export_dir),
            tf2=TF2Signature.load(export_dir),
            pyfunc=mlflow.pyfunc.load_model(str(flavored)),
            legacy=mlflow.pyfunc.load_model(str(legacy)),
        )


def dense_case(
    name: str, model: DenseModel, exact: np.ndarray, rounds: int, goals: dict[str, Goal]
) -> LatencyCase:
    """Raw ways get pre-built feeds of the graph's dtype; pyfunc gets float64, as users send.

    The raw ways are the three a TF user would pick from: ``session.run`` with
    a feed dict, a ``make_callable``, and TF2's pruned signature function.

    MLflow's legacy loader refuses float64 for float32/uint8 graphs, so it
    also gets the exact dtype, which it accepts in a dict at least.
    """
    key = model.input_key
    wide = exact.astype(np.float64)
    tensor = tf.constant(exact)
    frame, exact_frame = fixtures.frame_of(wide, key), fixtures.frame_of(exact, key)
    want = model.raw.run({key: exact})
    for output, value in model.pyfunc.predict({key: wide}).items():
        fixtures.assert_close(value, want[output], f"{name}: pyfunc {output}")
    dtype = exact.dtype.name
    contenders = [
        Contender(RAW_FEED_DICT, lambda: model.raw.feed_dict_call(exact)),
        Contender(RAW_CALLABLE, lambda: model.raw.call(exact)),
        Contender(RAW_TF2, lambda: model.tf2(**{key: tensor})),
        Contender(PYFUNC_DICT, lambda: model.pyfunc.predict({key: wide})),
        Contender(PYFUNC_FRAME, lambda: model.pyfunc.predict(frame)),
        Contender(f"{LEGACY}, dict float64", lambda: model.legacy.predict({key: wide})),
        Contender(f"{LEGACY}, dict {dtype}", lambda: model.legacy.predict({key: exact})),
        Contender(f"{LEGACY}, DataFrame float64", lambda: model.legacy.predict(frame)),
        Contender(f"{LEGACY}, DataFrame {dtype}", lambda: model.legacy.predict(exact_frame)),
        Contender(NAIVE, lambda: fixtures.session_per_call(model.export_dir, {key: exact})),
    ]
    comparisons = [
        Comparison(
            "mlflow-tf1 pyfunc, dict",
            PYFUNC_DICT,
            [f"{LEGACY}, dict float64", f"{LEGACY}, dict {dtype}"],
            LEGACY_GOAL,
        ),
        Comparison(
            "mlflow-tf1 pyfunc, DataFrame",
            PYFUNC_FRAME,
            [f"{LEGACY}, DataFrame float64", f"{LEGACY}, DataFrame {dtype}"],
            LEGACY_GOAL,
        ),
    ]
    raw = [RAW_FEED_DICT, RAW_CALLABLE, RAW_TF2]
    return LatencyCase(name, contenders, raw, rounds, goals, comparisons)


# --- (c) the taxi Estimator: raw rows in ------------------------------------------------

TAXI_RAW = "raw Session.make_callable, pre-serialized tf.Examples"
TAXI_RAW_FEED_DICT = "raw Session.run(feed_dict), pre-serialized tf.Examples"
TAXI_ROWS = "mlflow-tf1 pyfunc, DataFrame of raw rows"
TAXI_PROTOS = "mlflow-tf1 pyfunc, dict of pre-serialized tf.Examples"
TAXI_LEGACY_ROWS = f"{LEGACY}, DataFrame of raw rows"
TAXI_LEGACY_PROTOS = f"{LEGACY}, dict of pre-serialized tf.Examples"
TAXI_NAIVE = "naive: build protos in Python per call + raw Session"
TAXI_FEATURED = "mlflow-tf1 pyfunc + opt-in feature signature, DataFrame of raw rows"


def taxi_case(
    flavored: Path,
    legacy: Path,
    rows: pd.DataFrame,
    rounds: int,
    goal: Goal,
    featured: Path | None = None,
) -> tuple[LatencyCase, Any]:
    """Users hold CSV rows; the graph wants serialized protos.

    The raw denominator (the faster of ``make_callable`` and ``session.run``)
    gets protos built once, before timing: the cost of the model alone, so
    ``goal`` says the flavor turns rows into the graph's input for free. The naive contender builds them on every call, as a
    user without the flavor would. Returns the case and the pyfunc model
    (for profiling).
    """
    raw = fixtures.RawSession.load(fixtures.TAXI_EXPORT)
    pyfunc = mlflow.pyfunc.load_model(str(flavored))
    legacy_model = mlflow.pyfunc.load_model(str(legacy))
    serialized = fixtures.serialize_taxi_rows(rows)
    want = raw.run({"inputs": serialized})
    got = pyfunc.predict(rows)
    fixtures.assert_close(np.stack(got["scores"]), want["scores"], "taxi: pyfunc scores")
    contenders = [
        Contender(TAXI_RAW, lambda: raw.call(serialized)),
        Contender(TAXI_RAW_FEED_DICT, lambda: raw.feed_dict_call(serialized)),
        Contender(TAXI_ROWS, lambda: pyfunc.predict(rows)),
        Contender(TAXI_PROTOS, lambda: pyfunc.predict({"inputs": serialized})),
        Contender(TAXI_LEGACY_ROWS, lambda: legacy_model.predict(rows)),
        Contender(TAXI_LEGACY_PROTOS, lambda: legacy_model.predict({"inputs": serialized})),
        Contender(TAXI_NAIVE, lambda: raw.call(fixtures.serialize_taxi_rows(rows))),
    ]
    if featured is not None:
        # What MLflow's check of the column schema adds (a Python loop per cell).
        with_schema = mlflow.pyfunc.load_model(str(featured))
        fixtures.assert_close(
            np.stack(with_schema.predict(rows)["scores"]), want["scores"], "taxi: featured"
        )
        contenders.append(Contender(TAXI_FEATURED, lambda: with_schema.predict(rows)))
    comparisons = [
        Comparison(
            "mlflow-tf1 pyfunc, raw rows",
            TAXI_ROWS,
            [TAXI_LEGACY_ROWS, TAXI_LEGACY_PROTOS],
            LEGACY_GOAL,
        ),
        Comparison(
            "mlflow-tf1 pyfunc, pre-serialized",
            TAXI_PROTOS,
            [TAXI_LEGACY_PROTOS],
            LEGACY_GOAL,
        ),
        Comparison(
            "naive (protos in Python + raw Session)",
            TAXI_NAIVE,
            [TAXI_ROWS],
            Goal(10, at_most=False),
            versus="mlflow-tf1 pyfunc",
        ),
    ]
    name = f"(c) taxi Estimator, {len(rows):,} rows"
    raw_ways = [TAXI_RAW, TAXI_RAW_FEED_DICT]
    case = LatencyCase(name, contenders, raw_ways, rounds, {TAXI_ROWS: goal}, comparisons)
    return case, pyfunc


# --- (d) load time ----------------------------------------------------------------------


def load_time_rows(flavored: Path, rounds: int, rng: random.Random, goal: Goal) -> list[Row]:
    """Taxi load: ``mlflow.pyfunc.load_model`` of a local model folder vs the TF1 loader.

    Both read local files (the pyfunc folder is the one ``save_model`` wrote),
    so the artifact store plays no part; one load per contender per round, in
    the same process, after one untimed load each (process-wide first-use
    costs are the first-call case's business). Every pyfunc load reads a copy
    of the folder made for it, as a downloaded model would be: a cache keyed
    by path can't turn a load into a lookup.
    """
    raw_name, pyfunc_name = "raw Session loader", "mlflow.pyfunc.load_model"
    copies = iter(_folder_copies(flavored, rounds + 2))
    contenders = [
        Contender(raw_name, lambda: fixtures.load_session(fixtures.TAXI_EXPORT)[0].close()),
        Contender(pyfunc_name, lambda: mlflow.pyfunc.load_model(str(next(copies)))),
    ]
    timings = measure(contenders, rounds, rng, target_seconds=0)
    case = "(d) taxi load time"
    raw_row = Row.judged(
        case, f"{raw_name} **[raw]**", format_seconds(timings.median(raw_name)), 1.0, None
    )
    if not timings.ran(pyfunc_name):
        return [raw_row, Row.failed(case, pyfunc_name, timings.errors[pyfunc_name], goal)]
    return [
        raw_row,
        Row.judged(
            case,
            pyfunc_name,
            format_seconds(timings.median(pyfunc_name)),
            timings.ratio(pyfunc_name, raw_name),
            goal,
        ),
    ]


def _folder_copies(folder: Path, count: int) -> list[Path]:
    """``count`` copies of a model folder beside it, made before any timing."""
    copies = []
    for index in range(count):
        copy = folder.with_name(f"{folder.name}-copy{index}")
        shutil.copytree(folder, copy)
        copies.append(copy)
    return copies
