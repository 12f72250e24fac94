"""Weight regularizers: penalties a layer adds to the loss, as pure functions of a weight.

A layer with ``kernel_regularizer=...`` contributes ``regularizer(kernel)`` to
``model.regularization_loss(params)``, which ``fit`` adds to the loss.
"""
import dataclasses

import jax.numpy as jnp

from . import lookup


@dataclasses.dataclass(frozen=True, repr=False)
class L1L2:
    """``l1 * sum(|w|) + l2 * sum(w**2)``.

    >>> import jax.numpy as jnp
    >>> float(L1L2(l1=0.5, l2=1.0)(jnp.array([1.0, -2.0])))
    6.5
    """

    l1: float = 0.0
    l2: float = 0.0

    def __call__(self, w):
        loss = jnp.zeros((), w.dtype)
        if self.l1:
            loss = loss + self.l1 * jnp.sum(jnp.abs(w))
        if self.l2:
            loss = loss + self.l2 * jnp.sum(jnp.square(w))
        return loss

    def get_config(self):
        """``{"l1": ..., "l2": ...}``, Keras' ``L1L2`` config.

        >>> L1L2(l2=0.1).get_config()
        {'l1': 0.0, 'l2': 0.1}
        """
        return dataclasses.asdict(self)

    def __repr__(self):  # the config's form, so L1 and L2 show as Keras names them
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def from_config(cls, config):
        """Rebuilds the regularizer from ``get_config()``.

        >>> L1L2.from_config({"l1": 0.5})
        L1L2(l1=0.5, l2=0.0)
        """
        return cls(**config)


class L1(L1L2):
    """``l1 * sum(|w|)`` (Keras' default factor 0.01).

    >>> import jax.numpy as jnp
    >>> float(L1(0.1)(jnp.array([1.0, -2.0])))
    0.30000001192092896
    """

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        """``{"l1": ...}``, Keras' ``L1`` config.

        >>> L1(0.5).get_config()
        {'l1': 0.5}
        """
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)`` (Keras' default factor 0.01).

    >>> import jax.numpy as jnp
    >>> float(L2(0.1)(jnp.array([1.0, -2.0])))
    0.5
    """

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        """``{"l2": ...}``, Keras' ``L2`` config.

        >>> L2(0.5).get_config()
        {'l2': 0.5}
        """
        return {"l2": self.l2}


l1, l2 = L1, L2


def l1_l2(l1=0.01, l2=0.01):
    """Both penalties, Keras' defaults.

    >>> import jax.numpy as jnp
    >>> float(l1_l2(1.0, 1.0)(jnp.array([2.0])))
    6.0
    """
    return L1L2(l1=l1, l2=l2)


L1_L2 = l1_l2
ALL = {"l1": L1(), "l2": L2(), "l1_l2": l1_l2()}


def get(identifier):
    """A regularizer by name (``"l2"``: factor 0.01), a callable as is, ``None`` as is.

    >>> get("l2")
    L2(l2=0.01)
    """
    return lookup.resolve(identifier, ALL, "regularizer")
