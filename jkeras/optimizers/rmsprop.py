"""RMSprop, Keras 3's formula (epsilon inside the square root)."""
import jax.numpy as jnp

from .base import Optimizer


class RMSprop(Optimizer):
    """Divides the gradient by a running root mean square of its recent values::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g                       # centered only
        step = lr * g / sqrt(v - a**2 + epsilon)          # "- a**2" centered only
        mom = momentum * mom + step;  p -= mom            # or p -= step, no momentum

    The same as optax's ``rmsprop(decay=rho, eps=epsilon, centered=..., momentum=...)``
    (optax's default eps is 1e-8, Keras' 1e-7). State slots: ``"velocities"``,
    ``"momentums"`` (momentum > 0), ``"average_gradients"`` (centered).

    >>> import jax.numpy as jnp
    >>> opt = RMSprop(learning_rate=1e-3, momentum=0.9, centered=True)
    >>> params = {"w": jnp.ones(3)}
    >>> params, state = opt.apply({"w": jnp.ones(3)}, opt.init(params), params)
    >>> sorted(k for k in state if k not in ("iterations", "learning_rate"))
    ['average_gradients', 'momentums', 'velocities']
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
        self.slot_names = (("velocities",) + (("momentums",) if momentum > 0 else ())
                           + (("average_gradients",) if centered else ()))

    @property
    def slot_groups(self):  # Keras makes each kind of slot for all weights in turn
        return tuple((name,) for name in self.slot_names)

    def _leaf(self, g, slots, f):
        v, *rest = slots
        v = self.rho * v + (1 - self.rho) * jnp.square(g)
        new_slots = [v]
        if self.centered:
            a = self.rho * rest[-1] + (1 - self.rho) * g
            denominator = v - jnp.square(a) + self.epsilon
        else:
            denominator = v + self.epsilon
        if self.centered:
            new_slots.append(a)
        if self.momentum <= 0:
            return (f["neg_lr"] * g) / jnp.sqrt(denominator), tuple(new_slots)
        # Keras stores the momentum with the step's sign (it subtracts it), so keep that.
        momentum = self.momentum * rest[0] + (f["lr"] * g) / jnp.sqrt(denominator)
        new_slots.insert(1, momentum)
        return -momentum, tuple(new_slots)

    def _hyperparameters(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
