"""``keras.ops`` names over JAX, so code written with ``from keras import ops`` runs on
jkeras by changing the import: a mapping, not a re-implementation.

* NumPy-like functions are ``jax.numpy``'s own (same names, same argument order as
  Keras'), plus Keras' linear algebra names from ``jax.numpy.linalg``;
* ``ops.nn`` (also reachable as ``ops.relu``, ...) is :mod:`jkeras.ops.nn`;
* conversions, control flow and indexing whose Keras signature is not jax.numpy's
  (``cast``, ``convert_to_tensor``, ``cond``, ``while_loop``, ``scatter``, ...) are thin
  calls of ``jax.numpy``/``jax.lax`` in :mod:`jkeras.ops.core`.

Only positional use is guaranteed where Keras names an argument differently from
NumPy (``ops.clip(x, 0, 1)``, not ``x_min=0``).

>>> import jax.numpy as jnp
>>> from jkeras import ops
>>> ops.matmul(ops.ones((2, 3)), ops.ones((3,))).tolist()
[3.0, 3.0]
>>> ops.nn.softmax(jnp.zeros(2)).tolist(), ops.cast(ops.shape(jnp.ones((2, 5)))[1], "float32")
([0.5, 0.5], Array(5., dtype=float32))
"""
import jax.numpy as _jnp

from . import nn
from .core import (associative_scan, cast, cond, convert_to_numpy, convert_to_tensor,
                   divide_no_nan, dtype, erf, erfinv, fori_loop, in_top_k, is_tensor,
                   logsumexp, map, pad, rsqrt, scan, scatter, scatter_update, segment_max,
                   segment_sum, slice, slice_update, stop_gradient, switch, top_k, unique,
                   unstack, vectorized_map, while_loop)
from .nn import (binary_crossentropy, categorical_crossentropy, celu, dot_product_attention,
                 elu, gelu, glu, hard_sigmoid, hard_silu, hard_swish, hard_tanh, leaky_relu,
                 log_sigmoid, log_softmax, moments, normalize, one_hot, relu, relu6, selu,
                 sigmoid, silu, softmax, softplus, softsign, sparse_categorical_crossentropy,
                 sparse_plus, sparse_sigmoid, squareplus, swish)

# Keras' NumPy-like names: jax.numpy's functions, whose arguments come in Keras' order.
NUMPY = """
abs absolute add all allclose angle any append arange arccos arccosh arcsin arcsinh
arctan arctan2 arctanh argmax argmin argpartition argsort array array_split average bartlett
bincount bitwise_and bitwise_invert bitwise_left_shift bitwise_not bitwise_or
bitwise_right_shift bitwise_xor blackman broadcast_to cbrt ceil clip concatenate
conjugate copy corrcoef correlate cos cosh count_nonzero cross cumprod cumsum deg2rad diag
diagflat diagonal diff digitize dot dsplit dstack einsum empty empty_like equal exp exp2
expand_dims expm1 eye fabs flip fliplr flipud floor floor_divide fmax fmin fmod full full_like
gcd geomspace greater greater_equal hamming hanning heaviside histogram hsplit hstack hypot i0
identity imag inner isclose isfinite isin isinf isnan isneginf isposinf isreal kaiser kron lcm
ldexp left_shift less less_equal linspace log log10 log1p log2 logaddexp logaddexp2
logical_and logical_not logical_or logical_xor logspace matmul max maximum mean median
meshgrid min minimum moveaxis multiply nan_to_num nanargmax nanargmin nancumprod
nancumsum nanmax nanmean nanmedian nanmin nanpercentile nanprod nanquantile nanstd nansum
nanvar ndim negative nextafter nonzero not_equal ones ones_like outer percentile power prod
ptp quantile rad2deg ravel real reciprocal repeat reshape right_shift roll rot90 round
searchsorted select shape sign signbit sin sinc sinh size sort split sqrt square squeeze stack
std subtract sum swapaxes take take_along_axis tan tanh tensordot tile trace transpose
trapezoid tri tril triu true_divide trunc unravel_index vander var vdot vectorize vsplit
vstack where zeros zeros_like
""".split()
# Keras' linear algebra names, from jax.numpy.linalg.
LINALG = "cholesky det eig eigh inv norm pinv qr slogdet solve svd".split()

# Keras names for NumPy's aliases.
ALIASES = {"amax": _jnp.max, "amin": _jnp.min, "conj": _jnp.conjugate,
           "divide": _jnp.true_divide, "mod": _jnp.remainder}

globals().update({name: getattr(_jnp, name) for name in NUMPY})
globals().update(ALIASES)
globals().update({name: getattr(_jnp.linalg, name) for name in LINALG})

__all__ = sorted(["nn", *NUMPY, *ALIASES, *LINALG, *nn.__all__, *(
    "associative_scan cast cond convert_to_numpy convert_to_tensor divide_no_nan dtype erf "
    "erfinv fori_loop in_top_k is_tensor logsumexp map pad rsqrt scan scatter scatter_update "
    "segment_max segment_sum slice slice_update stop_gradient switch top_k unique unstack "
    "vectorized_map while_loop").split()])
