"""Several devices: replicas that share weights, data- and model-parallel training on a
mesh, and several processes through ``jax.distributed``.

Everything here is JAX's own machinery (``jax.make_mesh``, ``NamedSharding``,
``PartitionSpec``, ``jax.jit`` with shardings, ``jax.pmap``, ``jax.distributed``); this
module only decides, from weight paths, where each array goes. The names follow Keras 3's
``keras.distribution``:

>>> import numpy as np, jkeras
>>> from jkeras import layers
>>> model = jkeras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(1)])
>>> model.compile("sgd", "mse", distribution=DataParallel())   # all devices, one data axis
>>> history = model.fit(np.ones((64, 4)), np.ones((64, 1)), batch_size=16, verbose=0)

``fit``, ``evaluate``, ``predict``, ``train_on_batch`` and ``predict_on_batch`` then run
as one jitted program over the mesh: weights laid out by the distribution, each batch
split over its data axis, the train state keeping its shardings from step to step.
"""
import collections.abc
import math
import os
import re

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from . import placement
from . import state as state_lib
from ._replicas import pick_devices as _devices
from ._replicas import replicas, replicate, replicated_step, unreplicate  # re-exported
from ._replicas import rows as _rows

__all__ = ["DataParallel", "LayoutMap", "ModelParallel", "distribution", "initialize", "mesh",
           "replicas", "replicate", "replicated_step", "unreplicate"]

_TRACE_ERRORS = (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
                 jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError)


def mesh(shape=None, axis_names=("data",), devices=None):
    """A device ``Mesh`` (``jax.make_mesh``) with named axes; by default every device on
    one ``"data"`` axis. ``devices``: a count (the first n devices) or a list of devices.

    >>> m = mesh((2, 4), ("data", "model"))
    >>> dict(m.shape)
    {'data': 2, 'model': 4}
    """
    axis_names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
    devices = _devices(devices, "mesh")
    if shape is None:
        if len(axis_names) != 1:
            raise ValueError(f"mesh: give a shape for the {len(axis_names)} axes "
                             f"{axis_names}, e.g. shape=(2, {len(devices) // 2}).")
        shape = (len(devices),)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
               for s in shape):
        raise ValueError(f"mesh: shape must be positive integers, got {shape}.")
    if len(shape) != len(axis_names):
        raise ValueError(f"mesh: shape {shape} has {len(shape)} axes but axis_names "
                         f"{axis_names} names {len(axis_names)}.")
    if math.prod(shape) != len(devices):
        raise ValueError(f"mesh: shape {shape} holds {math.prod(shape)} devices, but "
                         f"{len(devices)} are used; the sizes must multiply to "
                         f"{len(devices)}.")
    # Auto axes: jit propagates shardings as it always has (make_mesh's default is Explicit).
    return jax.make_mesh(tuple(int(s) for s in shape), axis_names, devices=devices,
                         axis_types=(AxisType.Auto,) * len(shape))


_mesh = mesh  # for the classes whose ``mesh`` argument hides the function


def _path(keypath):
    return state_lib.SEP.join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))))
                              for k in keypath)


class _Distribution:
    """What ``DataParallel`` and ``ModelParallel`` share: a mesh, a data axis, and where
    weights, train states and batches go on them."""

    def __init__(self, device_mesh, batch_dim_name):
        if not isinstance(device_mesh, Mesh):
            raise TypeError(f"{type(self).__name__}: expected a jax.sharding.Mesh (see "
                            f"jkeras.sharding.mesh), got {type(device_mesh).__name__}.")
        if batch_dim_name not in device_mesh.axis_names:
            raise ValueError(f"{type(self).__name__}: batch_dim_name {batch_dim_name!r} is "
                             f"not an axis of the mesh, whose axes are "
                             f"{tuple(device_mesh.axis_names)}.")
        self.mesh, self.batch_dim_name = device_mesh, batch_dim_name
        self.data_size = int(device_mesh.shape[batch_dim_name])
        self._replicated = NamedSharding(device_mesh, PartitionSpec())

    def __repr__(self):
        return f"{type(self).__name__}(mesh={dict(self.mesh.shape)})"

    # -- weights -------------------------------------------------------------------------
    def spec(self, path, shape):
        """The ``PartitionSpec`` of the weight at ``path`` (replicated by default)."""
        return PartitionSpec()

    def shardings(self, tree, prefix=""):
        """A ``NamedSharding`` for each weight in ``tree``, by its path.

        >>> import jax.numpy as jnp
        >>> DataParallel().shardings({"dense": {"kernel": jnp.ones((3, 2))}})["dense"]
        {'kernel': NamedSharding(mesh=Mesh('data': 8, ...), spec=P(), ...)}
        """
        def one(keypath, leaf):
            path = state_lib.SEP.join(filter(None, (prefix, _path(keypath))))
            return NamedSharding(self.mesh, self.spec(path, tuple(np.shape(leaf))))
        return jax.tree_util.tree_map_with_path(one, tree)

    def distribute(self, tree, prefix=""):
        """``tree`` (params or state, nested by path, under ``prefix``) placed with its
        shardings.

        >>> import jax.numpy as jnp
        >>> w = DataParallel().distribute({"kernel": jnp.ones((3, 2))})["kernel"]
        >>> len(w.sharding.device_set) == len(jax.devices())
        True
        """
        return jax.device_put(tree, self.shardings(tree, prefix))

    def build_weights(self, layer, key, shapes):
        """``layer.build(key, *shapes)`` compiled with the weights' shardings as outputs, so
        each device makes only its own part: no whole copy on one device first."""
        built = []

        def make(k):
            built.append(layer.build(k, *shapes))
            return built[-1]
        try:
            abstract = jax.eval_shape(make, key)
        except _TRACE_ERRORS:  # a build that needs concrete values: made, then placed
            params, state = make(key)
            return self.distribute(params, layer.path), self.distribute(state, layer.path)
        out = (self.shardings(abstract[0], layer.path), self.shardings(abstract[1], layer.path))
        params, state = jax.jit(make, out_shardings=out)(key)
        # jit hands dicts back with sorted keys; weight lists follow creation order.
        return (state_lib.ordered_like(built[0][0], params),
                state_lib.ordered_like(built[0][1], state))

    def train_state_shardings(self, train_state):
        """Shardings for a train state ``{params, state, opt_state, step, rng}``: weights
        by their rules; an optimizer-state leaf that mirrors a weight (its path ends with
        the weight's path, same shape) as that weight; anything else replicated.

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.compile("adam", "mse")
        >>> sh = DataParallel().train_state_shardings(model.get_train_state())
        >>> sh["step"].spec
        P()
        """
        params = self.shardings(train_state["params"])
        state = self.shardings(train_state["state"])
        self.check_rules(train_state["params"], train_state["state"])
        mirrors = {}
        for keypath, leaf in jax.tree_util.tree_flatten_with_path(train_state["params"])[0]:
            shape = tuple(np.shape(leaf))
            mirrors[tuple(_path([k]) for k in keypath)] = (
                shape, NamedSharding(self.mesh, self.spec(_path(keypath), shape)))

        def mirror(keypath, leaf):
            keys = tuple(_path([k]) for k in keypath)
            for start in range(len(keys)):
                hit = mirrors.get(keys[start:])
                if hit is not None and hit[0] == tuple(np.shape(leaf)):
                    return hit[1]
            return self._replicated

        out = {k: jax.tree_util.tree_map_with_path(mirror, v)
               for k, v in train_state.items() if k not in ("params", "state")}
        return {**out, "params": params, "state": state}

    def check_rules(self, params, state):
        """Raises if the distribution's rules do not fit these weights (see ModelParallel)."""

    def distribute_train_state(self, train_state):
        """A train state placed with :meth:`train_state_shardings`.

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.compile("sgd", "mse")
        >>> ts = DataParallel().distribute_train_state(model.get_train_state())
        """
        return jax.device_put(train_state, self.train_state_shardings(train_state))

    # -- batches -------------------------------------------------------------------------
    @property
    def _local_data_size(self):
        return max(1, self.data_size // jax.process_count())

    def check_batch(self, x, what):
        """A clear error, before any step, when a batch does not split over the data axis."""
        rows = _rows(x) * jax.process_count()
        if rows % self.data_size:
            raise ValueError(
                f"{what}: a batch of {rows} examples does not split evenly over the "
                f"{self.data_size} devices of mesh axis {self.batch_dim_name!r}; use a "
                f"batch_size that is a multiple of {self.data_size}. Nothing was changed.")

    def distribute_batch(self, batch, stacked=False):
        """``batch`` split over the data axis (axis 0; axis 1 when ``stacked``). With
        several processes each gives its own rows (``make_array_from_process_local_data``);
        a smaller last batch that does not split evenly is replicated instead.

        >>> x = DataParallel().distribute_batch(np.ones((16, 3)))
        >>> x.sharding.spec
        P('data',)
        """
        axis = 1 if stacked else 0
        sharding = NamedSharding(self.mesh, PartitionSpec(*[None] * axis, self.batch_dim_name))

        if jax.process_count() > 1:
            return jax.tree_util.tree_map(
                lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)),
                batch)
        shardings = jax.tree_util.tree_map(
            lambda a: self._replicated if np.shape(a)[axis] % self.data_size else sharding,
            batch)
        return jax.device_put(batch, shardings)  # one transfer call for every leaf

    # -- the trainer's compiled calls ------------------------------------------------------
    def wrap_step(self, kind, fn):
        """The trainer's jitted ``fn`` run over the mesh (used by ``Model.fit`` & co)."""
        return _Step(self, kind, fn)


class _Step:
    """A trainer call over the mesh: places its train state, weights and batches, and keeps
    the train state's shardings as the outputs' (``out_shardings``), step after step."""

    def __init__(self, dist, kind, fn):
        self.dist, self.kind, self.fn = dist, kind, fn
        self._jitted = {}
        self._last = self._last_fn = None  # the train state handed out last, and its fn
        self._weights_cache = (None, None)

    def __call__(self, *args, **kwargs):
        if self.kind == "train_host":
            return self._train(*args, **kwargs)
        if self.kind == "train_batch":
            return self._train_batch(*args)
        if self.kind == "test":
            states, params, state, batch = args
            params, state = self._weights(params, state)
            return self.fn(states, params, state,
                           self.dist.distribute_batch(batch, kwargs.get("stacked", False)),
                           **kwargs)
        if self.kind == "predict":
            return self._predict(*args)
        return self.fn(*args, **kwargs)

    def _train(self, carry, batch, *, stacked):
        ts, metrics = carry
        if ts is self._last:  # the state this call handed out: placed, same structure
            fn = self._last_fn
        else:
            ts = self.dist.distribute_train_state(ts)
            treedef = jax.tree_util.tree_structure(ts)
            fn = self._jitted.get(treedef)
            if fn is None:
                out = ((self.dist.train_state_shardings(ts), None), None)
                fn = self._jitted[treedef] = jax.jit(self.fn, static_argnames=("stacked",),
                                                     donate_argnums=0, out_shardings=out)
        (ts, metrics), logs = fn((ts, metrics), self.dist.distribute_batch(batch, stacked),
                                 stacked=stacked)
        self._last, self._last_fn = ts, fn
        return (ts, metrics), logs

    def _train_batch(self, weights, extras, batch):
        # train_on_batch: the weights are the layers' (never donated), the rest the model's.
        ts = self.dist.distribute_train_state({**weights, **extras})
        fn = self._jitted.get("train_batch")
        if fn is None:
            out = (self.dist.train_state_shardings(ts), None)
            fn = self._jitted["train_batch"] = jax.jit(self.fn, donate_argnums=1,
                                                       out_shardings=out)
        return fn({k: ts[k] for k in weights}, {k: ts[k] for k in extras},
                  self.dist.distribute_batch(batch))

    def _weights(self, params, state):
        source, placed = self._weights_cache
        if source is None or source[0] is not params or source[1] is not state:
            placed = (self.dist.distribute(params), self.dist.distribute(state))
            self._weights_cache = ((params, state), placed)
        return placed

    def _predict(self, params, state, x, *rest):  # rest: predict's key, if any
        params, state = self._weights(params, state)
        n = _rows(x)
        pad = -n % self.dist._local_data_size
        if pad:  # every row comes back: padded to split evenly, then cut
            x = jax.tree_util.tree_map(
                lambda a: np.concatenate([np.asarray(a), np.zeros((pad,) + np.shape(a)[1:],
                                                                   np.asarray(a).dtype)]), x)
        fn = self._jitted.get("predict")
        if fn is None:
            rows = NamedSharding(self.dist.mesh, PartitionSpec(self.dist.batch_dim_name))
            fn = self._jitted["predict"] = jax.jit(self.fn, out_shardings=rows)
        out = fn(params, state, self.dist.distribute_batch(x), *rest)
        if jax.process_count() > 1:  # this process's own rows
            out = multihost_utils.global_array_to_host_local_array(
                out, self.dist.mesh, PartitionSpec(self.dist.batch_dim_name))
        return jax.tree_util.tree_map(lambda a: a[:n], out) if pad else out


class DataParallel(_Distribution):
    """Data parallelism: weights replicated on every device, each batch split over the
    ``"data"`` axis. ``devices``: a count or a list (default: all); or pass a ``mesh``
    (its first axis carries the batch).

    >>> dp = DataParallel(devices=4)
    >>> dp.data_size
    4
    """

    def __init__(self, devices=None, mesh=None):
        if mesh is not None and devices is not None:
            raise ValueError("DataParallel: pass devices or mesh, not both.")
        if mesh is None:
            mesh = _mesh(devices=devices)
        super().__init__(mesh, mesh.axis_names[0])


class LayoutMap(collections.abc.MutableMapping):
    """Ordered rules from weight paths to layouts: a regular expression (matched with
    ``re.fullmatch`` against paths such as ``"block1/dense/kernel"``) to a
    ``PartitionSpec`` or a tuple of mesh axis names / ``None``, one per weight dimension
    (trailing ones may be left out). A weight no rule matches is replicated; a weight two
    rules match is an error.

    >>> layout = LayoutMap(mesh((2, 4), ("data", "model")))
    >>> layout["dense.*/kernel"] = (None, "model")
    >>> layout["dense.*/kernel"]
    P(None, 'model')
    """

    def __init__(self, device_mesh):
        if not isinstance(device_mesh, Mesh):
            raise TypeError(f"LayoutMap: expected a jax.sharding.Mesh, got "
                            f"{type(device_mesh).__name__}.")
        self.mesh = device_mesh
        self._rules = {}

    def __setitem__(self, pattern, layout):
        if not isinstance(pattern, str):
            raise TypeError(f"LayoutMap: keys are regular expressions over weight paths, got "
                            f"{pattern!r}.")
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"LayoutMap: {pattern!r} is not a valid regular expression: "
                             f"{err}.") from None
        if layout is None:
            layout = PartitionSpec()
        if not isinstance(layout, (PartitionSpec, tuple, list)):
            raise TypeError(f"LayoutMap[{pattern!r}]: expected a PartitionSpec or a tuple of "
                            f"mesh axis names / None, got {layout!r}.")
        for entry in layout:
            for axis in entry if isinstance(entry, tuple) else (entry,):
                if axis is not None and axis not in self.mesh.axis_names:
                    raise ValueError(f"LayoutMap[{pattern!r}]: axis {axis!r} is not in the "
                                     f"mesh, whose axes are {tuple(self.mesh.axis_names)}.")
        self._rules[pattern] = PartitionSpec(*layout)

    def __getitem__(self, pattern):
        return self._rules[pattern]

    def __delitem__(self, pattern):
        del self._rules[pattern]

    def __iter__(self):
        return iter(self._rules)

    def __len__(self):
        return len(self._rules)

    def spec(self, path, shape):
        """The layout of the weight at ``path`` with this ``shape``, checked.

        >>> layout = LayoutMap(mesh((2, 4), ("data", "model")))
        >>> layout["d/kernel"] = (None, "model")
        >>> layout.spec("d/kernel", (3, 8)), layout.spec("d/bias", (8,))
        (P(None, 'model'), P())
        """
        rules = [p for p in self._rules if re.fullmatch(p, path)]
        if not rules:
            return PartitionSpec()
        if len(rules) > 1:
            raise ValueError(f"LayoutMap: weight {path!r} matches two rules, {rules[0]!r} and "
                             f"{rules[1]!r}; make the patterns exclusive.")
        rule, layout = rules[0], self._rules[rules[0]]
        if len(layout) > len(shape):
            raise ValueError(f"LayoutMap[{rule!r}] = {layout} has {len(layout)} entries, but "
                             f"weight {path!r} has {len(shape)} dimensions (shape {shape}).")
        for dim, (size, entry) in enumerate(zip(shape, layout)):
            axes = entry if isinstance(entry, tuple) else (entry,)
            devices = math.prod(self.mesh.shape[a] for a in axes if a is not None)
            if size % devices:
                raise ValueError(f"LayoutMap[{rule!r}]: dimension {dim} of weight {path!r} "
                                 f"(shape {shape}) has size {size}, which does not divide "
                                 f"over the {devices} devices of mesh axis {entry!r}.")
        return layout


class ModelParallel(_Distribution):
    """Model parallelism by rules on weight paths (a :class:`LayoutMap`), with the batch
    split over ``batch_dim_name`` (default: the mesh's first axis). ``strict=True`` makes
    a rule that matches no weight an error.

    >>> layout = LayoutMap(mesh((2, 4), ("data", "model")))
    >>> layout["dense.*/kernel"] = (None, "model")
    >>> mp = ModelParallel(layout_map=layout, batch_dim_name="data")
    >>> mp.spec("dense/kernel", (16, 8))
    P(None, 'model')
    """

    def __init__(self, layout_map, batch_dim_name=None, strict=False):
        if not isinstance(layout_map, LayoutMap):
            raise TypeError(f"ModelParallel: layout_map must be a LayoutMap, got "
                            f"{type(layout_map).__name__}.")
        super().__init__(layout_map.mesh, batch_dim_name or layout_map.mesh.axis_names[0])
        self.layout_map, self.strict = layout_map, bool(strict)

    def spec(self, path, shape):
        return self.layout_map.spec(path, shape)

    def check_rules(self, params, state):
        """With ``strict=True``, a rule that matches none of these weights is an error."""
        if not self.strict:
            return
        paths = [*state_lib.flatten(params), *state_lib.flatten(state)]
        unused = [p for p in self.layout_map if not any(re.fullmatch(p, q) for q in paths)]
        if unused:
            raise ValueError(f"ModelParallel(strict=True): rule(s) {unused} match no weight; "
                             f"the weights are {paths}.")


def distribution(dist):
    """Within the block, models build their weights with ``dist``'s shardings, and
    ``fit``/``evaluate``/``predict``/``train_on_batch``/``get_train_state`` of models
    compiled without a ``distribution=`` run over its mesh.

    >>> import numpy as np, jkeras
    >>> with distribution(DataParallel()):
    ...     model = jkeras.Sequential([jkeras.layers.Dense(2)])
    ...     y = model.predict(np.ones((5, 3)), verbose=0)     # 5 rows on 8 devices
    >>> y.shape
    (5, 2)
    """
    return placement.using(dist)


# -- several processes ----------------------------------------------------------------------
def _env_int(value, name, what):
    if value is None:
        value = os.environ.get(name)
        if value is None:
            return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or isinstance(value, bool):
        raise ValueError(f"initialize: {what} must be an integer >= 0 (or ${name}), got "
                         f"{value!r}.")
    return number


def initialize(coordinator_address=None, num_processes=None, process_id=None, **kwargs):
    """Joins this process to a multi-process run (``jax.distributed.initialize``); call it
    first, before any computation. Arguments left out are read from
    ``$JKERAS_COORDINATOR_ADDRESS``, ``$JKERAS_NUM_PROCESSES`` and ``$JKERAS_PROCESS_ID``
    (else JAX detects them on a cluster). Other keywords go to JAX.

    Afterwards ``jax.devices()`` lists every process's devices, a ``DataParallel()`` mesh
    spans them all, and ``fit``/``predict`` take each process's own rows.

    >>> initialize(num_processes=0)
    Traceback (most recent call last):
    ...
    ValueError: initialize: num_processes must be >= 1, got 0.
    """
    coordinator_address = coordinator_address or os.environ.get("JKERAS_COORDINATOR_ADDRESS")
    num_processes = _env_int(num_processes, "JKERAS_NUM_PROCESSES", "num_processes")
    process_id = _env_int(process_id, "JKERAS_PROCESS_ID", "process_id")
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"initialize: num_processes must be >= 1, got {num_processes}.")
    if None not in (num_processes, process_id) and process_id >= num_processes:
        raise ValueError(f"initialize: process_id {process_id} is not below num_processes "
                         f"{num_processes}.")
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id, **kwargs)
