"""Keras' stateless optimizer API: ``build``, ``variables``, ``stateless_apply``.

These are views over the optimizer state pytree of :meth:`Optimizer.init`: ``build(vars)``
makes the state for a list of variables (their paths give the tree), ``variables`` lists
its leaves as Variables, and ``stateless_apply(opt_values, grads, values)`` is one pure
step over lists of arrays, in the variables' order: the training loop of Keras' JAX guide.

>>> import jax.numpy as jnp, jkeras
>>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
>>> opt = jkeras.optimizers.SGD(0.1)
>>> opt.build(model.trainable_variables)
>>> grads = [jnp.ones((2, 1)), jnp.ones(1)]
>>> values, opt_values = opt.stateless_apply(opt.variables, grads, model.trainable_variables)
>>> [v.shape for v in values]
[(2, 1), (1,)]
"""
import jax

from .. import state as state_lib
from .. import variables as variables_lib


class StatelessOptimizer:
    """Mixin of ``Optimizer``: Keras' stateless API over its state pytree."""

    _layout = None  # (variable paths, state treedef) once built
    _built_state = None

    def build(self, variables):
        """Makes the optimizer state for ``variables`` (e.g. ``model.trainable_variables``)
        and keeps it on the object (``variables`` lists its leaves)."""
        paths = [getattr(v, "path", str(i)) for i, v in enumerate(variables)]
        params = self._tree(paths, variables_lib.values(variables))
        self._built_state = self.init(params)
        self._set_layout(paths, self._built_state)

    def _set_layout(self, paths, opt_state):
        if len(set(paths)) != len(paths):
            raise ValueError(f"{type(self).__name__}.build: the variables' paths must be "
                             f"unique, got {paths}.")
        self._layout = (list(paths), jax.tree_util.tree_structure(opt_state))

    @staticmethod
    def _tree(paths, values):
        return state_lib.unflatten(dict(zip(paths, values)))

    def _require_layout(self, what):
        if self._layout is None:
            raise ValueError(f"{type(self).__name__}.{what}: call build(variables) first "
                             "(e.g. optimizer.build(model.trainable_variables)).")
        return self._layout

    @property
    def variables(self):
        """The leaves of the built state, as Variables (Keras' ``optimizer.variables``)."""
        self._require_layout("variables")
        count = len(jax.tree_util.tree_leaves(self._built_state))
        return [variables_lib.Variable(self, i, f"{self.name}/variable_{i}", trainable=False)
                for i in range(count)]

    def _read_variable(self, key):
        return jax.tree_util.tree_leaves(self._built_state)[key]

    def _write_variable(self, key, value):
        leaves, treedef = jax.tree_util.tree_flatten(self._built_state)
        leaves[key] = value
        self._built_state = treedef.unflatten(leaves)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """One pure step over lists: ``(new trainable values, new optimizer values)``."""
        paths, treedef = self._require_layout("stateless_apply")
        if len(grads) != len(paths) or len(trainable_variables) != len(paths):
            raise ValueError(f"{type(self).__name__}.stateless_apply: expected {len(paths)} "
                             f"gradients and variables, got {len(grads)} and "
                             f"{len(trainable_variables)}.")
        opt_state = treedef.unflatten(variables_lib.values(optimizer_variables))
        params = self._tree(paths, variables_lib.values(trainable_variables))
        new_params, new_state = self.apply(self._tree(paths, variables_lib.values(grads)),
                                           opt_state, params)
        return ([state_lib.get_path(new_params, p) for p in paths],
                jax.tree_util.tree_leaves(new_state))
