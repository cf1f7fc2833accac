"""WSD cooldown branches: one warmup–stable trunk per model size, one short cooldown per data point.

A design point of T steps becomes a branch that restores the trunk's full state at step s = T − c
and cools down for c = round(cooldown_fraction · T) steps (train.init_from, schedule wsd with
decay_fraction c / T), so its cumulative tokens and FLOPs count trunk + branch honestly. The trunk
runs a constant schedule (warmup, then flat: the wsd schedule before its cooldown) in segments
that stop at each branch start, so each branch can start as soon as its segment is saved.
"""

from __future__ import annotations

import dataclasses

from llm_jax.sweep.ladder import Point


@dataclasses.dataclass
class Branch:
    point: Point
    start: int  # trunk step the branch restores
    cooldown: int  # steps of cooldown; start + cooldown = point.steps

    @property
    def decay_fraction(self) -> float:
        return self.cooldown / self.point.steps


@dataclasses.dataclass
class Trunk:
    """Warmup–stable run shared by the branches of one size (same batch, lr, warmup, seed)."""

    shape: dict
    n_params: int
    branches: list[Branch]

    @property
    def stops(self) -> list[int]:
        """Steps the trunk is saved at, ascending, without repeats."""
        return sorted({b.start for b in self.branches})


def trunk_key(p: Point) -> tuple:
    """Points that can share a trunk: same model, batch and learning rate."""
    return (p.n_params, p.batch_size, p.seq_len, p.lr)


def plan_branches(points: list[Point], cooldown_fraction: float = 0.2) -> list[Trunk]:
    """Group design points into trunks with one branch each."""
    if not 0 < cooldown_fraction < 1:
        raise ValueError(f"cooldown_fraction={cooldown_fraction} must be in (0, 1)")
    trunks: dict[tuple, Trunk] = {}
    warmup = {}  # a trunk has one warmup: its shortest branch's (≤ 5% of every branch)
    for p in points:
        warmup[trunk_key(p)] = min(warmup.get(trunk_key(p), p.warmup_steps), p.warmup_steps)
    for p in sorted(points, key=lambda p: p.steps):
        p = dataclasses.replace(p, warmup_steps=warmup[trunk_key(p)])
        cooldown = max(1, round(cooldown_fraction * p.steps))
        if p.steps - cooldown <= p.warmup_steps:
            raise ValueError(f"a {p.steps}-step point leaves no stable phase after its warmup")
        trunk = trunks.setdefault(trunk_key(p), Trunk(p.shape, p.n_params, []))
        trunk.branches.append(Branch(p, p.steps - cooldown, cooldown))
    return list(trunks.values())


def flops_accounting(trunks: list[Trunk]) -> dict:
    """FLOPs of the branch sweep (trunks to their last stop + every cooldown) vs the same points
    trained as independent runs, under the design convention."""
    wsd = independent = 0.0
    for trunk in trunks:
        per_step = {id(b): b.point.flops / b.point.steps for b in trunk.branches}
        last = max(trunk.branches, key=lambda b: b.start)
        wsd += last.start * per_step[id(last)]
        for b in trunk.branches:
            wsd += b.cooldown * per_step[id(b)]
            independent += b.point.flops
    return {"wsd_flops": wsd, "independent_flops": independent, "ratio": wsd / independent}
