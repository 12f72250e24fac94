"""Serving speed, the tutorial MLP (784-128-128-10):

* the TF-free artifact's callable (``jkeras.serve.load``) against ``jax.jit(model.apply)``,
  interleaved, at batch 1 and 64 (target: ratio <= 1.05);
* REST requests per second at batch 1 (``python -m jkeras.serve``, many requests in flight),
  with and without request batching;
* a SavedModel's reload and first call in a fresh process (TensorFlow's import apart).

    python benchmarks/serve.py [--rounds 30] [--calls 200] [--requests 1000]
"""
import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

import jkeras
from common import summary, time_blocks
from jkeras import layers, serve

RELOAD = """
import json, sys, time
t0 = time.perf_counter()
import tensorflow as tf
t1 = time.perf_counter()
fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
t2 = time.perf_counter()
fn(input_0=tf.zeros((1, 784)))
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "reload": t2 - t1, "first call": t3 - t2}))
"""


def mlp():
    return jkeras.Sequential([layers.Dense(128, activation="relu", input_dim=784),
                              layers.Dense(128, activation="relu"),
                              layers.Dense(10, activation="softmax", name="scores")])


def call_speed(model, served, rounds, calls):
    apply = jax.jit(model.apply)
    params, state = model.params, model.state
    rows = []
    for batch in (1, 64):
        x = np.random.default_rng(0).random((batch, 784), np.float32)
        np.testing.assert_allclose(served(x), apply(params, state, x)[0], atol=1e-6)

        def timed(fn):
            def run():
                start = time.perf_counter()
                for _ in range(calls):
                    fn().block_until_ready()
                return (time.perf_counter() - start) / calls
            return run
        times = time_blocks({"served": timed(lambda: served(x)),
                             "jit": timed(lambda: apply(params, state, x)[0])}, rounds)
        ours, ref, ratio = summary(times, "served", "jit")
        rows.append((f"call, batch {batch}", "jkeras.serve.load(...)(x)",
                     "jax.jit(model.apply)", f"{ours * 1e6:.1f}", f"{ref * 1e6:.1f}",
                     f"{ratio:.3f}", "<= 1.05 " + ("ok" if ratio <= 1.05 else "MISSED")))
    return rows


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest_speed(base, requests, in_flight, batching):
    import httpx
    port = _free_port()
    args = [sys.executable, "-m", "jkeras.serve", "--model_base_path", base, "--model_name",
            "mlp", "--rest_api_port", str(port), "--file_system_poll_wait_seconds", "0"]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(jkeras.__file__))}
    proc = subprocess.Popen(args + (["--enable_batching"] if batching else []), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/models/mlp"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
        body = json.dumps({"instances": [[0.5] * 784]})

        async def load(n):
            limits = httpx.Limits(max_connections=in_flight)
            async with httpx.AsyncClient(timeout=120, limits=limits) as client:
                todo = iter(range(n))

                async def worker():
                    for _ in todo:
                        reply = await client.post(f"{url}:predict", content=body)
                        reply.raise_for_status()
                await asyncio.gather(*[worker() for _ in range(in_flight)])
        asyncio.run(load(min(requests, 4 * in_flight * 4)))  # warm up: compiles every size
        start = time.perf_counter()
        asyncio.run(load(requests))
        return requests / (time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--in_flight", type=int, default=32)
    args = parser.parse_args()
    model = mlp()
    tmp = tempfile.mkdtemp()
    base = os.path.join(tmp, "artifact")
    served = serve.load(serve.save(model, os.path.join(base, "1")))
    rows = call_speed(model, served, args.rounds, args.calls)
    print(f"jax {jax.__version__}, {jax.default_backend()}, {args.rounds} interleaved rounds of "
          f"{args.calls} calls; medians, ratio = median of per-round ratios")
    print("| case | measured | reference | measured us | reference us | ratio | target |")
    print("|---|---|---|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")

    plain = rest_speed(base, args.requests, args.in_flight, batching=False)
    batched = rest_speed(base, args.requests, args.in_flight, batching=True)
    print(f"\nREST :predict, batch 1, {args.requests} requests, {args.in_flight} in flight "
          "(httpx client in the same machine)")
    print("| server | requests/s | ratio |")
    print("|---|---:|---:|")
    print(f"| python -m jkeras.serve | {plain:.0f} | 1.00 |")
    print(f"| python -m jkeras.serve --enable_batching | {batched:.0f} | {batched / plain:.2f} |")

    path = serve.export_saved_model(model, os.path.join(tmp, "saved_model"))
    reload = json.loads(subprocess.run([sys.executable, "-c", RELOAD, path], check=True,
                                       capture_output=True, text=True).stdout.splitlines()[-1])
    print("\nSavedModel in a fresh process (seconds)")
    print("| import tensorflow | tf.saved_model.load | first call (batch 1) |")
    print("|---:|---:|---:|")
    print(f"| {reload['import']:.2f} | {reload['reload']:.3f} | {reload['first call']:.3f} |")


if __name__ == "__main__":
    main()
