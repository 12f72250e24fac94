"""Keras' stateless metric API: ``variables`` and ``stateless_*`` over a metric's state.

A jkeras metric is pure ``init``/``update``/``result`` over a small state pytree; Keras
names the leaves of that pytree the metric's variables. These methods take and return
them as a list, in the state's leaf order:

>>> import jax.numpy as jnp, jkeras
>>> m = jkeras.metrics.Mean()
>>> values = m.stateless_update_state(m.variables, jnp.array([1.0, 3.0]))
>>> float(m.stateless_result(values))
2.0
"""
import jax

from .. import variables as variables_lib


class StatelessMetric:
    """Mixin of ``Metric``: Keras' stateless API over its state pytree."""

    @property
    def variables(self):
        """The leaves of the stored state as Variables (``assign`` writes them back)."""
        count = len(jax.tree_util.tree_leaves(self._stored()))
        return [variables_lib.Variable(self, i, f"{self.name}/variable_{i}", trainable=False)
                for i in range(count)]

    def _read_variable(self, key):
        return jax.tree_util.tree_leaves(self._stored())[key]

    def _write_variable(self, key, value):
        leaves, treedef = jax.tree_util.tree_flatten(self._stored())
        leaves[key] = value
        self._state = treedef.unflatten(leaves)

    def _state_of(self, values):
        treedef = jax.tree_util.tree_structure(self.init())
        values = variables_lib.values(values)
        if len(values) != treedef.num_leaves:
            raise ValueError(f"{self!r}: expected {treedef.num_leaves} metric variables, got "
                             f"{len(values)}.")
        return treedef.unflatten(values)

    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """``update`` over a list of values: the new values, as a list."""
        return jax.tree_util.tree_leaves(self.update(self._state_of(metric_variables), *args,
                                                     **kwargs))

    def stateless_result(self, metric_variables):
        """``result`` of a list of values."""
        return self.result(self._state_of(metric_variables))

    def stateless_reset_state(self):
        """The values of an empty state, as a list."""
        return jax.tree_util.tree_leaves(self.init())
