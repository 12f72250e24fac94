"""Generic recurrence: ``RNN(cell)``, the cell protocol and ``StackedRNNCells``.

A cell is Keras 3's: it has ``state_size`` (an int, or a list with one size per state
array: an int, or a tuple for a state of several axes, tf.keras' ``TensorShape``),
optionally ``output_size`` and ``get_initial_state(batch_size)``, and computes one step.
Written in jkeras' pure form, a cell is a :class:`~jkeras.layers.Layer` whose
``build(rng, input_shape)`` gets the shape of one step's input (batch, features) and whose

    call(params, state, inputs, states, *, training=False, rng=None)
        -> ((output, new_states), new_state)

A cell may also be written the Keras way: a ``Layer`` subclass with ``state_size``,
``build(self, input_shape)`` making its weights with ``add_weight``, and ``call(self,
inputs, states, training=None)`` returning ``(output, new_states)``; ``RNN`` runs it
through its pure ``apply`` (see :func:`build_cell` and :func:`call_cell`).

``RNN`` runs the cell over time as one ``lax.scan``, so the compiled program does not
grow with the number of steps. A cell called in training mode with ``rng`` gets a key of
its own at every step (``fold_in(rng, t)``).

The built-in cells (:class:`RNNCell`: ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``,
``ConvLSTMCell``) split a step in two so that the layers stay as fast as a hand-written
loop: the input projection, which does not depend on the carry, runs once over the whole
sequence before the scan, and dropout masks are drawn once per sequence, as in Keras.
"""
import jax
import jax.numpy as jnp

from .. import symbolic
from .. import variables as variables_lib
from .base import InputSpec, Layer, fraction
from .regularization import dropout, require_rng

CARRY = "states"  # a stateful layer's carry, in its state pytree


def _fits(shape, want):
    """Whether ``shape`` equals ``want``, ``None`` (unknown) matching any size."""
    return len(shape) == len(want) and all(
        a is None or b is None or a == b for a, b in zip(shape, want))


def _is_shape(x):
    return isinstance(x, tuple) and all(d is None or isinstance(d, int) for d in x)


def _shape_leaves(shapes):
    """The shapes in a nest of them (a tuple of ints is one shape, not a nest)."""
    return jax.tree_util.tree_leaves(shapes, is_leaf=_is_shape)


def _as_list(states):
    """Keras' convention: the states of a cell are a list, even when there is one."""
    return list(states) if isinstance(states, (list, tuple)) else [states]


def initial_states(cell, batch_size, dtype):
    """Zero states for ``cell``: its ``get_initial_state(batch_size)`` when it has one, else
    one ``(batch_size, size)`` array per entry of its ``state_size``; always a list.

    >>> from jkeras.layers import LSTMCell
    >>> [s.shape for s in initial_states(LSTMCell(3), 2, "float32")]
    [(2, 3), (2, 3)]
    """
    get = getattr(cell, "get_initial_state", None)
    if get is not None:
        return _as_list(get(batch_size))
    # A size is an int, or the shape of a state of several axes (tf.keras' TensorShape).
    return [jnp.zeros((batch_size, *(size if isinstance(size, (list, tuple)) else (size,))),
                      dtype) for size in _as_list(cell.state_size)]


def _keras_style(cell):
    return getattr(cell, "_keras_base", False)


def build_cell(cell, rng, input_shape):
    """A cell's ``(params, state)`` for step inputs of ``input_shape`` (batch, features...):
    its pure ``build``, or, for a Keras-style cell, its ``build(input_shape)`` (once) then
    weights drawn from ``rng``.

    >>> import jax
    >>> from jkeras.layers import GRUCell
    >>> sorted(build_cell(GRUCell(2), jax.random.key(0), (1, 3))[0])
    ['bias', 'kernel', 'recurrent_kernel']
    """
    if not _keras_style(cell):
        return cell.build(rng, input_shape)
    if not cell.built:
        step = jax.tree_util.tree_map(lambda shape: symbolic.KerasTensor(shape).spec(),
                                      input_shape, is_leaf=_is_shape)
        batch = _shape_leaves(input_shape)[0][0]
        # Made for one example, then given the step's batch size (symbolic under an Input).
        states = jax.tree_util.tree_map(
            lambda s: jax.ShapeDtypeStruct((batch, *s.shape[1:]), s.dtype),
            jax.eval_shape(lambda: initial_states(cell, 1, cell.dtype)))
        cell._build([step, states])
    return cell.init(rng)


def call_cell(cell, params, state, inputs, states, training=False, rng=None):
    """One step of a cell: ``((output, new_states), new_state)``, whichever way the cell
    is written (a Keras-style cell runs through its pure ``apply``).

    >>> import jax, jax.numpy as jnp
    >>> from jkeras.layers import SimpleRNNCell
    >>> cell = SimpleRNNCell(2)
    >>> params, state = build_cell(cell, jax.random.key(0), (1, 3))
    >>> (out, new), _ = call_cell(cell, params, state, jnp.ones((1, 3)), [jnp.zeros((1, 2))])
    >>> out.shape
    (1, 2)
    """
    if _keras_style(cell):
        return cell.apply(params, state, inputs, states, training=training, rng=rng)
    return cell.call(params, state, inputs, states, training=training, rng=rng)


def dropout_masks(key, rate, shape, dtype):
    """Keras' dropout masks: 0 or ``1 / (1 - rate)``, drawn once per sequence.

    >>> import jax
    >>> sorted(set(dropout_masks(jax.random.key(0), 0.5, (1, 50), "float32").ravel().tolist()))
    [0.0, 2.0]
    """
    return dropout(jnp.ones(shape, dtype), rate, key)


class RNNCell(Layer):
    """The base of the built-in cells: one step split into what can run before the scan
    (``masks``, ``project``) and what must run inside it (``step``).

    A subclass sets ``gates`` (the kernels hold ``gates`` blocks of columns) and writes:

    * ``masks(step_shape, state_shape, training, rng) -> (input_masks, recurrent_masks)``,
      drawn once per sequence (``None`` when there is no dropout);
    * ``project(params, x, input_masks)``: the input's part of the gates, for inputs with
      any number of leading axes (time, batch);
    * ``step(params, recurrent_masks, states, projected) -> (output, new_states)``.

    ``call`` is Keras' cell protocol on top of them, for a single step.

    >>> import jax.numpy as jnp
    >>> from jkeras.layers import LSTMCell
    >>> cell = LSTMCell(4)
    >>> out, (h, c) = cell(jnp.ones((2, 3)), [jnp.zeros((2, 4)), jnp.zeros((2, 4))])
    >>> out.shape, isinstance(cell, RNNCell)
    ((2, 4), True)
    """

    gates = 1
    fused = True  # RNN may run ``project`` over the whole sequence before its scan

    def _init_dropout(self, dropout, recurrent_dropout):
        self.dropout = fraction(self, "dropout", dropout)
        self.recurrent_dropout = fraction(self, "recurrent_dropout", recurrent_dropout)
        # Only dropout makes the training flag (and a PRNG key) matter.
        self.uses_training = self.uses_rng = bool(self.dropout or self.recurrent_dropout)

    def _mask_count(self):
        """How many masks each of input and recurrent dropout draws (one per gate in
        Keras' ``implementation=1``, which recurrent dropout switches on)."""
        return self.gates if self.recurrent_dropout else 1

    def masks(self, step_shape, state_shape, training, rng):
        """Input and recurrent dropout masks for one sequence (or None, None)."""
        if not training or not self.uses_rng:
            return None, None
        require_rng(self, rng)
        k_in, k_rec = jax.random.split(rng)
        n = self._mask_count()
        inputs = recurrent = None
        if self.dropout:
            inputs = dropout_masks(k_in, self.dropout, (n, *step_shape), self.compute_dtype)
        if self.recurrent_dropout:
            recurrent = dropout_masks(k_rec, self.recurrent_dropout, (n, *state_shape),
                                      self.compute_dtype)
        return inputs, recurrent

    def prepare(self, params, x, states, training, rng):
        """``(projected inputs, recurrent masks)`` for a time-major sequence ``x``."""
        in_masks, rec_masks = self.masks(x.shape[1:], states[0].shape, training, rng)
        return self.project(params, x, in_masks), rec_masks

    def get_initial_state(self, batch_size):
        """Zeros, one array per state (Keras' cell method).

        >>> from jkeras.layers import GRUCell
        >>> [s.shape for s in GRUCell(3).get_initial_state(2)]
        [(2, 3)]
        """
        return [jnp.zeros((batch_size, size), self.compute_dtype)
                for size in _as_list(self.state_size)]

    def call(self, params, state, inputs, states, *, training=False, rng=None):
        states = _as_list(states)
        projected, rec_masks = self.prepare(params, inputs[None], states, training, rng)
        return self.step(params, rec_masks, states, projected[0]), state


class StackedRNNCells(Layer):
    """A list of cells that behaves as one cell: each step runs them in order, each cell's
    output being the next one's input. Its states are a list of each cell's states.

    The cells' weights nest under their names: ``rnn/stacked_rnn_cells/lstm_cell/kernel``.

    >>> import jax.numpy as jnp
    >>> from jkeras.layers import GRUCell, LSTMCell
    >>> rnn = RNN(StackedRNNCells([LSTMCell(8), GRUCell(4)]))
    >>> rnn(jnp.ones((2, 5, 3))).shape
    (2, 4)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells:
            raise ValueError(f"{self!r} needs at least one cell, got none")
        for cell in cells:
            _check_cell(self, cell)
        names = [cell.name for cell in cells]
        if len(set(names)) != len(names):
            raise ValueError(f"{self!r}: the cells need different names, got {names}")
        self.cells = cells
        self.fused = all(getattr(cell, "fused", False) for cell in cells)
        self.uses_training = any(getattr(c, "uses_training", False) for c in cells)
        self.uses_rng = any(getattr(c, "uses_rng", False) for c in cells)
        self._step_shapes = None

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", None) or _as_list(last.state_size)[0]

    def get_initial_state(self, batch_size):
        """Each cell's zero states, in a list.

        >>> from jkeras.layers import GRUCell, SimpleRNNCell
        >>> stack = StackedRNNCells([SimpleRNNCell(2), GRUCell(3)])
        >>> [[s.shape for s in states] for states in stack.get_initial_state(4)]
        [[(4, 2)], [(4, 3)]]
        """
        return [initial_states(cell, batch_size, self.compute_dtype) for cell in self.cells]

    def build(self, rng, input_shape, states_shape=None):
        params, state, shapes = {}, {}, []
        for cell, key in zip(self.cells, jax.random.split(rng, len(self.cells))):
            shapes.append(tuple(input_shape))
            p, s = build_cell(cell, key, input_shape)
            if p:
                params[cell.name] = p
            if s:
                state[cell.name] = s
            # The next cell's input is this one's output (its shape, for a batch of one).
            x = jax.ShapeDtypeStruct((1, *input_shape[1:]), self.dtype)
            out = jax.eval_shape(lambda x, p=p, s=s, cell=cell: call_cell(
                cell, p, s, x, initial_states(cell, 1, self.dtype))[0][0], x)
            input_shape = (input_shape[0], *out.shape[1:])
        self._step_shapes = shapes
        return params, state

    def _parts(self, params, state):
        return [(cell, params.get(cell.name, {}), state.get(cell.name, {}))
                for cell in self.cells]

    def call(self, params, state, inputs, states, *, training=False, rng=None):
        keys = [None] * len(self.cells) if rng is None else jax.random.split(rng, len(self.cells))
        new_states, new_state = [], {}
        for (cell, p, s), cell_states, key in zip(self._parts(params, state), states, keys):
            (inputs, cell_states), s = call_cell(cell, p, s, inputs, _as_list(cell_states),
                                                 training=training, rng=key)
            new_states.append(_as_list(cell_states))
            if s:
                new_state[cell.name] = s
        return (inputs, new_states), new_state

    # The built-in cells' split step, when every cell has one.
    def prepare(self, params, x, states, training, rng):
        keys = [None] * len(self.cells) if rng is None else jax.random.split(rng, len(self.cells))
        parts = self._parts(params, {})
        (first, p, _), batch = parts[0], x.shape[1]
        projected, masks = first.prepare(p, x, states[0], training, keys[0])
        rest = [cell.masks((batch, *shape[1:]), cell_states[0].shape, training, key)
                for (cell, _, _), shape, cell_states, key in zip(
                    parts[1:], self._step_shapes[1:], states[1:], keys[1:])]
        return projected, [masks, *rest]

    def step(self, params, masks, states, projected):
        parts = self._parts(params, {})
        cell, p, _ = parts[0]
        out, first = cell.step(p, masks[0], states[0], projected)
        new_states = [first]
        for (cell, p, _), (in_masks, rec_masks), cell_states in zip(parts[1:], masks[1:],
                                                                    states[1:]):
            out, cell_states = cell.step(p, rec_masks, cell_states,
                                         cell.project(p, out, in_masks))
            new_states.append(cell_states)
        return out, new_states

    def regularization_loss(self, params):
        return sum((cell.regularization_loss(p) for cell, p, _ in self._parts(params, {})
                    if p and hasattr(cell, "regularization_loss")), jnp.zeros((), jnp.float32))

    def apply_constraints(self, params):
        return {**params, **{cell.name: cell.apply_constraints(p)
                             for cell, p, _ in self._parts(params, {})
                             if p and hasattr(cell, "apply_constraints")}}


def _check_cell(owner, cell):
    if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
        raise ValueError(f"{owner!r}: a cell must be a jkeras Layer with a `state_size` "
                         "attribute and call(params, state, inputs, states) (the pure form) "
                         f"or call(self, inputs, states) (Keras' form), got {cell!r}")


class RNN(Layer):
    """Runs a cell over the time axis (axis 1) of its input, as one ``lax.scan``.

    ``cell`` is a cell (see the module's docstring) or a list of cells (stacked). Call
    arguments: ``rnn(x, initial_state=None, mask=None, training=None)``, ``x`` of shape
    (batch, timesteps, ...), or a nest of such arrays (a tuple, say: tf.keras' nested
    inputs, which Keras 3 dropped) that a cell written for it gets a step of at a time,
    and whose outputs may be nested too; ``initial_state`` is the list of the cell's
    states; ``mask``
    a boolean (batch, timesteps) array: masked steps keep the previous states, and output
    the previous output (Keras' rule: its first state) or zeros with
    ``zero_output_for_mask=True``.

    ``return_sequences`` returns every step's output, ``return_state`` the final states
    after the output, ``go_backwards`` runs the sequence backwards (and returns its
    outputs in the order it produced them, as Keras does). ``unroll=True`` asks
    ``lax.scan`` to unroll its loop: still one scan, the same numbers.

    With ``stateful=True`` the final states are kept in the layer's state pytree under
    ``"states"`` (stacked, or ``{"0": ..., "1": ...}`` when their shapes differ) and are
    the next call's initial states; every eager call writes them back. As in Keras they
    are not weights (nor saved, nor counted); ``reset_states()`` zeros them.

    The cell's weights nest under its name: ``rnn/lstm_cell/kernel``, as in Keras.

    >>> import jax.numpy as jnp
    >>> from jkeras.layers import LSTMCell
    >>> rnn = RNN(LSTMCell(4), return_sequences=True, name="rnn")
    >>> rnn(jnp.ones((2, 5, 3))).shape
    (2, 5, 4)
    >>> [w.path for w in rnn.weights]
    ['rnn/lstm_cell/kernel', 'rnn/lstm_cell/recurrent_kernel', 'rnn/lstm_cell/bias']
    """

    supports_masking = True
    _nest_cell = True  # the built-in layers keep their cell's weights at their top level

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        _check_cell(self, cell)
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful = bool(go_backwards), bool(stateful)
        self.unroll, self.zero_output_for_mask = bool(unroll), bool(zero_output_for_mask)
        self.uses_training = getattr(cell, "uses_training", False)
        self.uses_rng = getattr(cell, "uses_rng", False)
        if self._seeds is None:  # dropout follows the cell's seed=, if it has one
            self._seeds = cell._seeds
        self.input_spec = InputSpec(min_ndim=3)

    # -- the cell's part of the pytrees ---------------------------------------------------
    def _cell_tree(self, tree):
        return tree.get(self.cell.name, {}) if self._nest_cell else {
            k: v for k, v in tree.items() if k != CARRY}

    def _with_cell_tree(self, tree, cell_tree):
        if not self._nest_cell:
            return {**tree, **cell_tree}
        return {**tree, self.cell.name: cell_tree} if cell_tree else tree

    def regularization_loss(self, params):
        cell_params = self._cell_tree(params)
        if not cell_params or not hasattr(self.cell, "regularization_loss"):
            return jnp.zeros((), jnp.float32)
        return self.cell.regularization_loss(cell_params)

    def apply_constraints(self, params):
        cell_params = self._cell_tree(params)
        if not cell_params or not hasattr(self.cell, "apply_constraints"):
            return params
        return self._with_cell_tree(params, self.cell.apply_constraints(cell_params))

    @property
    def untracked_state(self):
        """The stateful carry's paths: as in Keras, it is not a weight."""
        carry = self._state.get(CARRY)
        if isinstance(carry, dict):
            return tuple(f"{CARRY}/{key}" for key in carry)
        return (CARRY,)

    @property
    def carries(self):
        """The number of state arrays the cell carries (2 for an LSTM).

        >>> from jkeras.layers import LSTMCell
        >>> RNN(LSTMCell(3)).carries
        2
        """
        return len(jax.tree_util.tree_leaves(
            jax.eval_shape(lambda: initial_states(self.cell, 1, self.dtype))))

    # -- weights ---------------------------------------------------------------------------
    def _check_inputs(self, shapes):
        if shapes and not _is_shape(shapes[0]):
            return  # nested sequences: build checks each
        super()._check_inputs(shapes)

    def build(self, rng, input_shape, *initial_state_shapes):
        for shape in _shape_leaves(input_shape):
            if len(shape) < 3 or None in shape[2:]:
                raise ValueError(f"{self!r} expects inputs of rank >= 3 (batch, timesteps, "
                                 f"features...) with known features, got shape {shape}")
        # Nested sequences (a tuple of arrays, say) reach the cell as a nest of steps.
        step_shape = jax.tree_util.tree_map(lambda shape: (shape[0], *shape[2:]), input_shape,
                                            is_leaf=_is_shape)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={
            i: size for i, size in enumerate(input_shape) if i >= 2}) if _is_shape(
                input_shape) else None
        cell_params, cell_state = build_cell(self.cell, rng, step_shape)
        params = self._with_cell_tree({}, cell_params)
        state = self._with_cell_tree({}, cell_state)
        if self.stateful:
            input_shape = _shape_leaves(input_shape)[0]
            if input_shape[0] is None:
                raise ValueError(
                    f"{self!r} is stateful, so it needs a fixed batch size, got input shape "
                    f"{input_shape}. Pass batch_size= to Input (or call it on an array).")
            zeros = initial_states(self.cell, input_shape[0], self.dtype)
            state[CARRY] = _pack([z.astype(self.dtype) for z in jax.tree_util.tree_leaves(zeros)])
        return params, state

    def reset_states(self, states=None):
        """Zeros a stateful layer's states, or sets them to ``states`` (a list of arrays).

        A layer that is not stateful has nothing to reset, as in Keras.

        >>> import jax.numpy as jnp
        >>> from jkeras.layers import SimpleRNN
        >>> rnn = SimpleRNN(4, stateful=True)
        >>> _ = rnn(jnp.ones((2, 3, 5)))
        >>> rnn.reset_states()
        """
        if not self.stateful:
            return
        self._require_built("reset_states")
        old = _unpack(self._state[CARRY])
        if states is None:
            new = [jnp.zeros_like(s) for s in old]
        else:
            new = self._check_states(states, old, "reset_states")
        self._state = {**self._state, CARRY: _pack(
            [n.astype(o.dtype) for n, o in zip(new, old)])}

    reset_state = reset_states

    @property
    def states(self):
        """Keras' ``layer.states``: a stateful layer's states now, a list of arrays (one per
        state of its cell), e.g. another layer's ``initial_state``; ``None`` when the layer
        is not stateful (or not built yet), as in Keras.

        >>> import jax.numpy as jnp
        >>> from jkeras.layers import LSTM
        >>> lstm = LSTM(4, stateful=True)
        >>> _ = lstm(jnp.ones((2, 3, 5)))
        >>> [s.shape for s in lstm.states], LSTM(4).states
        ([(2, 4), (2, 4)], None)
        """
        if not self.stateful or not self.built:
            return None
        return _unpack(self._state[CARRY])

    # -- calling ---------------------------------------------------------------------------
    def _check_states(self, states, like, what):
        """``states`` (nested like the cell's, or a flat list) as a flat list of arrays
        shaped as ``like``'s."""
        leaves = jax.tree_util.tree_leaves(states)
        got = [symbolic.shape_of(s) for s in leaves]
        want = [symbolic.shape_of(s) for s in like]
        if len(got) != len(want) or not all(_fits(g, w) for g, w in zip(got, want)):
            shapes = want[0] if len(set(want)) == 1 else want
            raise ValueError(f"{self!r}: {what} must be {len(want)} array(s) of shape "
                             f"{shapes}, got shapes {got}")
        return [jnp.asarray(s, w.dtype) for s, w in zip(leaves, like)]

    def _initial(self, state, x, initial_state):
        batch = x.shape[0]
        zeros = initial_states(self.cell, batch, self.compute_dtype)
        leaves, treedef = jax.tree_util.tree_flatten(zeros)
        if self.stateful:
            built = _unpack(state[CARRY])[0].shape[0]
            if not _fits(symbolic.shape_of(x)[:1], (built,)):
                raise ValueError(f"{self!r} is stateful with batch size {built}, got input "
                                 f"shape {symbolic.shape_of(x)}. Keep the batch size fixed.")
        if initial_state is not None:
            leaves = self._check_states(initial_state, leaves, "initial_state")
        elif self.stateful:  # kept in the variable dtype, computed in the compute dtype
            leaves = [s.astype(z.dtype) for s, z in zip(_unpack(state[CARRY]), leaves)]
        return jax.tree_util.tree_unflatten(treedef, leaves)

    def _check_mask(self, mask, x):
        want = symbolic.shape_of(x)[:2]
        if not _fits(symbolic.shape_of(mask), want):
            raise ValueError(f"{self!r}: the mask must have shape {want} (batch, timesteps) "
                             f"like the input {symbolic.shape_of(x)}, got {mask.shape}")
        return mask.astype(bool)

    def call(self, params, state, x, initial_state=None, *, mask=None, training=False,
             rng=None):
        x = jax.tree_util.tree_map(lambda a: a.astype(self.compute_dtype), x)
        first = jax.tree_util.tree_leaves(x)[0]  # of nested sequences, for the sizes
        states = self._initial(state, first, initial_state)
        cell_params, cell_state = self._cell_tree(params), self._cell_tree(state)
        time_major = jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), x)
        steps_mask = None
        if mask is not None:
            steps_mask = jnp.swapaxes(self._check_mask(mask, first), 0, 1)
        fused = getattr(self.cell, "fused", False)
        if fused:
            xs, consts = self.cell.prepare(cell_params, time_major, states, training, rng)
        else:
            xs = time_major
            if training and self.uses_rng:
                require_rng(self, rng)
        treedef = jax.tree_util.tree_structure(states)

        def advance(carry, x_t, t):
            """(output, new states, new cell state) for one step."""
            states, cell_state = carry[0], carry[1]
            if fused:
                out, new = self.cell.step(cell_params, consts, states, x_t)
                return out, new, cell_state
            key = None if rng is None else jax.random.fold_in(rng, t)
            (out, new), cell_state = call_cell(self.cell, cell_params, cell_state, x_t, states,
                                               training=training, rng=key)
            return out, jax.tree_util.tree_unflatten(
                treedef, jax.tree_util.tree_leaves(new)), cell_state

        def step(carry, inputs):
            x_t, mask_t, t = inputs  # t: the time index, for a generic cell's key
            # What a cell adds with add_loss leaves the scan as one sum per step.
            with variables_lib.collecting_losses() as losses:
                out, new, cell_state = advance(carry, x_t, t)
            added = sum(jnp.sum(v, dtype=jnp.float32) for v in losses) if losses else None
            if mask_t is not None:  # masked steps keep the states; Keras' output rule
                keep = lambda a: mask_t.reshape(mask_t.shape + (1,) * (a.ndim - 1))
                new = jax.tree_util.tree_map(lambda n, c: jnp.where(keep(n), n, c), new,
                                             carry[0])
                held = (jax.tree_util.tree_map(jnp.zeros_like, out)
                        if self.zero_output_for_mask else _held(carry[0]))
                if _shapes(held) != _shapes(out):  # Keras fails; the previous output is kept
                    held = carry[2]
                out = jax.tree_util.tree_map(lambda o, h: jnp.where(keep(o), o, h), out, held)
            carry = (new, cell_state) if fused else (new, cell_state, out)
            return carry, (out if self.return_sequences else None, added)

        carry = (states, cell_state)
        if not fused:  # the last output, which a cell's first state need not be
            with variables_lib.collecting_losses():  # only shapes here: dropped
                out_spec = jax.eval_shape(lambda c, x_t: advance(c, x_t, 0)[0], carry,
                                          jax.tree_util.tree_map(lambda a: a[0], xs))
            carry += (jax.tree_util.tree_map(lambda o: jnp.zeros(o.shape, o.dtype), out_spec),)
        steps = None if fused else jnp.arange(first.shape[1])
        carry, (outs, added) = jax.lax.scan(step, carry, (xs, steps_mask, steps),
                                            reverse=self.go_backwards, unroll=self.unroll)
        if added is not None:  # every step's, masked or not: the cell ran on each (Keras)
            variables_lib.add_loss(jnp.sum(added))
        states, cell_state = carry[0], carry[1]
        if self.return_sequences:
            # Keras returns a backward layer's outputs in the order it produced them.
            output = jax.tree_util.tree_map(
                lambda o: jnp.swapaxes(o[::-1] if self.go_backwards else o, 0, 1), outs)
        elif not fused:
            output = carry[2]
        else:
            output = _held(states)  # a built-in cell's output is its (last) first state
            if steps_mask is not None and self.zero_output_for_mask:
                last = steps_mask[0 if self.go_backwards else -1]
                output = jnp.where(last.reshape(last.shape + (1,) * (output.ndim - 1)),
                                   output, 0.0)
        new_state = self._with_cell_tree(state, cell_state)
        if self.stateful:
            kept = _unpack(state[CARRY])
            new_state = {**new_state, CARRY: _pack(
                [s.astype(k.dtype) for s, k in zip(jax.tree_util.tree_leaves(states), kept)])}
        return ((output, *states) if self.return_state else output), new_state

    def compute_mask(self, inputs, mask=None):
        """The input's mask for a returned sequence; nothing for a last output."""
        return mask if self.return_sequences else None


def _shapes(tree):
    return jax.tree_util.tree_structure(tree), [a.shape for a in jax.tree_util.tree_leaves(tree)]


def _held(states):
    """What a masked step outputs in Keras: the first state (the last cell's, stacked)."""
    first = states[0]
    return states[-1][0] if isinstance(first, (list, tuple)) else first


def _pack(leaves):
    """A stateful carry for the state pytree: one stacked array when the states share a
    shape (every built-in layer), else ``{"0": ..., "1": ...}``."""
    if len({(a.shape, a.dtype) for a in leaves}) == 1:
        return jnp.stack(leaves)
    return {str(i): a for i, a in enumerate(leaves)}


def _unpack(carry):
    if isinstance(carry, dict):
        return [carry[str(i)] for i in range(len(carry))]
    return [carry[i] for i in range(carry.shape[0])]
