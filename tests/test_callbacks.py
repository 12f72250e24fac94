"""Callbacks: Keras' hooks and their order, History, and the built-in callbacks."""
import io
import math

import jax
import numpy as np
import pytest

import jkeras
from jkeras import callbacks, layers
from jkeras.progbar import Progbar

X = np.random.default_rng(0).standard_normal((24, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("int32") + (X[:, 1] > 0).astype("int32")   # 3 classes
X_VAL, Y_VAL = X[:16] + 0.1, Y[:16]


@pytest.fixture(scope="module")
def setup():
    """One compiled model for the whole module (its compiled steps are reused), and its
    initial train state, which each test puts back first."""
    jkeras.utils.set_random_seed(0)
    model = jkeras.Sequential([layers.Dense(8, activation="relu", input_dim=4),
                               layers.Dense(3, activation="softmax")])
    model.compile(jkeras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, model.get_train_state()


@pytest.fixture
def model(setup):
    model, ts0 = setup
    model.set_train_state(ts0)
    return model


HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end"]


class Recorder(callbacks.Callback):
    """Records every hook call as (hook, index) and the logs each one got."""

    def __init__(self):
        super().__init__()
        self.calls, self.logs = [], []


def _recording(name):
    def hook(self, *args):
        *index, logs = args  # (logs,) or (epoch or batch, logs)
        self.calls.append((name, *index))
        self.logs.append((name, None if logs is None else dict(logs)))
    return hook


for _name in HOOKS:
    setattr(Recorder, _name, _recording(_name))


def test_hooks_run_in_keras_order(model):
    rec = Recorder()
    model.fit(X, Y, batch_size=8, epochs=2, validation_data=(X_VAL, Y_VAL), callbacks=[rec],
              verbose=0)
    epoch = lambda e: [("on_epoch_begin", e),
                       ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
                       ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
                       ("on_train_batch_begin", 2), ("on_train_batch_end", 2),
                       ("on_test_begin",),
                       ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
                       ("on_test_batch_begin", 1), ("on_test_batch_end", 1),
                       ("on_test_end",),
                       ("on_epoch_end", e)]
    assert rec.calls == [("on_train_begin",), *epoch(0), *epoch(1), ("on_train_end",)]
    logs = dict(rec.logs)
    assert sorted(logs["on_train_batch_end"]) == ["accuracy", "loss"]
    assert sorted(logs["on_epoch_end"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_steps_per_execution_calls_batch_hooks_once_per_execution(model):
    rec = Recorder()
    model.fit(X, Y, batch_size=8, epochs=1, steps_per_execution=2, callbacks=[rec], verbose=0)
    batch_calls = [c for c in rec.calls if "batch" in c[0]]
    assert batch_calls == [("on_train_batch_begin", 0), ("on_train_batch_end", 1),
                           ("on_train_batch_begin", 2), ("on_train_batch_end", 2)]


def test_history_holds_each_epochs_logs(model):
    seen = []
    history = model.fit(X, Y, batch_size=8, epochs=3, initial_epoch=1, verbose=0,
                        validation_data=(X_VAL, Y_VAL),
                        callbacks=[callbacks.LambdaCallback(
                            on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))])
    assert isinstance(history, callbacks.History) and model.history is history
    assert history.epoch == [1, 2]
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in history.history.items():
        assert values == [logs[key] for logs in seen]
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(X_VAL, Y_VAL, batch_size=8, verbose=0)[0], rel=1e-6)


def test_early_stopping_restores_the_best_weights(model):
    # Validating on wrong labels: the better the model learns, the worse val_loss gets.
    snapshots = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda e, l: snapshots.append(
        model.get_weights()))
    stop = callbacks.EarlyStopping(patience=1, restore_best_weights=True)
    history = model.fit(X, Y, batch_size=8, epochs=20, verbose=0, callbacks=[record, stop],
                        validation_data=(X_VAL, (Y_VAL + 1) % 3))
    epochs_run = len(history.history["val_loss"])
    assert epochs_run < 20 and stop.stopped_epoch == epochs_run - 1
    best = int(np.argmin(history.history["val_loss"]))
    assert best == stop.best_epoch
    for restored, kept in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(restored, kept)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snapshots[-1]))


def test_learning_rate_scheduler_changes_the_rate_without_recompiling(model, caplog):
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)  # compiled already, before we count
    with jax.log_compiles():
        history = model.fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[schedule])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    assert model.get_learning_rate() == pytest.approx(0.025)
    assert not [r for r in caplog.records if "Compiling" in r.getMessage()]
    model.set_learning_rate(0.1)


def test_reduce_lr_on_plateau(model):
    # min_delta so large that nothing counts as an improvement after the first epoch.
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                         min_delta=100.0, min_lr=0.03)
    history = model.fit(X, Y, batch_size=8, epochs=4, verbose=0, callbacks=[reduce])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.03])
    assert model.get_learning_rate() == pytest.approx(0.03)
    model.set_learning_rate(0.1)


def test_csv_logger(model, tmp_path):
    path = tmp_path / "log.csv"
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0,
              callbacks=[callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "0"]


def test_terminate_on_nan_stops_and_keeps_the_last_good_weights(setup, model):
    _, ts0 = setup
    bad = X.copy()
    bad[16:24] = np.nan  # the third batch
    # The weights after the two good batches, stepped by hand from the same start.
    model.train_on_batch(X[:8], Y[:8])
    model.train_on_batch(X[8:16], Y[8:16])
    good = model.get_weights()
    for spe in (1, 3):  # one step per call, or the whole epoch in one scanned call
        model.set_train_state(ts0)
        history = model.fit(bad, Y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                            steps_per_execution=spe, callbacks=[callbacks.TerminateOnNaN()])
        assert len(history.history["loss"]) == 1 and math.isnan(history.history["loss"][0])
        assert int(model.get_train_state()["step"]) == 2
        for a, b in zip(model.get_weights(), good):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_stop_training_from_a_batch_hook(model):
    class StopAtSecondBatch(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    history = model.fit(X, Y, batch_size=8, epochs=5, verbose=0, callbacks=[StopAtSecondBatch()])
    assert len(history.history["loss"]) == 1
    assert int(model.get_train_state()["step"]) == 2


def test_weights_set_by_a_callback_are_trained_on(model):
    model.set_learning_rate(0.0)  # training itself changes nothing now
    zero = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: model.set_weights(
        [w * 0 for w in model.get_weights()]) if epoch == 0 else None)
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[zero])
    assert all((w == 0).all() for w in model.get_weights())
    model.set_learning_rate(0.1)


def test_lambda_callback_and_batch_logs(model):
    calls = []
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: calls.append("begin"),
                                  on_batch_end=lambda batch, logs: calls.append(
                                      (batch, round(logs["loss"], 6), list(logs))),
                                  on_train_end=lambda logs: calls.append("end"))
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    assert calls[0] == "begin" and calls[-1] == "end"
    assert [c[0] for c in calls[1:-1]] == [0, 1, 2]
    assert all(c[2] == ["loss", "accuracy"] and c[1] > 0 for c in calls[1:-1])
    with pytest.raises(ValueError, match="unknown hook"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_lazy_logs_read_the_device_once():
    import jax.numpy as jnp
    logs = callbacks.LazyLogs(["loss", "accuracy"], [jnp.float32(0.5), jnp.float32(0.25)])
    assert list(logs) == ["loss", "accuracy"] and len(logs) == 2
    assert logs["accuracy"] == 0.25 and dict(logs) == {"loss": 0.5, "accuracy": 0.25}
    assert logs.get("missing") is None


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progbar_on_a_terminal_redraws_in_place():
    out = FakeTerminal()
    bar = Progbar(4, verbose=1, interval=0.0, file=out)
    for step in range(1, 5):
        bar.update(step, {"loss": 1.0 / step})
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    last = text.split("\r")[-1]
    assert last.startswith("4/4 ━━━━━━━━━━━━━━━━━━━━ ") and "loss: 0.2500" in last
    # Off a terminal, only the final line is written.
    out = io.StringIO()
    bar = Progbar(4, verbose=1, interval=0.0, file=out)
    for step in range(1, 5):
        bar.update(step, {"loss": 1.0})
    assert out.getvalue().count("\n") == 1


def test_predict_batch_hooks_run_in_order():
    model = jkeras.Sequential([layers.Dense(2, input_dim=3)])
    seen = []
    hooks = callbacks.LambdaCallback(
        on_predict_batch_begin=lambda batch, logs=None: seen.append(("begin", batch)),
        on_predict_batch_end=lambda batch, logs=None: seen.append(("end", batch)))
    model.predict(np.zeros((8, 3), "float32"), batch_size=4, verbose=0, callbacks=[hooks])
    assert seen == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1)]


def test_auto_mode_knows_each_outputs_metrics_by_their_log_names():
    inp = jkeras.Input((3,))
    model = jkeras.Model(inp, [layers.Dense(2, activation="softmax", name="a")(inp),
                               layers.Dense(2, activation="softmax", name="b")(inp)])
    hits = lambda: [jkeras.metrics.SparseCategoricalAccuracy(name="hits")]
    model.compile("sgd", ["sparse_categorical_crossentropy"] * 2, metrics=[hits(), hits()])
    x, y = np.zeros((8, 3), "float32"), np.zeros(8, "int32")
    history = model.fit(x, [y, y], verbose=0, validation_split=0.25)
    directions = {k: callbacks.monitor._direction(model, k) for k in history.history}
    assert directions["val_a_hits"] == directions["b_hits"] == "max"  # accuracies go up
    assert directions["val_a_loss"] == directions["loss"] == "min"

