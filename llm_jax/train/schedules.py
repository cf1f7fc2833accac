"""Learning-rate schedules as pure functions of the optimizer step (0-based).

Warmup rises linearly to the peak, reaching it on step warmup_steps - 1. Decaying schedules reach
lr · min_lr_ratio exactly on the last step (steps - 1), so a WSD cooldown ends fully cooled.

A schedule's numbers (`schedule_inputs`) may be Python floats or traced arrays: the train step
takes them as inputs, so runs that differ only in them (the budgets and learning rates of a
sweep, one model size) share one compiled program.
"""

import jax.numpy as jnp
import numpy as np


def schedule_inputs(t) -> dict:
    """t is the train config; the numbers its schedule is a function of, as float32 values."""
    decay_steps = max(1, round(t.decay_fraction * t.steps))
    values = {
        "lr": t.lr,
        "warmup_steps": max(t.warmup_steps, 1),
        "decay_start": t.warmup_steps,  # cosine and linear decay from the end of warmup,
        "cooldown_start": t.steps - decay_steps - 1,  # WSD from its cooldown
        "last": t.steps - 1,
        "floor": t.min_lr_ratio,
    }
    return {k: np.float32(v) for k, v in values.items()}  # host values: placed by the caller


def _progress(step, start, end):
    """0 at step `start`, 1 at step `end`, clipped."""
    return jnp.clip((step - start) / jnp.maximum(end - start, 1.0), 0.0, 1.0)


def make_schedule(t, inputs: dict | None = None):
    """t is the train config; returns step → learning rate. `inputs`: schedule_inputs(t), or
    arrays of the same names (the train step's traced inputs)."""
    h = schedule_inputs(t) if inputs is None else inputs
    floor = h["floor"]

    def cosine(step):
        p = _progress(step, h["decay_start"], h["last"])
        return floor + (1 - floor) * 0.5 * (1 + jnp.cos(jnp.pi * p))

    def linear(step):
        return 1 - (1 - floor) * _progress(step, h["decay_start"], h["last"])

    def constant(step):
        return jnp.ones_like(step, dtype=jnp.float32)

    def wsd(step):
        # The first cooldown step already decays (p = 1/decay_steps); the last reaches the floor.
        p = _progress(step, h["cooldown_start"], h["last"])
        shape = jnp.sqrt(p) if t.decay_shape == "sqrt" else p
        return 1 - (1 - floor) * shape

    body = {"cosine": cosine, "linear": linear, "constant": constant, "wsd": wsd}[t.schedule]

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        return h["lr"] * jnp.minimum(1.0, (step + 1) / h["warmup_steps"]) * body(step)

    return schedule
