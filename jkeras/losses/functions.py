"""Loss functions, by Keras name or as callables (the ``Loss`` classes wrap them).

Every loss takes ``(y_true, y_pred)`` and returns one value per example: only the last
(class or feature) axis is reduced, never the batch, so ``jnp.mean(loss(y, p))`` is the batch
loss and ``jax.vmap`` over examples gives the same numbers. All are pure ``jax.numpy`` and safe
under ``jit``, ``grad`` and ``vmap``; shapes are checked when the function is traced.

Numerics follow Keras 3: probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` before the
log, and ``from_logits=True`` uses ``log_softmax`` / ``log_sigmoid``, which never overflow.
"""
import jax
import jax.numpy as jnp

from .. import lookup

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


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, EPSILON))`` over the last axis.

    >>> import jax.numpy as jnp
    >>> mean_absolute_percentage_error(jnp.array([[2.0, 4.0]]), jnp.array([[1.0, 5.0]])).tolist()
    [37.5]
    """
    y_true, y_pred = _elementwise("mean_absolute_percentage_error", y_true, y_pred)
    diff = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), EPSILON))
    return 100.0 * jnp.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(1 + y_pred) - log(1 + y_true)) ** 2)`` over the last axis (values below
    ``EPSILON`` count as ``EPSILON``).

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[jnp.e - 1.0]])
    >>> round(float(mean_squared_logarithmic_error(jnp.zeros((1, 1)), x)[0]), 4)
    1.0
    """
    y_true, y_pred = _elementwise("mean_squared_logarithmic_error", y_true, y_pred)
    first = jnp.log(jnp.maximum(y_pred, EPSILON) + 1.0)
    second = jnp.log(jnp.maximum(y_true, EPSILON) + 1.0)
    return jnp.mean(jnp.square(first - second), axis=-1)


def _l2_normalize(x, axis):
    # Keras' ops.normalize: x * min(rsqrt(sum x^2), 1 / EPSILON), so a zero vector stays 0.
    inv = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x * jnp.minimum(inv, 1.0 / EPSILON)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Minus the cosine similarity along ``axis``: -1 for the same direction, 0 for
    orthogonal vectors (or a zero vector), 1 for opposite ones.

    >>> import jax.numpy as jnp
    >>> cosine_similarity(jnp.array([[0.0, 1.0], [1.0, 1.0]]),
    ...                   jnp.array([[1.0, 0.0], [-2.0, -2.0]])).round(4).tolist()
    [-0.0, 1.0]
    """
    name = "cosine_similarity"
    y_true, y_pred = _elementwise(name, y_true, y_pred)
    axis = _check_axis(name, axis, y_pred)
    return -jnp.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis, computed without overflow.

    >>> import jax.numpy as jnp
    >>> round(float(log_cosh(jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]]))[0]), 4)
    0.2169
    """
    y_true, y_pred = _elementwise("log_cosh", y_true, y_pred)
    x = y_pred - y_true
    return jnp.mean(x + jax.nn.softplus(-2.0 * x) - jnp.log(2.0).astype(x.dtype), axis=-1)


def _hinge_labels(y_true):
    # As Keras: 0/1 labels become -1/1; labels that are not all 0 or 1 are kept as given.
    binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0))`` over the last axis; labels are -1/1 (0/1
    labels are turned into -1/1).

    >>> import jax.numpy as jnp
    >>> hinge(jnp.array([[1.0, 0.0]]), jnp.array([[0.5, 0.5]])).tolist()
    [1.0]
    """
    y_true, y_pred = _elementwise("hinge", y_true, y_pred)
    return jnp.mean(jnp.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0) ** 2)`` over the last axis; labels as ``hinge``.

    >>> import jax.numpy as jnp
    >>> squared_hinge(jnp.array([[1.0, 0.0]]), jnp.array([[0.5, 0.5]])).tolist()
    [1.25]
    """
    y_true, y_pred = _elementwise("squared_hinge", y_true, y_pred)
    margin = jnp.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)
    return jnp.mean(jnp.square(margin), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and ``neg =
    max((1 - y_true) * y_pred)`` over the last axis (one-hot labels).

    >>> import jax.numpy as jnp
    >>> categorical_hinge(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 0.75]])).tolist()
    [0.75]
    """
    name = "categorical_hinge"
    y_pred = _as_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    _check_same_shape(name, y_true, y_pred)
    pos = jnp.sum(y_true * y_pred, axis=-1)
    neg = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(neg - pos + 1.0, 0.0)


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to
    ``[EPSILON, 1]``.

    >>> import jax.numpy as jnp
    >>> round(float(kl_divergence(jnp.array([[0.5, 0.5]]), jnp.array([[0.25, 0.75]]))[0]), 4)
    0.1438
    """
    name = "kl_divergence"
    y_pred = _as_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    _check_same_shape(name, y_true, y_pred)
    y_true, y_pred = jnp.clip(y_true, EPSILON, 1.0), jnp.clip(y_pred, EPSILON, 1.0)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + EPSILON))`` over the last axis.

    >>> import jax.numpy as jnp
    >>> poisson(jnp.array([[0.0, 2.0]]), jnp.array([[1.0, 1.0]])).round(4).tolist()
    [1.0]
    """
    y_true, y_pred = _elementwise("poisson", y_true, y_pred)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + EPSILON), axis=-1)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma``, which down-weights the examples
    already classified well (Lin et al., 2017); averaged over ``axis``.

    With ``apply_class_balancing=True``, positives also weigh ``alpha`` and negatives
    ``1 - alpha``.

    >>> import jax.numpy as jnp
    >>> y_true = jnp.array([[0.0, 1.0]])
    >>> round(float(binary_focal_crossentropy(y_true, jnp.array([[0.5, 0.5]]), gamma=0.0)[0]), 4)
    0.6931
    """
    name = "binary_focal_crossentropy"
    y_pred = _as_float(y_pred)
    y_true, y_pred = _same_rank(jnp.asarray(y_true).astype(y_pred.dtype), y_pred)
    _check_same_shape(name, y_true, y_pred)
    axis = _check_axis(name, axis, y_pred)
    _check_fraction(name, "label_smoothing", label_smoothing)
    y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = jax.nn.sigmoid(y_pred)
    p = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
    bce = -(y_true * jnp.log(p) + (1.0 - y_true) * jnp.log(1.0 - p))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = jnp.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return jnp.mean(focal, axis=axis)


# The names keras.losses.get accepts for these functions (class names such as
# "MeanSquaredError" and "MSE" reach them through snake_case).
ALL = {
    "binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mape": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "msle": mean_squared_logarithmic_error,
    "huber": huber, "cosine_similarity": cosine_similarity,
    "log_cosh": log_cosh, "hinge": hinge, "squared_hinge": squared_hinge,
    "categorical_hinge": categorical_hinge, "kl_divergence": kl_divergence,
    "kld": kl_divergence, "poisson": poisson,
    "binary_focal_crossentropy": binary_focal_crossentropy,
}


def get(identifier):
    """A loss by Keras name (``"mse"``, ``"CategoricalCrossentropy"``), a callable as is.

    >>> get("mse") is mean_squared_error
    True
    """
    return lookup.resolve(identifier, ALL, "loss")
