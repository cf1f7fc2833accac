"""SIGTERM handling for the training loop: save the step just finished, then exit."""

from __future__ import annotations

import signal

import jax
from jax.experimental import multihost_utils


class Preemption:
    """SIGTERM (TPU VM preemption, `kill`) asks the loop to save and exit at the next step.

    With several processes every one must save the same step, or the save's collectives hang:
    JAX's preemption service (its own SIGTERM handler, started by jax.distributed) lets all
    processes agree on that step, whichever of them got the signal.
    """

    def __init__(self):
        self.requested = False
        self._multi = jax.process_count() > 1
        if not self._multi:  # a Python handler would replace JAX's notifier
            self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True

    def reached(self, step: int) -> bool:
        """Save and stop after `step`? Multi-process: call it after every step, on every process."""
        if self._multi:
            self.requested = multihost_utils.reached_preemption_sync_point(step)
        return self.requested

    def restore(self):
        if not self._multi:
            signal.signal(signal.SIGTERM, self._previous)
