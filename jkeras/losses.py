"""Loss functions, by Keras name or as callables.

Every loss takes ``(y_true, y_pred)`` and returns one value per example: only the last
(class or feature) axis is reduced, never the batch, so ``jnp.mean(loss(y, p))`` is the batch
loss and ``jax.vmap`` over examples gives the same numbers. All are pure ``jax.numpy`` and safe
under ``jit``, ``grad`` and ``vmap``; shapes are checked when the function is traced.

Numerics follow Keras 3: probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` before the
log, and ``from_logits=True`` uses ``log_softmax`` / ``log_sigmoid``, which never overflow.
"""
import jax
import jax.numpy as jnp

from . import lookup

EPSILON = 1e-7  # Keras' backend.epsilon(), the clip used for every probability.


# --- Input checks, shared with jkeras.metrics -------------------------------------------------


def _as_float(y_pred):
    y_pred = jnp.asarray(y_pred)
    if not jnp.issubdtype(y_pred.dtype, jnp.inexact):
        y_pred = y_pred.astype(jnp.float32)
    return y_pred


def _same_rank(y_true, y_pred):
    """Keras' fix-up when one side has an extra trailing axis of size 1.

    ``(N,)`` labels against ``(N, 1)`` predictions become ``(N, 1)``, so the result stays one
    value per example; ``(N, T, 1)`` against ``(N, T)`` drops the 1.
    """
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        else:
            y_true = jnp.squeeze(y_true, -1)
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        else:
            y_pred = jnp.squeeze(y_pred, -1)
    return y_true, y_pred


def _check_same_shape(name, y_true, y_pred, hint=""):
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{name}: y_true and y_pred shapes do not match: expected the same shape, got "
            f"y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}.{hint}")
    if y_pred.ndim < 1:
        raise ValueError(
            f"{name}: expected inputs of rank >= 1 (the last axis is reduced), got shape "
            f"{y_pred.shape}. Pass (batch, features) arrays.")


def _check_axis(name, axis, y_pred):
    # bool is an int in Python; Keras rejects it too, since axis=True is almost surely a typo.
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{name}: expected an int axis, got {axis!r}.")
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(
            f"{name}: axis={axis} is out of range for y_pred of shape {y_pred.shape}.")
    return axis % y_pred.ndim


def _check_fraction(name, what, value):
    # A traced value cannot be checked; only plain numbers are.
    if isinstance(value, (int, float)) and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected {what} in [0, 1], got {value!r}.")


def _class_indices(name, y_true, y_pred, axis=-1, dense_name=None):
    """Integer labels shaped like ``y_pred`` without ``axis``; a size-1 ``axis`` is dropped."""
    y_true = jnp.asarray(y_true)
    if y_pred.ndim < 1:
        raise ValueError(f"{name}: expected y_pred of rank >= 1, got shape {y_pred.shape}.")
    axis %= y_pred.ndim
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = jnp.squeeze(y_true, axis)
    expected = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
    if y_true.shape != expected:
        hint = ""
        if dense_name and y_true.shape == y_pred.shape:
            hint = f" y_true looks one-hot: use {dense_name} for one-hot labels."
        raise ValueError(
            f"{name}: y_true and y_pred shapes do not match: expected integer class indices "
            f"of shape {expected} (or with a trailing 1) for y_pred.shape={y_pred.shape}, got "
            f"y_true.shape={y_true.shape}.{hint}")
    return y_true.astype(jnp.int32)


def _log_probs(y_pred, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(y_pred, axis=axis)
    # Like Keras, renormalise: outputs that do not quite sum to one are still a distribution.
    y_pred = y_pred / jnp.sum(y_pred, axis=axis, keepdims=True)
    return jnp.log(jnp.clip(y_pred, EPSILON, 1.0 - EPSILON))


# --- Losses -----------------------------------------------------------------------------------


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Crossentropy between one-hot (or soft) labels and predicted class probabilities.

    With ``label_smoothing=s``, labels become ``y_true * (1 - s) + s / num_classes``.

    >>> import jax.numpy as jnp
    >>> y_true = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> y_pred = jnp.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> print(categorical_crossentropy(y_true, y_pred).round(4))
    [0.0513 2.3026]
    """
    name = "categorical_crossentropy"
    y_pred = _as_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    _check_same_shape(name, y_true, y_pred, hint=(
        " For integer class indices (not one-hot), use sparse_categorical_crossentropy."))
    axis = _check_axis(name, axis, y_pred)
    _check_fraction(name, "label_smoothing", label_smoothing)
    y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    return -jnp.sum(y_true * _log_probs(y_pred, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Crossentropy between integer class labels and predicted class probabilities.

    ``y_true`` holds class indices, shaped like ``y_pred`` without its class axis, such as
    ``(N,)``, or with a trailing 1, such as ``(N, 1)``.

    >>> import jax.numpy as jnp
    >>> y_pred = jnp.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> print(sparse_categorical_crossentropy(jnp.array([1, 2]), y_pred).round(4))
    [0.0513 2.3026]
    """
    name = "sparse_categorical_crossentropy"
    y_pred = _as_float(y_pred)
    axis = _check_axis(name, axis, y_pred)
    labels = _class_indices(name, y_true, y_pred, axis, dense_name="categorical_crossentropy")
    one_hot = jax.nn.one_hot(labels, y_pred.shape[axis], dtype=y_pred.dtype, axis=axis)
    return -jnp.sum(one_hot * _log_probs(y_pred, from_logits, axis), axis=axis)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Crossentropy between 0/1 labels and predicted probabilities, averaged over ``axis``.

    With ``label_smoothing=s``, labels are squeezed towards 0.5: ``y_true * (1 - s) + s / 2``.

    >>> import jax.numpy as jnp
    >>> y_true = jnp.array([[0.0, 1.0], [0.0, 0.0]])
    >>> y_pred = jnp.array([[0.6, 0.4], [0.4, 0.6]])
    >>> print(binary_crossentropy(y_true, y_pred).round(4))
    [0.9163 0.7136]
    """
    name = "binary_crossentropy"
    y_pred = _as_float(y_pred)
    y_true, y_pred = _same_rank(jnp.asarray(y_true).astype(y_pred.dtype), y_pred)
    _check_same_shape(name, y_true, y_pred)
    axis = _check_axis(name, axis, y_pred)
    _check_fraction(name, "label_smoothing", label_smoothing)
    y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        log_p, log_not_p = jax.nn.log_sigmoid(y_pred), jax.nn.log_sigmoid(-y_pred)
    else:
        p = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
        log_p, log_not_p = jnp.log(p), jnp.log(1.0 - p)
    return -jnp.mean(y_true * log_p + (1.0 - y_true) * log_not_p, axis=axis)


def _elementwise(name, y_true, y_pred):
    y_pred = _as_float(y_pred)
    y_true, y_pred = _same_rank(jnp.asarray(y_true).astype(y_pred.dtype), y_pred)
    _check_same_shape(name, y_true, y_pred)
    return y_true, y_pred


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred) ** 2)`` over the last axis.

    >>> import jax.numpy as jnp
    >>> mean_squared_error(jnp.array([[0.0, 1.0], [0.0, 0.0]]),
    ...                    jnp.array([[1.0, 1.0], [1.0, 0.0]])).tolist()
    [0.5, 0.5]
    """
    y_true, y_pred = _elementwise("mean_squared_error", y_true, y_pred)
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|)`` over the last axis.

    >>> import jax.numpy as jnp
    >>> mean_absolute_error(jnp.array([[0.0, 1.0], [0.0, 0.0]]),
    ...                     jnp.array([[1.0, 1.0], [1.0, 0.0]])).tolist()
    [0.5, 0.5]
    """
    y_true, y_pred = _elementwise("mean_absolute_error", y_true, y_pred)
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss over the last axis: quadratic for ``|error| <= delta``, linear beyond.

    Per element, ``0.5 * e**2`` if ``|e| <= delta`` else ``delta * |e| - 0.5 * delta**2``.

    >>> import jax.numpy as jnp
    >>> huber(jnp.array([[0.0, 0.0]]), jnp.array([[0.5, 3.0]])).tolist()
    [1.3125]
    """
    y_true, y_pred = _elementwise("huber", y_true, y_pred)
    error = jnp.abs(y_pred - y_true)
    loss = jnp.where(error <= delta, 0.5 * jnp.square(error), delta * error - 0.5 * delta**2)
    return jnp.mean(loss, axis=-1)


# The names keras.losses.get accepts for these functions (class names such as
# "MeanSquaredError" and "MSE" reach them through snake_case).
ALL = {
    "binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "huber": huber,
}


def get(identifier):
    """A loss by Keras name (``"mse"``, ``"CategoricalCrossentropy"``), a callable as is.

    >>> get("mse") is mean_squared_error
    True
    """
    return lookup.resolve(identifier, ALL, "loss")
