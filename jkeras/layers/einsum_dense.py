"""``EinsumDense``: a dense layer written as an einsum equation."""
import re

import jax
import jax.numpy as jnp

from .. import activations, constraints, initializers, regularizers
from .base import InputSpec, Layer

# EinsumDense's three equation forms, as in Keras: no ellipsis, "...ab,bc->...ac" and
# "ab...,bc->ac...".
_FORMS = {
    None: re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"),
    "left": re.compile(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)"),
    "right": re.compile(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\."),
}

def _parse_equation(layer, equation, bias_axes, output_shape):
    """``(ellipsis, input, weight, output)`` letters of a valid equation, or a ValueError."""
    for ellipsis, form in _FORMS.items():
        match = form.fullmatch(equation) if isinstance(equation, str) else None
        if match:
            break
    else:
        raise ValueError(f"{layer!r}: invalid equation {equation!r}; expected the form "
                         "'ab,bc->ac', '...ab,bc->...ac' or 'ab...,bc->ac...'.")
    lhs, weight, out = match.groups()
    for letter in out:
        if letter not in lhs and letter not in weight:
            raise ValueError(f"{layer!r}: output axis {letter!r} of {equation!r} is in neither "
                             f"the input {lhs!r} nor the weight {weight!r}.")
    for letter in weight:
        if letter not in lhs and letter not in out:
            raise ValueError(f"{layer!r}: weight axis {letter!r} of {equation!r} is in neither "
                             f"the input {lhs!r} nor the output {out!r}: its size is unknown.")
    for letter in bias_axes or "":
        if letter not in out:
            raise ValueError(f"{layer!r}: bias axis {letter!r} is not an output axis of "
                             f"{equation!r} ({out!r}).")
    # output_shape leaves out the batch axis (the output's first) unless "..." leads.
    expected = len(out) if ellipsis == "left" else len(out) - 1
    if len(output_shape) != expected:
        raise ValueError(f"{layer!r}: output_shape {output_shape} should give {expected} sizes "
                         f"for the output axes {out!r} of {equation!r} (the batch axis "
                         "excluded; None for sizes taken from the input).")
    return ellipsis, lhs, weight, out


class EinsumDense(Layer):
    """A dense layer written as an einsum: ``activation(einsum(equation, x, kernel) + bias)``.

    ``output_shape`` gives the output's sizes less the batch axis (and the axes ``...``
    stands for); ``None`` where the input gives the size. ``bias_axes`` names the output axes
    the bias varies along. Kernel and bias shapes are Keras 3's, and so are the kernel's fans
    for the variance-scaling initializers (``glorot_uniform``, ...): fan in = the contracted
    input axes, fan out = the output axes.

    Output shapes come from the einsum itself, so an axis given as ``None`` in
    ``output_shape`` gets the input's size (Keras 3's docstring promises the same; its
    ``compute_output_shape`` leaves such axes ``None``).

    >>> import jax.numpy as jnp
    >>> layer = EinsumDense("abc,cd->abd", output_shape=(None, 64), bias_axes="d")
    >>> layer(jnp.ones((2, 5, 16))).shape, [w.shape for w in layer.weights]
    ((2, 5, 64), [(16, 64), (64,)])
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.equation, self.bias_axes = equation, bias_axes
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(
            output_shape)
        self._form = _parse_equation(self, equation, bias_axes, self.partial_output_shape)
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _shapes(self, input_shape):
        """Kernel shape, bias shape (or None), and the kernel's input and output axes."""
        ellipsis, lhs, weight, out = self._form
        rank, elided = len(input_shape), len(input_shape) - len(lhs)
        if elided < 0 or (ellipsis is None and elided):
            raise ValueError(f"{self!r}: the equation {self.equation!r} needs inputs of rank "
                             f"{len(lhs)}{' or more' if ellipsis else ''}, got shape "
                             f"{input_shape} (rank {rank}).")
        # Keras' full output shape: the batch size first, the axes "..." stands for, then
        # output_shape's sizes.
        if ellipsis == "left":
            full = list(input_shape[:elided]) + list(self.partial_output_shape)
            first = elided  # where the lettered axes start, in the input and the output
        else:
            full = [input_shape[0], *self.partial_output_shape, *input_shape[rank - elided:]]
            first = 0
        in_size = {c: input_shape[first + i] for i, c in enumerate(lhs)}
        out_size = {c: full[first + i] for i, c in enumerate(out)}
        for c in lhs:
            if c in out and out_size[c] is not None and out_size[c] != in_size[c]:
                raise ValueError(f"{self!r}: axis {c!r} of {self.equation!r} has size "
                                 f"{in_size[c]} in the input (shape {input_shape}) but "
                                 f"{out_size[c]} in output_shape {self.partial_output_shape}.")

        def size(c):
            known = out_size.get(c) if out_size.get(c) is not None else in_size.get(c)
            if known is None:
                raise ValueError(f"{self!r}: the size of axis {c!r} of {self.equation!r} is "
                                 f"unknown (input shape {input_shape}, output_shape "
                                 f"{self.partial_output_shape}); the weights need it.")
            return known

        kernel_shape = tuple(size(c) for c in weight)
        out_axes = [i for i, c in enumerate(weight) if c in out]
        in_axes = [i for i, c in enumerate(weight) if c not in out]
        bias_shape = None
        if self.bias_axes:
            start = min(out.index(c) for c in self.bias_axes)
            bias_shape = tuple(size(c) if c in self.bias_axes else 1 for c in out[start:])
            if ellipsis == "right":
                bias_shape += (1,) * elided
        return kernel_shape, bias_shape, in_axes, out_axes

    def build(self, rng, input_shape):
        kernel_shape, bias_shape, in_axes, out_axes = self._shapes(input_shape)
        ellipsis, lhs, weight, _ = self._form
        if ellipsis == "left":  # any number of leading axes: vmap and other ranks work
            self.input_spec = InputSpec(min_ndim=len(lhs), axes={
                i - len(lhs): input_shape[i - len(lhs)] for i, c in enumerate(lhs)
                if c in weight})
        else:  # as Keras: the rank is fixed (a right "..." sizes the bias)
            self.input_spec = InputSpec(ndim=len(input_shape), axes={
                i: input_shape[i] for i, c in enumerate(lhs) if c in weight})
        # Keras 3 gives EinsumDense's kernel its einsum fans, not the last two axes'.
        init = initializers.with_fans(self.kernel_initializer, tuple(in_axes), tuple(out_axes))
        k_kernel, k_bias = jax.random.split(rng)
        params = {"kernel": init(k_kernel, kernel_shape, self.dtype)}
        if bias_shape is not None:
            params["bias"] = self.bias_initializer(k_bias, bias_shape, self.dtype)
        return params, {}

    def call(self, params, state, x, *, training=False, rng=None):
        y = jnp.einsum(self.equation, x, params["kernel"])
        if "bias" in params:
            y = y + params["bias"]
        return self.activation(y), state
