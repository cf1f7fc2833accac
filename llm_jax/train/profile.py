"""A jax.profiler trace of a window of train steps (config log.profile_steps = (start, stop)).

The trace lands in DIR/tensorboard/plugins/profile/<session>/, where TensorBoard's profile plugin
(the `[profile]` extra, tensorboard-plugin-profile) lists it beside the scalars of the same run.
"""

from __future__ import annotations

import logging

import jax

log = logging.getLogger("llm_jax")


class ProfileWindow:
    """Traces the steps with index in [start, stop) (index = steps done before it); () is off."""

    def __init__(self, steps, logdir):
        self.start, self.stop = tuple(steps) or (-1, -1)
        self.logdir, self.active = str(logdir), False

    def before_step(self, step: int) -> None:
        if step == self.start:
            jax.profiler.start_trace(self.logdir)
            self.active = True

    def after_step(self, step: int, state) -> None:
        """Stop once step `step` (the window's last) has run: a sync, inside the window only."""
        if self.active and step + 1 >= self.stop:
            jax.block_until_ready(state)
            self.close()
            log.info("profiled steps [%d, %d) into %s", self.start, self.stop, self.logdir)

    def close(self) -> None:
        if self.active:
            jax.profiler.stop_trace()
            self.active = False
