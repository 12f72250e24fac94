"""Request batching: concurrent requests to one signature, arriving within a short window,
run as one call on their concatenated rows; each request gets its own rows back.

Batches are padded to a power of two so the model compiles for a handful of batch sizes,
not for every sum of request sizes.
"""
import asyncio

import numpy as np
from starlette.concurrency import run_in_threadpool


class Batcher:
    """Batches calls ``await batcher(signature, arrays)`` (``arrays``: input name -> rows).

    ``max_batch_size`` rows at most per call (a larger request runs alone);
    ``timeout_s``: how long the first request of a batch waits for others.

    >>> import asyncio, numpy as np
    >>> from jkeras.serve import Signature, TensorInfo
    >>> sig = Signature([TensorInfo("x", "float32", (None,))], [TensorInfo("y", "float32",
    ...                 (None,))], lambda a: {"y": a["x"] * 2})
    >>> async def two():
    ...     b = Batcher(max_batch_size=8, timeout_s=0.01)
    ...     return await asyncio.gather(b(sig, {"x": np.ones(1)}), b(sig, {"x": np.zeros(2)}))
    >>> [r["y"].tolist() for r in asyncio.run(two())]
    [[2.0], [0.0, 0.0]]
    """

    def __init__(self, max_batch_size=32, timeout_s=0.002):
        if max_batch_size < 1 or timeout_s < 0:
            raise ValueError(f"Batcher: max_batch_size must be >= 1 and timeout_s >= 0, got "
                             f"{max_batch_size} and {timeout_s}")
        self.max_batch_size, self.timeout_s = max_batch_size, timeout_s
        self._queues = {}  # (signature, row shapes and dtypes) -> [(arrays, rows, future)]

    async def __call__(self, signature, arrays):
        rows = next(iter(arrays.values())).shape[0]
        if rows >= self.max_batch_size or rows == 0:
            return await run_in_threadpool(signature, arrays)
        key = (signature, tuple((n, a.dtype.str, a.shape[1:])
                                               for n, a in sorted(arrays.items())))
        future = asyncio.get_running_loop().create_future()
        queue = self._queues.setdefault(key, [])
        queue.append((arrays, rows, future))
        if len(queue) == 1:
            asyncio.get_running_loop().call_later(
                self.timeout_s, lambda: asyncio.ensure_future(self._flush(key)))
        elif sum(r for _, r, _ in queue) >= self.max_batch_size:
            asyncio.ensure_future(self._flush(key))
        return await future

    async def _flush(self, key):
        queue = self._queues.pop(key, None)
        if not queue:
            return
        # Whatever does not fit waits for the next batch.
        taken, total = [], 0
        while queue and total + queue[0][1] <= self.max_batch_size:
            taken.append(queue.pop(0))
            total += taken[-1][1]
        if queue:
            self._queues[key] = queue
            asyncio.ensure_future(self._flush(key))
        signature = key[0]
        padded = min(1 << (total - 1).bit_length(), self.max_batch_size)
        batch = {n: np.concatenate([a[n] for a, _, _ in taken]
                                   + [np.zeros((padded - total, *a.shape[1:]), a.dtype)])
                 for n, a in taken[0][0].items()}
        try:
            outputs = await run_in_threadpool(signature, batch)
        except Exception as err:  # noqa: BLE001 - each waiting request gets the error
            for _, _, future in taken:
                future.set_exception(err)
            return
        start = 0
        for _, rows, future in taken:
            future.set_result({n: np.asarray(o)[start:start + rows] for n, o in outputs.items()})
            start += rows
