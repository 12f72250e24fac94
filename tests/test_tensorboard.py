"""The TensorBoard callback: event files read back with TensorBoard's own reader, checked
against fit's history, the step counts and the final weights; the progress bar of long
evaluate/predict runs."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import jkeras
from jkeras import layers
from jkeras import progbar as progbar_lib
from jkeras.callbacks import LearningRateScheduler, TensorBoard
from jkeras.callbacks import progress as progress_lib

RNG = np.random.default_rng(0)
N, BATCH = 40, 8  # 32 training examples after the split: 4 steps per epoch


def _read(directory):
    events = EventAccumulator(directory, size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


def _scalars(events, tag):
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One fit of two epochs with every kind of log, then an evaluate."""
    log_dir = str(tmp_path_factory.mktemp("tb"))
    x = RNG.standard_normal((N, 3)).astype("float32")
    y = RNG.integers(0, 2, N)
    model = jkeras.Sequential([layers.Dense(4, activation="relu", input_dim=3),
                               layers.Dense(2, activation="softmax")])
    model.compile(jkeras.optimizers.SGD(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    board = TensorBoard(log_dir, histogram_freq=1, update_freq=2)
    halve = LearningRateScheduler(lambda epoch, lr: 0.05 / 2 ** epoch)
    history = model.fit(x, y, batch_size=BATCH, epochs=2, validation_split=0.2, shuffle=False,
                        verbose=0, callbacks=[halve, board])
    evaluation = model.evaluate(x, y, batch_size=BATCH, verbose=0, callbacks=[board],
                                return_dict=True)
    return log_dir, model, history.history, evaluation


def test_epoch_scalars_and_learning_rate_in_keras_layout(run):
    log_dir, _, history, _ = run
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    train, validation = _read(os.path.join(log_dir, "train")), _read(
        os.path.join(log_dir, "validation"))
    for name in ("loss", "accuracy"):
        got = _scalars(train, f"epoch_{name}")
        assert [s for s, _ in got] == [0, 1]
        np.testing.assert_allclose([v for _, v in got], history[name], rtol=1e-6)
        got = _scalars(validation, f"epoch_{name}")
        np.testing.assert_allclose([v for _, v in got], history[f"val_{name}"], rtol=1e-6)
    assert _scalars(train, "epoch_learning_rate") == [(0, pytest.approx(0.05)),
                                                      (1, pytest.approx(0.025))]


def test_batch_scalars_every_update_freq_steps(run):
    log_dir, _, history, _ = run
    got = _scalars(_read(os.path.join(log_dir, "train")), "batch_loss")
    assert [s for s, _ in got] == [2, 4, 6, 8]  # steps since fit began, every 2nd
    # Batch logs are running means over the epoch: its last one is the epoch's loss.
    np.testing.assert_allclose([got[1][1], got[3][1]], history["loss"], rtol=1e-6)


def test_weight_histograms_describe_the_weights(run):
    log_dir, model, _, _ = run
    events = _read(os.path.join(log_dir, "train"))
    assert sorted(events.Tags()["histograms"]) == sorted(
        f"{w.path}/histogram" for w in model.weights)
    for weight in model.weights:  # fit ended after epoch 1: its weights are the final ones
        first, last = events.Histograms(f"{weight.path}/histogram")
        assert (first.step, last.step) == (0, 1)
        value, h = np.asarray(weight.value, "float64"), last.histogram_value
        assert h.num == value.size
        assert (h.min, h.max) == pytest.approx((value.min(), value.max()), rel=1e-6)
        assert h.sum == pytest.approx(value.sum(), rel=1e-5, abs=1e-6)
        assert sum(h.bucket) == value.size


def test_evaluation_against_the_optimizer_step(run):
    log_dir, _, history, evaluation = run
    got = _scalars(_read(os.path.join(log_dir, "validation")), "evaluation_loss_vs_iterations")
    # Validation after epochs 1 and 2 (4 and 8 steps), then evaluate() after the fit.
    assert [s for s, _ in got] == [4, 8, 8]
    np.testing.assert_allclose([v for _, v in got],
                               history["val_loss"] + [evaluation["loss"]], rtol=1e-6)


def test_bad_arguments_and_a_missing_writer(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(tmp_path, update_freq=0)
    with pytest.raises(ValueError, match="histogram_freq"):
        TensorBoard(tmp_path, histogram_freq=-1)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"jkeras\[tensorboard\]"):
        TensorBoard(tmp_path)


def test_importing_jkeras_does_not_import_tensorboardx():
    code = "import sys, jkeras; print('tensorboardX' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.stdout.strip() == "False"


def test_long_evaluate_and_predict_show_a_progress_bar(run, capsys):
    _, model, _, _ = run
    x = np.zeros((37, 3), "float32")
    model.predict(x, batch_size=4, verbose=1)
    model.evaluate(x, np.zeros(37, "int64"), batch_size=4, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # not a terminal: one line per run, when it ends
    assert lines[0].startswith("10/10 ") and "step" in lines[0]
    assert lines[1].startswith("10/10 ") and " - loss: " in lines[1]


def test_a_live_predict_bar_counts_finished_batches(run, monkeypatch):
    """On a terminal the bar redraws while predict runs; since batches are dispatched
    ahead, each redraw first waits for the batch before the current one."""
    _, model, _, _ = run
    events = []

    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            if text.strip():
                events.append(("draw", text.strip().split()[0]))

        def flush(self):
            pass

    clock = iter(range(10**6))  # one second per reading: every update is due to redraw
    monkeypatch.setattr(progbar_lib.time, "time", lambda: float(next(clock)))
    monkeypatch.setattr(sys, "stdout", Terminal())
    wait = jax.block_until_ready
    monkeypatch.setattr(progress_lib.jax, "block_until_ready",
                        lambda x: events.append(("wait", x)) or wait(x))
    out = model.predict(np.zeros((12, 3), "float32"), batch_size=4, verbose=1)
    assert out.shape == (12, 2)
    kinds = [(kind, value if kind == "draw" else None) for kind, value in events]
    assert kinds == [("wait", None), ("draw", "1/3"), ("wait", None), ("draw", "2/3"),
                     ("wait", None), ("draw", "3/3")]
    waited = [value for kind, value in events if kind == "wait"]
    assert all(isinstance(v, jax.Array) for v in waited)
