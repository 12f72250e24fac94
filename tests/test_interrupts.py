"""An interrupted ``fit`` keeps every completed step: weights, state and optimizer state.

The reference for "the model after k steps" is the model's own pure ``train_step`` run
exactly k times from the same start, uninterrupted, on the same batch (every batch of the
data is that one batch, so the order of batches does not matter).
"""
import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

import jkeras
from jkeras import layers
from jkeras.models import interrupts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH, BATCHES = 4, 5


def make_model():
    jkeras.utils.clear_session()
    model = jkeras.Sequential([layers.Dense(3, activation="tanh", input_dim=2),
                               layers.BatchNormalization(momentum=0.5),
                               layers.Dense(1)])
    model.compile(jkeras.optimizers.Adam(0.05), "mse")
    return model


def make_batch():
    rng = np.random.default_rng(0)
    return rng.random((BATCH, 2), np.float32), rng.random((BATCH, 1), np.float32)


class Trajectory:
    """``ts[k]``: the train state after exactly k steps on the batch, from ``start``."""

    def __init__(self, model, start, batch):
        self.step = jax.jit(model.train_step)
        self.batch, self.states = batch, [start]

    def __getitem__(self, k):
        while len(self.states) <= k:
            self.states.append(self.step(self.states[-1], *self.batch)[0])
        return self.states[k]


def max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.fixture(scope="module")
def setup():
    model = make_model()
    batch = make_batch()
    model.build((None, 2))
    start = model.get_train_state()
    return model, start, Trajectory(model, start, batch), batch


def check_at(model, trajectory, k):
    """The model holds exactly the train state of step k, its layers included."""
    assert int(model.optimizer.iterations) == k
    ts = model.get_train_state()
    assert int(ts["step"]) == k
    for part in ("params", "state", "opt_state"):
        assert max_diff(ts[part], trajectory[k][part]) < 1e-5, part
    assert max_diff(model.params, trajectory[k]["params"]) < 1e-5
    assert max_diff(model.state, trajectory[k]["state"]) < 1e-5


class Boom(Exception):
    pass


class RaiseAt(jkeras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise Boom


@pytest.mark.parametrize("spe", [1, 2])
def test_callback_error_keeps_completed_steps(setup, spe):
    model, start, trajectory, (x, y) = setup
    model.set_train_state(start)
    xs, ys = np.tile(x, (BATCHES, 1)), np.tile(y, (BATCHES, 1))
    # epoch 0 completes (5 steps), then batch 2 of epoch 1 raises after its step
    with pytest.raises(Boom):
        model.fit(xs, ys, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                  steps_per_execution=spe, callbacks=[RaiseAt(1, 3 if spe == 2 else 2)])
    done = BATCHES + (4 if spe == 2 else 3)
    check_at(model, trajectory, done)
    model.fit(xs, ys, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    check_at(model, trajectory, done + BATCHES)


def test_generator_error_keeps_completed_steps(setup):
    model, start, trajectory, (x, y) = setup
    model.set_train_state(start)

    def batches():
        for _ in range(7):
            yield x, y
        raise Boom("the user's data failed")

    with pytest.raises(Boom):
        model.fit(batches(), epochs=1, steps_per_epoch=10, verbose=0)
    check_at(model, trajectory, 7)


def test_iterations_counts_train_on_batch_and_fit(setup):
    model, start, trajectory, (x, y) = setup
    model.set_train_state(start)
    assert int(model.optimizer.iterations) == 0
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    check_at(model, trajectory, 2)
    model.fit(np.tile(x, (BATCHES, 1)), np.tile(y, (BATCHES, 1)), batch_size=BATCH,
              shuffle=False, verbose=0)
    check_at(model, trajectory, 2 + BATCHES)


def test_deferred_raises_at_the_end_of_the_block():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            signal.raise_signal(signal.SIGINT)
            done.append("after the signal")
    assert done == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            with interrupts.allowed():
                signal.raise_signal(signal.SIGINT)
                done.append("not reached")
    assert done == ["after the signal"]


# One subprocess runs every trial: SIGINT (raised from a SIGALRM timer) at a random
# moment of a fit that would run for ever, on device-resident arrays or a generator.
TRIALS = r"""
import json, signal, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import test_interrupts as t

model, batch = t.make_model(), t.make_batch()
model.build((None, 2))
start = model.get_train_state()
trajectory = t.Trajectory(model, start, batch)
x, y = batch
xs, ys = np.tile(x, (t.BATCHES, 1)), np.tile(y, (t.BATCHES, 1))

class Count(t.jkeras.callbacks.Callback):
    seen = 0
    def on_train_batch_end(self, batch, logs=None):
        Count.seen += 1

def forever():
    while True:
        yield x, y

def fit(kind, epochs):
    if kind == "generator":
        model.fit(forever(), epochs=epochs, steps_per_epoch=t.BATCHES, verbose=0,
                  callbacks=[Count()])
    else:
        model.fit(xs, ys, batch_size=t.BATCH, epochs=epochs, shuffle=False, verbose=0,
                  callbacks=[Count()])

signal.signal(signal.SIGALRM, lambda *a: signal.raise_signal(signal.SIGINT))
rng = np.random.default_rng(int(sys.argv[2]))
for kind in ("arrays", "generator"):  # compile everything first
    fit(kind, 1)
results = []
for trial in range(20):
    kind = ("arrays", "generator")[trial % 2]
    model.set_train_state(start)
    Count.seen = 0
    try:  # the alarm may go off at once: inside the try
        signal.setitimer(signal.ITIMER_REAL, float(rng.uniform(0.0005, 0.05)))
        fit(kind, 10**6)
    except KeyboardInterrupt:
        pass
    signal.setitimer(signal.ITIMER_REAL, 0)
    k = int(model.optimizer.iterations)
    ts = model.get_train_state()
    diff = max(t.max_diff(ts[p], trajectory[k][p]) for p in ("params", "state", "opt_state"))
    layers_diff = t.max_diff((model.params, model.state),
                             (trajectory[k]["params"], trajectory[k]["state"]))
    seen = Count.seen
    fit(kind, 1)
    after = int(model.optimizer.iterations)
    after_diff = t.max_diff(model.get_train_state()["params"],
                            trajectory[after]["params"])
    results.append(dict(kind=kind, steps=k, step=int(ts["step"]), seen=seen, diff=diff,
                        layers_diff=layers_diff, after=after, after_diff=after_diff))
print(json.dumps(results))
"""


def test_sigint_at_random_moments_keeps_every_completed_step():
    out = subprocess.run([sys.executable, "-c", TRIALS, os.path.join(ROOT, "tests"), "0"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(results) == 20
    for r in results:
        assert r["step"] == r["steps"], r
        # every step whose end a callback saw is kept (one more may have run)
        assert r["seen"] <= r["steps"] <= r["seen"] + 1, r
        assert r["diff"] < 1e-5 and r["layers_diff"] < 1e-5, r
        assert r["after"] == r["steps"] + BATCHES and r["after_diff"] < 1e-5, r
    # the interrupts landed at different points, most of them mid-training
    assert len({r["steps"] for r in results}) > 5
