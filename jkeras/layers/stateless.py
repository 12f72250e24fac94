"""Keras' variable lists and ``stateless_call``: views over a layer's params/state pytrees.

``layer.trainable_variables`` lists one :class:`~jkeras.variables.Variable` per trainable
weight (in ``weights`` order) and ``non_trainable_variables`` the rest; their values are
the leaves of ``params`` and ``state``. ``stateless_call(trainable, non_trainable, x)``
takes lists of values in that order, runs the pure ``apply`` on the trees they make and
hands back the new non-trainable values as a list: the training loop of Keras' JAX guide.

>>> import jax, jax.numpy as jnp, jkeras
>>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
>>> trainable = [v.value for v in model.trainable_variables]
>>> y, non_trainable = jax.jit(model.stateless_call)(trainable, [], jnp.ones((1, 3)))
>>> y.shape
(1, 2)
"""
import jax

from .. import random as random_lib
from .. import state as state_lib
from .. import variables as variables_lib


class StatelessAPI:
    """Mixin of ``Layer``: Keras' variable lists and stateless call."""

    _weights_prefixed = True  # whether ``weights`` paths start with the layer's own path

    # -- what a Variable of this layer reads and writes --------------------------------------
    def _read_variable(self, key):
        where, path = key
        return state_lib.get_path(getattr(self, where), path)

    def _write_variable(self, key, value):
        where, path = key
        if isinstance(value, jax.core.Tracer):
            raise ValueError(
                f"{self!r}: a traced value was assigned to the weight {path!r} outside a "
                "pure call (inside jax.jit, grad, ...): it cannot be stored on the object. "
                "Use layer.apply(params, state, ...) and its new_state, or stateless_call.")
        setattr(self, where, state_lib.set_path(getattr(self, where), path, value))

    def _variable_trainable(self, key):
        return self._trainable and key[0] == "_params"

    # -- the lists ---------------------------------------------------------------------------
    @property
    def variables(self):
        """Every weight as a :class:`~jkeras.variables.Variable`, in ``weights`` order.

        >>> import jax.numpy as jnp, jkeras
        >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
        >>> [v.name for v in d.variables]
        ['kernel', 'bias']
        """
        out = []
        for w, (owner, where, path) in zip(self.weights, self._leaves()):
            out.append(w if isinstance(w, variables_lib.Variable) else
                       variables_lib.Variable(owner, (where, path), w.path))
        return out

    @property
    def trainable_variables(self):
        """The trainable weights as Variables (the leaves of ``params``).

        >>> import jax.numpy as jnp, jkeras
        >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
        >>> len(d.trainable_variables)
        2
        """
        return [v for v in self.variables if v.trainable]

    @property
    def non_trainable_variables(self):
        """The non-trainable weights as Variables (the leaves of ``state``).

        >>> import jax.numpy as jnp, jkeras
        >>> bn = jkeras.layers.BatchNormalization(); _ = bn(jnp.ones((1, 3)))
        >>> [v.name for v in bn.non_trainable_variables]
        ['moving_mean', 'moving_variance']
        """
        return [v for v in self.variables if not v.trainable]

    def _tree_path(self, variable):
        if self._weights_prefixed:
            return variable.path[len(self.path) + 1:]
        return variable.path

    def _trees_from_lists(self, trainable_values, non_trainable_values):
        """``(params, state)`` with the listed values put at the variables' paths."""
        self._require_built("stateless_call")
        trainable, non_trainable = self.trainable_variables, self.non_trainable_variables
        for what, refs, got in (("trainable_variables", trainable, trainable_values),
                                ("non_trainable_variables", non_trainable,
                                 non_trainable_values)):
            if len(got) != len(refs):
                raise ValueError(f"{self!r}.stateless_call: {what} must list {len(refs)} "
                                 f"values ({[v.path for v in refs]}), got {len(got)}.")
        params = {}
        for v, value in zip(trainable, variables_lib.values(trainable_values)):
            params = state_lib.set_path(params, self._tree_path(v), value)
        state = self.state  # entries that are not weights (an RNN's carry) as they are
        for v, value in zip(non_trainable, variables_lib.values(non_trainable_values)):
            state = state_lib.set_path(state, self._tree_path(v), value)
        return state_lib.ordered_like(self.params, params), state

    def stateless_call(self, trainable_variables, non_trainable_variables, *args,
                       return_losses=False, training=None, rng=None, **kwargs):
        """Keras' pure call over lists of values: ``(outputs, non_trainable_values)``,
        with the losses added during the call (weight penalties included) as a third
        item when ``return_losses``. ``rng`` (a jkeras addition) keys random layers.

        >>> import jax.numpy as jnp, jkeras
        >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
        >>> y, _ = d.stateless_call([jnp.ones((3, 2)), jnp.zeros(2)], [], jnp.ones((1, 3)))
        >>> y.tolist()
        [[3.0, 3.0]]
        """
        params, state = self._trees_from_lists(trainable_variables, non_trainable_variables)
        if rng is None:
            rng = random_lib.ambient_key()
        out, new_state, losses = self.apply(params, state, *args, training=training, rng=rng,
                                            return_losses=True, **kwargs)
        non_trainable = [state_lib.get_path(new_state, self._tree_path(v))
                         for v in self.non_trainable_variables]
        if self._regularized():
            losses = [*losses, self.regularization_loss(params)]
        variables_lib.record_forward_losses(losses)
        if not return_losses:
            return out, non_trainable
        return out, non_trainable, losses
