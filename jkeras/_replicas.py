"""The tutorial's replicas: one model's weights copied to several devices for ``jax.pmap``,
a ``pmap``-ready train step, and replicas run side by side with their outputs merged.
Re-exported by :mod:`jkeras.sharding` (whose meshes take their devices from
:func:`pick_devices` too).

>>> import jax.numpy as jnp
>>> unreplicate(replicate({"w": jnp.arange(3.0)}, devices=2))["w"].tolist()
[0.0, 1.0, 2.0]
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import placement


def pick_devices(devices, what):
    """``devices`` as a list: all (``None``), the first n (a count) or the given ones;
    a clear error naming ``what`` when there are not that many.

    >>> len(pick_devices(2, "replicas"))
    2
    """
    available = jax.devices()
    if devices is None:
        return available
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        wanted = int(devices)
        chosen = available[:wanted] if wanted >= 1 else []
    else:
        chosen = list(devices)
        wanted = len(chosen)
    if not 1 <= wanted <= len(available) or len(chosen) != wanted:
        raise ValueError(f"{what}: asked for {wanted} devices, but there are {len(available)} "
                         f"({available[0].platform}); pass at most {len(available)}.")
    return chosen


def rows(tree, axis=0):
    """The length of ``axis`` of ``tree``'s first array.

    >>> rows({"x": np.zeros((5, 3))})
    5
    """
    return int(np.shape(jax.tree_util.tree_leaves(tree)[0])[axis])


def replicate(tree, devices=None):
    """One copy of ``tree`` per device, stacked on a new leading axis that is sharded over
    ``devices`` (default: all): what ``jax.pmap`` takes for weights every replica shares.

    >>> import jax.numpy as jnp
    >>> replicate({"w": jnp.ones(3)}, devices=2)["w"].shape
    (2, 3)
    """
    devices = pick_devices(devices, "replicate")
    sharding = NamedSharding(Mesh(np.array(devices), ("replica",)), PartitionSpec("replica"))

    def one(a):
        a = np.asarray(a)  # one host copy; broadcast_to makes no n-fold copy of it
        return jax.device_put(np.broadcast_to(a[None], (len(devices),) + a.shape), sharding)
    return jax.tree_util.tree_map(one, tree)


def unreplicate(tree):
    """The first replica of a :func:`replicate`-d (or ``pmap``-ped) tree.

    >>> import jax.numpy as jnp
    >>> unreplicate(replicate({"w": jnp.ones(3)}, devices=2))["w"].shape
    (3,)
    """
    return jax.tree_util.tree_map(lambda a: a.addressable_data(0)[0], tree)


def replicated_step(model, axis_name="data"):
    """The model's pure ``train_step`` made ready for ``jax.pmap(step, axis_name=...)``:
    each replica's gradients (and float state) are ``lax.pmean``-ed over ``axis_name``, so
    every replica takes the step one device would take on the whole batch.

    >>> import jax, numpy as np, jkeras
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=3)])
    >>> model.compile("sgd", "mse")
    >>> step = jax.pmap(replicated_step(model), axis_name="data")
    >>> ts = replicate(model.get_train_state(), devices=2)
    >>> ts, logs = step(ts, np.ones((2, 4, 3)), np.ones((2, 4, 1)))
    >>> model.set_train_state(unreplicate(ts))
    """
    def step(train_state, x, y=None, sample_weight=None):
        with placement.averaging(axis_name):
            train_state, logs = model.train_step(train_state, x, y, sample_weight)
        return train_state, jax.lax.pmean(logs, axis_name)
    return step


def replicas(model, x, devices=None, merge="concat"):
    """Runs replicas of ``model`` (one set of weights) on ``devices`` and merges their
    outputs, as the tutorial does by hand. ``merge="concat"``: each replica takes its
    share of ``x``'s rows and the outputs are concatenated in order; ``"mean"``: every
    replica takes all of ``x`` and the outputs are averaged.

    >>> import jax.numpy as jnp, jkeras
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2)])
    >>> replicas(model, jnp.ones((5, 3)), devices=2).shape
    (5, 2)
    """
    if merge not in ("concat", "mean"):
        raise ValueError(f"replicas: merge must be 'concat' or 'mean', got {merge!r}.")
    devices = pick_devices(devices, "replicas")
    if not getattr(model, "built", True):
        model(jax.tree_util.tree_map(lambda a: a[:1], x))
    fn = jax.jit(lambda p, s, x: model.apply(p, s, x, training=False)[0])
    params, state = model.params, model.state
    n = rows(x)
    if merge == "concat":
        bounds = np.linspace(0, n, len(devices) + 1).astype(int)
        parts = [jax.tree_util.tree_map(lambda a, i=i: a[bounds[i]:bounds[i + 1]], x)
                 for i in range(len(devices))]
    else:
        parts = [x] * len(devices)
    # Every replica is dispatched before any result is read: they run side by side.
    outs = [fn(*jax.device_put((params, state, part), device))
            for part, device in zip(parts, devices) if rows(part) or merge == "mean"]
    outs = jax.device_put(outs, devices[0])
    if merge == "concat":
        return jax.tree_util.tree_map(lambda *o: jnp.concatenate(o), *outs)
    return jax.tree_util.tree_map(lambda *o: sum(o) / len(o), *outs)
