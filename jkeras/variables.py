"""Variables: Keras' handles on weights, as views over jkeras' params/state pytrees.

A :class:`Variable` holds no array of its own. It names one entry of something that does
(a layer's ``params``/``state``, a metric's state, an optimizer's state) and reads and
writes it there. While a layer's pure ``apply`` runs, the layer's own variables read the
values passed to ``apply`` instead, and ``assign`` records a new value that ``apply``
returns in ``new_state``: a *stateless scope*, as Keras 3 runs its layers under JAX.
Losses added by ``add_loss`` during a call are collected the same way.

Variables are pytree nodes with the value as their one leaf, so lists of them (Keras'
``model.trainable_variables``) go through ``jax.jit`` and ``jax.grad`` as arrays do.
"""
import contextlib

import jax
import jax.numpy as jnp
import numpy as np

_scopes = []      # [{(id(owner), key): value}] of the pure calls running, innermost last
_assigned = []    # matching [{(id(owner), key): new value}]
_kept = []        # matching [{(id(owner), key): dtype}]: variables read in another dtype
_collectors = []  # lists that add_loss appends to, innermost last


@contextlib.contextmanager
def stateless_scope(values, kept_dtypes=None):
    """Within the block, the variables keyed in ``values`` read these values, and their
    ``assign`` goes to the returned dict instead of their owner.

    ``kept_dtypes`` names the dtype of variables whose value in ``values`` was cast to
    another (mixed precision reads them in the compute dtype): their assigned values are
    cast back to it, as Keras keeps a variable's dtype.
    """
    assigned = {}
    _scopes.append(values)
    _assigned.append(assigned)
    _kept.append(kept_dtypes or {})
    try:
        yield assigned
    finally:
        _scopes.pop()
        _assigned.pop()
        _kept.pop()


@contextlib.contextmanager
def collecting_losses():
    """Collects the values ``add_loss`` receives within the block into the returned list.

    >>> with collecting_losses() as losses:
    ...     add_loss(1.0)
    >>> len(losses)
    1
    """
    losses = []
    _collectors.append(losses)
    try:
        yield losses
    finally:
        _collectors.pop()


def add_loss(value):
    """Adds a scalar to the loss being collected (``Layer.add_loss`` calls this); outside
    any collection (a plain ``apply``) it is dropped."""
    if _collectors:
        _collectors[-1].append(jnp.asarray(value))


def in_stateless_scope():
    return bool(_scopes)


def _scoped(key):
    for values, assigned in zip(reversed(_scopes), reversed(_assigned)):
        if key in assigned:  # read as the scope reads it (a cast one in the compute dtype)
            value = assigned[key]
            read = values.get(key, value)
            return True, value if value.dtype == read.dtype else value.astype(read.dtype)
        if key in values:
            return True, values[key]
    return False, None


def _value_of(x):
    return x.value if isinstance(x, Variable) else x


class Variable:
    """A named weight with Keras' ``Variable`` interface, read from and written to its owner.

    ``owner`` is any object with ``_read_variable(key)`` and ``_write_variable(key, value)``.
    Arithmetic, indexing and ``jax.numpy`` functions see the current value.

    >>> import jax.numpy as jnp, jkeras
    >>> d = jkeras.layers.Dense(2, name="d"); _ = d(jnp.ones((1, 3)))
    >>> kernel = d.trainable_variables[0]
    >>> kernel.path, kernel.shape
    ('d/kernel', (3, 2))
    >>> _ = kernel.assign(jnp.zeros((3, 2))); float(d(jnp.ones((1, 3))).sum())
    0.0
    """

    __array_priority__ = 100  # NumPy defers to our operators

    def __init__(self, owner, key, path, trainable=True, autocast=True):
        self._owner, self._key = owner, key
        self.path, self._trainable = path, bool(trainable)
        self._autocast = bool(autocast)  # whether mixed precision reads it in the compute dtype

    @property
    def trainable(self):
        """Whether training changes it (its owner decides: a frozen layer's are not)."""
        decide = getattr(self._owner, "_variable_trainable", None)
        return self._trainable if decide is None else decide(self._key)

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]

    @property
    def value(self):
        """The current value: the one passed to the running pure call, else the owner's."""
        if _scopes:
            found, value = _scoped((id(self._owner), self._key))
            if found:
                return value
        return self._owner._read_variable(self._key)

    def numpy(self):
        return np.asarray(self.value)

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self):
        return len(self.shape)

    def assign(self, value):
        """Sets the value; inside a pure call, the new value becomes part of its new state.

        The shape must stay; the value is cast to the variable's dtype.
        """
        old = self.value
        key = (id(self._owner), self._key)
        dtype = old.dtype
        for values, kept in zip(reversed(_scopes), reversed(_kept)):
            if key in values:  # the dtype it is kept in, where the scope reads it cast
                dtype = kept.get(key, dtype)
                break
        value = jnp.asarray(_value_of(value))
        owner = "" if isinstance(self._owner, _Detached) else f"{self._owner!r}: "
        if tuple(value.shape) != tuple(old.shape):
            raise ValueError(f"{owner}Variable {self.path!r}: cannot assign a value of shape "
                             f"{tuple(value.shape)} to a variable of shape {tuple(old.shape)}.")
        if value.dtype != dtype:
            if not jnp.can_cast(value.dtype, dtype, casting="same_kind"):
                raise TypeError(f"{owner}Variable {self.path!r}: cannot assign a value of "
                                f"dtype {value.dtype} to a variable of dtype {dtype}.")
            value = value.astype(dtype)
        for values, assigned in zip(reversed(_scopes), reversed(_assigned)):
            if key in values:
                assigned[key] = value
                return value
        self._owner._write_variable(self._key, value)
        return value

    def assign_add(self, delta):
        return self.assign(self.value + _value_of(delta))

    def assign_sub(self, delta):
        return self.assign(self.value - _value_of(delta))

    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    def __repr__(self):
        return (f"<Variable path={self.path!r} shape={self.shape} dtype={self.dtype.name} "
                f"trainable={self.trainable}>")

    def __len__(self):
        return len(self.value)

    def __getitem__(self, index):
        return self.value[index]

    def __iter__(self):
        return iter(self.value)

    def __bool__(self):
        return bool(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return self.value

    def __abs__(self):
        return abs(self.value)

    def astype(self, dtype):
        return self.value.astype(dtype)

    @property
    def T(self):
        return self.value.T


def _binary(name):
    def op(self, other):
        return getattr(self.value, name)(_value_of(other))
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
              "lt", "le", "gt", "ge", "and", "or", "xor"):
    setattr(Variable, f"__{_name}__", _binary(f"__{_name}__"))
    if _name not in ("lt", "le", "gt", "ge"):
        setattr(Variable, f"__r{_name}__", _binary(f"__r{_name}__"))


class _Detached:
    """The owner of a Variable rebuilt from its value (by a JAX transformation)."""

    def __init__(self, value):
        self.value = value

    def _read_variable(self, key):
        return self.value

    def _write_variable(self, key, value):
        self.value = value


def _flatten(v):
    return (v.value,), (v.path, v.trainable)


def _unflatten(aux, children):
    path, trainable = aux
    return Variable(_Detached(children[0]), None, path, trainable)


jax.tree_util.register_pytree_node(Variable, _flatten, _unflatten)


def unwrap(tree):
    """``tree`` with each Variable in it replaced by its value.

    >>> unwrap([1.0])
    [1.0]
    """
    return jax.tree_util.tree_map(_value_of, tree, is_leaf=lambda x: isinstance(x, Variable))


def values(variables):
    """The arrays behind a list of variables (arrays pass through).

    >>> values([1.0])
    [1.0]
    """
    return [_value_of(v) for v in variables]


_forward = []  # [list] the losses of the latest forward pass in each running step


@contextlib.contextmanager
def forward_losses():
    """Within the block, ``stateless_call`` leaves the losses of its forward pass in the
    returned list, where ``Model.compute_loss`` finds them (Keras' ``model.losses`` in a
    stateless training step)."""
    found = []
    _forward.append(found)
    try:
        yield found
    finally:
        _forward.pop()


def record_forward_losses(losses):
    if _forward:
        _forward[-1][:] = losses


def latest_forward_losses():
    return list(_forward[-1]) if _forward else []
