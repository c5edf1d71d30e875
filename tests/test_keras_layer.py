"""``keras_layer``: a TF1 signature as a Keras 3 layer, frozen or fine-tuned."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from mlflow.exceptions import MlflowException

import mlflow_tf1
from mlflow_tf1.keras_layer import keras_layer
from tests import tf1_keras_models, tf1_models
from tests.tf1_keras_models import dense_regressor
from tests.tf1_models import session_predict

LEGACY_WEIGHTS = ["layer1_w", "layer1_b", "layer2_w", "layer2_b"]


def logged(builder, tmp_path, **kwargs):
    path = tmp_path / "export"
    builder(path, **kwargs)
    return mlflow_tf1.log_model(str(path)).model_uri, path


def rows(n: int = 32) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)


def snapshot(weights) -> dict[str, np.ndarray]:
    return {w.name: np.array(w.numpy()) for w in weights}


def test_frozen_layer_is_a_fixed_feature_extractor(tmp_path):
    uri, path = logged(tf1_keras_models.build_dense_regressor, tmp_path)
    layer = keras_layer(uri, output_key="hidden")
    assert layer.trainable_weights == []
    # Only the variables 'hidden' depends on: layer2 would get no gradient.
    assert [w.name for w in layer.non_trainable_weights] == ["layer1_w", "layer1_b"]

    inputs = keras.Input(shape=(3,))
    head = keras.layers.Dense(1)
    model = keras.Model(inputs, head(layer(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x = rows()
    legacy_before, head_before = snapshot(layer.weights), snapshot(head.weights)
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, batch_size=8, verbose=0)

    for name, value in snapshot(layer.weights).items():
        np.testing.assert_array_equal(value, legacy_before[name], err_msg=name)
    assert any(not np.array_equal(v, head_before[k]) for k, v in snapshot(head.weights).items())
    features = layer(x).numpy()
    np.testing.assert_allclose(features, session_predict(path, feeds={"x": x})["hidden"])
    np.testing.assert_allclose(features, dense_regressor(x)["hidden"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("resource_variables", [True, False], ids=["resource", "VariableV2"])
def test_fine_tuning_updates_the_legacy_weights(tmp_path, resource_variables):
    uri, _ = logged(
        tf1_keras_models.build_dense_regressor, tmp_path, resource_variables=resource_variables
    )
    layer = keras_layer(uri, output_key="y", trainable=True)
    assert [w.name for w in layer.trainable_weights] == LEGACY_WEIGHTS
    x = rows()
    target = dense_regressor(x, b2=tf1_keras_models.B2 + 1.0)["y"]  # a shifted regression target

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(layer(x) - target))
    gradients = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None for g in gradients)

    model = keras.Sequential([keras.Input(shape=(3,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    before = snapshot(layer.weights)
    initial = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=5, batch_size=8, verbose=0)
    assert model.evaluate(x, target, verbose=0) < initial / 2

    after = snapshot(layer.weights)
    assert all(not np.array_equal(after[name], before[name]) for name in LEGACY_WEIGHTS)
    # The graph reads the very variables the optimizer updated.
    tuned = dense_regressor(x, *(after[name] for name in LEGACY_WEIGHTS))["y"]
    np.testing.assert_allclose(layer(x).numpy(), tuned, rtol=1e-5, atol=1e-5)


def test_multi_input_signature_takes_a_dict(tmp_path):
    uri, _ = logged(tf1_keras_models.build_dense_regressor, tmp_path)
    layer = keras_layer(uri, signature_name="scaled")  # one output: no output_key needed
    x_in, scale_in = keras.Input(shape=(3,), name="x"), keras.Input(shape=(1,), name="scale")
    model = keras.Model([x_in, scale_in], layer({"x": x_in, "scale": scale_in}))
    x, scale = rows(4), np.arange(4, dtype=np.float32).reshape(4, 1)
    np.testing.assert_allclose(
        model([x, scale]).numpy(), dense_regressor(x)["y"] * scale, rtol=1e-5, atol=1e-6
    )
    with pytest.raises(MlflowException, match=r"takes inputs \['scale', 'x'\]: pass a dict"):
        layer(x)


def test_tf_example_signature_with_reference_variables(tmp_path):
    uri, path = logged(tf1_keras_models.build_example_scorer, tmp_path)
    layer = keras_layer(uri)  # the default signature parses serialized tf.Examples
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    x = np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
    bonus = np.array([3.0, 0.0], np.float32)
    examples = tf1_keras_models.serialize_examples(x, bonus)
    scores = model(tf.constant(examples)).numpy()
    np.testing.assert_allclose(scores, tf1_keras_models.score(x, bonus))
    np.testing.assert_allclose(scores, session_predict(path, feeds={"examples": examples})["score"])
    assert sorted(w.name for w in layer.non_trainable_weights) == ["score_b", "score_w"]


def test_choices_are_checked_and_listed(tmp_path):
    uri, _ = logged(tf1_keras_models.build_dense_regressor, tmp_path)
    outputs = r"\['hidden', 'y'\]"
    with pytest.raises(
        MlflowException, match=f"several outputs; pass output_key= one of {outputs}"
    ):
        keras_layer(uri)
    with pytest.raises(MlflowException, match=f"Output 'z' is not in .* outputs: {outputs}"):
        keras_layer(uri, output_key="z")
    with pytest.raises(MlflowException, match=r"signatures: \['scaled', 'serving_default'\]"):
        keras_layer(uri, signature_name="nope")


def test_updated_reference_variables_are_refused(tmp_path):
    path = tmp_path / "export"
    tf1_models.build_reference_counter(path)
    uri = mlflow_tf1.log_model(str(path), signature_name="get").model_uri
    with pytest.raises(
        MlflowException, match=r"Signature\(s\) \['incr'\] update reference variables"
    ):
        keras_layer(uri, signature_name="incr")
