"""Noise layers, active in training only: ``SpatialDropout1D/2D/3D``, ``GaussianNoise``,
``GaussianDropout``, ``AlphaDropout``.

In inference mode each is the identity. In training mode each needs a PRNG key (``rng`` in
the pure call; eager calls draw one from the seed stream), so draws differ from Keras' but
follow the same distributions.
"""
import math

import jax
import jax.numpy as jnp

from .base import InputSpec, Layer, fraction
from .regularization import Dropout, require_rng
from .reshaping import _spatial_axes

# SELU's constants: AlphaDropout drops units to SELU's negative saturation value.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _noise_dtype(layer, x):
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else layer.compute_dtype


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one draw per (example, channel)."""

    supports_masking = True
    rank = None  # spatial axes

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format, spatial = _spatial_axes(self, data_format, self.rank)
        # Dropout's noise_shape: None takes the input's size (batch and channels), 1 shares
        # the draw along that axis (every spatial position).
        self.noise_shape = tuple(1 if a in spatial else None for a in range(self.rank + 2))
        self.input_spec = InputSpec(ndim=self.rank + 2)


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)`` inputs in training mode
    (fraction ``rate``), scaling the rest by ``1 / (1 - rate)``.

    >>> import jax.numpy as jnp
    >>> y = SpatialDropout1D(0.5, seed=0)(jnp.ones((1, 4, 3)), training=True)
    >>> bool(jnp.all(y == y[:, :1]))  # one decision per channel, shared by every step
    True
    """

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of images in training mode (fraction ``rate``), scaling the
    rest by ``1 / (1 - rate)``; ``data_format`` says where the channels are.

    >>> import jax.numpy as jnp
    >>> drop = SpatialDropout2D(0.5, data_format="channels_first")
    >>> y = drop(jnp.ones((1, 3, 4, 4)), training=True)
    >>> bool(jnp.all(y == y[:, :, :1, :1]))
    True
    """

    rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops whole 3-D feature maps in training mode, like ``SpatialDropout2D``.

    >>> import jax.numpy as jnp
    >>> SpatialDropout3D(0.5)(jnp.ones((1, 2, 2, 2, 3))).shape   # inference: the identity
    (1, 2, 2, 2, 3)
    """

    rank = 3


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` in training mode.

    >>> import jax, jax.numpy as jnp
    >>> noise = GaussianNoise(0.1)
    >>> noise(jnp.zeros(3)).tolist()    # inference: the identity
    [0.0, 0.0, 0.0]
    >>> y, _ = noise.apply({}, {}, jnp.zeros(3), training=True, rng=jax.random.key(0))
    """

    uses_training = True
    uses_rng = True
    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or not (
                0 <= stddev < math.inf):
            raise ValueError(f"{self!r}: stddev must be a finite number >= 0, got {stddev!r}")
        self.stddev = float(stddev)

    def call(self, params, state, x, *, training=False, rng=None):
        if not training or self.stddev == 0:
            return x, state
        require_rng(self, rng)
        return x + self.stddev * jax.random.normal(rng, x.shape, _noise_dtype(self, x)), state


class GaussianDropout(Layer):
    """Multiplies by 1-centred Gaussian noise of standard deviation
    ``sqrt(rate / (1 - rate))`` in training mode (the variance of ``Dropout(rate)``).

    >>> import jax.numpy as jnp
    >>> GaussianDropout(0.2)(jnp.ones(3), training=True).shape
    (3,)
    """

    uses_training = True
    uses_rng = True
    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = fraction(self, "rate", rate)

    def call(self, params, state, x, *, training=False, rng=None):
        if not training or self.rate == 0:
            return x, state
        require_rng(self, rng)
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (1.0 + stddev * jax.random.normal(rng, x.shape, _noise_dtype(self, x))), state


class AlphaDropout(Layer):
    """Dropout for SELU networks: in training mode a fraction ``rate`` of the inputs is set to
    SELU's negative saturation value and the result transformed affinely so that inputs of
    mean 0 and variance 1 keep that mean and variance.

    ``noise_shape`` (``None`` entries take the input's size) shares the draws along the axes
    where it is 1, as in ``Dropout``.

    >>> import jax.numpy as jnp
    >>> AlphaDropout(0.1, seed=1)(jnp.zeros((2, 4)), training=True).shape
    (2, 4)
    """

    uses_training = True
    uses_rng = True
    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = fraction(self, "rate", rate)
        if noise_shape is not None:
            noise_shape = tuple(noise_shape)
            if not all(n is None or (isinstance(n, int) and n >= 1) for n in noise_shape):
                raise ValueError(f"{self!r}: noise_shape must hold positive ints or None, "
                                 f"got {noise_shape!r}")
        self.noise_shape = noise_shape

    def call(self, params, state, x, *, training=False, rng=None):
        if not training or self.rate == 0:
            return x, state
        require_rng(self, rng)
        shape = x.shape
        if self.noise_shape is not None:
            if len(self.noise_shape) != x.ndim:
                raise ValueError(f"{self!r}: noise_shape {self.noise_shape} does not fit "
                                 f"inputs of shape {x.shape} (rank {x.ndim}).")
            shape = tuple(s if n is None else n for s, n in zip(x.shape, self.noise_shape))
        dtype = _noise_dtype(self, x)
        kept = (jax.random.uniform(rng, shape) >= self.rate).astype(dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        # The affine map that restores mean 0 and variance 1 (Klambauer et al., 2017).
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (x * kept + alpha_p * (1 - kept)) + b, state
