"""ModelCheckpoint, BackupAndRestore and atomic saves, with processes killed midway."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import jkeras
from jkeras import layers
from jkeras.callbacks import BackupAndRestore, LambdaCallback, ModelCheckpoint
from jkeras.saving import atomic

RNG = np.random.default_rng(0)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data(n=40):
    x = RNG.standard_normal((n, 4)).astype("float32")
    return x, (x[:, :1] - x[:, 1:2]).astype("float32")


def _model(names=(None, None)):
    model = jkeras.Sequential([layers.Dense(6, activation="relu", input_dim=4, name=names[0]),
                               layers.Dense(1, name=names[1])])
    model.compile(jkeras.optimizers.Adam(0.05), "mse")
    return model


def test_checkpoint_names_and_best_only(tmp_path):
    x, y = _data()
    model = _model()
    every = ModelCheckpoint(str(tmp_path / "all-{epoch:02d}-{val_loss:.3f}.keras"))
    best = ModelCheckpoint(str(tmp_path / "best-{epoch:02d}.weights.h5"),
                           save_best_only=True, save_weights_only=True, mode="min")
    history = model.fit(x, y, batch_size=8, epochs=5, validation_split=0.25, verbose=0,
                        callbacks=[every, best])
    val = history.history["val_loss"]
    want_all = {f"all-{e + 1:02d}-{v:.3f}.keras" for e, v in enumerate(val)}
    improved = [e for e in range(5) if val[e] < min(val[:e], default=np.inf)]
    want_best = {f"best-{e + 1:02d}.weights.h5" for e in improved}
    assert set(os.listdir(tmp_path)) == want_all | want_best
    last = jkeras.models.load_model(str(tmp_path / sorted(want_all)[-1]))
    for a, b in zip(last.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_every_n_batches_has_the_running_weights(tmp_path):
    x, y = _data(32)
    model = _model()
    seen = {}
    record = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.__setitem__(
        batch, model.get_train_state()["params"]))
    saver = ModelCheckpoint(str(tmp_path / "b{batch}.weights.npz"), save_weights_only=True,
                            save_freq=3)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[saver, record])
    # 4 batches an epoch: saves after the 3rd, 6th (2nd of epoch 2) batches
    assert sorted(os.listdir(tmp_path)) == ["b1.weights.npz", "b2.weights.npz"]
    probe = _model()
    probe.load_weights(str(tmp_path / "b1.weights.npz"))
    want = [jkeras.state.get_path(seen[1], w.path) for w in model.weights]
    for got, expected in zip(probe.get_weights(), want, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_checkpoint_argument_errors():
    with pytest.raises(ValueError, match=r"\.keras"):
        ModelCheckpoint("model.h5")
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.keras", save_freq=0)


def _run(script, *args, timeout=240):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out.decode(), err.decode()


SAVE_FOREVER = textwrap.dedent("""
    import sys, numpy as np, jkeras
    model = jkeras.Sequential([jkeras.layers.Dense(512, input_dim=512),
                               jkeras.layers.Dense(512)])
    print("ready", flush=True)
    i = 0
    while True:
        model.set_weights([np.full(w.shape, i, "float32") for w in model.get_weights()])
        model.save(sys.argv[1])
        i += 1
""")


def test_save_killed_midway_leaves_the_previous_file(tmp_path):
    path = str(tmp_path / "m.keras")
    model = jkeras.Sequential([layers.Dense(512, input_dim=512), layers.Dense(512)])
    model.set_weights([np.full(w.shape, -1, "float32") for w in model.get_weights()])
    model.save(path)
    proc = _run(SAVE_FOREVER, path)
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout.readline().strip() == b"ready"
        first = os.stat(path).st_mtime_ns
        while os.stat(path).st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.01)  # at least one save finished; the next is under way
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    loaded = jkeras.models.load_model(path)
    values = {float(w.ravel()[0]) for w in loaded.get_weights()}
    assert len(values) == 1 and all((w == values.pop()).all() for w in loaded.get_weights()[:1])
    # The next save removes the dead writer's temporaries for this target (one made here
    # under its name, whether or not the kill left a real one), but not those of a live
    # process (the test runner's parent) or of another target.
    leftovers = [f for f in os.listdir(tmp_path) if f != "m.keras"]
    assert all(f.startswith(f".tmp-{atomic._HOST}-{proc.pid}-") for f in leftovers)
    dead, live, other = (tmp_path / f".tmp-{atomic._HOST}-{pid}-abcd_123{name}"
                         for pid, name in ((proc.pid, "m.keras"), (os.getppid(), "m.keras"),
                                           (proc.pid, "n.keras")))
    for f in (dead, live, other):
        f.write_bytes(b"partial")
    loaded.save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.keras", live.name, other.name])


RESUMABLE_FIT = textwrap.dedent("""
    import os, signal, sys, jax, numpy as np, jkeras
    backup_dir, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    np.random.seed(0)
    x = np.random.default_rng(1).standard_normal((44, 4)).astype("float32")
    y = (x[:, :1] - x[:, 1:2]).astype("float32")
    model = jkeras.Sequential([jkeras.layers.Dense(6, activation="relu", input_dim=4),
                               jkeras.layers.Dropout(0.25), jkeras.layers.Dense(1)])
    model.set_weights([np.random.default_rng(i).standard_normal(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])
    model.compile(jkeras.optimizers.Adam(0.05), "mse")
    ts = model.get_train_state()
    model.set_train_state({**ts, "rng": jax.random.key_data(jax.random.key(5))})
    steps = [0]
    def maybe_die(batch, logs):
        steps[0] += 1
        if steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    callbacks = [jkeras.callbacks.BackupAndRestore(backup_dir, save_freq=5),
                 jkeras.callbacks.LambdaCallback(on_train_batch_end=maybe_die)]
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=callbacks)
    np.savez(out, *model.get_weights(), loss=history.history["loss"])
""")


def test_fit_killed_mid_epoch_resumes_at_the_next_batch(tmp_path):
    backups = str(tmp_path / "backups")
    # 6 batches an epoch (the last of 4 examples), a backup every 5: killed at the 14th
    # batch, the last backup is 4 batches into the 2nd epoch (shuffled, with Dropout).
    code, _, err = _wait(_run(RESUMABLE_FIT, backups, str(tmp_path / "a.npz"), "14"), 240)
    assert code == -signal.SIGKILL, err
    assert os.listdir(backups) == ["backup.npz"]
    with np.load(os.path.join(backups, "backup.npz")) as backup:
        assert (int(backup["epoch"]), int(backup["batch"])) == (1, 4)
    code, _, err = _wait(_run(RESUMABLE_FIT, backups, str(tmp_path / "resumed.npz"), "0"), 240)
    assert code == 0, err
    assert os.listdir(backups) == []  # deleted after the run completed
    argv = sys.argv
    try:  # the uninterrupted run, in this process
        sys.argv = ["-", str(tmp_path / "other"), str(tmp_path / "straight.npz"), "0"]
        exec(compile(RESUMABLE_FIT, "<uninterrupted>", "exec"), {})
    finally:
        sys.argv = argv
    resumed, straight = np.load(tmp_path / "resumed.npz"), np.load(tmp_path / "straight.npz")
    weights = [f"arr_{i}" for i in range(4)]
    assert sorted(resumed.files) == weights + ["loss"]
    for key in weights:
        np.testing.assert_array_equal(resumed[key], straight[key])
    # the resumed run logs the 2nd and 3rd epochs, the 2nd with its first 4 batches' loss
    np.testing.assert_allclose(resumed["loss"], straight["loss"][1:], rtol=1e-6)


def test_fit_interrupted_at_an_epoch_end_resumes_from_the_previous_backup(tmp_path):
    """save_freq="epoch" with double_checkpoint: the latest backup unreadable, the one
    before it is restored, and the run still ends where an uninterrupted one does."""
    x, y = _data(24)

    def fit(callbacks, epochs=4):
        np.random.seed(3)
        model = _model(("hidden", "out"))  # the same weight paths in each run
        model.set_weights([np.random.default_rng(i).standard_normal(w.shape) * 0.5
                           for i, w in enumerate(model.get_weights())])
        history = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)
        return model, history.history["loss"]

    def stop(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    backup = BackupAndRestore(str(tmp_path), double_checkpoint=True)
    with pytest.raises(KeyboardInterrupt):
        fit([backup, LambdaCallback(on_epoch_end=stop)])
    assert sorted(os.listdir(tmp_path)) == ["backup.npz", "backup.previous.npz"]
    with open(tmp_path / "backup.npz", "wb") as f:
        f.write(b"PK\x03\x04 not a zip")
    with pytest.warns(UserWarning, match="restoring the previous one"):
        resumed, losses = fit([backup])
    straight, want = fit([])
    # stopped after the 3rd epoch's backup; the 2nd's is restored: the 3rd and 4th again
    assert len(losses) == 2
    np.testing.assert_allclose(losses, want[2:], rtol=1e-6)
    for a, b in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path) == []


def test_backup_that_does_not_match_is_refused(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[BackupAndRestore(str(tmp_path), delete_checkpoint=False)])
    other = jkeras.Sequential([layers.Dense(3, input_dim=4), layers.Dense(1)])
    other.compile("adam", "mse")
    with pytest.raises(ValueError, match="does not match"):
        other.fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(str(tmp_path))])
