"""The loop's host side one step behind the device: step n's train metrics are fetched (and
checked for NaN) after step n+1 has been dispatched, so the device never waits while the host
converts, checks and writes them.
"""

from __future__ import annotations

import time

import jax


class StepClock:
    """Steps finished per second between marks; a mark says "step n had finished by now"."""

    def __init__(self, step: int):
        self.mark(step)
        self.last = 0.0

    def mark(self, step: int) -> None:
        self.step, self.time = step, time.perf_counter()

    def rate(self, step: int) -> float:
        """Steps per second from the last mark until now, when `step` is known finished; marks.
        No step finished since the last mark: the last rate (there is nothing new to time)."""
        now = time.perf_counter()
        steps, seconds = step - self.step, now - self.time
        if steps > 0:
            self.step, self.time, self.last = step, now, steps / seconds
        return self.last


def peak_memory_bytes() -> int | None:
    """Peak bytes in use on the busiest local device, where the backend reports it (not CPU)."""
    stats = [d.memory_stats() or {} for d in jax.local_devices()]
    peaks = [s["peak_bytes_in_use"] for s in stats if "peak_bytes_in_use" in s]
    return max(peaks) if peaks else None


class TrainRows:
    """Train log rows, deferred: `defer` keeps step n's device metrics, `take` (called once step
    n+1 is dispatched, or when the loop must sync anyway) fetches them and returns the row."""

    def __init__(self, fetch, schedule, start_step, tokens_per_step, flops_per_token, peak_flops):
        self.fetch = fetch  # (metrics, step) → floats; raises on a non-finite loss or gradient
        self.schedule = schedule  # evaluated only in take(): a jnp op on the device would wait
        self.clock = StepClock(start_step)  # for the step in flight
        self.tokens_per_step, self.flops_per_token = tokens_per_step, flops_per_token
        self.peak_flops = peak_flops
        self.pending = None

    def defer(self, step: int, metrics: dict, cumulative: dict) -> None:
        self.pending = (step, metrics, cumulative)

    def take(self, in_flight: tuple[int, dict] | None = None) -> dict | None:
        """The pending row completed (None if there is none); waits for its step only.
        `in_flight` = (step, metrics) of the step dispatched last: XLA runs small CPU programs
        inside the dispatch call, so that step may have finished too, and the clock must know
        (else the next row's interval is empty and its rate absurd)."""
        if self.pending is None:
            return None
        (step, metrics, cumulative), self.pending = self.pending, None
        metrics = self.fetch(metrics, step)
        finished = step
        if in_flight and all(v.is_ready() for v in jax.tree.leaves(in_flight[1])):
            finished = max(step, in_flight[0])
        rate = self.clock.rate(finished) * self.tokens_per_step  # timed before the host's work
        lr = float(self.schedule(step - 1))  # the rate step `step` used
        row = dict(step=step, split="train", **metrics, lr=lr, tokens_per_s=rate)
        row.update(mfu=rate * self.flops_per_token / self.peak_flops, **cumulative)
        peak = peak_memory_bytes()
        if peak is not None:
            row["peak_memory_bytes"] = peak
        return row
