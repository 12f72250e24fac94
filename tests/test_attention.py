"""Attention layers: NumPy references written here, parity with Keras 3, transforms, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers.attention import AdditiveAttention, Attention, MultiHeadAttention

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=1e-5)
# Most tests set random weights themselves: a cheap initializer keeps them fast (compiling
# a random initializer for each new weight shape costs seconds on CPU).
ZEROS = dict(kernel_initializer="zeros")


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def bools(*shape, p=0.7):
    m = RNG.random(shape) < p
    m[..., 0] = True  # every row sees something unless a test says otherwise
    return m


def _keras():
    import keras
    return keras


# -- NumPy references ----------------------------------------------------------------------
def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_mha(w, query, value, key, num_heads, key_dim, mask=None):
    """Scaled dot-product multi-head attention, head by head, for (B, T, D) inputs.

    ``w``: Keras' weight list (kernel, bias) for query, key, value, attention_output.
    ``mask``: (B, T, S) booleans, True = may attend; a row with no True attends to nothing.
    """
    wq, bq, wk, bk, wv, bv, wo, bo = w
    batch, t = query.shape[:2]
    out = np.zeros((batch, t, wo.shape[-1]), np.float64)
    probs = np.zeros((batch, num_heads, t, value.shape[1]), np.float64)
    for b in range(batch):
        for n in range(num_heads):
            q = query[b] @ wq[:, n] + bq[n]           # (T, key_dim)
            k = key[b] @ wk[:, n] + bk[n]             # (S, key_dim)
            v = value[b] @ wv[:, n] + bv[n]           # (S, value_dim)
            logits = q @ k.T / np.sqrt(key_dim)
            if mask is not None:
                logits = np.where(mask[b], logits, -1e9)
            p = np_softmax(logits)
            if mask is not None:
                p = np.where(mask[b], p, 0.0)
            probs[b, n] = p
            out[b] += (p @ v) @ wo[n]
    return out + bo, probs


def np_attention(q, v, k, scores_fn, q_mask=None, v_mask=None, causal=False):
    """Luong/Bahdanau attention for (B, T, D) inputs, given ``scores_fn(q_t, k_s)``."""
    batch, t, s = q.shape[0], q.shape[1], v.shape[1]
    scores = np.array([[[scores_fn(q[b, i], k[b, j]) for j in range(s)] for i in range(t)]
                       for b in range(batch)])
    keep = np.ones((batch, t, s), bool)
    if v_mask is not None:
        keep &= v_mask[:, None, :]
    if causal:
        keep &= np.tril(np.ones((t, s), bool))
    weights = np_softmax(np.where(keep, scores, scores - 1e9))
    out = weights @ v
    if q_mask is not None:
        out = np.where(q_mask[..., None], out, 0.0)
    return out, weights


def random_weights(layer):
    return [rand(*w.shape) * 0.5 for w in layer.weights]


def _apply(layer, *args, **kwargs):
    # The pure call, op by op: many argument combinations without a compile for each.
    return layer.apply(layer.params, layer.state, *args, **kwargs)[0]


# -- MultiHeadAttention: NumPy reference, weights --------------------------------------------
@pytest.mark.parametrize("cfg,masked", [
    (dict(num_heads=2, key_dim=3), False),
    (dict(num_heads=2, key_dim=3, value_dim=4, output_shape=5), True),
])
def test_mha_matches_numpy_reference(cfg, masked):
    q, v, k = rand(2, 4, 6), rand(2, 5, 7), rand(2, 5, 3)
    mha = MultiHeadAttention(**cfg, **ZEROS)
    mha(q, v, k)
    w = random_weights(mha)
    mha.set_weights(w)
    mask = bools(2, 4, 5) if masked else None
    if masked:
        mask[0, 1] = False  # a query position that may attend to nothing
    out, probs = mha(q, v, k, attention_mask=mask, return_attention_scores=True)
    ref_out, ref_probs = np_mha(w, q, v, k, cfg["num_heads"], cfg["key_dim"], mask)
    np.testing.assert_allclose(out, ref_out, **TOL)
    np.testing.assert_allclose(probs, ref_probs, **TOL)
    if masked:
        np.testing.assert_array_equal(np.asarray(probs)[0, :, 1], 0.0)


def test_mha_padding_and_causal_masks_match_numpy_reference():
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    mha = MultiHeadAttention(2, 3, **ZEROS)
    mha(q, v)
    w = random_weights(mha)
    mha.set_weights(w)
    q_mask, v_mask = bools(2, 4), bools(2, 5)
    out = mha(q, v, query_mask=q_mask, value_mask=v_mask, use_causal_mask=True)
    mask = q_mask[:, :, None] & v_mask[:, None, :] & np.tril(np.ones((4, 5), bool))
    np.testing.assert_allclose(out, np_mha(w, q, v, v, 2, 3, mask)[0], **TOL)


def test_mha_weight_paths_shapes_and_order_follow_keras():
    mha = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=(5,),
                             name="mha", **ZEROS)
    mha(rand(2, 4, 6), rand(2, 5, 7), rand(2, 5, 3))
    assert [(w.path, w.shape) for w in mha.weights] == [
        ("mha/query/kernel", (6, 2, 3)), ("mha/query/bias", (2, 3)),
        ("mha/key/kernel", (3, 2, 3)), ("mha/key/bias", (2, 3)),
        ("mha/value/kernel", (7, 2, 4)), ("mha/value/bias", (2, 4)),
        ("mha/attention_output/kernel", (2, 4, 5)), ("mha/attention_output/bias", (5,))]
    assert list(mha.params) == ["query", "key", "value", "attention_output"]
    assert list(mha.params["query"]) == ["kernel", "bias"]
    assert mha.count_params() == sum(int(np.prod(w.shape)) for w in mha.weights)
    no_bias = MultiHeadAttention(2, 3, use_bias=False, use_gate=True, **ZEROS)
    no_bias(rand(2, 4, 6), rand(2, 5, 6))
    assert [w.path.split("/", 1)[1] for w in no_bias.weights] == [
        "query/kernel", "key/kernel", "gate/kernel", "value/kernel", "attention_output/kernel"]


def test_mha_set_weights_checks_everything_first():
    mha = MultiHeadAttention(2, 3, **ZEROS)
    mha(rand(2, 4, 6), rand(2, 5, 6))
    before = mha.get_weights()
    bad = [np.ones_like(w) for w in before]
    bad[-1] = np.ones(7, "float32")
    with pytest.raises(ValueError, match="attention_output/bias"):
        mha.set_weights(bad)
    for a, b in zip(mha.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_mha_weights_under_name_scope_in_a_model_and_saved(tmp_path):
    with jkeras.name_scope("block1"):
        mha = MultiHeadAttention(2, 3, name="mha", **ZEROS)
    q, v = jkeras.Input(shape=(4, 6)), jkeras.Input(shape=(5, 6))
    model = jkeras.Model([q, v], mha(q, v))
    assert [w.path for w in model.weights][:2] == ["block1/mha/query/kernel",
                                                   "block1/mha/query/bias"]
    assert jkeras.state.flatten(model.params).keys() == {w.path for w in model.weights}
    w = random_weights(mha)
    model.set_weights(w)  # through the model: the nested leaves are written in place
    for a, b in zip(mha.get_weights(), w):
        np.testing.assert_array_equal(a, b)
    path = str(tmp_path / "m.weights.npz")
    model.save_weights(path)
    model.set_weights([x * 0 for x in w])
    model.load_weights(path)
    np.testing.assert_array_equal(mha.get_weights()[3], w[3])


def test_mha_regularizers_and_constraints_reach_every_projection():
    mha = MultiHeadAttention(2, 3, kernel_regularizer="l2", bias_regularizer="l1",
                             kernel_constraint="non_neg", **ZEROS)
    mha(rand(2, 4, 6), rand(2, 5, 6))
    mha.set_weights(random_weights(mha))
    params = mha.params
    want = sum(0.01 * np.sum(np.square(p["kernel"])) + 0.01 * np.sum(np.abs(p["bias"]))
               for p in params.values())
    np.testing.assert_allclose(mha.regularization_loss(params), want, rtol=1e-5)
    constrained = mha.apply_constraints(params)
    for name, p in constrained.items():
        assert np.all(np.asarray(p["kernel"]) >= 0)
        np.testing.assert_array_equal(p["bias"], params[name]["bias"])


def test_mha_frozen_weights_move_to_state():
    mha = MultiHeadAttention(2, 3)
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    before = mha(q, v)
    mha.trainable = False
    assert mha.params == {} and list(mha.state) == ["query", "key", "value",
                                                    "attention_output"]
    assert not any(w.trainable for w in mha.weights)
    np.testing.assert_array_equal(mha(q, v), before)  # the same weights, now as state


# -- MultiHeadAttention: parity with Keras ---------------------------------------------------
def _mha_pair(q, v, k=None, **cfg):
    """Ours and Keras' layer, built on these inputs, with the same random weights."""
    keras = _keras()
    ours = MultiHeadAttention(**cfg, **ZEROS)
    theirs = keras.layers.MultiHeadAttention(**cfg, **ZEROS)
    args = (q, v) if k is None else (q, v, k)
    theirs(*args, return_attention_scores=True)  # builds for any key_dim/value_dim
    ours(*args)
    theirs.set_weights(random_weights(ours))
    ours.set_weights(theirs.get_weights())
    return ours, theirs


MHA_CASES = {
    "self": (dict(), dict(training=True)),
    "cross_key": (dict(), dict(key=True)),
    "value_dim_output_shape": (dict(value_dim=4, output_shape=(2, 3)), dict(key=True)),
    "no_bias": (dict(use_bias=False), dict()),
    "attention_mask": (dict(), dict(attention_mask=True, training=True)),
    "causal": (dict(), dict(use_causal_mask=True)),
    "causal_and_mask": (dict(), dict(use_causal_mask=True, attention_mask=True)),
    "value_key_masks": (dict(), dict(value_mask=True, key_mask=True, key=True)),
    "gate": (dict(use_gate=True), dict()),
    "sliding_window": (dict(sliding_window=2), dict(use_causal_mask=True)),
}


@pytest.mark.parametrize("case", sorted(MHA_CASES))
def test_mha_parity_with_keras(case):
    cfg, opts = MHA_CASES[case]
    cfg = dict(num_heads=2, key_dim=3, **cfg)
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    k = rand(2, 5, 3) if opts.get("key") else None
    ours, theirs = _mha_pair(q, v, k, **cfg)
    kwargs = {}
    if opts.get("attention_mask"):
        kwargs["attention_mask"] = bools(2, 4, 5)
    for name in ("value_mask", "key_mask"):
        if opts.get(name):
            kwargs[name] = bools(2, 5)
    if opts.get("use_causal_mask"):
        kwargs["use_causal_mask"] = True
    args = (q, v) if k is None else (q, v, k)
    want, want_scores = theirs(*args, return_attention_scores=True, **kwargs)
    got, got_scores = _apply(ours, *args, return_attention_scores=True, **kwargs)
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(got_scores, want_scores, **TOL)
    # Keras' fused path (no scores returned) where it supports the configuration.
    if cfg.get("value_dim", cfg["key_dim"]) == cfg["key_dim"]:
        np.testing.assert_allclose(got, theirs(*args, **kwargs), **TOL)
    if opts.get("training"):  # deterministic without dropout, and the same; eager call
        np.testing.assert_allclose(ours(*args, training=True, **kwargs),
                                   theirs(*args, training=True, **kwargs), **TOL)


def test_mha_query_mask_matches_keras_masking():
    # Keras 3 reads the query mask from the query tensor's Keras mask only (an explicit
    # query_mask on a raw array is overwritten); the equivalent attention_mask is the same.
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    ours, theirs = _mha_pair(q, v, num_heads=2, key_dim=3)
    q_mask, v_mask = bools(2, 4), bools(2, 5)
    q_mask[0, 2] = False  # this row attends to nothing: zeros, as Keras' softmax path gives
    want, want_scores = theirs(q, v, attention_mask=q_mask[:, :, None] & v_mask[:, None, :],
                               return_attention_scores=True)
    got, got_scores = ours(q, v, query_mask=q_mask, value_mask=v_mask,
                           return_attention_scores=True)
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(got_scores, want_scores, **TOL)


@pytest.mark.parametrize("axes", [None, (2,), (1, 2), -2])
def test_mha_attention_axes_parity_with_keras(axes):
    q, v = rand(2, 3, 4, 6), rand(2, 3, 5, 6)
    if axes not in ((2,), -2):
        v = rand(2, 2, 5, 6)  # attention over axis 1 too: its size may differ
    ours, theirs = _mha_pair(q, v, num_heads=2, key_dim=3, attention_axes=axes)
    # An explicit mask over (query positions, key positions), broadcast over the rest.
    mask = bools(2, *q.shape[1:3], *v.shape[1:3]) if axes in (None, (1, 2)) else \
        bools(2, 3, 4, 5)
    want, want_scores = theirs(q, v, attention_mask=mask, return_attention_scores=True)
    got, got_scores = ours(q, v, attention_mask=mask, return_attention_scores=True)
    assert got_scores.shape == want_scores.shape
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(got_scores, want_scores, **TOL)


def test_mha_gradients_match_keras():
    q, v, k = rand(2, 4, 6), rand(2, 5, 6), rand(2, 5, 3)
    mask = bools(2, 4, 5)
    ours, theirs = _mha_pair(q, v, k, num_heads=2, key_dim=3)
    cot = rand(2, 4, 6)

    def our_loss(params, q, v, k):
        out, _ = ours.apply(params, {}, q, v, k, attention_mask=mask, use_causal_mask=True)
        return jnp.sum(out * cot)

    def their_loss(tvars, q, v, k):
        out, _ = theirs.stateless_call(tvars, [], q, v, k, attention_mask=mask,
                                       use_causal_mask=True)
        return jnp.sum(out * cot)

    g_ours = jax.jit(jax.grad(our_loss, argnums=(0, 1, 2, 3)))(ours.params, q, v, k)
    tvars = [w.value for w in theirs.trainable_variables]
    g_theirs = jax.jit(jax.grad(their_loss, argnums=(0, 1, 2, 3)))(tvars, q, v, k)
    assert [w.path.split("/", 1)[1] for w in theirs.trainable_variables] == \
        [w.path.split("/", 1)[1] for w in ours.weights]
    # jax returns dicts with sorted keys: read them in the layer's (Keras') order.
    flat = [g_ours[0][name][w] for name in ours.params for w in ours.params[name]]
    for a, b in zip(flat, g_theirs[0]):
        np.testing.assert_allclose(a, b, **TOL)
    for a, b in zip(g_ours[1:], g_theirs[1:]):
        np.testing.assert_allclose(a, b, **TOL)


def test_mha_output_shapes_match_keras():
    keras = _keras()
    shapes = ((None, 4, 6), (None, 5, 7), (None, 5, 3))
    for cfg in (dict(num_heads=2, key_dim=3), dict(num_heads=2, key_dim=3, output_shape=(4, 2))):
        ours = MultiHeadAttention(**cfg, **ZEROS)
        theirs = keras.layers.MultiHeadAttention(**cfg, **ZEROS)
        assert ours.compute_output_shape(*shapes) == theirs.compute_output_shape(*shapes)
        q, v, k = (jkeras.Input(batch_shape=s) for s in shapes)
        kq, kv, kk = (keras.Input(batch_shape=s) for s in shapes)
        assert ours(q, v, k).shape == theirs(kq, kv, kk).shape
        out, scores = ours(q, v, k, return_attention_scores=True)
        # Keras' symbolic scores shape repeats the query length (a Keras bug): compare with
        # its eager result instead.
        real = theirs(rand(2, 4, 6), rand(2, 5, 7), rand(2, 5, 3), return_attention_scores=True)
        assert scores.shape == (None, *real[1].shape[1:])


# -- MultiHeadAttention: transforms, training, functional API ------------------------------
def test_mha_eager_jit_vmap_agree_with_default_initializers():
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    mask = bools(2, 4, 5)
    mha = MultiHeadAttention(2, 3)
    eager = mha(q, v, attention_mask=mask)
    kernel = mha.params["query"]["kernel"]
    limit = np.sqrt(6 / (6 + 2 * 3))  # Keras' einsum fans for a (6, 2, 3) kernel: 6 in, 6 out
    assert 0.5 * limit < np.abs(kernel).max() <= limit
    np.testing.assert_array_equal(mha.params["query"]["bias"], 0.0)
    jitted, _ = jax.jit(mha.apply)(mha.params, mha.state, q, v, attention_mask=mask)
    np.testing.assert_allclose(jitted, eager, **TOL)
    per_example = jax.vmap(
        lambda a, b, m: mha.apply(mha.params, mha.state, a[None], b[None],
                                  attention_mask=m[None])[0][0])(q, v, mask)
    np.testing.assert_allclose(per_example, eager, **TOL)
    traced = jax.jit(lambda a, b, m: mha(a, b, attention_mask=m))(q, v, mask)  # inference
    np.testing.assert_allclose(traced, eager, **TOL)


def test_mha_dropout_in_training_needs_and_uses_a_key():
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    mha = MultiHeadAttention(2, 3, dropout=0.3, seed=1, **ZEROS)
    mha(q, v)
    mha.set_weights(random_weights(mha))
    infer, scores = _apply(mha, q, v, return_attention_scores=True)
    assert mha.uses_rng and mha.uses_training
    with pytest.raises(ValueError, match="needs a PRNG key"):
        mha.apply(mha.params, mha.state, q, v, training=True)
    keys = jax.random.split(jax.random.key(0), 4000).at[1].set(jax.random.key(1))
    keys = keys.at[2].set(jax.random.key(1))
    outs, out_scores = jax.jit(jax.vmap(lambda key: mha.apply(
        mha.params, mha.state, q, v, training=True, rng=key, return_attention_scores=True)[0]))(
        keys)
    np.testing.assert_array_equal(outs[1], outs[2])  # the same key, the same draw
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[0], infer)
    # Dropping probabilities with rate r and scaling by 1/(1-r): the mean over many keys is
    # the inference output.
    np.testing.assert_allclose(outs.mean(0), infer, atol=0.05)
    # The returned scores are the probabilities before dropout, as in Keras.
    np.testing.assert_allclose(out_scores[0], scores, **TOL)
    # Without dropout no key is needed, also in training mode.
    plain = MultiHeadAttention(2, 3, **ZEROS)
    assert not plain.uses_rng
    plain.apply(*plain.init(jax.random.key(0), q, v), q, v, training=True)


def test_mha_in_functional_model_with_masks_as_inputs():
    q_in, v_in = jkeras.Input(shape=(4, 6)), jkeras.Input(shape=(5, 6))
    m_in = jkeras.Input(shape=(4, 5), dtype="bool")
    q, v, m = rand(2, 4, 6), rand(2, 5, 6), bools(2, 4, 5)
    ours, theirs = _mha_pair(q, v, num_heads=2, key_dim=3)
    out, scores = ours(q_in, v_in, attention_mask=m_in, use_causal_mask=True,
                       return_attention_scores=True)
    assert (out.shape, scores.shape) == ((None, 4, 6), (None, 2, 4, 5))
    model = jkeras.Model([q_in, v_in, m_in], [out, scores])
    got = model([q, v, m])
    want = theirs(q, v, attention_mask=m, use_causal_mask=True, return_attention_scores=True)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, **TOL)
    y, _ = jax.jit(model.apply)(model.params, model.state, [q, v, m])
    np.testing.assert_allclose(y[0], want[0], **TOL)


def test_mha_keeps_the_query_mask_in_a_model():
    tokens = jkeras.Input(shape=(4,), dtype="int32")
    x = jkeras.layers.Embedding(10, 6, mask_zero=True, embeddings_initializer="zeros")(tokens)
    mha = MultiHeadAttention(2, 3, **ZEROS)
    y = mha(x, x)
    mask = np.array([[1, 1, 0, 0]], bool)
    assert mha.compute_mask(None, mask) is mask  # the output keeps the query's mask
    assert jkeras.Model(tokens, y)(np.array([[3, 4, 0, 0]])).shape == (1, 4, 6)


def test_mha_takes_padding_masks_from_embeddings_like_keras():
    keras = _keras()
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0]], "int32")

    def build(lib, mha):
        tokens = lib.Input(shape=(4,), dtype="int32")
        x = lib.layers.Embedding(10, 6, mask_zero=True)(tokens)
        return lib.Model(tokens, mha(x, x, return_attention_scores=True)[0])

    theirs = build(keras, keras.layers.MultiHeadAttention(2, 3))
    ours = build(jkeras, MultiHeadAttention(2, 3, **ZEROS))
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(ids), theirs(ids), **TOL)


# -- Attention, AdditiveAttention -----------------------------------------------------------
def test_attention_matches_numpy_reference():
    q, v, k = rand(2, 4, 6), rand(2, 5, 7), rand(2, 5, 6)
    q_mask, v_mask = bools(2, 4), bools(2, 5)
    cases = [
        (Attention(), [], lambda w: lambda a, b: a @ b),
        (Attention(use_scale=True), [1.7], lambda w: lambda a, b: w[0] * (a @ b)),
        (Attention(use_scale=True, score_mode="concat"), [0.8, 1.3],
         lambda w: lambda a, b: w[1] * np.tanh(w[0] * (a + b)).sum()),
        (AdditiveAttention(), [rand(6)], lambda w: lambda a, b: (w[0] * np.tanh(a + b)).sum()),
        (AdditiveAttention(use_scale=False), [], lambda w: lambda a, b: np.tanh(a + b).sum()),
    ]
    for layer, weights, scores in cases:
        layer([q, v, k])
        layer.set_weights(weights)
        for causal in (False, True):
            got, got_w = layer([q, v, k], mask=[q_mask, v_mask], use_causal_mask=causal,
                               return_attention_scores=True)
            want, want_w = np_attention(q, v, k, scores(weights), q_mask, v_mask, causal)
            np.testing.assert_allclose(got, want, **TOL)
            np.testing.assert_allclose(got_w, want_w, **TOL)


def test_attention_weights_follow_keras():
    att = Attention(use_scale=True, score_mode="concat", name="att")
    att([rand(2, 4, 6), rand(2, 5, 6)])
    assert [(w.path, w.shape) for w in att.weights] == [("att/scale", ()),
                                                       ("att/concat_score_weight", ())]
    assert Attention(name="plain").weights == []
    add = AdditiveAttention(name="add")
    add([rand(1, 2, 300), rand(1, 4, 300)])
    assert [(w.path, w.shape) for w in add.weights] == [("add/scale", (300,))]
    limit = np.sqrt(6 / 600)  # Keras' glorot_uniform on a 1-D shape
    assert 0.9 * limit < np.abs(add.get_weights()[0]).max() <= limit


@pytest.mark.parametrize("cls,cfg", [
    ("Attention", dict()),
    ("Attention", dict(use_scale=True)),
    ("Attention", dict(use_scale=True, score_mode="concat")),
    ("Attention", dict(score_mode="concat")),
    ("AdditiveAttention", dict()),
    ("AdditiveAttention", dict(use_scale=False)),
])
def test_attention_parity_with_keras(cls, cfg):
    keras = _keras()
    ours = {"Attention": Attention, "AdditiveAttention": AdditiveAttention}[cls](**cfg)
    theirs = getattr(keras.layers, cls)(**cfg)
    q, v, k = rand(2, 4, 6), rand(2, 5, 7), rand(2, 5, 6)
    theirs([q, v, k])
    ours([q, v, k])
    ours.set_weights([w + 0.3 for w in theirs.get_weights()])
    theirs.set_weights(ours.get_weights())
    q_mask, v_mask = bools(2, 4), bools(2, 5)
    for inputs in ([q, v, k], [q, k]):
        for kwargs in (dict(), dict(mask=[q_mask, v_mask]),
                       dict(mask=[None, v_mask], use_causal_mask=True)):
            want = theirs(inputs, return_attention_scores=True, **kwargs)
            got = _apply(ours, inputs, return_attention_scores=True, **kwargs)
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, **TOL)
        shapes = [(None, *x.shape[1:]) for x in inputs]
        assert ours.compute_output_shape(shapes) == tuple(theirs.compute_output_shape(shapes))
    if not cfg:  # training mode (no dropout: deterministic), through the eager call
        np.testing.assert_allclose(ours([q, v, k], mask=[q_mask, v_mask], training=True),
                                   theirs([q, v, k], mask=[q_mask, v_mask], training=True),
                                   **TOL)


@pytest.mark.parametrize("cls", ["Attention", "AdditiveAttention"])
def test_attention_gradients_match_keras(cls):
    keras = _keras()
    ours = {"Attention": Attention(use_scale=True), "AdditiveAttention": AdditiveAttention()}[cls]
    theirs = getattr(keras.layers, cls)(use_scale=True)
    q, v, k = rand(2, 4, 6), rand(2, 5, 7), rand(2, 5, 6)
    v_mask = bools(2, 5)
    theirs([q, v, k])
    ours([q, v, k])
    ours.set_weights([w + 0.5 for w in theirs.get_weights()])
    theirs.set_weights(ours.get_weights())
    cot = rand(2, 4, 7)

    def our_loss(params, q, v, k):
        out = ours.apply(params, {}, [q, v, k], mask=[None, v_mask], use_causal_mask=True)[0]
        return jnp.sum(out * cot)

    def their_loss(tvars, q, v, k):
        out = theirs.stateless_call(tvars, [], [q, v, k], mask=[None, v_mask],
                                    use_causal_mask=True)[0]
        return jnp.sum(out * cot)

    g_ours = jax.jit(jax.grad(our_loss, argnums=(0, 1, 2, 3)))(ours.params, q, v, k)
    g_theirs = jax.jit(jax.grad(their_loss, argnums=(0, 1, 2, 3)))(
        [w.value for w in theirs.trainable_variables], q, v, k)
    np.testing.assert_allclose(g_ours[0]["scale"], g_theirs[0][0], **TOL)
    for a, b in zip(g_ours[1:], g_theirs[1:]):
        np.testing.assert_allclose(a, b, **TOL)


def test_attention_dropout_and_transforms():
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    v_mask = bools(2, 5)
    att = Attention(dropout=0.5)
    infer, p = att([q, v], mask=[None, v_mask], return_attention_scores=True)
    assert att.uses_rng and not Attention().uses_rng
    with pytest.raises(ValueError, match="needs a PRNG key"):
        att.apply({}, {}, [q, v], training=True)
    a, w = jax.jit(lambda key: att.apply({}, {}, [q, v], mask=[None, v_mask], training=True,
                                         rng=key, return_attention_scores=True)[0])(
        jax.random.key(0))
    # Keras returns the distribution after dropout: entries are 0 or 2x a probability.
    assert np.all(np.isclose(w, 0) | np.isclose(w, 2 * np.asarray(p), rtol=1e-5))
    assert 0 < np.mean(np.isclose(w, 0) & (np.asarray(p) > 0)) < 1
    np.testing.assert_allclose(a, np.asarray(w) @ v, **TOL)
    assert att([q, v], training=True).shape == infer.shape  # eager: seed-stream keys
    mapped = jax.vmap(lambda a, b, m: att.apply({}, {}, [a[None], b[None]],
                                                mask=[None, m[None]])[0][0])(q, v, v_mask)
    np.testing.assert_allclose(mapped, infer, **TOL)


def test_attention_in_functional_model_takes_embedding_masks_like_keras():
    keras = _keras()
    ids_q = np.where(bools(2, 4), RNG.integers(1, 10, (2, 4)), 0).astype("int32")
    ids_v = np.where(bools(2, 5), RNG.integers(1, 10, (2, 5)), 0).astype("int32")
    ids_q[0, 1] = 0  # a padded query position: its output is zero

    def build(lib, attention):
        a, b = lib.Input(shape=(4,), dtype="int32"), lib.Input(shape=(5,), dtype="int32")
        emb = lib.layers.Embedding(10, 6, mask_zero=True)
        return lib.Model([a, b], attention([emb(a), emb(b)]))

    ours = build(jkeras, AdditiveAttention())
    theirs = build(keras, keras.layers.AdditiveAttention())
    ours.set_weights(theirs.get_weights())
    got = ours([ids_q, ids_v])
    np.testing.assert_allclose(got, theirs([ids_q, ids_v]), **TOL)
    np.testing.assert_array_equal(np.asarray(got)[0, 1], 0.0)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(num_heads=0, key_dim=4), "num_heads must be a positive integer"),
    (dict(num_heads=-2, key_dim=4), "num_heads must be a positive integer"),
    (dict(num_heads=2, key_dim=0), "key_dim must be a positive integer"),
    (dict(num_heads=2, key_dim=2.5), "key_dim must be a positive integer"),
    (dict(num_heads=2, key_dim=4, value_dim=0), "value_dim must be a positive integer"),
    (dict(num_heads=2, key_dim=4, dropout=1.0), "dropout must be a number in"),
    (dict(num_heads=2, key_dim=4, attention_axes="x"), "attention_axes must be"),
])
def test_mha_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


@pytest.mark.parametrize("shapes,match", [
    (((2, 4, 6), (3, 5, 6)), "query and value must agree on the batch axis"),
    (((2, 4, 6), (2, 5, 6), (2, 4, 6)), "value and key must agree on every axis but the last"),
    (((2, 4, 6), (2, 5, 6), (3, 5, 6)), "value and key must agree"),
    (((2, 6), (2, 6)), "rank >= 3"),
    (((2, 4, 6), (2, 5, 2, 6)), "one rank >= 3"),
])
def test_mha_inputs_that_cannot_be_combined(shapes, match):
    mha = MultiHeadAttention(2, 3, name="mha")
    with pytest.raises(ValueError, match=f"MultiHeadAttention 'mha'.*{match}"):
        mha(*(rand(*s) for s in shapes))


def test_mha_errors_after_build_and_for_masks():
    mha = MultiHeadAttention(2, 3, name="mha")
    q, v = rand(2, 4, 6), rand(2, 5, 6)
    mha(q, v)
    with pytest.raises(ValueError, match="'mha'.*batch axis"):
        mha(q, rand(3, 5, 6))
    with pytest.raises(ValueError, match="'mha'> was built for value features of size 6"):
        mha(q, rand(2, 5, 7))
    with pytest.raises(ValueError, match="'mha'> was built for key features of size 6"):
        mha(q, v, rand(2, 5, 7))
    with pytest.raises(ValueError, match="'mha'> was built for size 6 on axis -1"):
        mha(rand(2, 4, 5), v)
    with pytest.raises(ValueError, match="'mha'.*attention_mask of shape \\(2, 4, 4\\)"):
        mha(q, v, attention_mask=bools(2, 4, 4))
    with pytest.raises(ValueError, match="'mha'.*attention_mask of shape \\(3, 4, 5\\)"):
        mha(q, v, attention_mask=bools(3, 4, 5))
    with pytest.raises(ValueError, match="'mha'.*value_mask must have shape"):
        mha(q, v, value_mask=bools(2, 4))
    with pytest.raises(ValueError, match="'mha'.*query_mask must have shape"):
        mha(q, v, query_mask=bools(2, 4, 1))
    with pytest.raises(ValueError, match="'mha'.*attention_axes \\(0,\\) must be distinct"):
        MultiHeadAttention(2, 3, attention_axes=(0,), name="mha")(q, v)
    four = MultiHeadAttention(2, 3, attention_axes=(2,), name="mha")
    x = rand(2, 3, 4, 6)
    with pytest.raises(ValueError, match="'mha'.*use_causal_mask.*axis 1 only"):
        four(x, x, use_causal_mask=True)
    with pytest.raises(ValueError, match="'mha'.*value_mask needs rank-3 inputs"):
        four(x, x, value_mask=bools(2, 3, 4))


@pytest.mark.parametrize("call,match", [
    (lambda att: att(rand(2, 4, 6)), "must be called on a list \\[query, value\\]"),
    (lambda att: att([rand(2, 4, 6)]), "must be called on a list"),
    (lambda att: att([rand(2, 4, 6)] * 4), "must be called on a list"),
    (lambda att: att([rand(2, 4, 6), rand(3, 5, 6)]), "share the batch size"),
    (lambda att: att([rand(2, 4, 6), rand(2, 5, 6), rand(2, 3, 6)]), "number of positions"),
    (lambda att: att([rand(2, 4, 6), rand(2, 5, 5)]), "same feature size"),
    (lambda att: att([rand(4, 6), rand(5, 6)]), "rank >= 3"),
    (lambda att: att([rand(2, 4, 6), rand(2, 5, 6)], mask=bools(2, 5)),
     "takes mask=\\[query_mask, value_mask\\]"),
    (lambda att: att([rand(2, 4, 6), rand(2, 5, 6)], mask=[None, bools(2, 4)]),
     "value_mask must have shape \\(2, 5\\)"),
    (lambda att: att([rand(2, 4, 6), rand(2, 5, 6)], mask=[bools(2, 5), None]),
     "query_mask must have shape \\(2, 4\\)"),
])
@pytest.mark.parametrize("cls", [Attention, AdditiveAttention])
def test_attention_bad_inputs(cls, call, match):
    att = cls(name="att")
    with pytest.raises(ValueError, match=f"{cls.__name__} 'att'.*{match}"):
        call(att)


def test_attention_bad_arguments():
    with pytest.raises(ValueError, match="score_mode must be 'dot' or 'concat'"):
        Attention(score_mode="general")
    with pytest.raises(ValueError, match="dropout must be a number in"):
        AdditiveAttention(dropout=-0.1)


def test_mha_initial_kernels_have_keras_einsum_fans(keras):
    x = np.ones((2, 5, 64), "float32")
    theirs, ours = keras.layers.MultiHeadAttention(8, 16), MultiHeadAttention(8, 16)
    theirs(x, x)
    ours(x, x)
    kernels = [(a, b) for a, b in zip(theirs.weights, ours.weights, strict=True)
               if a.path.endswith("kernel")]
    assert len(kernels) == 4
    for a, b in kernels:  # glorot_uniform: the same bound and spread, draws differ
        a, b = np.asarray(a.value), np.asarray(b.value)
        assert np.abs(b).max() <= np.abs(a).max() * 1.01 and np.abs(b).max() > 0.95 * np.abs(
            a).max()
        np.testing.assert_allclose(b.std(), a.std(), rtol=0.05)
