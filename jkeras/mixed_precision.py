"""Mixed precision: dtype policies, as Keras 3 names them, and loss scaling.

A policy fixes two dtypes for a layer: the *variable* dtype its weights are created and
kept in, and the *compute* dtype its math runs in. ``"mixed_bfloat16"`` and
``"mixed_float16"`` keep float32 weights and compute in 16 bits; any dtype name
(``"float32"``, ...) uses that one dtype for both.

A layer takes its policy from ``dtype=`` (a name or a ``DTypePolicy``), else from the
global policy when it is created. Its pure ``apply`` casts the floating inputs and its
own weights to the compute dtype before ``call``, so ``jax.jit`` and ``jax.grad`` see
the casts and the gradients come back in float32, the weights' dtype. As in Keras 3,
normalization layers and ``Embedding`` (``autocast = False``) take their weights and
inputs as they are, compute in float32 and return the compute dtype. Keras-style
layers cast as Keras 3 does: inputs, and their floating weights as ``call`` reads them
(``autocast=False`` on the layer or on ``add_weight`` opts out). Losses in ``fit`` are
computed in float32.

>>> import jax.numpy as jnp, jkeras
>>> jkeras.mixed_precision.set_global_policy("mixed_bfloat16")
>>> dense = jkeras.layers.Dense(4)
>>> y = dense(jnp.ones((2, 3)))
>>> y.dtype, dense.params["kernel"].dtype
(dtype(bfloat16), dtype('float32'))
>>> jkeras.mixed_precision.set_global_policy("float32")
"""
import jax
import jax.numpy as jnp
import numpy as np

from .optimizers.loss_scale_optimizer import LossScaleOptimizer

_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def _dtype_name(name):
    try:
        dtype = jnp.dtype(name)
    except TypeError:
        dtype = None
    if dtype is None or not (jnp.issubdtype(dtype, jnp.number) or dtype == jnp.bool_):
        raise ValueError(
            f"Cannot convert {name!r} to a dtype policy. Valid policies are "
            "'mixed_float16', 'mixed_bfloat16' and the name of a dtype such as 'float32'.")
    return dtype.name


class DTypePolicy:
    """A layer's compute and variable dtypes, by Keras 3's policy name.

    ``name``: ``"mixed_bfloat16"``, ``"mixed_float16"`` or a dtype name; ``None`` takes
    the global policy's.

    >>> policy = DTypePolicy("mixed_float16")
    >>> policy.compute_dtype, policy.variable_dtype
    ('float16', 'float32')
    >>> DTypePolicy("float32")
    <DTypePolicy "float32">
    """

    def __init__(self, name=None):
        if name is None:
            name = global_policy().name
        if not isinstance(name, str):
            raise TypeError(f"A dtype policy name must be a string such as 'mixed_bfloat16', "
                            f"got {name!r} of type {type(name).__name__}.")
        if name in _MIXED:
            self._compute, self._variable = _MIXED[name], "float32"
        else:
            self._compute = self._variable = _dtype_name(name)
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        """The dtype layers compute in (their inputs and weights are cast to it)."""
        return self._compute

    @property
    def variable_dtype(self):
        """The dtype layers create and keep their weights in."""
        return self._variable

    def get_config(self):
        """``{"name": ...}``, as Keras.

        >>> DTypePolicy.from_config(DTypePolicy("mixed_bfloat16").get_config()).name
        'mixed_bfloat16'
        """
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'


Policy = DTypePolicy  # Keras' older name, still exported by Keras 3

_global = [DTypePolicy("float32")]


def get(identifier):
    """A ``DTypePolicy`` from a policy, a name, a dtype, a config dict, or ``None`` (the
    global policy).

    >>> get("mixed_bfloat16").compute_dtype
    'bfloat16'
    >>> import jax.numpy as jnp
    >>> get(jnp.float16).name
    'float16'
    """
    if identifier is None:
        return global_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return DTypePolicy.from_config(identifier.get("config", identifier))
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(jnp.dtype(identifier).name)
    except TypeError:
        raise TypeError(f"Cannot interpret {identifier!r} as a dtype policy: pass a name "
                        "('mixed_bfloat16', 'float32', ...) or a DTypePolicy.") from None


def set_global_policy(policy):
    """Sets the policy of layers created from now on (Keras' ``set_global_policy``).

    >>> set_global_policy("mixed_bfloat16"); global_policy()
    <DTypePolicy "mixed_bfloat16">
    >>> set_global_policy("float32")
    """
    _global[0] = get("float32" if policy is None else policy)


def global_policy():
    """The policy layers get when created without ``dtype=`` (``"float32"`` by default).

    >>> global_policy().name
    'float32'
    """
    return _global[0]


set_dtype_policy, dtype_policy = set_global_policy, global_policy  # Keras 3's newer names


def _is_float(x):
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and \
        jnp.issubdtype(x.dtype, jnp.floating)


def autocast(tree, dtype):
    """``tree`` with its floating arrays cast to ``dtype``; other leaves as they are.

    >>> import numpy as np
    >>> autocast({"w": np.ones(2, "float32"), "i": np.ones(2, "int32")}, "bfloat16")["w"].dtype
    dtype(bfloat16)
    """
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        return tree
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, dtype) if _is_float(x) and x.dtype != dtype else x, tree)


__all__ = ["DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "get",
           "global_policy", "set_dtype_policy", "set_global_policy"]
