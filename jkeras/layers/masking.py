"""``Masking``: marks the time steps whose features all equal ``mask_value`` as padding."""
import jax.numpy as jnp

from .base import Layer


class Masking(Layer):
    """Masks the steps of a sequence whose features all equal ``mask_value``.

    The output is the input with those steps set to 0; the layers after it in a model
    get the mask ``any(inputs != mask_value, axis=-1)`` (recurrent layers skip those steps).

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[1.0, 2.0], [0.0, 0.0]]])
    >>> Masking().compute_mask(x).tolist()
    [[True, False]]
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, inputs, mask=None):
        """``True`` where a step has a feature other than ``mask_value``."""
        return jnp.any(jnp.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, params, state, x, *, training=False, rng=None):
        keep = jnp.any(jnp.not_equal(x, self.mask_value), axis=-1, keepdims=True)
        return jnp.where(keep, x, jnp.zeros((), x.dtype)), state
