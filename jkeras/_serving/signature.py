"""What a model looks like from outside when served: named, typed, shaped inputs and outputs,
and its inference function (frozen in inference mode) over named arrays, per signature."""
import os
import re
import shutil
import tempfile

import jax
import numpy as np

from .. import symbolic

DEFAULT_SIGNATURE = "serving_default"
_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")  # what TF accepts as a tensor name


class TensorInfo:
    """A named input or output of a signature: its dtype and shape (``None`` where symbolic).

    >>> TensorInfo("images", "float32", (None, 784))
    TensorInfo('images', float32, (None, 784))
    """

    def __init__(self, name, dtype, shape):
        self.name, self.dtype = name, np.dtype(dtype)
        self.shape = tuple(None if d is None else int(d) for d in shape)

    def to_json(self):
        return {"name": self.name, "dtype": self.dtype.name, "shape": list(self.shape)}

    def __eq__(self, other):
        return isinstance(other, TensorInfo) and self.to_json() == other.to_json()

    def __repr__(self):
        return f"TensorInfo({self.name!r}, {self.dtype.name}, {self.shape})"


class Signature:
    """One servable function: named inputs to named outputs, over NumPy or JAX arrays.

    >>> import numpy as np
    >>> sig = Signature([TensorInfo("x", "float32", (None, 2))],
    ...                 [TensorInfo("y", "float32", (None, 2))], lambda xs: {"y": xs["x"] * 2})
    >>> sig({"x": np.ones((1, 2), np.float32)})["y"].tolist()
    [[2.0, 2.0]]
    """

    def __init__(self, inputs, outputs, fn):
        self.inputs, self.outputs, self._fn = tuple(inputs), tuple(outputs), fn

    def __call__(self, named):
        return self._fn(named)


def _is_shape(x):
    return isinstance(x, tuple) and all(d is None or isinstance(d, int) for d in x)


def input_infos(model):
    """``(infos, treedef)``: the model's flattened inputs (names, dtypes, batch made symbolic)
    and the structure of its positional arguments."""
    if not getattr(model, "built", False) or model.input_shapes is None:
        raise ValueError(f"{model!r} is not built: call it on data or build() it before "
                         "exporting, so its input shapes are known.")
    from ..models.functional import Functional
    args = (model.inputs,) if isinstance(model, Functional) else tuple(model.input_shapes)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(
        args, is_leaf=lambda t: isinstance(t, symbolic.KerasTensor) or _is_shape(t))
    infos = []
    for i, (path, leaf) in enumerate(leaves):
        keys = [str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey)]
        if isinstance(leaf, symbolic.KerasTensor):
            name = leaf.name or ("/".join(keys) if keys else None)
            shape, dtype = leaf.shape, leaf.dtype
        else:
            name, shape, dtype = "/".join(keys) or None, leaf, "float32"
        if not shape:
            raise ValueError(f"{model!r}: input {i} is a scalar; served inputs need a batch "
                             "dimension")
        infos.append(TensorInfo(name or f"input_{i}", dtype, (None, *shape[1:])))
    check_names(model, "input", [t.name for t in infos])
    return infos, treedef


def output_names(model, outputs):
    leaves = jax.tree_util.tree_flatten_with_path(outputs)[0]
    if isinstance(outputs, dict):
        return ["/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
                for path, _ in leaves]
    tensors = jax.tree_util.tree_leaves(getattr(model, "outputs", None))
    names = [getattr(t.node, "layer", None) and t.node.layer.name
             for t in tensors if isinstance(t, symbolic.KerasTensor) and t.node is not None]
    from ..models.sequential import Sequential
    if isinstance(model, Sequential) and len(leaves) == 1 and model.layers:
        names = [model.layers[-1].name]  # a Sequential's output layer is its last one
    if len(names) == len(leaves) and len(set(names)) == len(names):
        return names
    return [f"output_{i}" for i in range(len(leaves))]


def check_names(model, what, names):
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"{model!r}: {what} name {name!r} cannot name a served tensor; use "
                             "letters, digits and _ . - / (e.g. Input(name='images')).")
    if len(set(names)) != len(names):
        raise ValueError(f"{model!r}: {what} names {names} are not unique; name them "
                         "(Input(name=...) or distinct layer names).")


class Inference:
    """A model's inference functions, one per signature, over ``(weights, {input name: x})``
    and returning ``{output name: y}``, so the names travel inside the exported modules."""

    def __init__(self, model, signatures=None):
        self.inputs, self.args_tree = input_infos(model)
        self.in_names = [t.name for t in self.inputs]
        self.weights = {"params": model.params, "state": model.state}
        self.model = model
        scope = jax.export.SymbolicScope()
        self.specs = {t.name: jax.ShapeDtypeStruct(
            jax.export.symbolic_shape(poly(t), scope=scope), t.dtype) for t in self.inputs}
        self.weight_specs = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), self.weights)
        out = jax.eval_shape(self._structured, self.weight_specs, self.specs)
        names = output_names(model, out)
        check_names(model, "output", names)
        # JSON structures with names at the leaves: how served(*inputs) takes and returns them.
        self.structures = {"inputs": jax.tree_util.tree_unflatten(self.args_tree, self.in_names),
                           DEFAULT_SIGNATURE: jax.tree_util.tree_unflatten(
                               jax.tree_util.tree_structure(out), names)}
        default = lambda weights, xs: dict(zip(names, jax.tree_util.tree_leaves(
            self._structured(weights, xs))))
        self.functions = {DEFAULT_SIGNATURE: default}
        for name, extra in (signatures or {}).items():
            if name == DEFAULT_SIGNATURE or not isinstance(name, str) or not callable(extra) \
                    or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
                raise ValueError(f"signatures: {name!r} must map a new signature name (letters, "
                                 "digits, _ and -) to a function of the named outputs dict")
            self.functions[name] = _extra(default, extra)
        self.outputs = {}
        for name, fn in self.functions.items():
            out = jax.eval_shape(fn, self.weight_specs, self.specs)
            check_names(model, f"signature {name!r} output", list(out))
            self.outputs[name] = infos(list(out), out.values())
            self.structures.setdefault(name, {k: k for k in out})

    def _structured(self, weights, xs):
        args = jax.tree_util.tree_unflatten(self.args_tree, [xs[n] for n in self.in_names])
        return self.model.apply(weights["params"], weights["state"], *args, training=False)[0]

    def flat(self, name):
        """``fn(weights, *inputs) -> [outputs]`` (in name order) for jax2tf."""
        fn, out_names = self.functions[name], [t.name for t in self.outputs[name]]

        def flat(weights, *xs):
            out = fn(weights, dict(zip(self.in_names, xs)))
            return [out[n] for n in out_names]
        return flat


def _extra(default, extra):
    def fn(weights, xs):
        out = extra(default(weights, xs))
        return dict(out) if isinstance(out, dict) else {"output_0": out}
    return fn


def poly(info):
    # One symbol per axis position: 'b' for the batch, d<i> for any other unknown axis.
    return "(" + ", ".join("b" if i == 0 else (f"d{i}" if d is None else str(d))
                           for i, d in enumerate(info.shape)) + ")"


def infos(names, avals):
    return [TensorInfo(n, a.dtype, symbolic.shape_of(a)) for n, a in zip(names, avals)]


# -- writing a directory atomically ----------------------------------------------------------
def write_dir(final, write):
    """Runs ``write(tmp)`` then renames ``tmp`` to ``final``: a killed write leaves no half
    directory where a server looks, and an existing ``final`` is never overwritten."""
    final = os.path.abspath(os.fspath(final))
    if os.path.exists(final):
        raise FileExistsError(f"{final!r} already exists; exports never overwrite (choose "
                              "another path or version)")
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
    try:
        write(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def next_version(export_base):
    versions = [int(n) for n in os.listdir(export_base) if n.isdigit()] \
        if os.path.isdir(export_base) else []
    return max(versions, default=0) + 1
