"""jkeras.optimizers.schedules against hand-computed values (and Keras 3)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jkeras.optimizers import schedules

# (schedule, {step: value computed by hand})
HAND = [
    (schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5),
     {0: 0.1, 5: 0.1 * math.sqrt(0.5), 10: 0.05, 20: 0.025}),
    (schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
     {0: 0.1, 9: 0.1, 10: 0.05, 15: 0.05, 25: 0.025}),
    (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]),
     {0: 1.0, 10: 1.0, 11: 0.5, 20: 0.5, 21: 0.1, 1000: 0.1}),
    (schedules.PiecewiseConstantDecay([5], [0.3, 0.03]), {5: 0.3, 6: 0.03}),
    (schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5),
     {0: 0.1, 10: 0.1 / 1.5, 25: 0.1 / 2.25}),
    (schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
     {9: 0.1, 15: 0.1 / 1.5, 25: 0.05}),
    (schedules.CosineDecay(0.1, decay_steps=100),
     {0: 0.1, 50: 0.05, 100: 0.0, 200: 0.0, 25: 0.05 * (1 + math.cos(math.pi / 4))}),
    (schedules.CosineDecay(0.1, decay_steps=100, alpha=0.1),
     {0: 0.1, 50: 0.1 * (0.9 * 0.5 + 0.1), 100: 0.01, 300: 0.01}),
    (schedules.CosineDecay(0.0, decay_steps=100, warmup_target=0.2, warmup_steps=10),
     {0: 0.0, 5: 0.1, 10: 0.2, 60: 0.1, 110: 0.0, 500: 0.0}),
    (schedules.CosineDecay(0.05, decay_steps=100, alpha=0.5, warmup_target=0.2,
                           warmup_steps=10),
     {5: 0.05 + 0.15 * 0.5, 10: 0.2, 60: 0.2 * 0.75, 110: 0.1}),
    (schedules.CosineDecay(0.1, decay_steps=10, warmup_target=0.2, warmup_steps=0),
     {0: 0.2, 5: 0.1, 10: 0.0}),
]


@pytest.mark.parametrize("schedule,values", HAND, ids=[repr(s) for s, _ in HAND])
def test_hand_computed_values(schedule, values):
    for step, want in values.items():
        got = schedule(step)
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(float(got), want, rtol=1e-6, atol=1e-7, err_msg=f"{step=}")


@pytest.mark.parametrize("schedule,values", HAND, ids=[repr(s) for s, _ in HAND])
def test_jit_on_int32_steps(schedule, values):
    steps = jnp.asarray(list(values), jnp.int32)
    got = jax.jit(jax.vmap(schedule))(steps)
    np.testing.assert_allclose(got, list(values.values()), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("schedule,values", HAND, ids=[repr(s) for s, _ in HAND])
def test_against_keras(schedule, values):
    import keras
    theirs = getattr(keras.optimizers.schedules, type(schedule).__name__)(
        **schedule.get_config())
    for step in list(values) + [1, 3, 7, 33, 99]:
        np.testing.assert_allclose(float(schedule(step)), float(theirs(step)),
                                   rtol=1e-6, atol=1e-7, err_msg=f"{step=}")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.CosineDecay(0.1, decay_steps=-1)
    with pytest.raises(ValueError, match="1 less than"):
        schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5])
    with pytest.raises(ValueError, match="increasing"):
        schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="Unknown learning-rate schedule"):
        schedules.deserialize({"class_name": "Nope", "config": {}})


@pytest.mark.parametrize("schedule", [s for s, _ in HAND], ids=[repr(s) for s, _ in HAND])
def test_config_round_trip(schedule):
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    for step in (0, 7, 70):
        assert float(again(step)) == float(schedule(step))
