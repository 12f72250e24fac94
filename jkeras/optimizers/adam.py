"""The Adam family: Adam (with AMSGrad), AdamW, Adamax and Nadam, Keras 3's formulas.

Each folds its bias corrections into scalars computed once per step (``_factors``),
so the per-element work is the moment updates and one division.
"""
import jax.numpy as jnp

from .base import Optimizer


class Adam(Optimizer):
    """Adam, in Keras' form: epsilon is added to the *uncorrected* ``sqrt(v)``::

        m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        p -= alpha * m / (sqrt(v) + epsilon)

    optax's ``adam`` adds epsilon to ``sqrt(v_hat)`` instead: the same rule with a
    step-dependent epsilon (see docs/optimizers.md). ``amsgrad=True`` uses the
    running maximum of ``v``. State slots: ``"momentums"``, ``"velocities"`` and
    ``"velocity_hats"`` (AMSGrad only).

    >>> import jax.numpy as jnp
    >>> opt = Adam(learning_rate=1e-3, amsgrad=True)
    >>> params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)}}
    >>> state = opt.init(params)
    >>> params, state = opt.apply(params, state, params)   # gradients = params here
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.slot_names = ("momentums", "velocities") + (("velocity_hats",) if amsgrad else ())

    @property
    def slot_groups(self):  # Keras makes AMSGrad's slots for all weights after the others
        return (self.slot_names[:2],) + ((self.slot_names[2:],) if self.amsgrad else ())

    def _factors(self, step, lr, opt_state):
        t = (step + 1).astype(jnp.float32)
        alpha = lr * jnp.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        return {"neg_alpha": -alpha}, {}

    def _leaf(self, g, slots, f):
        m, v = slots[:2]
        m = m + (g - m) * (1 - self.beta_1)
        v = v + (jnp.square(g) - v) * (1 - self.beta_2)
        new_slots = (m, v)
        if self.amsgrad:
            v = jnp.maximum(slots[2], v)
            new_slots += (v,)
        return m * f["neg_alpha"] / (jnp.sqrt(v) + self.epsilon), new_slots

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): ``p -= p * weight_decay * lr``
    before each Adam step, as in Keras 3 (and as optax's ``adamw`` does, up to epsilon).

    >>> import jax.numpy as jnp
    >>> opt = AdamW(learning_rate=1e-3, weight_decay=0.01)
    >>> params = {"w": jnp.ones(3)}
    >>> params, state = opt.apply({"w": jnp.zeros(3)}, opt.init(params), params)
    >>> round(float(params["w"][0]), 6)      # zero gradient: only the decay acts
    0.99999
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None):
        if weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name)


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm, in Keras' form::

        m += (g - m) * (1 - beta_1);  u = max(beta_2 * u, |g|)
        p -= lr / (1 - beta_1**t) * m / (u + epsilon)

    (optax puts epsilon inside the max: ``u = max(beta_2 * u, |g| + eps)``.)
    State slots: ``"momentums"``, ``"norms"``.

    >>> import jax.numpy as jnp
    >>> opt = Adamax()
    >>> params = {"w": jnp.ones(3)}
    >>> params, state = opt.apply({"w": jnp.ones(3)}, opt.init(params), params)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.slot_names = ("momentums", "norms")

    def _factors(self, step, lr, opt_state):
        t = (step + 1).astype(jnp.float32)
        return {"neg_alpha": -lr / (1 - self.beta_1 ** t)}, {}

    def _leaf(self, g, slots, f):
        m, u = slots
        m = m + (g - m) * (1 - self.beta_1)
        u = jnp.maximum(self.beta_2 * u, jnp.abs(g))
        return m * f["neg_alpha"] / (u + self.epsilon), (m, u)

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam, in Keras' form: Nesterov momentum with Dozat's momentum cache.

    With ``u_t = beta_1 * (1 - 0.5 * 0.96**t)`` and ``u_product`` their running product
    (kept in the state as ``"u_product"``)::

        m_hat = u_{t+1} * m / (1 - u_product * u_{t+1}) + (1 - u_t) * g / (1 - u_product)
        p -= lr * m_hat / (sqrt(v / (1 - beta_2**t)) + epsilon)

    optax's ``nadam`` uses a constant ``beta_1`` in place of the cache, so the two differ
    noticeably in the first hundreds of steps. State slots: ``"momentums"``, ``"velocities"``.

    >>> import jax.numpy as jnp
    >>> opt = Nadam()
    >>> params = {"w": jnp.ones(3)}
    >>> params, state = opt.apply({"w": jnp.ones(3)}, opt.init(params), params)
    >>> round(float(state["u_product"]), 6)      # 0.9 * (1 - 0.5 * 0.96)
    0.468
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.slot_names = ("momentums", "velocities")

    def _init_scalars(self):
        return {"u_product": jnp.ones((), jnp.float32)}

    def _factors(self, step, lr, opt_state):
        t = (step + 1).astype(jnp.float32)
        u_t = self.beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_t1 = self.beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product = opt_state["u_product"] * u_t
        # lr * m_hat = m * f["m"] + g * f["g"]; negated here rather than per element.
        factors = {"m": -lr * u_t1 / (1 - u_product * u_t1),
                   "g": -lr * (1 - u_t) / (1 - u_product),
                   "v": 1 / (1 - self.beta_2 ** t)}
        return factors, {"u_product": u_product}

    def _leaf(self, g, slots, f):
        m, v = slots
        m = m + (g - m) * (1 - self.beta_1)
        v = v + (jnp.square(g) - v) * (1 - self.beta_2)
        return (m * f["m"] + g * f["g"]) / (jnp.sqrt(v * f["v"]) + self.epsilon), (m, v)

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
