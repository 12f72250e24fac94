"""Keras 3 guide "Writing your own callbacks" (keras.io/guides/writing_your_own_callbacks),
run on jkeras.

The guide's code with ``keras`` replaced by ``jkeras`` (the callbacks and the model as
functions of the ``keras`` namespace, so that the very same code also runs on Keras 3),
on small synthetic data instead of the MNIST download: 48 samples of 32 features, labels
0 to 9 as regression targets as in the guide. Every section runs on both libraries from
the same initial weights and what the guide prints is compared line by line: the hook
names, their order and counts with their ``logs`` keys (``CustomCallback``), the running
losses and errors (``LossAndErrorPrintingCallback``), the early stop with the best
weights restored (``EarlyStoppingAtMinLoss``), and the learning rate read from and set
on ``self.model.optimizer.learning_rate`` each epoch (``CustomLearningRateScheduler``),
whose effect on training the final weights check.

Changed from the guide: ``fit`` gets ``shuffle=False`` (the two libraries shuffle with
different generators, and the printed losses depend on the batch order), ``predict``
gets ``verbose=0`` (its progress bar would interleave with the hooks' lines), smaller
batches, and ``np.inf`` for ``np.Inf`` (gone in NumPy 2).
"""
import contextlib
import io
import re

import numpy as np
import pytest

import jkeras


def guide(keras):
    """The guide's model and callbacks, written once for Keras 3 and for jkeras."""

    def get_model():
        model = keras.Sequential()
        model.add(keras.layers.Dense(1))
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
            loss="mean_squared_error",
            metrics=["mean_absolute_error"],
        )
        return model

    class CustomCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            keys = list(logs.keys())
            print("Starting training; got log keys: {}".format(keys))

        def on_train_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop training; got log keys: {}".format(keys))

        def on_epoch_begin(self, epoch, logs=None):
            keys = list(logs.keys())
            print("Start epoch {} of training; got log keys: {}".format(epoch, keys))

        def on_epoch_end(self, epoch, logs=None):
            keys = list(logs.keys())
            print("End epoch {} of training; got log keys: {}".format(epoch, keys))

        def on_test_begin(self, logs=None):
            keys = list(logs.keys())
            print("Start testing; got log keys: {}".format(keys))

        def on_test_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop testing; got log keys: {}".format(keys))

        def on_predict_begin(self, logs=None):
            keys = list(logs.keys())
            print("Start predicting; got log keys: {}".format(keys))

        def on_predict_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop predicting; got log keys: {}".format(keys))

        def on_train_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Training: start of batch {}; got log keys: {}".format(batch, keys))

        def on_train_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Training: end of batch {}; got log keys: {}".format(batch, keys))

        def on_test_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Evaluating: start of batch {}; got log keys: {}".format(batch, keys))

        def on_test_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Evaluating: end of batch {}; got log keys: {}".format(batch, keys))

        def on_predict_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Predicting: start of batch {}; got log keys: {}".format(batch, keys))

        def on_predict_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Predicting: end of batch {}; got log keys: {}".format(batch, keys))

    class LossAndErrorPrintingCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            print(
                "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
            )

        def on_test_batch_end(self, batch, logs=None):
            print(
                "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
            )

        def on_epoch_end(self, epoch, logs=None):
            print(
                "The average loss for epoch {} is {:7.2f} "
                "and mean absolute error is {:7.2f}.".format(
                    epoch, logs["loss"], logs["mean_absolute_error"]
                )
            )

    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        """Stop training when the loss is at its min, i.e. the loss stops decreasing."""

        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            # best_weights to store the weights at which the minimum loss occurs.
            self.best_weights = None

        def on_train_begin(self, logs=None):
            # The number of epoch it has waited when loss is no longer minimum.
            self.wait = 0
            # The epoch the training stops at.
            self.stopped_epoch = 0
            # Initialize the best as infinity.
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                # Record the best weights if current results is better (less).
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    print("Restoring model weights from the end of the best epoch.")
                    self.model.set_weights(self.best_weights)

        def on_train_end(self, logs=None):
            if self.stopped_epoch > 0:
                print(f"Epoch {self.stopped_epoch + 1}: early stopping")

    class CustomLearningRateScheduler(keras.callbacks.Callback):
        """Learning rate scheduler which sets the learning rate according to schedule."""

        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            # Get the current learning rate from model's optimizer.
            lr = self.model.optimizer.learning_rate
            # Call schedule function to get the scheduled learning rate.
            scheduled_lr = self.schedule(epoch, lr)
            # Set the value back to the optimizer before this epoch starts
            self.model.optimizer.learning_rate = scheduled_lr
            print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")

    return (get_model, CustomCallback, LossAndErrorPrintingCallback, EarlyStoppingAtMinLoss,
            CustomLearningRateScheduler)


LR_SCHEDULE = [
    # (epoch to start, learning rate) tuples
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]


def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def run_guide(keras, initial, data):
    """Every section of the guide on ``keras``, from the weights ``initial``: for each, the
    lines it printed and the model's final weights."""
    (get_model, CustomCallback, LossAndErrorPrintingCallback, EarlyStoppingAtMinLoss,
     CustomLearningRateScheduler) = guide(keras)
    x_train, y_train, x_test, y_test = data
    printed, out = io.StringIO(), {}

    def model_from(weights):
        model = get_model()
        model.build((None, x_train.shape[1]))
        model.set_weights(weights)
        return model

    def section(name, model):
        out[name] = printed.getvalue().splitlines(), [np.asarray(w) for w in model.get_weights()]
        printed.seek(0)
        printed.truncate()

    with contextlib.redirect_stdout(printed):
        model = model_from(initial)
        model.fit(x_train, y_train, batch_size=12, epochs=1, verbose=0, validation_split=0.5,
                  shuffle=False, callbacks=[CustomCallback()])
        section("fit", model)
        res = model.evaluate(x_test, y_test, batch_size=12, verbose=0,
                             callbacks=[CustomCallback()])
        section("evaluate", model)
        res = model.predict(x_test, batch_size=12, verbose=0, callbacks=[CustomCallback()])
        section("predict", model)

        model = model_from(initial)
        model.fit(x_train, y_train, batch_size=12, epochs=2, verbose=0, shuffle=False,
                  callbacks=[LossAndErrorPrintingCallback()])
        res = model.evaluate(x_test, y_test, batch_size=12, verbose=0,
                             callbacks=[LossAndErrorPrintingCallback()])
        section("logs", model)
        out["evaluate_results"] = res

        model = model_from(initial)
        early = EarlyStoppingAtMinLoss()
        history = model.fit(x_train, y_train, batch_size=12, epochs=30, verbose=0,
                            shuffle=False, callbacks=[LossAndErrorPrintingCallback(), early])
        section("early_stopping", model)
        out["history"] = history.history["loss"]
        out["best_weights"] = [np.asarray(w) for w in early.best_weights]

        model = model_from(initial)
        model.fit(x_train, y_train, batch_size=12, epochs=15, verbose=0, shuffle=False,
                  callbacks=[LossAndErrorPrintingCallback(),
                             CustomLearningRateScheduler(lr_schedule)])
        section("lr_schedule", model)
    return out


@pytest.fixture(scope="module")
def runs(keras):
    """The guide run on Keras 3 and on jkeras, from the same weights and data."""
    rng = np.random.default_rng(2)   # data on which the loss stops falling within 30 epochs
    x_train = rng.random((48, 32)).astype("float32")
    y_train = rng.integers(0, 10, 48).astype("float32")
    x_test = rng.random((72, 32)).astype("float32")
    y_test = rng.integers(0, 10, 72).astype("float32")
    data = (x_train, y_train, x_test, y_test)
    reference = keras.Sequential([keras.layers.Dense(1)])
    reference.build((None, 32))
    initial = [np.asarray(w) for w in reference.get_weights()]
    return run_guide(keras, initial, data), run_guide(jkeras, initial, data)




NUMBER = re.compile(r"-?\d+\.\d+")


def assert_same_print(got, want, atol=0.011):
    """The same lines, the numbers printed with two decimals equal to within rounding."""
    assert [NUMBER.sub("#", line) for line in got] == [NUMBER.sub("#", line) for line in want]
    np.testing.assert_allclose([float(n) for line in got for n in NUMBER.findall(line)],
                               [float(n) for line in want for n in NUMBER.findall(line)],
                               atol=atol)


def assert_same_weights(got, want, rtol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-6)


def test_a_basic_example_every_hook_in_order_with_its_log_keys(runs):
    theirs, ours = runs
    for section in ("fit", "evaluate", "predict"):
        assert ours[section][0] == theirs[section][0], section
    fit, evaluate, predict = (ours[s][0] for s in ("fit", "evaluate", "predict"))
    # 24 training samples in batches of 12: 2 batches; 24 validation samples: 2; 72: 6.
    assert sum("...Training: end of batch" in line for line in fit) == 2
    assert sum("...Evaluating: end of batch" in line for line in fit) == 2
    assert sum("...Evaluating: start of batch" in line for line in evaluate) == 6
    assert sum("...Predicting: end of batch" in line for line in predict) == 6
    assert fit[0] == "Starting training; got log keys: []"
    assert fit[-1] == ("Stop training; got log keys: "
                       "['loss', 'mean_absolute_error', 'val_loss', 'val_mean_absolute_error']")
    assert predict[2] == "...Predicting: end of batch 0; got log keys: ['outputs']"
    assert_same_weights(ours["fit"][1], theirs["fit"][1])


def test_usage_of_logs_dict(runs):
    theirs, ours = runs
    assert_same_print(ours["logs"][0], theirs["logs"][0])
    assert len(ours["logs"][0]) == 2 * (4 + 1) + 6    # 4 batches and the epoch, twice; 6
    np.testing.assert_allclose(ours["evaluate_results"], theirs["evaluate_results"], rtol=1e-5)
    assert_same_weights(ours["logs"][1], theirs["logs"][1])


def test_early_stopping_at_minimum_loss(runs):
    theirs, ours = runs
    assert_same_print(ours["early_stopping"][0], theirs["early_stopping"][0])
    losses = ours["history"]
    np.testing.assert_allclose(losses, theirs["history"], rtol=1e-5)
    # It stopped at the first epoch whose loss did not go down, before the 30 asked for...
    assert len(losses) < 30 and losses[-1] >= losses[-2]
    assert all(b < a for a, b in zip(losses[:-1], losses[1:-1]))
    assert ours["early_stopping"][0][-1] == f"Epoch {len(losses)}: early stopping"
    # ... and the model holds the weights of the best epoch, as Keras' does.
    assert_same_weights(ours["early_stopping"][1], ours["best_weights"], rtol=0)
    assert_same_weights(ours["early_stopping"][1], theirs["early_stopping"][1])


def test_learning_rate_scheduling(runs):
    theirs, ours = runs
    printed = ours["lr_schedule"][0]
    assert_same_print(printed, theirs["lr_schedule"][0])
    rates = [float(line.split(" is ")[1].rstrip(".")) for line in printed
             if "Learning rate" in line]
    want = [0.1] * 3 + [0.05] * 3 + [0.01] * 3 + [0.005] * 3 + [0.001] * 3
    np.testing.assert_allclose(rates, want, rtol=1e-7)       # read back as float32, as Keras'
    assert [line for line in printed if "Learning rate" in line] == \
        [line for line in theirs["lr_schedule"][0] if "Learning rate" in line]
    # The rates set from the callback are the ones the compiled steps used.
    assert_same_weights(ours["lr_schedule"][1], theirs["lr_schedule"][1])
    assert not np.allclose(ours["lr_schedule"][1][0], ours["early_stopping"][1][0])
