"""(e) First call after load ÷ steady call, for every stateless signature of the corpus.

Each signature gets a fresh process (this file run as a script): import,
build the input, ``mlflow.pyfunc.load_model``, time the first ``predict``
with ``params={"signature_name": ...}``, then the median of the next calls.
A fresh process is what a server start or a batch job sees: anything lazy
(a callable built on first use, graph optimisation, first allocations,
a parse spec read from the graph) lands on the first call, and it can only
be seen once per process. Children run one after the other, never at once.

    benchmarks/first_call.py <model dir> <signature> <input recipe> <steady calls>

prints one JSON line: seconds for the load, the first call, the steady
median and the median of calls each made after a 10 ms pause, or the error.
``<model dir>`` ``raw:<SavedModel dir>`` times raw TensorFlow the same way
(TF's loader, a callable run once after the load as the flavor's warm-up
does): the cold-process cost no warm-up removes.

The garbage collector runs before the load, never between the load and the
first call: a half_plus_two call right after ``gc.collect()`` costs about
10x a steady one for raw TensorFlow too (CPU caches emptied), so timing it
would measure the collection, not the one-time work of the first call.

The paused calls show what no warm-up can remove: on a shared 2-core VM a
raw Session call after 10 ms of spinning in Python costs about 10x a call in
a tight loop (caches refilled, no page faults, no context switches), so the
first call after a load pays that too, however warm the code paths are.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fixtures
from benchmarks.harness import Goal, Row, format_ratio, format_seconds, short_error

# Signatures that change the graph's state: a first call of one would not be
# "the same call" as the steady ones, so they are left out.
STATEFUL = frozenset({"incr_counter", "incr_counter_by", "reset_counter"})


def _input(recipe: str) -> Any:
    """A valid small input per recipe: what a user would send, float64 where numbers."""
    import numpy as np

    recipes: dict[str, Callable[[], Any]] = {
        "x": lambda: {"x": np.array([[1.0], [2.0], [5.0]])},
        "examples": lambda: {"inputs": fixtures.serialize_x_examples([2.0, 4.0])},
        "inputs": lambda: {"inputs": np.array([[1.0], [2.0]])},
        "matrix": lambda: {"x": np.arange(18, dtype=np.float64).reshape(2, 3, 3)},
        "none": lambda: None,
        "taxi_rows": lambda: fixtures.read_taxi_rows(10),
    }
    return recipes[recipe]()


@dataclass(frozen=True)
class CorpusModel:
    """A corpus SavedModel and the stateless signatures to time, each with its input recipe."""

    name: str
    source: Path
    signatures: dict[str, str]
    default_signature: str | None = None  # for save_model, where the model has no default


CORPUS = (
    CorpusModel(
        "half_plus_two",
        fixtures.HALF_PLUS_TWO,
        {
            "serving_default": "x",
            "regress_x_to_y": "examples",
            "regress_x_to_y2": "examples",
            "classify_x_to_y": "examples",
            "regress_x2_to_y3": "inputs",
        },
    ),
    # Its regress signature declares its input float32, but the placeholder is
    # a string fed tf.Example protos (a raw Session runs it on protos).
    CorpusModel(
        "half_plus_three",
        fixtures.HALF_PLUS_THREE,
        {"serving_default": "x", "tensorflow/serving/regress": "examples"},
    ),
    CorpusModel(
        "matrix_half_plus_two", fixtures.MATRIX_HALF_PLUS_TWO, {"serving_default": "matrix"}
    ),
    CorpusModel("counter", fixtures.COUNTER, {"get_counter": "none"}, "get_counter"),
    CorpusModel(
        "chicago_taxi_estimator",
        fixtures.TAXI_EXPORT,
        {s: "taxi_rows" for s in ("serving_default", "classification", "regression", "predict")},
    ),
)


@dataclass
class FirstCall:
    """One signature's children: seconds per process, or the first error one reported.

    Shown values are medians over processes; the ratio is the median of the
    per-process ratios (a first call is compared with its own process's
    steady state, never another's).
    """

    model: str
    signature: str
    loads: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)
    steadies: list[float] = field(default_factory=list)
    pauseds: list[float] = field(default_factory=list)
    error: str = ""

    def add(self, result: dict) -> None:
        if "error" in result:
            self.error = result["error"]
            return
        self.loads.append(result["load"])
        self.firsts.append(result["first"])
        self.steadies.append(result["steady"])
        self.pauseds.append(result["paused"])

    @property
    def ratio(self) -> float:
        pairs = zip(self.firsts, self.steadies, strict=True)
        return statistics.median(first / steady for first, steady in pairs)

    @property
    def load(self) -> float:
        return statistics.median(self.loads)

    @property
    def first(self) -> float:
        return statistics.median(self.firsts)

    @property
    def steady(self) -> float:
        return statistics.median(self.steadies)

    @property
    def paused(self) -> float:
        return statistics.median(self.pauseds)


# Raw TensorFlow timed like the flavor: half_plus_two's default signature.
RAW = CorpusModel("raw Session (half_plus_two)", fixtures.HALF_PLUS_TWO, {"serving_default": "x"})


def save_corpus(workdir: Path) -> dict[str, Path]:
    """Each corpus model saved once with ``mlflow_tf1.save_model``: name -> model folder."""
    import mlflow_tf1

    folders = {}
    for model in CORPUS:
        assert not STATEFUL & set(model.signatures), model.name
        folder = workdir / f"corpus-{model.name}"
        mlflow_tf1.save_model(model.source, folder, signature_name=model.default_signature)
        folders[model.name] = folder
    folders[RAW.name] = Path(f"raw:{RAW.source}")
    return folders


def measure_all(
    folders: dict[str, Path],
    steady_calls: int,
    processes: int,
    progress: Callable[[str], None],
    budget: float = 240.0,
) -> list[FirstCall]:
    """Up to ``processes`` children per (model, signature), one at a time, in rounds.

    One first call is one sample, so a scheduler hiccup on a shared machine
    can decide it; more processes give a median. Rounds go over the whole
    corpus, so that a slow minute touches every signature alike, and no round
    starts that would end past ``budget`` seconds (the first always runs):
    each child pays seconds of imports, and the run must stay within minutes.
    A signature whose child fails is reported with that error and not run again.
    """
    models = (*CORPUS, RAW)
    results = {
        (model.name, signature): FirstCall(model.name, signature)
        for model in models
        for signature in model.signatures
    }
    start = time.monotonic()
    for index in range(processes):
        elapsed = time.monotonic() - start
        if index and elapsed * (index + 1) / index > budget:
            progress(f"  stopping after {index} round(s): another would pass {budget:.0f} s")
            break
        progress(f"  round {index + 1} of {processes}: {len(results)} signatures")
        for model in models:
            for signature, recipe in model.signatures.items():
                result = results[(model.name, signature)]
                if not result.error:
                    result.add(_run_child(folders[model.name], signature, recipe, steady_calls))
    return list(results.values())


def _run_child(folder: Path, signature: str, recipe: str, steady_calls: int) -> dict:
    target = str(folder) if str(folder).startswith("raw:") else str(folder.resolve())
    command = [sys.executable, __file__, target, signature, recipe, str(steady_calls)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=Path.cwd()
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or [""])[-1][:200]
        return {"error": f"child exited {result.returncode}: {last}"}
    return json.loads(lines[-1])


def rows(results: list[FirstCall], goal: Goal) -> list[Row]:
    """The summary row: the worst signature's ratio, and how many could not be run."""
    case = "(e) first call after load ÷ steady call, fresh process per signature"
    raw = [r for r in results if r.model == RAW.name]
    results = [r for r in results if r.model != RAW.name]
    measured = [r for r in results if not r.error]
    failed = len(results) - len(measured)
    if not measured:
        return [Row.failed(case, "every stateless signature", "no signature ran", goal)]
    worst = max(measured, key=lambda r: r.ratio)
    value = f"first {format_seconds(worst.first)}, steady {format_seconds(worst.steady)}"
    note = f"(worst: {worst.model} / {worst.signature})"
    contender = f"worst stateless signature, {_processes(measured)} each"
    row = Row.judged(case, contender, value, worst.ratio, goal, note=note)
    if failed:
        row.met = f"{row.met}; **{failed} of {len(results)} failed**"
    baseline = []
    if raw and not raw[0].error:
        raw_value = f"first {format_seconds(raw[0].first)}, steady {format_seconds(raw[0].steady)}"
        baseline.append(
            Row.judged(
                case, f"{RAW.name} **[raw]**, one run after load", raw_value, raw[0].ratio, None
            )
        )
    return [*baseline, row]


def _processes(results: list[FirstCall]) -> str:
    counts = sorted({len(r.firsts) for r in results if not r.error})
    return f"{'/'.join(map(str, counts)) or 0} fresh process(es)"


def markdown(results: list[FirstCall], goal: Goal) -> str:
    """Per-signature detail: load, first, steady and their ratio, or the error."""
    title = (
        "First call after `mlflow.pyfunc.load_model` ÷ steady call, per signature "
        f"(medians over {_processes(results)} per signature):"
    )
    lines = [
        title,
        "",
        (
            f"| model | signature | load | first call | steady call | first ÷ steady "
            f"({goal.text()}) | call after a {PAUSE * 1e3:.0f} ms pause |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.error:
            lines.append(f"| {r.model} | {r.signature} | | | | error: {r.error} | |")
            continue
        ratio = format_ratio(r.ratio, goal) + ("" if goal.met(r.ratio) == "yes" else " **no**")
        times = [format_seconds(t) for t in (r.load, r.first, r.steady)]
        paused = format_seconds(r.paused)
        lines.append(f"| {r.model} | {r.signature} | {' | '.join(times)} | {ratio} | {paused} |")
    return "\n".join(lines)


# --- the child ----------------------------------------------------------------------------


# Busy time before each paused call: long enough for the caches to go cold here.
PAUSE = 0.010
PAUSED_CALLS = 10


def _seconds(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _timings(call: Callable[[], Any], steady_calls: int) -> dict[str, float]:
    """The median of back-to-back calls, and of calls each after a busy ``PAUSE``."""
    steady = statistics.median(_seconds(call) for _ in range(steady_calls))
    paused = []
    for _ in range(PAUSED_CALLS):
        end = time.perf_counter() + PAUSE
        while time.perf_counter() < end:  # busy, so the CPU never idles
            pass
        paused.append(_seconds(call))
    return {"steady": steady, "paused": statistics.median(paused)}


def child(folder: str, signature: str, recipe: str, steady_calls: int) -> dict:
    """Load, first call, steady calls; the input is built before the load, untimed."""
    import warnings

    warnings.filterwarnings("ignore")
    if folder.startswith("raw:"):
        return _raw_child(folder.removeprefix("raw:"), signature, recipe, steady_calls)
    import mlflow

    data = _input(recipe)
    params = {"signature_name": signature}
    gc.collect()
    start = time.perf_counter()
    model = mlflow.pyfunc.load_model(folder)
    load = time.perf_counter() - start
    try:
        first = _seconds(lambda: model.predict(data, params=params))
    except Exception as error:  # noqa: BLE001 -- reported in the table
        return {"error": short_error(error)}
    return {
        "load": load,
        "first": first,
        **_timings(lambda: model.predict(data, params=params), steady_calls),
    }


def _raw_child(export_dir: str, signature: str, recipe: str, steady_calls: int) -> dict:
    """TF's own loader and a direct callable, run once after the load, then timed."""
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    data = {k: np.asarray(v, np.float32) for k, v in _input(recipe).items()}
    gc.collect()
    start = time.perf_counter()
    graph = tf.Graph()
    session = v1.Session(graph=graph)
    with graph.as_default():
        meta_graph = v1.saved_model.loader.load(session, ["serve"], export_dir)
    spec = meta_graph.signature_def[signature]
    names = list(data)
    run = session.make_callable(
        [t.name for t in spec.outputs.values()], [spec.inputs[k].name for k in names]
    )
    run(*(data[k] for k in names))
    load = time.perf_counter() - start
    first = _seconds(lambda: run(*(data[k] for k in names)))
    return {
        "load": load,
        "first": first,
        **_timings(lambda: run(*(data[k] for k in names)), steady_calls),
    }


if __name__ == "__main__":
    folder_arg, signature_arg, recipe_arg, calls_arg = sys.argv[1:5]
    print(json.dumps(child(folder_arg, signature_arg, recipe_arg, int(calls_arg))))
