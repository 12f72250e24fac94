"""Dropout (the layer, the pure function, the checks random layers share) and
ActivityRegularization."""
import jax
import jax.numpy as jnp

from .. import regularizers
from .base import Layer, fraction


def require_rng(layer, rng):
    """Raises the error that says how to pass a key, when a training-mode call has none."""
    if rng is None:
        raise ValueError(
            f"{layer!r} needs a PRNG key in training mode: pass one to the pure call, "
            "e.g. `model.apply(params, state, x, training=True, rng=jax.random.key(0))` "
            "(eager calls draw keys from the seed stream by themselves).")


def dropout(x, rate, rng, noise_shape=None):
    """Inverted dropout: each entry (of a ``noise_shape`` draw, broadcast) kept with
    probability ``1 - rate`` and scaled by ``1 / (1 - rate)``, the rest set to 0.

    >>> import jax, jax.numpy as jnp
    >>> sorted(set(dropout(jnp.ones(100), 0.5, jax.random.key(0)).tolist()))
    [0.0, 2.0]
    """
    keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape if noise_shape is None else noise_shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype))


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 in training mode, scaling the rest by ``1/(1-rate)``.

    In inference mode it is the identity.

    >>> import jax, jax.numpy as jnp
    >>> drop = Dropout(0.5)
    >>> params, state = drop.init(jax.random.key(0), jnp.ones(8))
    >>> y, _ = drop.apply(params, state, jnp.ones(8), training=True, rng=jax.random.key(1))
    >>> sorted(set(y.tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    """

    uses_training = True
    uses_rng = True
    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = fraction(self, "rate", rate)
        self.noise_shape = noise_shape

    def call(self, params, state, x, *, training=False, rng=None):
        if not training or self.rate == 0:
            return x, state
        require_rng(self, rng)
        shape = None if self.noise_shape is None else tuple(
            s if n is None else n for s, n in zip(x.shape, self.noise_shape))
        return dropout(x, self.rate, rng, shape), state


class ActivityRegularization(Layer):
    """Passes its input through and adds ``l1 * sum(|x|) + l2 * sum(x**2)``, divided by the
    batch size, to the loss (an ``activity_regularizer`` on its own, as in Keras).

    >>> import jax.numpy as jnp
    >>> layer = ActivityRegularization(l1=0.5)
    >>> _ = layer(jnp.ones((2, 3))); [float(v) for v in layer.losses]
    [1.5]
    """

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def call(self, params, state, x, *, training=False, rng=None):
        return x, state
