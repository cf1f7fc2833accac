"""Learning-rate schedules as pure functions of the optimizer step (0-based).

Warmup rises linearly to the peak, reaching it on step warmup_steps - 1. Decaying schedules reach
lr · min_lr_ratio exactly on the last step (steps - 1), so a WSD cooldown ends fully cooled.
"""

import jax.numpy as jnp


def _warmup(step, warmup_steps):
    return jnp.minimum(1.0, (step + 1) / max(warmup_steps, 1))


def _progress(step, start, end):
    """0 at step `start`, 1 at step `end`, clipped."""
    return jnp.clip((step - start) / max(end - start, 1), 0.0, 1.0)


def make_schedule(t):
    """t is the train config; returns step → learning rate."""
    last = t.steps - 1
    floor = t.min_lr_ratio

    def cosine(step):
        p = _progress(step, t.warmup_steps, last)
        return floor + (1 - floor) * 0.5 * (1 + jnp.cos(jnp.pi * p))

    def linear(step):
        return 1 - (1 - floor) * _progress(step, t.warmup_steps, last)

    def constant(step):
        return jnp.ones_like(step, dtype=jnp.float32)

    def wsd(step):
        decay_steps = max(1, round(t.decay_fraction * t.steps))
        # The first cooldown step already decays (p = 1/decay_steps); the last reaches the floor.
        p = _progress(step, t.steps - decay_steps - 1, last)
        shape = jnp.sqrt(p) if t.decay_shape == "sqrt" else p
        return 1 - (1 - floor) * shape

    body = {"cosine": cosine, "linear": linear, "constant": constant, "wsd": wsd}[t.schedule]

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        return t.lr * _warmup(step, t.warmup_steps) * body(step)

    return schedule
