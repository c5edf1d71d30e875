"""TF1 graphs TensorFlow can run are run; what it can't is refused when logged, with the reason.

Oracles: a raw ``tf.compat.v1.Session`` on the SavedModel, or arithmetic where
no Session can hold the graph (ops without kernels).
"""

from __future__ import annotations

import threading

import mlflow
import numpy as np
import pytest
import tensorflow as tf
import yaml
from mlflow.exceptions import MlflowException

import mlflow_tf1
from tests import tf1_fidelity_models, tf1_models
from tests.tf1_models import session_predict

WORDS = np.array([b"banana", b"apple", b"kiwi"], dtype=object)


def _save(export_dir, path, **kwargs):
    mlflow_tf1.save_model(str(export_dir), str(path), **kwargs)
    return str(path)


def _flavor(model_dir) -> dict:
    with open(f"{model_dir}/MLmodel") as f:
        return yaml.safe_load(f)["flavors"]["tf1"]


@pytest.fixture(scope="module")
def vocabulary_models(tmp_path_factory):
    """Two versions of one model: same table name, different vocabularies."""
    root = tmp_path_factory.mktemp("vocab")
    models = {}
    for name, vocabulary, shared in [
        ("unnamed", ["apple", "banana"], ""),
        ("v1", ["apple", "banana"], "hash_table_vocab.txt_-1_-2_-1"),
        ("v2", ["banana", "apple", "kiwi"], "hash_table_vocab.txt_-1_-2_-1"),
    ]:
        export = root / f"{name}_export"
        tf1_fidelity_models.build_vocabulary_table(export, vocabulary, shared_name=shared)
        models[name] = (export, _save(export, root / name))
    return models


def test_table_without_shared_name_runs_as_tf2_callables(vocabulary_models):
    export, model_dir = vocabulary_models["unnamed"]
    expected = session_predict(export, feeds={"words": WORDS})["ids"]
    shifted = session_predict(export, "shifted", feeds={"words": WORDS})["ids"]
    model = mlflow_tf1.load_model(model_dir)
    assert model.backends == {"serving_default": "tf2", "shifted": "tf2"}
    serve, shift = model.signatures["serving_default"], model.signatures["shifted"]
    np.testing.assert_array_equal(serve(words=tf.constant(WORDS))["ids"].numpy(), expected)
    np.testing.assert_array_equal(shift(words=tf.constant(WORDS))["ids"].numpy(), shifted)

    @tf.function
    def both(words):
        return serve(words=words)["ids"] + shift(words=words)["ids"]

    np.testing.assert_array_equal(both(tf.constant(WORDS)).numpy(), expected + shifted)
    pyfunc = mlflow.pyfunc.load_model(model_dir)
    np.testing.assert_array_equal(pyfunc.predict({"words": WORDS})["ids"], expected)


@pytest.mark.parametrize("backend", ["tf2", "session"])
def test_two_models_sharing_a_table_name_keep_their_own_tables(vocabulary_models, backend):
    (export_1, dir_1), (export_2, dir_2) = vocabulary_models["v1"], vocabulary_models["v2"]
    expected_1 = session_predict(export_1, feeds={"words": WORDS})["ids"]
    expected_2 = session_predict(export_2, feeds={"words": WORDS})["ids"]
    assert not np.array_equal(expected_1, expected_2)
    first = mlflow_tf1.load_model(dir_1, backend=backend).signatures["serving_default"]
    np.testing.assert_array_equal(first(words=WORDS)["ids"].numpy(), expected_1)
    second = mlflow_tf1.load_model(dir_2, backend=backend).signatures["serving_default"]
    np.testing.assert_array_equal(second(words=WORDS)["ids"].numpy(), expected_2)
    np.testing.assert_array_equal(first(words=WORDS)["ids"].numpy(), expected_1)


def test_two_pyfunc_models_and_keras_layers_keep_their_own_tables(vocabulary_models):
    (export_1, dir_1), (export_2, dir_2) = vocabulary_models["v1"], vocabulary_models["v2"]
    expected_1 = session_predict(export_1, feeds={"words": WORDS})["ids"]
    expected_2 = session_predict(export_2, feeds={"words": WORDS})["ids"]
    models = [mlflow.pyfunc.load_model(d) for d in (dir_1, dir_2)]
    layers = [mlflow_tf1.keras_layer(d) for d in (dir_1, dir_2)]
    for model, layer, expected in zip(models, layers, [expected_1, expected_2], strict=True):
        np.testing.assert_array_equal(model.predict({"words": WORDS})["ids"], expected)
        np.testing.assert_array_equal(layer(tf.constant(WORDS)).numpy(), expected)


def test_signature_needing_an_unfed_placeholder_is_refused_when_logged(tmp_path):
    export = tmp_path / "export"
    tf1_fidelity_models.build_unfed_placeholder(export)
    with pytest.raises(MlflowException) as refused:
        _save(export, tmp_path / "default")
    message = refused.value.message
    assert "Signature 'serving_default' can never run" in message
    assert "placeholder(s) ['keep_prob']" in message and "inputs ['x']" in message
    assert "Signatures that can run: ['doubled', 'scaled']" in message
    assert not (tmp_path / "default").exists()

    model_dir = _save(export, tmp_path / "doubled", signature_name="doubled")
    assert "keep_prob" in _flavor(model_dir)["signatures"]["serving_default"]["refused"]
    model = mlflow.pyfunc.load_model(model_dir)
    x = np.array([1.0, 4.0], np.float32)
    expected = session_predict(export, "scaled", feeds={"x": x})["y"]
    np.testing.assert_allclose(
        model.predict({"x": x}, params={"signature_name": "scaled"})["y"], expected
    )
    np.testing.assert_allclose(model.predict({"x": x})["y"], x * 2.0)
    with pytest.raises(MlflowException, match="keep_prob") as call:
        model.predict({"x": x}, params={"signature_name": "serving_default"})
    assert call.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "rejected the input" not in call.value.message


def test_ops_without_kernels_refuse_only_the_signatures_reaching_them(tmp_path):
    export = tmp_path / "export"
    tf1_fidelity_models.build_kernelless_op(export)
    model_dir = _save(export, tmp_path / "model")
    refused = _flavor(model_dir)["signatures"]["trees"]["refused"]
    for fact in ["BoostedTreesPredict", "'trees/predict_trees'", "no kernel", "2.15"]:
        assert fact in refused
    x = np.array([1.0, 2.0], np.float32)
    # No raw Session can hold this graph (it places every node): arithmetic, w = 3.
    for model in [mlflow.pyfunc.load_model(model_dir), mlflow_tf1.load_model(model_dir)]:
        raw = model.get_raw_model() if hasattr(model, "get_raw_model") else model
        outputs = raw.signatures["serving_default"].run({"x": x})
        np.testing.assert_allclose(outputs["y"], x * 3.0)
        with pytest.raises(MlflowException, match="BoostedTreesPredict"):
            raw.signatures["trees"].run({"x": x})


def test_load_needing_an_op_without_kernel_is_refused_naming_it(tmp_path):
    export = tmp_path / "export"
    tf1_fidelity_models.build_kernelless_op(export, in_init_op=True)
    with pytest.raises(MlflowException) as refused:
        _save(export, tmp_path / "model")
    message = refused.value.message
    assert "can't be loaded by this TensorFlow" in message
    assert "BoostedTreesCreateEnsemble (node 'trees/create_ensemble')" in message
    assert "mismatch" not in message and "variables/" not in message


def test_signature_failing_on_generated_batches_is_refused_when_logged(tmp_path):
    export = tmp_path / "export"
    tf1_fidelity_models.build_uninitialized_table(export)
    with pytest.raises(MlflowException, match="Table not initialized") as refused:
        _save(export, tmp_path / "default")
    assert "Signatures that can run: ['plain']" in refused.value.message

    model_dir = _save(export, tmp_path / "plain", signature_name="plain")
    flavor = _flavor(model_dir)
    assert "Table not initialized" in flavor["signatures"]["serving_default"]["refused"]
    assert flavor["verified"]["plain"] == {"backend": "session", "ran": ["generated inputs"]}
    model = mlflow.pyfunc.load_model(model_dir)
    with pytest.raises(MlflowException, match="Table not initialized"):
        model.predict({"words": WORDS}, params={"signature_name": "serving_default"})
    x = np.array([1.0, 2.0], np.float32)
    expected = session_predict(export, "plain", feeds={"x": x})["y"]
    np.testing.assert_allclose(model.predict({"x": x})["y"], expected)


def test_what_was_verified_is_recorded(tmp_path):
    export = tmp_path / "export"
    tf1_models.build_estimator_style(export)
    example = {"examples": [tf1_models_example()]}
    model_dir = _save(export, tmp_path / "model", input_example=example)
    verified = _flavor(model_dir)["verified"]
    assert verified["serving_default"] == {
        "backend": "session",
        "ran": ["generated inputs", "generated raw feature rows"],
        "input_example": True,
    }
    assert verified["regression"]["ran"] == ["generated inputs", "generated raw feature rows"]


def tf1_models_example() -> bytes:
    features = {
        "age": tf.train.Feature(float_list=tf.train.FloatList(value=[20.0])),
        "scores": tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 2.0, 3.0])),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def test_sparse_tensor_values_feed_var_len_features(tmp_path):
    export = tmp_path / "export"
    tf1_models.build_estimator_style(export)
    model = mlflow.pyfunc.load_model(_save(export, tmp_path / "model"))
    tags = tf.compat.v1.SparseTensorValue(
        np.array([[0, 0], [2, 0], [2, 1]], np.int64),
        np.array([b"a", b"b", b"a"], dtype=object),
        np.array([3, 2], np.int64),
    )
    rows = {
        "age": np.array([[20.0], [40.0], [10.0]], np.float32),
        "scores": np.ones((3, 3), np.float32),
        "count": np.array([[1], [2], [0]]),
        "city": np.array([["paris"], ["rome"], ["oslo"]], dtype=object),
        "tags": tags,
    }
    # score = 0.1 age + sum(scores) + count + 100 [tags has "a"] + 1000 [city is paris]
    expected = np.array([2 + 3 + 1 + 100 + 1000, 4 + 3 + 2, 1 + 3 + 0 + 100], np.float32)
    np.testing.assert_allclose(model.predict(rows)["score"], expected, rtol=1e-6)
    for params in [{"max_batch_size": 2}, {"max_batch_size": 1}]:  # split into row chunks
        np.testing.assert_allclose(model.predict(rows, params=params)["score"], expected, rtol=1e-6)
    as_tensor = {**rows, "tags": tf.SparseTensor(*tags)}
    np.testing.assert_allclose(model.predict(as_tensor)["score"], expected, rtol=1e-6)


def test_sparse_input_refuses_a_list_of_sparse_values(tmp_path):
    export = tmp_path / "export"
    tf1_models.build_sparse_input(export)
    model = mlflow.pyfunc.load_model(_save(export, tmp_path / "model"))
    sparse = tf.compat.v1.SparseTensorValue(
        np.array([[0, 1], [1, 3]], np.int64), np.array([2.0, 5.0], np.float32), [2, 4]
    )
    scale = np.array([1.0, 10.0], np.float32)
    expected = session_predict(export, feeds={"sp": sparse, "scale": scale})["row_sums"]
    np.testing.assert_allclose(model.predict({"sp": sparse, "scale": scale})["row_sums"], expected)
    with pytest.raises(MlflowException, match="one tf.SparseTensor"):
        model.predict({"sp": [sparse], "scale": scale})


def test_cli_shows_refused_signatures_and_what_was_verified(tmp_path):
    from click.testing import CliRunner

    from mlflow_tf1.cli import cli

    export = tmp_path / "export"
    tf1_fidelity_models.build_kernelless_op(export)
    model_dir = _save(export, tmp_path / "model")
    result = CliRunner().invoke(cli, ["inspect", model_dir])
    assert result.exit_code == 0, result.output
    trees = result.output.split("Signature 'trees'")[1]
    assert "REFUSED: it needs op(s) BoostedTreesEnsembleResourceHandleOp" in trees
    assert "verified when logged: not run (refused when logged)" in trees
    serving = result.output.split("Signature 'serving_default'")[1].split("Signature ")[0]
    assert "verified when logged: ran generated inputs on session" in serving

    init_export = tmp_path / "init_export"
    tf1_fidelity_models.build_kernelless_op(init_export, in_init_op=True)
    logged = CliRunner().invoke(cli, ["log", str(init_export)])
    assert logged.exit_code == 2
    assert "Error: This model can't be loaded by this TensorFlow" in logged.stderr
    assert "Traceback" not in logged.output


def test_run_waiting_on_its_own_ops_is_not_run_in_one_thread(tmp_path):
    """Small batches run in the caller's thread, except where an op blocks for another."""
    export = tmp_path / "staging"
    tf1_fidelity_models.build_staging_area(export)
    x = np.array([1.0, 2.5], dtype=np.float32)
    results: list = []
    worker = threading.Thread(
        target=lambda: results.append(
            mlflow.pyfunc.load_model(_save(export, tmp_path / "m")).predict({"x": x})
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=120)
    assert results, "save, load or predict never finished (a run deadlocked)"
    np.testing.assert_array_equal(results[0]["y"], x * 2.0)
    np.testing.assert_array_equal(results[0]["echo"], x)


def test_graph_function_calls_run_inlined_equal_to_session(tmp_path):
    """Signatures calling a graph function (variables, a table, a cond inside) answer as a
    raw Session does, on both signatures' executors and through every door."""
    export = tmp_path / "export"
    tf1_fidelity_models.build_function_calls(export)
    x = np.array([[1.0, 1.0], [-3.0, 0.0], [0.5, 0.5]])
    words = np.array([b"apple", b"kiwi", b"banana"], dtype=object)
    feeds = {"x": x.astype(np.float32), "words": words}
    oracle = session_predict(export, feeds=feeds)
    oracle_ids = session_predict(export, "with_ids", feeds=feeds)
    # Arithmetic: x @ [1, 2] + id, doubled where negative (kiwi is -1).
    np.testing.assert_array_equal(oracle["score"], [3.0, -8.0, 2.5])
    model_dir = _save(export, tmp_path / "model")
    model = mlflow.pyfunc.load_model(model_dir)
    served = {"x": x.tolist(), "words": ["apple", "kiwi", "banana"]}
    np.testing.assert_array_equal(model.predict(served)["score"], oracle["score"])
    both = model.predict(served, params={"signature_name": "with_ids"})
    np.testing.assert_array_equal(both["score"], oracle_ids["score"])
    np.testing.assert_array_equal(both["ids"], oracle_ids["ids"])
    native = mlflow_tf1.load_model(model_dir).signatures["with_ids"]
    got = native(x=tf.constant(feeds["x"]), words=tf.constant(words))
    np.testing.assert_array_equal(got["ids"].numpy(), oracle_ids["ids"])
