"""Attention layers: ``MultiHeadAttention``, ``Attention`` (Luong) and ``AdditiveAttention``
(Bahdanau), with Keras 3's weights, masks and numerics.

``MultiHeadAttention`` keeps Keras' weight layout: its params nest one sub-dict per
projection (``query``, ``key``, ``value``, ``attention_output``, each ``kernel``/``bias`` of
EinsumDense shapes), so paths read ``mha/query/kernel`` and ``get_weights()`` lists them in
Keras' order.

Masks follow Keras' ``Softmax(mask=...)``: masked scores get -1e9 before the softmax and
exactly 0 after it, so a query position that may attend to nothing gets all-zero attention
(Keras' fused ``dot_product_attention`` path, taken when no scores are returned and there is
no dropout, gives such rows a uniform distribution instead; every other row agrees).
"""
import functools
import math
import string

import jax
import jax.numpy as jnp

from .. import constraints, initializers, regularizers
from .. import symbolic
from .base import InputSpec, Layer, fraction, positive_int
from .regularization import dropout, require_rng

_NEG = 1e9  # Keras' "large negative" for masked float32 scores


def _dropout(layer, x, rate, training, rng):
    """Keras' dropout of attention probabilities (inverted scaling), in training only."""
    if not training or rate == 0:
        return x
    require_rng(layer, rng)
    return dropout(x, rate, rng)


def _same(a, b):
    """Whether two sizes can be equal (``None`` is an unknown size)."""
    return a is None or b is None or a == b


def _causal(t, s):
    """(1, t, s) booleans: query position i sees key positions j <= i."""
    return (jnp.arange(t)[:, None] >= jnp.arange(s)[None, :])[None]


# -- MultiHeadAttention --------------------------------------------------------------------
def _equations(rank, axes):
    """einsum equations for projected tensors ``(batch, ..., heads, channels)`` of ``rank``
    attending over ``axes``: ``scores = key . query`` then ``out = scores . value``.

    Scores are laid out ``(batch dims incl. heads, query axes, key axes)``, as in Keras.
    """
    letters = string.ascii_lowercase
    target = letters[:rank]
    source = "".join(letters[rank + axes.index(i)] if i in axes else target[i]
                     for i in range(rank))
    batch = "".join(target[i] for i in range(rank - 1) if i not in axes)
    scores = batch + "".join(target[i] for i in axes) + "".join(source[i] for i in axes)
    return f"{source},{target}->{scores}", f"{scores},{source}->{target}"


def _project(p, x, free=1):
    """An EinsumDense projection: contract x's last ``free`` axes with the kernel's first."""
    y = jnp.tensordot(x, p["kernel"], axes=free)
    return y + p["bias"] if "bias" in p else y


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017), as Keras 3's layer.

    ``query``, ``value`` (and ``key``, ``value`` by default) are projected to ``num_heads``
    heads; each query position attends over the key positions with
    ``softmax(q . k / sqrt(key_dim))``; the heads' results are projected back to the
    query's feature size (or ``output_shape``). ``attention_mask`` (``(B, T, S)``, True =
    may attend), the ``query_mask``/``value_mask``/``key_mask`` padding masks and
    ``use_causal_mask`` combine with a logical and. With ``dropout > 0`` the attention
    probabilities are dropped in training mode (pass ``rng`` to pure calls).

    ``attention_axes`` picks the axes attended over for inputs of rank > 3 (default: all but
    batch and features). The padding masks and ``use_causal_mask`` need attention over axis 1
    only (the usual ``(batch, seq, features)`` case); for other layouts pass
    ``attention_mask``.

    >>> import jax.numpy as jnp
    >>> mha = MultiHeadAttention(num_heads=2, key_dim=8, name="mha")
    >>> y, scores = mha(jnp.ones((4, 10, 16)), jnp.ones((4, 6, 16)),
    ...                 return_attention_scores=True)
    >>> y.shape, scores.shape
    ((4, 10, 16), (4, 2, 10, 6))
    >>> [w.path for w in mha.weights][:2]
    ['mha/query/kernel', 'mha/query/bias']
    """

    supports_masking = True  # the output keeps the query's mask, as in Keras

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = positive_int(self, "num_heads", num_heads)
        self.key_dim = positive_int(self, "key_dim", key_dim)
        self.value_dim = self.key_dim if value_dim is None else positive_int(
            self, "value_dim", value_dim)
        self.dropout = fraction(self, "dropout", dropout)
        self.use_bias, self.use_gate = bool(use_bias), bool(use_gate)
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        # Not ``self.output_shape``: the base class records the last call's output shape there.
        self._output_shape = None if not output_shape else tuple(
            positive_int(self, "output_shape", d) for d in output_shape)
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        if attention_axes is not None and not all(
                isinstance(a, int) and not isinstance(a, bool) for a in attention_axes):
            raise ValueError(f"{self!r}: attention_axes must be an int or a list/tuple of "
                             f"ints, got {attention_axes!r}")
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)
        self.sliding_window = None if sliding_window is None else positive_int(
            self, "sliding_window", sliding_window)
        # A kernel choice in Keras with the same math: accepted so configs port, no effect.
        self.flash_attention = flash_attention
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.uses_training = self.uses_rng = self.dropout > 0
        self.input_spec = InputSpec(min_ndim=3)

    def __call__(self, query, value, key=None, **kwargs):
        # ``key`` goes on positionally so that lazy building sees its shape.
        args = (query, value) if key is None else (query, value, key)
        return super().__call__(*args, **kwargs)

    # -- shapes ---------------------------------------------------------------------------
    def _axes(self, rank):
        """The attended axes of the projected tensors (rank = input rank + 1), as Keras."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 2))
        axes = tuple(a if a >= 0 else rank - 1 + a for a in self.attention_axes)
        if not all(1 <= a < rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"{self!r}: attention_axes {self.attention_axes} must be distinct "
                             f"axes of the inputs other than batch (0) and features (-1); the "
                             f"inputs have rank {rank - 1}.")
        return axes

    def _check_shapes(self, query, value, key):
        """Raises a ValueError unless query/value/key can be combined."""
        got = f"got query {query}, value {value}, key {key}"
        if not len(query) == len(value) == len(key) or len(query) < 3:
            raise ValueError(f"{self!r} expects query, value and key of one rank >= 3 "
                             f"(batch, ..., features); {got}.")
        if None in (query[-1], value[-1], key[-1]):
            raise ValueError(f"{self!r} needs known feature (last) sizes; {got}.")
        if not all(_same(a, b) for a, b in zip(value[:-1], key[:-1])):
            raise ValueError(f"{self!r}: value and key must agree on every axis but the last "
                             f"(batch and key/value positions); {got}.")
        axes = self._axes(len(query) + 1)
        if not all(_same(query[i], value[i]) for i in range(len(query) - 1) if i not in axes):
            raise ValueError(f"{self!r}: query and value must agree on the batch axis and on "
                             f"every axis not attended over (attention axes {axes}); {got}.")

    def build(self, rng, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        self._check_shapes(query_shape, value_shape, key_shape)
        self.input_spec = InputSpec(ndim=len(query_shape), axes={-1: query_shape[-1]})
        heads, out = self.num_heads, self._output_shape or (query_shape[-1],)
        keys = iter(jax.random.split(rng, 10))

        def dense(shape, bias_shape, contracted=1):
            # Keras' projections are EinsumDense layers: fan in = the contracted axes.
            init = initializers.with_fans(self.kernel_initializer, tuple(range(contracted)),
                                          tuple(range(contracted, len(shape))))
            p = {"kernel": init(next(keys), shape, self.dtype)}
            if self.use_bias:
                p["bias"] = self.bias_initializer(next(keys), bias_shape, self.dtype)
            return p

        # Keras' creation order: query, key, (gate,) value, attention_output.
        params = {"query": dense((query_shape[-1], heads, self.key_dim), (heads, self.key_dim)),
                  "key": dense((key_shape[-1], heads, self.key_dim), (heads, self.key_dim))}
        if self.use_gate:
            params["gate"] = dense((query_shape[-1], heads, self.value_dim),
                                   (heads, self.value_dim))
        params["value"] = dense((value_shape[-1], heads, self.value_dim), (heads, self.value_dim))
        params["attention_output"] = dense((heads, self.value_dim, *out), out, contracted=2)
        return params, {}

    # -- the math ---------------------------------------------------------------------------
    def _mask(self, scores, query, value, query_mask, value_mask, key_mask, attention_mask,
              use_causal_mask, axes):
        """The explicit, padding, causal and window masks and-ed together and broadcastable
        to ``scores`` (True where a query position may attend), or ``None``."""
        for name, m, x in (("query_mask", query_mask, query), ("value_mask", value_mask, value),
                           ("key_mask", key_mask, value)):
            if m is None:
                continue
            want = symbolic.shape_of(x)[:-1]
            if x.ndim != 3:
                raise ValueError(f"{self!r}: {name} needs rank-3 inputs (batch, positions, "
                                 f"features), got inputs of shape {symbolic.shape_of(x)}; "
                                 "pass an attention_mask instead.")
            if m.ndim != 2 or not all(map(_same, symbolic.shape_of(m), want)):
                raise ValueError(f"{self!r}: {name} must have shape (batch, positions) = "
                                 f"{want}, got {symbolic.shape_of(m)}.")
        if (use_causal_mask or self.sliding_window) and axes != (1,):
            raise ValueError(f"{self!r}: use_causal_mask and sliding_window need attention over "
                             f"axis 1 only, got attention axes {axes}; pass an attention_mask "
                             "instead.")

        def expand(m):  # Keras adds the missing (batch and) head axes before the query axes
            m = m.astype(bool)
            while m.ndim < scores.ndim:
                m = jnp.expand_dims(m, -2 * len(axes) - 1)
            return m

        masks = []
        if attention_mask is not None:
            m, want = expand(attention_mask), symbolic.shape_of(scores)
            if m.ndim > scores.ndim or not all(
                    _same(a, 1) or _same(a, b) for a, b in zip(symbolic.shape_of(m), want)):
                raise ValueError(f"{self!r}: attention_mask of shape "
                                 f"{symbolic.shape_of(attention_mask)} does not broadcast to the "
                                 f"attention scores (batch dims, heads, query positions, key "
                                 f"positions) = {want}; expected (batch, query positions, key "
                                 "positions).")
            masks.append(m)
        t, s = query.shape[1], value.shape[1]
        if query_mask is not None:
            masks.append(expand(query_mask[:, :, None]))
        masks += [expand(m[:, None, :]) for m in (value_mask, key_mask) if m is not None]
        if use_causal_mask:
            masks.append(expand(_causal(t, s)))
        if self.sliding_window:
            distance = jnp.abs(jnp.arange(t)[:, None] - jnp.arange(s)[None, :])
            masks.append(expand((distance < self.sliding_window)[None]))
        return functools.reduce(jnp.logical_and, masks) if masks else None

    def call(self, params, state, query, value, key=None, query_mask=None, value_mask=None,
             key_mask=None, attention_mask=None, return_attention_scores=False, *,
             training=False, rng=None, use_causal_mask=False):
        key = value if key is None else key
        self._check_shapes(*(symbolic.shape_of(x) for x in (query, value, key)))
        for name, x in (("value", value), ("key", key)):
            want = params[name]["kernel"].shape[0]
            if x.shape[-1] != want:
                raise ValueError(f"{self!r} was built for {name} features of size {want}, got "
                                 f"{name} of shape {symbolic.shape_of(x)}.")
        axes = self._axes(query.ndim + 1)
        q = _project(params["query"], query) * (1.0 / math.sqrt(self.key_dim))
        k = _project(params["key"], key)
        v = _project(params["value"], value)
        dot, combine = _equations(q.ndim, axes)
        scores = jnp.einsum(dot, k, q)  # (batch dims, heads, query axes, key axes)
        mask = self._mask(scores, query, value, query_mask, value_mask, key_mask,
                          attention_mask, use_causal_mask, axes)
        if mask is not None:
            scores = jnp.where(mask, scores, -_NEG)
        probs = jax.nn.softmax(scores, axis=tuple(range(scores.ndim - len(axes), scores.ndim)))
        if mask is not None:
            probs = jnp.where(mask, probs, 0.0)  # a row that sees nothing attends to nothing
        out = jnp.einsum(combine, _dropout(self, probs, self.dropout, training, rng), v)
        if self.use_gate:
            out = out * jax.nn.sigmoid(_project(params["gate"], query))
        out = _project(params["attention_output"], out, free=2)
        # Keras returns the probabilities before dropout.
        return (out, probs) if return_attention_scores else out, state

    def regularization_loss(self, params):
        # kernel_regularizer/bias_regularizer apply to every projection's kernel/bias.
        return sum((Layer.regularization_loss(self, sub) for sub in params.values()),
                   jnp.zeros((), jnp.float32))

    def apply_constraints(self, params):
        return {name: Layer.apply_constraints(self, sub) for name, sub in params.items()}


# -- Attention, AdditiveAttention ------------------------------------------------------
class Attention(Layer):
    """Dot-product (Luong-style) attention over ``[query, value]`` or ``[query, value, key]``.

    ``scores = query . key^T`` (times a learned ``scale`` with ``use_scale=True``; with
    ``score_mode="concat"``, ``concat_score_weight * sum(tanh(query + key))``), a softmax over
    the key positions, then the weighted sum of ``value``. ``mask=[query_mask, value_mask]``:
    masked value positions get no attention, masked query positions output zeros.
    With ``dropout > 0`` the attention distribution is dropped in training mode.

    >>> import jax.numpy as jnp
    >>> q, v = jnp.ones((2, 5, 8)), jnp.ones((2, 7, 8))
    >>> out, scores = Attention()([q, v], return_attention_scores=True)
    >>> out.shape, scores.shape
    ((2, 5, 8), (2, 5, 7))
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"{self!r}: score_mode must be 'dot' or 'concat', got "
                             f"{score_mode!r}")
        self.use_scale, self.score_mode = bool(use_scale), score_mode
        self.dropout = fraction(self, "dropout", dropout)
        self.uses_training = self.uses_rng = self.dropout > 0

    def _unpack(self, inputs, what="inputs"):
        """(query, value, key) from a list of 2 or 3, or a ValueError naming the layer."""
        if isinstance(inputs, (list, tuple)) and len(inputs) in (2, 3) and (
                what == "mask" or all(isinstance(x, tuple) or hasattr(x, "shape")
                                      for x in inputs)):
            return inputs[0], inputs[1], inputs[-1]
        if what == "mask":
            raise ValueError(f"{self!r} takes mask=[query_mask, value_mask] (each an array or "
                             f"None); got mask={inputs!r}.")
        got = f"a list of {len(inputs)}" if isinstance(inputs, (list, tuple)) else \
            f"a single {type(inputs).__name__}"
        raise ValueError(f"{self!r} must be called on a list [query, value] or [query, value, "
                         f"key]; got {got}.")

    def _check_shapes(self, query, value, key):
        got = f"got query {query}, value {value}, key {key}"
        if not len(query) == len(value) == len(key) or len(query) < 3:
            raise ValueError(f"{self!r} expects query, value and key of one rank >= 3 "
                             f"(batch, positions, features); {got}.")
        if not all(map(_same, query[:-2], value[:-2])) or not all(
                map(_same, value[:-1], key[:-1])):
            raise ValueError(f"{self!r}: query, value and key must share the batch size, and "
                             f"value and key the number of positions; {got}.")
        if not _same(query[-1], key[-1]):
            raise ValueError(f"{self!r}: query and key must have the same feature size to be "
                             f"scored against each other; {got}.")

    def build(self, rng, input_shape):
        self._check_shapes(*self._unpack(input_shape))
        params = {}
        if self.use_scale:
            params["scale"] = jnp.ones((), self.dtype)
        if self.score_mode == "concat":
            params["concat_score_weight"] = jnp.ones((), self.dtype)
        return params, {}

    def _scores(self, params, q, k):
        if self.score_mode == "dot":
            scores = q @ jnp.swapaxes(k, -1, -2)
            return scores * params["scale"] if self.use_scale else scores
        qk = q[..., :, None, :] + k[..., None, :, :]
        if self.use_scale:
            qk = params["scale"] * qk
        return params["concat_score_weight"] * jnp.sum(jnp.tanh(qk), axis=-1)

    def call(self, params, state, inputs, mask=None, *, training=False, rng=None,
             return_attention_scores=False, use_causal_mask=False):
        q, v, k = self._unpack(inputs)
        self._check_shapes(*(symbolic.shape_of(x) for x in (q, v, k)))
        q_mask, v_mask = (None, None) if mask is None else self._unpack(mask, "mask")[:2]
        for m, x, name in ((q_mask, q, "query_mask"), (v_mask, v, "value_mask")):
            if m is not None and not (m.ndim == x.ndim - 1 and all(
                    map(_same, symbolic.shape_of(m), symbolic.shape_of(x)[:-1]))):
                raise ValueError(f"{self!r}: {name} must have shape {symbolic.shape_of(x)[:-1]}"
                                 f" (the input's shape less features), got "
                                 f"{symbolic.shape_of(m)}.")
        scores = self._scores(params, q, k)
        keep = None if v_mask is None else v_mask.astype(bool)[..., None, :]
        if use_causal_mask:
            causal = _causal(scores.shape[-2], scores.shape[-1])
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = jnp.where(keep, scores, scores - _NEG)  # Keras subtracts, not replaces
        weights = _dropout(self, jax.nn.softmax(scores, axis=-1), self.dropout, training, rng)
        out = weights @ v
        if q_mask is not None:
            out = jnp.where(q_mask.astype(bool)[..., None], out, 0.0)
        # Keras returns the distribution after dropout here (MultiHeadAttention: before).
        return (out, weights) if return_attention_scores else out, state

    def compute_mask(self, inputs, mask=None):
        """The query's mask, when there is one."""
        if mask is None:
            return None
        return self._unpack(mask, "mask")[0]


class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention: ``scores = sum(scale * tanh(query + key))``.

    Called like :class:`Attention`: ``layer([query, value(, key)], mask=[q_mask, v_mask])``.
    ``use_scale=True`` (the default) learns the per-feature ``scale`` (shape ``(dim,)``).

    >>> import jax.numpy as jnp
    >>> AdditiveAttention()([jnp.ones((2, 5, 8)), jnp.ones((2, 7, 8))]).shape
    (2, 5, 8)
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, rng, input_shape):
        q, v, k = self._unpack(input_shape)
        self._check_shapes(q, v, k)
        if not self.use_scale:
            return {}, {}
        if q[-1] is None:
            raise ValueError(f"{self!r} needs a known query feature size, got {q}.")
        # Keras' glorot_uniform on a 1-D shape: fan_in = fan_out = dim.
        limit = math.sqrt(3.0 / q[-1])
        return {"scale": jax.random.uniform(rng, (q[-1],), self.dtype, -limit, limit)}, {}

    def _scores(self, params, q, k):
        scale = params["scale"] if self.use_scale else 1.0
        return jnp.sum(scale * jnp.tanh(q[..., :, None, :] + k[..., None, :, :]), axis=-1)
