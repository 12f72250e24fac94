"""Two real processes (gloo collectives on 127.0.0.1, 2 simulated devices each) train one
model under DataParallel, each on its own rows; both end with the weights that one process
gets from the same global batches."""
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np

import sharding_worker as worker

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_fit_like_one(tmp_path):
    port = _free_port()
    procs = []
    try:
        for i in range(2):
            env = {**os.environ, "JKERAS_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                   "JKERAS_NUM_PROCESSES": "2", "JKERAS_PROCESS_ID": str(i),
                   "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
            procs.append(subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "sharding_worker.py"),
                 str(tmp_path / f"{i}.npz")], env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True))
        for p in procs:
            out, _ = p.communicate(timeout=240)
            assert p.returncode == 0, out[-3000:]
    finally:
        for p in procs:  # only our own processes
            if p.poll() is None:
                p.kill()
                p.wait()
    results = [dict(np.load(tmp_path / f"{i}.npz")) for i in range(2)]

    x, y = worker.data()  # the reference: one process, the same global batches
    ref = worker.model()
    ref.compile("adam", "sparse_categorical_crossentropy")
    history = ref.fit(x, y, batch_size=worker.GLOBAL_BATCH, epochs=2, shuffle=False, verbose=0)
    weights = ref.get_weights()
    for r in results:
        for i, w in enumerate(weights):
            np.testing.assert_array_equal(r[f"arr_{i}"], results[0][f"arr_{i}"])
            np.testing.assert_allclose(r[f"arr_{i}"], w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(r["loss"], history.history["loss"], rtol=1e-5)
        np.testing.assert_allclose(r["predictions"], ref.predict(r["rows"], verbose=0),
                                   rtol=1e-5, atol=1e-6)
