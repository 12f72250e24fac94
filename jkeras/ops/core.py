"""The ``keras.ops`` names whose signature is not jax.numpy's: conversions, control flow,
indexing and a few math functions, each a thin call of ``jax.numpy``/``jax.lax``."""
import jax
import jax.numpy as jnp
import numpy as np


def cast(x, dtype):
    """``x`` as ``dtype``.

    >>> import jax.numpy as jnp
    >>> cast(jnp.array([1.7, -1.7]), "int32").tolist()
    [1, -1]
    """
    return jnp.asarray(x).astype(dtype)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` as a JAX array (of ``dtype`` if given).

    >>> convert_to_tensor([1, 2], dtype="float32").dtype
    dtype('float32')
    """
    if sparse or ragged:
        raise ValueError("convert_to_tensor: sparse and ragged tensors are not supported.")
    return jnp.asarray(x, dtype=dtype)


def convert_to_numpy(x):
    """``x`` as a NumPy array.

    >>> import jax.numpy as jnp
    >>> type(convert_to_numpy(jnp.ones(2))).__name__
    'ndarray'
    """
    return np.asarray(x)


def is_tensor(x):
    """Whether ``x`` is a JAX array (or tracer).

    >>> import numpy as np
    >>> is_tensor(np.ones(2)), is_tensor(convert_to_tensor(np.ones(2)))
    (False, True)
    """
    return isinstance(x, jax.Array)


def dtype(x):
    """The dtype of ``x``, as a string.

    >>> import jax.numpy as jnp
    >>> dtype(jnp.ones(2))
    'float32'
    """
    return jnp.result_type(x).name


def stop_gradient(variable):
    """``variable`` with no gradient flowing back through it.

    >>> import jax
    >>> jax.grad(lambda x: x * stop_gradient(x))(3.0).item()
    3.0
    """
    return jax.lax.stop_gradient(variable)


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()``, traceable (``jax.lax.cond``).

    >>> cond(True, lambda: 1, lambda: 2).item()
    1
    """
    return jax.lax.cond(pred, true_fn, false_fn)


def switch(index, branches, *operands):
    """``branches[index](*operands)`` (``jax.lax.switch``).

    >>> switch(1, [lambda x: x + 1, lambda x: x * 10], 2).item()
    20
    """
    return jax.lax.switch(index, branches, *operands)


def fori_loop(lower, upper, body_fun, init_val):
    """``body_fun(i, val)`` for ``i`` in ``range(lower, upper)`` (``jax.lax.fori_loop``).

    >>> fori_loop(0, 4, lambda i, total: total + i, 0).item()
    6
    """
    return jax.lax.fori_loop(lower, upper, body_fun, init_val)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Keras' ``while_loop``: a tuple or list of ``loop_vars`` is unpacked into ``cond``
    and ``body``, which returns the new ones.

    >>> while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2), (0, 1))
    (Array(3, dtype=int32, weak_type=True), Array(8, dtype=int32, weak_type=True))
    """
    packed = isinstance(loop_vars, (tuple, list))
    state = (tuple(loop_vars) if packed else (loop_vars,), 0)

    def keep_going(state):
        ok = cond(*state[0]) if packed else cond(state[0][0])
        return ok if maximum_iterations is None else ok & (state[1] < maximum_iterations)

    def step(state):
        out = body(*state[0]) if packed else body(state[0][0])
        return (tuple(out) if packed else (out,)), state[1] + 1

    out = jax.lax.while_loop(keep_going, step, state)[0]
    return type(loop_vars)(out) if packed else out[0]


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``jax.lax.scan``: ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``.

    >>> import jax.numpy as jnp
    >>> carry, ys = scan(lambda c, x: (c + x, c), 0.0, jnp.arange(3.0))
    >>> carry.item(), ys.tolist()
    (3.0, [0.0, 0.0, 1.0])
    """
    return jax.lax.scan(f, init, xs, length=length, reverse=reverse, unroll=unroll)


def associative_scan(f, elems, reverse=False, axis=0):
    """``jax.lax.associative_scan`` (a parallel prefix scan with ``f``).

    >>> import jax.numpy as jnp
    >>> associative_scan(jnp.add, jnp.arange(4.0)).tolist()
    [0.0, 1.0, 3.0, 6.0]
    """
    return jax.lax.associative_scan(f, elems, reverse=reverse, axis=axis)


def map(f, xs):  # noqa: A001 -- Keras' name
    """``f`` applied to each slice of ``xs`` along its leading axis (``jax.lax.map``).

    >>> import jax.numpy as jnp
    >>> map(lambda x: x * 2, jnp.arange(3)).tolist()
    [0, 2, 4]
    """
    return jax.lax.map(f, xs)


def vectorized_map(function, elements):
    """``jax.vmap(function)(elements)``.

    >>> import jax.numpy as jnp
    >>> vectorized_map(jnp.sum, jnp.ones((2, 3))).tolist()
    [3.0, 3.0]
    """
    return jax.vmap(function)(elements)


def top_k(x, k, sorted=True):  # noqa: A002 -- Keras' name
    """``(values, indices)`` of the ``k`` largest entries along the last axis.

    >>> import jax.numpy as jnp
    >>> [v.tolist() for v in top_k(jnp.array([1.0, 3.0, 2.0]), 2)]
    [[3.0, 2.0], [1, 2]]
    """
    return jax.lax.top_k(x, k)


def in_top_k(targets, predictions, k):
    """Whether each integer target is among the ``k`` highest predictions of its row.

    >>> import jax.numpy as jnp
    >>> in_top_k(jnp.array([1, 0]), jnp.array([[0.1, 0.9], [0.1, 0.9]]), 1).tolist()
    [True, False]
    """
    at_target = jnp.take_along_axis(predictions, jnp.asarray(targets)[:, None], axis=-1)
    return jnp.sum(predictions > at_target, axis=-1) < k


def slice(inputs, start_indices, shape):  # noqa: A001 -- Keras' name
    """The block of ``shape`` starting at ``start_indices`` (``lax.dynamic_slice``).

    >>> import jax.numpy as jnp
    >>> slice(jnp.arange(6).reshape(2, 3), (0, 1), (2, 2)).tolist()
    [[1, 2], [4, 5]]
    """
    return jax.lax.dynamic_slice(inputs, start_indices, shape)


def slice_update(inputs, start_indices, updates):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates``.

    >>> import jax.numpy as jnp
    >>> slice_update(jnp.zeros(4), (1,), jnp.ones(2)).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    return jax.lax.dynamic_update_slice(inputs, updates, start_indices)


def scatter(indices, values, shape):
    """A zero array of ``shape`` with ``values`` added at ``indices`` (rows of coordinates).

    >>> import jax.numpy as jnp
    >>> scatter(jnp.array([[0], [2], [0]]), jnp.array([1.0, 2.0, 3.0]), (3,)).tolist()
    [4.0, 0.0, 2.0]
    """
    values = jnp.asarray(values)
    index = tuple(jnp.moveaxis(jnp.asarray(indices), -1, 0))
    return jnp.zeros(shape, values.dtype).at[index].add(values)


def scatter_update(inputs, indices, updates):
    """``inputs`` with ``updates`` written at ``indices`` (rows of coordinates).

    >>> import jax.numpy as jnp
    >>> scatter_update(jnp.zeros(3), jnp.array([[1]]), jnp.array([5.0])).tolist()
    [0.0, 5.0, 0.0]
    """
    index = tuple(jnp.moveaxis(jnp.asarray(indices), -1, 0))
    return jnp.asarray(inputs).at[index].set(updates)


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Sums of ``data`` rows per segment id (``jax.ops.segment_sum``).

    >>> import jax.numpy as jnp
    >>> segment_sum(jnp.array([1.0, 2.0, 3.0]), jnp.array([0, 0, 1])).tolist()
    [3.0, 3.0]
    """
    return jax.ops.segment_sum(data, segment_ids, num_segments, indices_are_sorted=sorted)


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Maxima of ``data`` rows per segment id (``jax.ops.segment_max``).

    >>> import jax.numpy as jnp
    >>> segment_max(jnp.array([1.0, 2.0, 3.0]), jnp.array([0, 0, 1])).tolist()
    [2.0, 3.0]
    """
    return jax.ops.segment_max(data, segment_ids, num_segments, indices_are_sorted=sorted)


def unstack(x, num=None, axis=0):
    """``x`` split along ``axis`` into a list of arrays.

    >>> import jax.numpy as jnp
    >>> [a.tolist() for a in unstack(jnp.array([[1, 2], [3, 4]]))]
    [[1, 2], [3, 4]]
    """
    return list(jnp.unstack(x, axis=axis))


def pad(x, pad_width, mode="constant", constant_values=None):
    """``x`` padded by ``pad_width`` (NumPy's form); ``constant_values`` for ``"constant"``.

    >>> import jax.numpy as jnp
    >>> pad(jnp.ones(2), 1).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    if constant_values is not None:
        return jnp.pad(x, pad_width, mode=mode, constant_values=constant_values)
    return jnp.pad(x, pad_width, mode=mode)


def unique(x, sorted=True, return_index=False, return_inverse=False,  # noqa: A002
           return_counts=False, axis=None, size=None, fill_value=None):
    """The sorted unique values of ``x`` (``size`` makes the result traceable).

    >>> import jax.numpy as jnp
    >>> unique(jnp.array([3, 1, 3])).tolist()
    [1, 3]
    """
    return jnp.unique(x, return_index=return_index, return_inverse=return_inverse,
                      return_counts=return_counts, axis=axis, size=size,
                      fill_value=fill_value)


def divide_no_nan(x1, x2):
    """``x1 / x2``, and 0 where ``x2`` is 0.

    >>> import jax.numpy as jnp
    >>> divide_no_nan(jnp.array([1.0, 1.0]), jnp.array([2.0, 0.0])).tolist()
    [0.5, 0.0]
    """
    safe = jnp.where(x2 == 0, 1, x2)
    return jnp.where(x2 == 0, 0, x1 / safe)


def rsqrt(x):
    """``1 / sqrt(x)`` (``jax.lax.rsqrt``).

    >>> import jax.numpy as jnp
    >>> rsqrt(jnp.array([4.0])).tolist()
    [0.5]
    """
    return jax.lax.rsqrt(x)


def erf(x):
    """The error function (``jax.lax.erf``).

    >>> import jax.numpy as jnp
    >>> erf(jnp.array([0.0])).tolist()
    [0.0]
    """
    return jax.lax.erf(x)


def erfinv(x):
    """The inverse error function (``jax.lax.erf_inv``).

    >>> import jax.numpy as jnp
    >>> erfinv(jnp.array([0.0])).tolist()
    [0.0]
    """
    return jax.lax.erf_inv(x)


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed stably.

    >>> import jax.numpy as jnp
    >>> round(logsumexp(jnp.zeros(2)).item(), 4)
    0.6931
    """
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)
