"""Keras 3 guide "Writing a training loop from scratch in JAX", run on jkeras.

The guide's code with ``keras`` replaced by ``jkeras``, on synthetic digits-shaped data
(smaller than MNIST) instead of a download and ``tf.data``. The reference is Keras 3 on
the same data from the same weights, driven by the same loop. One guide line does not
run on Keras 3.15 with JAX 0.10: its ``state`` holds ``keras.Variable`` objects, which
``jax.jit`` now refuses ("Triggering __jax_array__() during abstractification is no
longer supported"), so the Keras reference passes their values; jkeras' Variables are
pytrees and run the line as written.
"""
import jax
import numpy as np
import pytest

import jkeras

BATCH = 32


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 8 * BATCH)
    centers = rng.standard_normal((10, 784)).astype("float32")
    x = centers[labels] + 0.5 * rng.standard_normal((len(labels), 784)).astype("float32")
    y = jkeras.utils.to_categorical(labels, 10)
    return [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH)]


def get_model(keras):
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def run_loop(keras, model, loss_fn, dataset, as_values=False):
    """The guide's loop with metrics; returns the losses and accuracies it logs."""
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    train_acc_metric = keras.metrics.CategoricalAccuracy()

    def compute_loss_and_updates(trainable_variables, non_trainable_variables,
                                 metric_variables, x, y):
        y_pred, non_trainable_variables = model.stateless_call(
            trainable_variables, non_trainable_variables, x)
        loss = loss_fn(y, y_pred)
        metric_variables = train_acc_metric.stateless_update_state(metric_variables, y, y_pred)
        return loss, (non_trainable_variables, metric_variables)

    grad_fn = jax.value_and_grad(compute_loss_and_updates, has_aux=True)

    @jax.jit
    def train_step(state, data):
        (trainable_variables, non_trainable_variables, optimizer_variables,
         metric_variables) = state
        x, y = data
        (loss, (non_trainable_variables, metric_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, metric_variables, x, y)
        trainable_variables, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables)
        return loss, (trainable_variables, non_trainable_variables, optimizer_variables,
                      metric_variables)

    optimizer.build(model.trainable_variables)
    trainable_variables = model.trainable_variables
    non_trainable_variables = model.non_trainable_variables
    optimizer_variables = optimizer.variables
    metric_variables = train_acc_metric.variables
    state = (trainable_variables, non_trainable_variables, optimizer_variables,
             metric_variables)
    if as_values:
        state = jax.tree_util.tree_map(lambda v: v.value, state,
                                       is_leaf=lambda v: isinstance(v, keras.Variable))
    losses, accuracies = [], []
    for step, data in enumerate(dataset * 2):
        loss, state = train_step(state, data)
        losses.append(float(loss))
        _, _, _, metric_variables = state
        for variable, value in zip(train_acc_metric.variables, metric_variables):
            variable.assign(value)
        accuracies.append(float(train_acc_metric.result()))
    trainable_variables, non_trainable_variables, optimizer_variables, metric_variables = state
    for variable, value in zip(model.trainable_variables, trainable_variables):
        variable.assign(value)
    for variable, value in zip(model.non_trainable_variables, non_trainable_variables):
        variable.assign(value)
    return losses, accuracies


def test_training_loop_with_metrics_matches_keras(keras, dataset):
    theirs, ours = get_model(keras), get_model(jkeras)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    loss_k, acc_k = run_loop(keras, theirs, keras.losses.CategoricalCrossentropy(
        from_logits=True), dataset, as_values=True)
    loss_j, acc_j = run_loop(jkeras, ours, jkeras.losses.CategoricalCrossentropy(
        from_logits=True), dataset)
    np.testing.assert_allclose(loss_j, loss_k, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(acc_j, acc_k, atol=1e-6)
    assert np.mean(loss_j[-4:]) < np.mean(loss_j[:4]) and acc_j[-1] > 0.5
    for a, b in zip(ours.get_weights(), theirs.get_weights()):   # written back by assign
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-3, atol=1e-5)


def test_eval_step_and_losses_tracked_by_the_model(dataset):
    class ActivityRegularizationLayer(jkeras.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * jkeras.ops.sum(inputs))
            return inputs

    inputs = jkeras.Input(shape=(784,), name="digits")
    x = jkeras.layers.Dense(64, activation="relu")(inputs)
    x = ActivityRegularizationLayer()(x)
    x = jkeras.layers.Dense(64, activation="relu")(x)
    outputs = jkeras.layers.Dense(10, name="predictions")(x)
    model = jkeras.Model(inputs=inputs, outputs=outputs)
    val_acc_metric = jkeras.metrics.CategoricalAccuracy()
    loss_fn = jkeras.losses.CategoricalCrossentropy(from_logits=True)

    def compute_loss_and_updates(trainable_variables, non_trainable_variables,
                                 metric_variables, x, y):
        y_pred, non_trainable_variables, losses = model.stateless_call(
            trainable_variables, non_trainable_variables, x, return_losses=True)
        loss = loss_fn(y, y_pred)
        if losses:
            loss += jkeras.ops.sum(jkeras.ops.stack(losses))
        return loss, non_trainable_variables, metric_variables

    @jax.jit
    def eval_step(state, data):
        trainable_variables, non_trainable_variables, metric_variables = state
        x, y = data
        y_pred, non_trainable_variables = model.stateless_call(
            trainable_variables, non_trainable_variables, x)
        loss = loss_fn(y, y_pred)
        metric_variables = val_acc_metric.stateless_update_state(metric_variables, y, y_pred)
        return loss, (trainable_variables, non_trainable_variables, metric_variables)

    x, y = dataset[0]
    k1, b1, k2, b2, k3, b3 = model.get_weights()
    hidden = np.maximum(x @ k1 + b1, 0)
    logits = np.maximum(hidden @ k2 + b2, 0) @ k3 + b3
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    expected = -(y * log_probs).sum(1).mean()
    loss, _, _ = compute_loss_and_updates(model.trainable_variables,
                                          model.non_trainable_variables, [], x, y)
    assert float(loss) == pytest.approx(expected + 1e-2 * hidden.sum(), rel=1e-4)

    state = (model.trainable_variables, model.non_trainable_variables,
             val_acc_metric.variables)
    for data in dataset[:2]:
        loss, state = eval_step(state, data)
    _, _, metric_variables = state
    for variable, value in zip(val_acc_metric.variables, metric_variables):
        variable.assign(value)
    predicted = np.concatenate([np.asarray(model(xb)).argmax(1) for xb, _ in dataset[:2]])
    truth = np.concatenate([yb.argmax(1) for _, yb in dataset[:2]])
    assert float(val_acc_metric.result()) == pytest.approx(np.mean(predicted == truth))
