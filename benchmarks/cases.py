"""The in-process cases: prediction latency, load time, first prediction.

Each latency case lists its contenders, which of them are "raw" TensorFlow
(the fastest raw one becomes the denominator), the goals against raw, and
comparisons with another denominator: MLflow's legacy loader, or (taxi) the
naive way, protos built in Python, against the flavor.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
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

RAW_SESSION = "raw Session"
RAW_TF2 = "raw TF2 pruned function"
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
    raw = min((n for n in case.raw if timings.ran(n)), key=timings.median)
    title = f"{case.name}; raw = {raw.removeprefix('raw ')}"
    rows = [
        _contender_row(title, c.name, raw, case.goals.get(c.name), timings) for c in case.contenders
    ]
    rows += [_comparison_row(title, comparison, timings) for comparison in case.comparisons]
    return rows


def _contender_row(case: str, name: str, raw: str, goal: Goal | None, timings: Timings) -> Row:
    if name in timings.errors:
        return Row(
            case,
            name,
            "—",
            f"error: {timings.errors[name]}",
            goal.text() if goal else "",
            "**no**" if goal else "",
        )
    label = f"{name} **[raw]**" if name == raw else name
    return Row.judged(
        case, label, format_seconds(timings.median(name)), timings.ratio(name, raw), goal
    )


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
class DenseModel:
    """One dense-input SavedModel, loaded in every way the cases compare."""

    export_dir: Path
    input_key: str
    raw: fixtures.RawSession
    tf2_signature: Callable[..., dict[str, tf.Tensor]]
    tf2_loaded: Any  # keeps the variables the TF2 signature closes over alive
    pyfunc: Any
    legacy: Any

    @classmethod
    def load(cls, export_dir: Path, input_key: str, flavored: Path, legacy: Path) -> DenseModel:
        loaded = tf.saved_model.load(str(export_dir))
        return cls(
            export_dir=export_dir,
            input_key=input_key,
            raw=fixtures.RawSession.load(export_dir),
            tf2_signature=loaded.signatures[fixtures.DEFAULT_SIGNATURE],
            tf2_loaded=loaded,
            pyfunc=mlflow.pyfunc.load_model(str(flavored)),
            legacy=mlflow.pyfunc.load_model(str(legacy)),
        )


def dense_case(
    name: str, model: DenseModel, exact: np.ndarray, rounds: int, goals: dict[str, Goal]
) -> LatencyCase:
    """Raw runs get pre-built feeds of the graph's dtype; pyfunc gets float64, as users send.

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
        Contender(RAW_SESSION, lambda: model.raw.call(exact)),
        Contender(
            RAW_TF2, lambda: {k: v.numpy() for k, v in model.tf2_signature(**{key: tensor}).items()}
        ),
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
    return LatencyCase(name, contenders, [RAW_SESSION, RAW_TF2], rounds, goals, comparisons)


# --- (c) the taxi Estimator: raw rows in ------------------------------------------------

TAXI_RAW = "raw Session, pre-serialized tf.Examples"
TAXI_ROWS = "mlflow-tf1 pyfunc, DataFrame of raw rows"
TAXI_PROTOS = "mlflow-tf1 pyfunc, dict of pre-serialized tf.Examples"
TAXI_LEGACY_ROWS = f"{LEGACY}, DataFrame of raw rows"
TAXI_LEGACY_PROTOS = f"{LEGACY}, dict of pre-serialized tf.Examples"
TAXI_NAIVE = "naive: build protos in Python per call + raw Session"
TAXI_FEATURED = "mlflow-tf1 pyfunc + opt-in feature signature, DataFrame of raw rows"


def taxi_case(
    flavored: Path, legacy: Path, rows: pd.DataFrame, rounds: int, featured: Path | None = None
) -> tuple[LatencyCase, Any]:
    """Users hold CSV rows; the graph wants serialized protos.

    The raw denominator gets protos built once, before timing: the cost of
    the model alone. The naive contender builds them on every call, as a
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
    case = LatencyCase(name, contenders, [TAXI_RAW], rounds, {TAXI_ROWS: Goal(1.5)}, comparisons)
    return case, pyfunc


# --- (d) load time and (e) first prediction ---------------------------------------------


def load_time_rows(flavored: Path, rounds: int, rng: random.Random) -> list[Row]:
    """Taxi load: ``mlflow.pyfunc.load_model`` of a local model folder vs the TF1 loader.

    Both read local files (the pyfunc folder is the one ``save_model`` wrote),
    so the artifact store plays no part; one load per contender per round.
    """
    raw_name, pyfunc_name = "raw Session loader", "mlflow.pyfunc.load_model"
    contenders = [
        Contender(raw_name, lambda: fixtures.load_session(fixtures.TAXI_EXPORT)[0].close()),
        Contender(pyfunc_name, lambda: mlflow.pyfunc.load_model(str(flavored))),
    ]
    timings = measure(contenders, rounds, rng, target_seconds=0)
    case = "(d) taxi load time"
    return [
        Row.judged(
            case, f"{raw_name} **[raw]**", format_seconds(timings.median(raw_name)), 1.0, None
        ),
        Row.judged(
            case,
            pyfunc_name,
            format_seconds(timings.median(pyfunc_name)),
            timings.ratio(pyfunc_name, raw_name),
            Goal(1.5),
        ),
    ]


def first_prediction_rows(flavored: Path, rounds: int, steady_calls: int = 30) -> list[Row]:
    """half_plus_two: the first ``predict`` after each load vs the steady state after it.

    A per-round ratio against the same model's steady state: anything lazy
    (tracing, graph optimisation, first allocations) shows up here.
    """
    data = {"x": np.array([[1.0]])}
    firsts, steadies = [], []
    for _ in range(rounds):
        model = mlflow.pyfunc.load_model(str(flavored))
        gc.collect()
        firsts.append(_predict_seconds(model, data))
        steadies.append(
            statistics.median(_predict_seconds(model, data) for _ in range(steady_calls))
        )
    ratios = [first / steady for first, steady in zip(firsts, steadies, strict=True)]
    first, steady = statistics.median(firsts), statistics.median(steadies)
    value = f"first {format_seconds(first)}, steady {format_seconds(steady)}"
    case = "(e) half_plus_two first prediction"
    return [
        Row.judged(
            case,
            "pyfunc dict, first predict after load ÷ steady state",
            value,
            statistics.median(ratios),
            Goal(2.0),
            note="vs steady",
        )
    ]


def _predict_seconds(model: Any, data: Any) -> float:
    start = time.perf_counter()
    model.predict(data)
    return time.perf_counter() - start
