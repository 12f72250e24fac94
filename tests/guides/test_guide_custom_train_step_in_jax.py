"""Keras 3 guide "Customizing what happens in fit() with JAX", run on jkeras.

Each class body is the guide's, written once against a module ``keras`` and run twice:
with Keras 3 itself and with jkeras, from the same initial weights on the same synthetic
data (smaller than the guide's), so that the logs and weights jkeras produces are checked
against Keras'.
"""
import jax
import numpy as np
import pytest

import jkeras

RNG = np.random.default_rng(0)


def first_example(keras):
    class CustomModel(keras.Model):
        def compute_loss_and_updates(self, trainable_variables, non_trainable_variables,
                                     metrics_variables, x, y, sample_weight, training=False):
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=training)
            loss, (trainable_variables, non_trainable_variables, metrics_variables) = \
                self.stateless_compute_loss(trainable_variables, non_trainable_variables,
                                            metrics_variables, x=x, y=y, y_pred=y_pred,
                                            sample_weight=sample_weight, training=training)
            return loss, (y_pred, non_trainable_variables, metrics_variables)

        def train_step(self, state, data):
            (trainable_variables, non_trainable_variables, optimizer_variables,
             metrics_variables) = state
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, non_trainable_variables, metrics_variables)), grads = grad_fn(
                trainable_variables, non_trainable_variables, metrics_variables, x, y,
                sample_weight, training=True)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            new_metrics_vars = []
            logs = {}
            for metric in self.metrics:
                this_metric_vars = metrics_variables[
                    len(new_metrics_vars): len(new_metrics_vars) + len(metric.variables)]
                if metric.name == "loss":
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, loss, sample_weight=sample_weight)
                else:
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, y, y_pred, sample_weight=sample_weight)
                logs[metric.name] = metric.stateless_result(this_metric_vars)
                new_metrics_vars += this_metric_vars
            state = (trainable_variables, non_trainable_variables, optimizer_variables,
                     new_metrics_vars)
            return logs, state

    return CustomModel


def lower_level_example(keras):
    class CustomModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = keras.losses.MeanSquaredError()

        def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, x, y,
                                     sample_weight, training=False):
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=training)
            loss = self.loss_fn(y, y_pred, sample_weight=sample_weight)
            return loss, (y_pred, non_trainable_variables)

        def train_step(self, state, data):
            (trainable_variables, non_trainable_variables, optimizer_variables,
             metrics_variables) = state
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, non_trainable_variables)), grads = grad_fn(
                trainable_variables, non_trainable_variables, x, y, sample_weight,
                training=True)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            loss_tracker_vars = metrics_variables[: len(self.loss_tracker.variables)]
            mae_metric_vars = metrics_variables[len(self.loss_tracker.variables):]
            loss_tracker_vars = self.loss_tracker.stateless_update_state(
                loss_tracker_vars, loss, sample_weight=sample_weight)
            mae_metric_vars = self.mae_metric.stateless_update_state(
                mae_metric_vars, y, y_pred, sample_weight=sample_weight)
            logs = {}
            logs[self.loss_tracker.name] = self.loss_tracker.stateless_result(loss_tracker_vars)
            logs[self.mae_metric.name] = self.mae_metric.stateless_result(mae_metric_vars)
            new_metrics_vars = loss_tracker_vars + mae_metric_vars
            state = (trainable_variables, non_trainable_variables, optimizer_variables,
                     new_metrics_vars)
            return logs, state

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    return CustomModel


def evaluation_example(keras):
    class CustomModel(keras.Model):
        def test_step(self, state, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            (trainable_variables, non_trainable_variables, metrics_variables) = state
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=False)
            loss, (trainable_variables, non_trainable_variables, metrics_variables) = \
                self.stateless_compute_loss(trainable_variables, non_trainable_variables,
                                            metrics_variables, x=x, y=y, y_pred=y_pred,
                                            sample_weight=sample_weight, training=False)
            new_metrics_vars = []
            logs = {}
            for metric in self.metrics:
                this_metric_vars = metrics_variables[
                    len(new_metrics_vars): len(new_metrics_vars) + len(metric.variables)]
                if metric.name == "loss":
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, loss, sample_weight=sample_weight)
                else:
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, y, y_pred, sample_weight=sample_weight)
                logs[metric.name] = metric.stateless_result(this_metric_vars)
                new_metrics_vars += this_metric_vars
            state = (trainable_variables, non_trainable_variables, new_metrics_vars)
            return logs, state

    return CustomModel


def build(keras, cls, weights=None):
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = cls(inputs, outputs)
    if weights is not None:
        model.set_weights(weights)
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((64, 32)).astype("float32"), rng.random((64, 1)).astype("float32")


def fit_both(keras, ours_cls, theirs_cls, compile_kwargs, data, epochs):
    x, y = data
    theirs = build(keras, theirs_cls)
    ours = build(jkeras, ours_cls, [np.asarray(w) for w in theirs.get_weights()])
    histories = []
    for model in (theirs, ours):
        model.compile(**compile_kwargs)
        histories.append(model.fit(x, y, epochs=epochs, batch_size=16, shuffle=False,
                                   verbose=0).history)
    return theirs, ours, histories


def test_a_first_simple_example(keras, data):
    theirs, ours, (h_keras, h_ours) = fit_both(
        keras, first_example(jkeras), first_example(keras),
        dict(optimizer="adam", loss="mse", metrics=["mae"]), data, epochs=3)
    assert sorted(h_ours) == sorted(h_keras) == ["loss", "mae"]
    for key in h_keras:
        np.testing.assert_allclose(h_ours[key], h_keras[key], rtol=1e-4)
    assert h_ours["loss"][-1] < h_ours["loss"][0]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


def test_going_lower_level_without_a_compiled_loss(keras, data):
    theirs, ours, (h_keras, h_ours) = fit_both(
        keras, lower_level_example(jkeras), lower_level_example(keras),
        dict(optimizer="adam"), data, epochs=5)
    assert sorted(h_ours) == ["loss", "mae"]
    for key in h_keras:
        np.testing.assert_allclose(h_ours[key], h_keras[key], rtol=1e-4)
    assert h_ours["loss"][-1] < h_ours["loss"][0]


def test_providing_your_own_evaluation_step(keras, data):
    x, y = data
    theirs = build(keras, evaluation_example(keras))
    ours = build(jkeras, evaluation_example(jkeras), [np.asarray(w) for w in theirs.get_weights()])
    results = []
    for model in (theirs, ours):
        model.compile(loss="mse", metrics=["mae"])
        results.append(model.evaluate(x, y, batch_size=16, return_dict=True, verbose=0))
    assert sorted(results[1]) == ["loss", "mae"]
    for key in results[0]:
        assert results[1][key] == pytest.approx(results[0][key], rel=1e-5)
