"""Every model output shown in README.md and docs/ is checked against an independent oracle.

The tables below name, for each output a page shows, the documented call or request (found
verbatim in the page, then run through the product), and its answer computed without the
flavor: arithmetic for TF Serving's half_plus_two (y = 0.5x + 2, regress_x2_to_y3: 0.5x + 3),
or a raw ``tf.compat.v1.Session`` on the same SavedModel. Each case checks that the numbers
the page shows are the oracle's, and that the product gives the oracle's. Editing a shown
value, a documented request, or the product's answer makes a case fail, and
``test_every_shown_output_is_checked`` fails when a page gains an output no case covers.

Not covered here: docs/performance.md (benchmark figures) and docs/cli.md (owned elsewhere).
"""

from __future__ import annotations

import ast
import base64
import codecs
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner
from mlflow.pyfunc import scoring_server

import mlflow_tf1
from tests.conftest import PROJECT_ROOT, corpus_path
from tests.test_tf_example import FLOAT, INT64, STRING, taxi_examples

v1 = tf.compat.v1

HALF_PLUS_TWO = "tf_serving/saved_model_half_plus_two_cpu"
COUNTER = "tf_serving/saved_model_counter/00000123"
TAXI = "tfx/chicago_taxi_estimator"
TAXI_VERSION = "tfx/chicago_taxi_estimator/1646034756"
TAXI_CSV = "tfx/chicago_taxi.csv"

# The pages whose shown values this file owns.
PAGES = [
    "README.md",
    "docs/getting-started.md",
    "docs/graph-sources.md",
    "docs/index.md",
    "docs/migration-guide.md",
    "docs/native-tf2.md",
    "docs/reference.md",
    "docs/registry-migration.md",
    "docs/serving.md",
    "docs/spark.md",
    "docs/tf-example.md",
    "docs/tf2-and-keras.md",
    "docs/troubleshooting.md",
    "docs/trust-model.md",
]


# ---------------------------------------------------------------------------------------------
# Oracles: no flavor code.


def h2(*xs: float) -> list[float]:
    """half_plus_two's serving_default, regress_x_to_y and classify_x_to_y: y = 0.5x + 2."""
    return [0.5 * x + 2.0 for x in xs]


def h3(*xs: float) -> list[float]:
    """half_plus_two's regress_x2_to_y3: y = 0.5x + 3."""
    return [0.5 * x + 3.0 for x in xs]


def session_run(export_dir, calls, tags=("serve",)) -> list[dict[str, np.ndarray]]:
    """Run ``[(signature, feeds), ...]`` in order on one raw TF1 Session of the SavedModel."""
    config = v1.ConfigProto(allow_soft_placement=True)
    with v1.Graph().as_default() as graph, v1.Session(graph=graph, config=config) as sess:
        meta = v1.saved_model.loader.load(sess, list(tags), str(export_dir), clear_devices=True)
        results = []
        for name, feeds in calls:
            signature = meta.signature_def[name]
            fetches = {key: info.name for key, info in signature.outputs.items()}
            feed_dict = {signature.inputs[key].name: value for key, value in feeds.items()}
            results.append(sess.run(fetches, feed_dict))
        return results


def raw_meta_graph(export_dir, tags=("serve",)):
    with v1.Graph().as_default(), v1.Session() as sess:
        return v1.saved_model.loader.load(sess, list(tags), str(export_dir), clear_devices=True)


def example(**features) -> bytes:
    """A serialized tf.Example: str -> bytes_list, int -> int64_list, float -> float_list."""
    proto = tf.train.Example()
    for key, values in features.items():
        feature = proto.features.feature[key]
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str):
                feature.bytes_list.value.append(value.encode())
            elif isinstance(value, int):
                feature.int64_list.value.append(value)
            else:
                feature.float_list.value.append(value)
    return proto.SerializeToString()


@functools.cache
def taxi_session(signature: str, rows: str) -> dict[str, np.ndarray]:
    """``rows``: ``"csv:N"`` (the first N CSV rows) or a JSON list of records."""
    if rows.startswith("csv:"):
        records = pd.read_csv(corpus_path(TAXI_CSV)).head(int(rows[4:])).to_dict("records")
    else:
        records = json.loads(rows)
    protos = taxi_examples(pd.DataFrame(records))
    return session_run(corpus_path(TAXI_VERSION), [(signature, {"inputs": protos})])[0]


def taxi_frame_oracle() -> list[float]:
    """Row by row: classes (["0", "1"] as numbers), then the two scores."""
    out = taxi_session("serving_default", "csv:3")
    assert all(list(c) == [b"0", b"1"] for c in out["classes"])
    return [v for scores in out["scores"] for v in (0.0, 1.0, *scores)]


# The export tf-example.md builds: score = 0.1 * fare + miles (default 1.0) + sum(pickup)
# + 5 if company contains "A". Its oracle is a raw Session on hand-built protos.
def doc_export_session(*protos: bytes) -> list[float]:
    export = EXAMPLE_EXPORT["dir"]
    feeds = {"inputs": np.array(protos, dtype=object)}
    return session_run(export, [("serving_default", feeds)])[0]["outputs"].ravel().tolist()


def doc_export_rows_oracle() -> list[float]:
    return doc_export_session(
        example(fare=10.0, miles=2.0, pickup=[1.0, 2.0], company="A"),
        example(fare=20.0, pickup=[0.0, 0.0]),
        example(fare=30.0, pickup=[0.5, 0.5], company=["B", "A"]),
    )


def counter_oracle(*calls) -> list[dict[str, np.ndarray]]:
    return session_run(corpus_path(COUNTER), calls)


def half_plus_two_dir():
    return corpus_path(HALF_PLUS_TWO) / "00000123"


# ---------------------------------------------------------------------------------------------
# Reading the pages.


def page_text(page: str) -> str:
    return (PROJECT_ROOT / page).read_text(encoding="utf-8")


NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d*)?(?:e[-+]?\d+)?(?![\w])")
NOT_VALUES = re.compile(r"dtype[=:]\s*\w+|shape=\([^)]*\)|Name: \w+")


def locate(page: str, marker: str) -> int:
    """The 0-based line of the page where ``marker`` (which must occur once) starts."""
    text = page_text(page)
    assert text.count(marker) == 1, f"{page}: expected {marker!r} once, found {text.count(marker)}"
    start = text.index(marker) + len(marker) - len(marker.lstrip("\n"))
    return text.count("\n", 0, start)


def shown_output(page: str, marker: str) -> tuple[str, list[int]]:
    """What the page shows ``marker`` returns, and on which lines.

    The comment after the call when it holds a number or a literal, else the comment lines
    right under it (a printed DataFrame, a JSON response).
    """
    lines = page_text(page).splitlines()
    line = locate(page, marker)
    rest = lines[line].split(marker.strip(), 1)[1]
    if "#" in rest:
        comment = rest.split("#", 1)[1].strip()
        if NUMBER.search(comment) or comment[:1] in "{['\"<":
            return comment, [line]
    shown, numbers = [], []
    for i in range(line + 1, len(lines)):
        if not lines[i].lstrip().startswith("#"):
            break
        shown.append(lines[i].lstrip()[1:].removeprefix(" "))
        numbers.append(i)
    assert shown, f"{page}: no output shown for {marker!r}"
    return "\n".join(shown), numbers


def shown_numbers(shown: str) -> tuple[list[float], list[str] | None]:
    """The values in a shown output, and a printed DataFrame's column names (else None)."""
    lines = [NOT_VALUES.sub("", line) for line in shown.splitlines()]
    header = None
    if len(lines) > 1:  # a printed DataFrame or Series: drop the header and the row index
        if not NUMBER.search(lines[0]):
            header = lines[0].split()
            lines = lines[1:]
        lines = [re.sub(r"^\s*\d+\s+", "", line) for line in lines]
    return [float(n) for line in lines for n in NUMBER.findall(line)], header


def flat(value: Any, columns: list[str] | None = None) -> list[float]:
    """A product result as a flat list of numbers, in the order the page shows it."""
    if isinstance(value, pd.DataFrame):
        frame = value[columns] if columns else value
        return [x for row in frame.itertuples(index=False) for cell in row for x in flat(cell)]
    if isinstance(value, pd.Series):
        return [x for cell in value for x in flat(cell)]
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in flat(value[key])]
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in flat(item)]
    if tf.is_tensor(value):
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        return [float(v.decode() if isinstance(v, bytes) else v) for v in array.ravel()]
    return [float(v) for v in array.ravel()]


def assert_shown(shown: list[float], expected: list[float], what: str) -> None:
    """Shown values match to the 6 decimals pandas prints (or to float32 precision)."""
    assert len(shown) == len(expected), f"{what}: shows {shown}, expected {expected}"
    for shown_value, value in zip(shown, expected, strict=True):
        tolerance = 5e-7 + 1e-6 * abs(value)
        assert abs(shown_value - value) <= tolerance, f"{what}: shows {shown}, expected {expected}"


def assert_product(got: list[float], expected: list[float], what: str) -> None:
    assert len(got) == len(expected), f"{what}: got {got}, expected {expected}"
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=what)


def code_block_of(page: str, line: int, whole: bool = False) -> list[str]:
    """The fenced python block holding ``line``, dedented: up to that line, or ``whole``."""
    lines = page_text(page).splitlines()
    start = line
    while not lines[start].lstrip().startswith("```python"):
        start -= 1
        assert start >= 0 and lines[start].strip() != "```", f"{page}:{line + 1} is not in code"
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = line
    if whole:
        while lines[end].strip() != "```":
            end += 1
    return [text[indent:] for text in lines[start + 1 : end]]


# ---------------------------------------------------------------------------------------------
# Models, saved once per module. ``EXAMPLE_EXPORT`` lets the tf-example.md oracle find the
# export its own code block built.

EXAMPLE_EXPORT: dict[str, Any] = {}


@pytest.fixture(scope="module")
def h2_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs_h2") / "model"
    mlflow_tf1.save_model(str(corpus_path(HALF_PLUS_TWO)), str(path))  # the parent: newest version
    return path


@pytest.fixture(scope="module")
def h2_pyfunc(h2_path):
    return mlflow.pyfunc.load_model(str(h2_path))


@pytest.fixture(scope="module")
def h2_native(h2_path):
    return mlflow_tf1.load_model(str(h2_path))


@pytest.fixture(scope="module")
def counter_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs_counter") / "model"
    mlflow_tf1.save_model(str(corpus_path(COUNTER)), str(path), signature_name="get_counter")
    return path


@pytest.fixture(scope="module")
def taxi_pyfunc(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs_taxi") / "model"
    mlflow_tf1.save_model(str(corpus_path(TAXI)), str(path))
    return mlflow.pyfunc.load_model(str(path))


@pytest.fixture(scope="module")
def example_export(tmp_path_factory):
    """The export tf-example.md builds, by running that page's own code block."""
    root = tmp_path_factory.mktemp("docs_example")
    line = locate("docs/tf-example.md", 'builder = v1.saved_model.Builder("export/1")')
    block = code_block_of("docs/tf-example.md", line, whole=True)
    source = "\n".join(block).replace('"export/1"', repr(str(root / "export" / "1")))
    assert source.rstrip().endswith("builder.save()"), source
    exec(compile(source, "tf-example.md", "exec"), {})  # noqa: S102 - the page's own code
    EXAMPLE_EXPORT["dir"] = root / "export" / "1"
    return root


@pytest.fixture(scope="module")
def example_pyfunc(example_export, tmp_path_factory):
    path = tmp_path_factory.mktemp("docs_example_model") / "model"
    mlflow_tf1.save_model(str(example_export / "export"), str(path))
    return mlflow.pyfunc.load_model(str(path))


@pytest.fixture(scope="module")
def h2_tf2_dir(h2_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("docs_tf2") / "half_plus_two_tf2"
    mlflow_tf1.export_tf2(str(h2_path), str(out))
    return out


# What a page's names refer to: (namespace, {text in the page: what runs instead}).
def env_h2(request):
    model = request.getfixturevalue("h2_pyfunc")
    return {"model": model}, {'mlflow.pyfunc.load_model("models:/half_plus_two/1")': "model"}


def env_h2_logged(request):
    """The page's own log_model + registry load, on the corpus export (a new version)."""
    return {}, {'"/path/to/export"': repr(str(corpus_path(HALF_PLUS_TWO)))}


def env_h2_native(request):
    native = request.getfixturevalue("h2_native")
    path = str(request.getfixturevalue("h2_path"))
    namespace = {
        "model": native,
        "native_model": native,
        "serving_default": native.signatures["serving_default"],
        "uri": path,
    }
    return namespace, {'mlflow_tf1.load_model("models:/half_plus_two/1")': "native_model"}


def env_h2_export(request):
    return {}, {'"export/00000123"': repr(str(half_plus_two_dir()))}


def env_h2_tf2(request):
    out = str(request.getfixturevalue("h2_tf2_dir"))
    replace = {
        'export_tf2("models:/half_plus_two/1", "half_plus_two_tf2")': "None",
        'tf.saved_model.load("half_plus_two_tf2")': f"tf.saved_model.load({out!r})",
    }
    return {}, replace


def env_counter(request):
    return {"counter_uri": str(request.getfixturevalue("counter_path"))}, {}


def env_taxi(request):
    model = request.getfixturevalue("taxi_pyfunc")
    replace = {
        '"chicago_taxi.csv"': repr(str(corpus_path(TAXI_CSV))),
        'mlflow.pyfunc.load_model("models:/taxi/1")': "taxi_model",
    }
    return {"taxi_model": model}, replace


def env_example(request):
    return {"model": request.getfixturevalue("example_pyfunc")}, {}


ENVS = {
    "h2": env_h2,
    "h2_logged": env_h2_logged,
    "h2_native": env_h2_native,
    "h2_export": env_h2_export,
    "h2_tf2": env_h2_tf2,
    "counter": env_counter,
    "taxi": env_taxi,
    "example": env_example,
}


def run_documented(request, page: str, marker: str, env: str) -> Any:
    """Run the page's code block up to ``marker``, then return what ``marker`` evaluates to."""
    namespace, replace = ENVS[env](request)
    namespace = {
        "np": np,
        "pd": pd,
        "tf": tf,
        "mlflow": mlflow,
        "mlflow_tf1": mlflow_tf1,
        **namespace,
    }
    namespace["export_tf2"] = mlflow_tf1.export_tf2

    def substitute(source: str) -> str:
        for old, new in replace.items():
            source = source.replace(old, new)
        return source

    prefix = "\n".join(code_block_of(page, locate(page, marker)))
    exec(compile(substitute(prefix), page, "exec"), namespace)  # noqa: S102 - the page's code
    return eval(substitute(marker.strip()), namespace)


# ---------------------------------------------------------------------------------------------
# Python outputs: (page, the call as the page writes it, names, oracle, kind).
# kind "numbers": the shown numbers and the product's equal the oracle's.
# kind "literal": the shown Python literal equals the product's value (and the oracle's).
# kind "repr": the shown text is the product's repr (descriptive, no oracle).


@dataclass(frozen=True)
class Shown:
    page: str
    call: str
    env: str
    oracle: Callable[[], Any] | None
    kind: str = "numbers"

    def __str__(self) -> str:  # not the line: a page that lost the call fails this case only
        return f"{self.page}:{self.call.strip()[:60]}"


def signature_names(export_dir) -> list[str]:
    return sorted(raw_meta_graph(export_dir).signature_def)


def variable_names(export_dir) -> list[str]:
    with v1.Graph().as_default(), v1.Session() as sess:
        v1.saved_model.loader.load(sess, ["serve"], str(export_dir), clear_devices=True)
        return sorted(v.name for v in v1.global_variables())


H2_TRIO = 'model.predict({"x": [[1.0], [2.0], [5.0]]})'
H2_REGRESS = 'model.predict({"x": [2.0, 4.0]}, params={"signature_name": "regress_x_to_y"})'
TAXI_FRAME = "taxi.predict(frame.head(3))"
TAXI_REGRESSION = 'taxi.predict(frame.head(3), params={"signature_name": "regression"})["outputs"]'

PYTHON_CASES = [
    Shown("README.md", H2_TRIO, "h2_logged", lambda: h2(1, 2, 5)),
    Shown("README.md", H2_REGRESS, "h2", lambda: h2(2, 4)),
    Shown(
        "README.md",
        'model.predict({"inputs": [serialized]}, params={"signature_name": "regress_x_to_y"})',
        "h2",
        lambda: h2(2),
    ),
    Shown("README.md", "serving_default(x=tf.constant([[5.0]]))", "h2_native", lambda: h2(5)),
    Shown("docs/index.md", H2_TRIO, "h2_logged", lambda: h2(1, 2, 5)),
    Shown("docs/getting-started.md", H2_TRIO, "h2", lambda: h2(1, 2, 5)),
    Shown(
        "docs/getting-started.md",
        'model.predict(pd.DataFrame({"x": [1.0, 2.0, 5.0]}))',
        "h2",
        lambda: h2(1, 2, 5),
    ),
    Shown("docs/getting-started.md", H2_REGRESS, "h2", lambda: h2(2, 4)),
    Shown(
        "docs/getting-started.md",
        "predict(tf.constant([[1.0], [2.0]]))",
        "h2_native",
        lambda: h2(1, 2),
    ),
    Shown(
        "docs/migration-guide.md",
        'session_predict("export/00000123", "serving_default", {"x": x})',
        "h2_export",
        lambda: h2(1, 2, 5),
    ),
    Shown(
        "docs/native-tf2.md",
        "\nsorted(model.signatures)\n",
        "h2_native",
        lambda: signature_names(half_plus_two_dir()),
        "literal",
    ),
    Shown("docs/native-tf2.md", "\nserving_default\n", "h2_native", None, "repr"),
    Shown(
        "docs/native-tf2.md", "serving_default(x=tf.constant([[5.0]]))", "h2_native", lambda: h2(5)
    ),
    Shown(
        "docs/native-tf2.md",
        'model.signatures["regress_x_to_y"](inputs=tf.constant([example.SerializeToString()]))',
        "h2_native",
        lambda: h2(2),
    ),
    Shown(
        "docs/native-tf2.md", "predict(tf.constant([[1.0], [2.0]]))", "h2_native", lambda: h2(1, 2)
    ),
    Shown("docs/native-tf2.md", "\nmodel.backends\n", "h2_native", None, "literal"),
    Shown("docs/native-tf2.md", "\nmodel.fallback_reasons\n", "h2_native", None, "literal"),
    Shown(
        "docs/native-tf2.md",
        'counter.fallback_reasons["get_counter"]',
        "counter",
        None,
        "literal",
    ),
    Shown(
        "docs/native-tf2.md",
        "step(tf.constant(2.0)), step(tf.constant(3.0))",
        "counter",
        lambda: [
            r["output"]
            for r in counter_oracle(
                ("reset_counter", {}),
                ("incr_counter_by", {"delta": np.float32(2.0)}),
                ("incr_counter_by", {"delta": np.float32(3.0)}),
            )[1:]
        ],
    ),
    Shown(
        "docs/native-tf2.md",
        'counter.signatures["get_counter"]()["output"]',
        "counter",
        lambda: counter_oracle(
            ("reset_counter", {}),
            ("incr_counter_by", {"delta": np.float32(2.0)}),
            ("incr_counter_by", {"delta": np.float32(3.0)}),
            ("get_counter", {}),
        )[-1]["output"],
    ),
    Shown(
        "docs/tf2-and-keras.md",
        "\nsorted(model.signatures)\n",
        "h2_tf2",
        lambda: signature_names(half_plus_two_dir()),
        "literal",
    ),
    Shown(
        "docs/tf2-and-keras.md",
        'model.signatures["serving_default"](x=tf.constant([[1.0], [2.0], [5.0]]))["y"]',
        "h2_tf2",
        lambda: h2(1, 2, 5),
    ),
    Shown(
        "docs/tf2-and-keras.md",
        "sorted(v.name for v in model.variables)",
        "h2_tf2",
        lambda: variable_names(half_plus_two_dir()),
        "literal",
    ),
    Shown("docs/tf-example.md", "model.predict(rows)", "example", doc_export_rows_oracle),
    Shown("docs/tf-example.md", "model.predict(records)", "example", doc_export_rows_oracle),
    Shown(
        "docs/tf-example.md",
        'model.predict({"inputs": [serialized]})',
        "example",
        lambda: doc_export_session(example(fare=10.0, pickup=[1.0, 2.0], company="A")),
    ),
    Shown("docs/tf-example.md", TAXI_FRAME, "taxi", taxi_frame_oracle),
    Shown(
        "docs/tf-example.md",
        TAXI_REGRESSION,
        "taxi",
        lambda: taxi_session("regression", "csv:3")["outputs"].ravel().tolist(),
    ),
]


@pytest.mark.parametrize("case", PYTHON_CASES, ids=str)
def test_python_output_shown_is_the_oracles(case: Shown, request):
    shown, _ = shown_output(case.page, case.call)
    got = run_documented(request, case.page, case.call, case.env)
    if case.kind == "repr":
        assert " ".join(repr(got).split()) == " ".join(shown.split()), f"{case}: {got!r}"
        return
    if case.kind == "literal":
        shown_value = ast.literal_eval(shown)
        got = list(got) if isinstance(got, tuple) else got
        assert got == shown_value, f"{case}: the product gives {got!r}; the page shows {shown}"
        if case.oracle is not None:
            assert case.oracle() == shown_value, f"{case}: the oracle gives {case.oracle()!r}"
        return
    expected = flat(case.oracle())
    numbers, columns = shown_numbers(shown)
    assert_shown(numbers, expected, f"{case} (the page)")
    assert_product(flat(got, columns), expected, f"{case} (the product)")


# ---------------------------------------------------------------------------------------------
# Served requests: curl commands whose body the page shows, with the JSON response.


@dataclass(frozen=True)
class Served:
    page: str
    marker: str  # a unique piece of the request
    model: str  # the pyfunc fixture serving it
    oracle: Callable[[], list[float]]

    def __str__(self) -> str:
        return f"{self.page}:{self.marker.strip()[:60]}"


def b64_shown(page: str) -> str:
    """The base64 tf.Example {x: 2.0} the page shows (checked by test_base64_example_shown)."""
    return re.search(r"# ([A-Za-z0-9+/]+=*)\s+\(the tf\.Example \{x: 2\.0\}\)", page_text(page))[1]


def documented_request(page: str, marker: str) -> tuple[str, str, str, list[int]]:
    """The curl command around ``marker``: (body, content type, shown response, its line)."""
    lines = page_text(page).splitlines()
    line = locate(page, marker)
    start = line
    while "curl " not in lines[start]:
        start -= 1
    end = start  # through the closing quote of the body and the last continuation line
    while "\n".join(lines[start : end + 1]).count("'") % 2 or lines[end].rstrip().endswith("\\"):
        end += 1
    command = "\n".join(lines[start : end + 1])
    if "$B64" in command:
        command = command.replace("'\"$B64\"'", b64_shown(page))
    content_type = "text/csv" if "text/csv" in command else "application/json"
    if binary := re.search(r"--data-binary \$'(.*?)'", command, re.DOTALL):
        body = codecs.decode(binary[1], "unicode_escape")
    else:
        body = re.search(r"-d '(.*?)'", command, re.DOTALL)[1]
    for i in range(end + 1, len(lines)):
        assert "curl " not in lines[i], f"{page}:{line + 1}: no response shown"
        if lines[i].startswith('# {"predictions"'):
            return body, content_type, lines[i][2:], [i]
    raise AssertionError(f"{page}:{line + 1}: no response shown")


def invoke(model, body: str, content_type: str) -> Any:
    """The scoring server's own request handling (parsing, predict, JSON), without HTTP."""
    schema = model.metadata.get_input_schema()
    response = scoring_server.invocations(body, content_type, model, schema)
    assert response.status == 200, response.response
    return json.loads(response.response)


def json_numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in json_numbers(value[key])]
    if isinstance(value, list):
        return [x for item in value for x in json_numbers(item)]
    return [float(value)]


def json_shape(value: Any) -> Any:
    """The structure of a JSON value, numbers blanked out."""
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_shape(item) for item in value]
    return type(value).__name__ if isinstance(value, str) else "number"


TAXI_RECORDS = json.dumps([
    {"fare": 5.85, "trip_seconds": 180, "company": "Taxi Affiliation Services",
     "dropoff_community_area": None},
    {"fare": 16.65, "company": "Dispatch Taxi Affiliation"},
])  # fmt: skip

SPLIT_125 = '"data": [[1.0], [2.0], [5.0]]}}'
RECORDS_12 = '{"dataframe_records": [{"x": 1.0}, {"x": 2.0}]}'
INSTANCES_234 = '{"instances": [2.0, 3.0, 4.0]}'
INPUTS_12 = '{"inputs": {"x": [[1.0], [2.0]]}}'
X2_TO_Y3 = '{"inputs": {"inputs": [[3.0], [5.0]]}'
CLASSIFY = '{"inputs": {"x": [2.0]}, "params": {"signature_name": "classify_x_to_y"}}'

SERVED_CASES = [
    Served("README.md", SPLIT_125, "h2_pyfunc", lambda: h2(1, 2, 5)),
    Served("README.md", RECORDS_12, "h2_pyfunc", lambda: h2(1, 2)),
    Served("README.md", INSTANCES_234, "h2_pyfunc", lambda: h2(2, 3, 4)),
    Served("README.md", INPUTS_12, "h2_pyfunc", lambda: h2(1, 2)),
    Served("README.md", X2_TO_Y3, "h2_pyfunc", lambda: h3(3, 5)),
    Served("README.md", '{"inputs": {"inputs": [{"b64":', "h2_pyfunc", lambda: h2(2)),
    Served("README.md", CLASSIFY, "h2_pyfunc", lambda: h2(2)),
    Served("docs/getting-started.md", INPUTS_12, "h2_pyfunc", lambda: h2(1, 2)),
    Served("docs/serving.md", SPLIT_125, "h2_pyfunc", lambda: h2(1, 2, 5)),
    Served("docs/serving.md", RECORDS_12, "h2_pyfunc", lambda: h2(1, 2)),
    Served("docs/serving.md", "x\\n1.0\\n2.0\\n", "h2_pyfunc", lambda: h2(1, 2)),
    Served("docs/serving.md", "-d '" + INSTANCES_234, "h2_pyfunc", lambda: h2(2, 3, 4)),
    Served(
        "docs/serving.md",
        '{"instances": [{"x": [2.0]}, {"x": [4.0]}]}',
        "h2_pyfunc",
        lambda: h2(2, 4),
    ),
    Served("docs/serving.md", INPUTS_12, "h2_pyfunc", lambda: h2(1, 2)),
    Served("docs/serving.md", '{"inputs": [2.0, 3.0]}', "h2_pyfunc", lambda: h2(2, 3)),
    Served("docs/serving.md", X2_TO_Y3, "h2_pyfunc", lambda: h3(3, 5)),
    Served(
        "docs/serving.md",
        '"data": [[2.0], [4.0]]}, "params": {"signature_name": "regress_x_to_y"}',
        "h2_pyfunc",
        lambda: h2(2, 4),
    ),
    Served(
        "docs/serving.md", '"params": {"max_batch_size": 2}', "h2_pyfunc", lambda: h2(1, 2, 3, 4, 5)
    ),
    Served("docs/serving.md", '{"inputs": {"inputs": [{"b64":', "h2_pyfunc", lambda: h2(2)),
    Served("docs/serving.md", '{"instances": [{"b64":', "h2_pyfunc", lambda: h2(2)),
    Served("docs/serving.md", '{"instances": [{"inputs": {"b64":', "h2_pyfunc", lambda: h2(2)),
    Served(
        "docs/serving.md", '{"dataframe_records": [{"inputs": {"b64":', "h2_pyfunc", lambda: h2(2)
    ),
    Served("docs/serving.md", CLASSIFY, "h2_pyfunc", lambda: h2(2)),
    Served(
        "docs/tf-example.md",
        '"dataframe_records": [\n    {"fare": 5.85',
        "taxi_pyfunc",
        lambda: taxi_session("regression", TAXI_RECORDS)["outputs"].ravel().tolist(),
    ),
]


@pytest.mark.parametrize("case", SERVED_CASES, ids=str)
def test_served_response_shown_is_the_oracles(case: Served, request):
    body, content_type, shown, _ = documented_request(case.page, case.marker)
    shown_json, _ = json.JSONDecoder().raw_decode(shown)
    got = invoke(request.getfixturevalue(case.model), body, content_type)
    expected = case.oracle()
    assert_shown(json_numbers(shown_json), expected, f"{case} (the page)")
    assert_product(json_numbers(got), expected, f"{case} (the product)")
    assert json_shape(shown_json) == json_shape(got), f"{case}: the product answers {got}"


def test_taxi_request_shown_is_the_one_the_oracle_ran():
    """The oracle's records for the taxi curl are the page's request, field for field."""
    body, _, _, _ = documented_request("docs/tf-example.md", '"dataframe_records": [\n    {"fare"')
    assert json.loads(body)["dataframe_records"] == json.loads(TAXI_RECORDS)
    assert json.loads(body)["params"] == {"signature_name": "regression"}


# ---------------------------------------------------------------------------------------------
# Other shown values.


def test_base64_example_shown():
    """README and serving.md show base64 of the tf.Example {x: 2.0}, as TF serializes it."""
    expected = base64.b64encode(example(x=2.0)).decode()
    readme = page_text("README.md")
    shown = re.search(r"base64\.b64encode\(serialized\)\.decode\(\)  # '([^']+)'", readme)[1]
    in_requests = re.findall(r'\{"b64": "([A-Za-z0-9+/]{8,}=*)"\}', readme)
    assert in_requests and {shown, *in_requests} == {expected}
    assert b64_shown("docs/serving.md") == expected


def test_tf_serving_answers_quoted_in_serving_md(h2_pyfunc):
    """The note quoting TF Serving's REST answers, and MLflow's answer next to them."""
    note = page_text("docs/serving.md")
    quoted = re.search(
        r'TF Serving answers `\{"instances": \[(.*?)\]\}` with `\{"predictions": \[(.*?)\]\}`', note
    )
    xs = [float(x) for x in quoted[1].split(",")]
    assert_shown([float(y) for y in quoted[2].split(",")], h2(*xs), "TF Serving's answer")
    mlflow_answer = re.search(
        r'keeps the output\'s key and shape:\s+`(\{"predictions".*?\})`', note
    )
    shown = json.loads(mlflow_answer[1])
    got = invoke(h2_pyfunc, json.dumps({"instances": xs}), "application/json")
    assert_shown(json_numbers(shown), h2(*xs), "MLflow's answer")
    assert shown == got


def test_spark_result_type_shown(taxi_pyfunc):
    """spark.md's struct type for the taxi export, from the logged output schema."""
    shown = re.search(r"\(the taxi export: `(struct<.*?>)`", page_text("docs/spark.md"))[1]
    from mlflow.pyfunc import _infer_spark_udf_return_type  # what spark_udf runs

    got = _infer_spark_udf_return_type(taxi_pyfunc.metadata.get_output_schema()).simpleString()
    assert got == shown.replace(" ", "")
    outputs = raw_meta_graph(corpus_path(TAXI_VERSION)).signature_def["serving_default"].outputs
    spark = {tf.string.as_datatype_enum: "string", tf.float32.as_datatype_enum: "float"}
    oracle = ",".join(f"{k}:array<{spark[outputs[k].dtype]}>" for k in sorted(outputs))
    assert shown.replace(" ", "") == f"struct<{oracle}>"


def test_feature_signature_listing_in_tf_example():
    """The taxi feature signature tf-example.md lists: every parse-spec feature, sorted, then
    the signatures' serialized inputs, each an optional Any column."""
    shown, _ = shown_output("docs/tf-example.md", "\ninfo.signature.inputs\n")
    head, tail = (re.findall(r"'(\w+)': Any \(optional\)", part) for part in shown.split(", ...,"))
    got = repr(mlflow_tf1.infer_feature_signature(str(corpus_path(TAXI))).inputs)
    names = re.findall(r"'(\w+)': Any \(optional\)", got)
    assert len(names) == got.count(": Any (optional)") == got.count(": ")
    assert names[: len(head)] == head and names[-len(tail) :] == tail, got
    meta = raw_meta_graph(corpus_path(TAXI_VERSION))
    serialized = {key for sig in meta.signature_def.values() for key in sig.inputs}
    features = sorted(STRING | INT64 | FLOAT)
    assert names == features + tail and set(tail) == serialized, names


def tensor_rows(text: str) -> dict[str, tuple[str, list[int], str]]:
    """The KEY DTYPE SHAPE ENCODING TENSOR rows of an inspect table: key -> dtype, shape, name."""
    rows = {}
    for match in re.finditer(
        r"^\s+(\w+)\s+(\w+)\s+\[([-\d, ]*)\]\s+dense\s+(\S+:\d+)$", text, re.MULTILINE
    ):
        key, dtype, shape, name = match.groups()
        rows[key] = (dtype, [int(d) for d in shape.split(",") if d.strip()], name)
    return rows


def raw_tensor_rows(signature) -> dict[str, tuple[str, list[int], str]]:
    rows = {}
    for infos in (signature.inputs, signature.outputs):
        for key, info in infos.items():
            dims = [d.size for d in info.tensor_shape.dim]
            rows[key] = (tf.as_dtype(info.dtype).name, dims, info.name)
    return rows


def assert_shown_lines_printed(block: str, printed: str, what: str) -> None:
    """Every line the page shows (but ``...`` and the command) is printed, in order."""
    printed_lines = [" ".join(line.split()) for line in printed.splitlines()]
    position = 0
    for line in block.splitlines():
        line = " ".join(line.split())
        if not line or line == "..." or line.startswith("$ "):
            continue
        assert line in printed_lines[position:], f"{what}: {line!r} not printed:\n{printed}"
        position = printed_lines.index(line, position) + 1


def run_inspect(path: str, monkeypatch, cwd) -> str:
    from mlflow_tf1.cli import cli

    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(cli, ["inspect", path])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_inspect_half_plus_two_shown_in_getting_started(monkeypatch):
    version_dir = half_plus_two_dir()
    block = re.search(
        r"```text\n(SavedModel .*?)```", page_text("docs/getting-started.md"), re.DOTALL
    )[1]
    printed = run_inspect("saved_model_half_plus_two_cpu", monkeypatch, version_dir.parent.parent)
    assert_shown_lines_printed(block, printed, "getting-started.md inspect")
    meta = raw_meta_graph(version_dir)
    assert re.search(
        rf"Written by TensorFlow\s+{re.escape(meta.meta_info_def.tensorflow_version)}\n", block
    )
    assert re.search(rf"Backends chosen by TensorFlow\s+{re.escape(tf.__version__)}\n", block)
    assert tensor_rows(block) == raw_tensor_rows(meta.signature_def["serving_default"])


def test_inspect_example_export_shown_in_tf_example(example_export, monkeypatch):
    block = re.search(
        r"```text\n(\$ mlflow-tf1 inspect export\n.*?)```",
        page_text("docs/tf-example.md"),
        re.DOTALL,
    )[1]
    printed = run_inspect("export", monkeypatch, example_export)
    assert_shown_lines_printed(block, printed, "tf-example.md inspect")
    meta = raw_meta_graph(example_export / "export" / "1")
    assert tensor_rows(block) == raw_tensor_rows(meta.signature_def["serving_default"])


def test_mlmodel_excerpt_in_readme(h2_path):
    """The abridged tf1 flavor in README is what save_model writes for half_plus_two."""
    text = page_text("README.md")
    block = re.search(r"```yaml\n(tf1:\n.*?)```", text, re.DOTALL)[1]
    kept = [line.split("#", 1)[0].rstrip() for line in block.splitlines()]
    shown = yaml.safe_load("\n".join(line for line in kept if line.strip()))["tf1"]
    written = yaml.safe_load((h2_path / "MLmodel").read_text())["flavors"]["tf1"]

    def assert_subset(part, whole, where):
        if isinstance(part, dict):
            for key, value in part.items():
                if key == "...":
                    continue
                assert key in whole, f"README's MLmodel: {where}{key} not written"
                assert_subset(value, whole[key], f"{where}{key}.")
        else:
            assert part == whole, f"README's MLmodel: {where} shows {part!r}, written {whole!r}"

    assert_subset(shown, written, "")
    meta = raw_meta_graph(half_plus_two_dir())
    assert shown["saved_with_tensorflow"] == meta.meta_info_def.tensorflow_version
    assert shown["tensorflow_version"] == tf.__version__
    for name, signature in shown["signatures"].items():
        raw = meta.signature_def[name]
        assert signature["method_name"] == raw.method_name
        for key, tensor in signature.get("inputs", {}).items():
            assert tensor["name"] == raw.inputs[key].name


# ---------------------------------------------------------------------------------------------
# Coverage: a page that gains a shown output without a case here fails.

# Outputs the pages show that no case checks, and why.
UNCHECKED = {
    ("docs/graph-sources.md", '# {"predictions": [{"labels": [...], "scores": [...], "boxes": [...]}]}'):
        "a hypothetical SSD detector and dog.jpg (not in the corpus); no values shown",
}  # fmt: skip

OUTPUT_HINT = re.compile(r'^# \{"predictions"|array\(|tf\.Tensor|numpy=')
FRAME_ROW = re.compile(r"^#\s+\d+\s+\S")  # a printed DataFrame or Series row


def test_every_shown_output_is_checked():
    covered: dict[str, set[int]] = {page: set() for page in PAGES}
    for case in PYTHON_CASES:
        covered[case.page].update(shown_output(case.page, case.call)[1])
    for case in SERVED_CASES:
        covered[case.page].update(documented_request(case.page, case.marker)[3])
    for page, snippet in UNCHECKED:
        covered[page].add(locate(page, snippet))
    missing = []
    for page in PAGES:
        in_code = False
        for number, line in enumerate(page_text(page).splitlines()):
            if line.lstrip().startswith("```"):
                in_code = not in_code
            elif in_code and number not in covered[page]:
                text = line.lstrip()
                whole_comment = text.startswith("#")
                comment = text if whole_comment else "# " + line.partition("  # ")[2]
                if comment.startswith('# {"error_code"'):
                    continue  # error responses: messages, not values
                if OUTPUT_HINT.search(comment) or (whole_comment and FRAME_ROW.match(text)):
                    missing.append(f"{page}:{number + 1}: {line.strip()}")
    assert not missing, "outputs shown without a check here:\n" + "\n".join(missing)
