"""IsoFLOP sweep design: model shapes from d_model, design points per budget, and the check, after
the runs, that each budget's optimum is bracketed (and which sizes to add when it is not).

Rules (each a documented default, overridable per study):
- shape: head_dim 16 (8 when d_model is not a multiple of 16), n_layers = max(2, round(d/32))
  (aspect ratio d/L ≈ 32 for these tiny models), SwiGLU d_ff = 8/3·d rounded up to 16.
- sizes per budget: the `n_points` consecutive shapes of the study's ladder centred on the size
  whose tokens/param is closest to `tokens_per_param` (20, Hoffmann et al.); with shapes ~×1.6–2
  apart, 5 points span about ×¼ … ×4 of the expected optimum.
- tokens = budget / FLOPs-per-token under the chosen convention; steps = round(tokens / batch
  tokens), halving the batch until there are ≥ min_steps steps, so the budget is met to 0.5/steps.
- warmup: warmup_fraction (5%) of each run (a WSD trunk takes its shortest branch's: cooldown.py).
- learning rate: lr_ref · (d_ref / d_model)^lr_power (3e-3 at d=128, ∝ 1/sqrt(d): Adam's best LR
  falls with width); `lr_sweep` multipliers re-run the smallest budget to check the rule.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np

from llm_jax.model.flops import flops_per_token
from llm_jax.model.size import param_counts


@dataclasses.dataclass(frozen=True)
class LrRule:
    """lr = lr_ref · (d_ref / d_model) ** power."""

    lr_ref: float = 3e-3
    d_ref: int = 128
    power: float = 0.5

    def __call__(self, d_model: int) -> float:
        return self.lr_ref * (self.d_ref / d_model) ** self.power


@dataclasses.dataclass
class Point:
    """One IsoFLOP design point: a model shape trained for `steps` at `budget` FLOPs."""

    budget: float
    shape: dict  # model config overrides: d_model, n_layers, n_heads, n_kv_heads, d_ff
    n_params: int  # total parameters
    flops_per_token: int  # under the design convention
    batch_size: int
    seq_len: int
    steps: int
    warmup_steps: int = 0
    lr: float = 0.0
    lr_mult: float = 1.0

    @property
    def tokens(self) -> int:
        return self.steps * self.batch_size * self.seq_len

    @property
    def flops(self) -> float:
        return float(self.tokens) * self.flops_per_token


def shape(d_model: int, aspect: int = 32, min_layers: int = 2, head_dim: int = 16) -> dict:
    """Model shape for a width: the study's one knob per size."""
    if d_model % head_dim:
        head_dim = 8
    if d_model % head_dim:
        raise ValueError(f"d_model={d_model} must be a multiple of 8")
    heads = d_model // head_dim
    d_ff = -(-(8 * d_model // 3) // 16) * 16
    n_layers = max(min_layers, round(d_model / aspect))
    return dict(d_model=d_model, n_layers=n_layers, n_heads=heads, n_kv_heads=heads, d_ff=d_ff)


def model_config(base_model, overrides: dict):
    """A copy of the base model config with a shape applied."""
    cfg = copy.deepcopy(base_model)
    cfg.update(overrides)
    return cfg


def sizes(d_models, base_model, seq_len: int, convention: str = "6N", **shape_rule) -> list:
    """(shape, total params, FLOPs/token) for each width, sorted by params."""
    out = []
    for d in d_models:
        s = shape(d, **shape_rule)
        cfg = model_config(base_model, s)
        out.append((s, param_counts(cfg)["total"], flops_per_token(cfg, seq_len, convention)))
    return sorted(out, key=lambda x: x[1])


def window(ladder: list, budget: float, n_points: int, tokens_per_param: float) -> list[int]:
    """Indices of the n_points consecutive sizes centred on the expected optimum."""
    if n_points > len(ladder):
        raise ValueError(f"n_points={n_points} exceeds the {len(ladder)} sizes of the ladder")
    ratio = [budget / fpt / n for _, n, fpt in ladder]
    centre = int(np.argmin([abs(math.log(r / tokens_per_param)) for r in ratio]))
    start = min(max(centre - n_points // 2, 0), len(ladder) - n_points)
    return list(range(start, start + n_points))


def steps_for(budget: float, fpt: int, batch_size: int, seq_len: int, min_steps: int):
    """(batch_size, steps) meeting the budget; the batch halves until there are ≥ min_steps."""
    while True:
        steps = round(budget / fpt / (batch_size * seq_len))
        if steps >= min_steps or batch_size == 1:
            break
        batch_size //= 2
    if steps < 1:
        raise ValueError(f"budget {budget:.3g} is less than one step of a {fpt}-FLOP/token model")
    return batch_size, steps


def isoflop_design(
    budgets,
    ladder: list,
    *,
    batch_size: int,
    seq_len: int,
    n_points: int = 5,
    tokens_per_param: float = 20.0,
    min_steps: int = 100,
    warmup_fraction: float = 0.05,
    lr_rule: LrRule = LrRule(),
    lr_sweep=(),
) -> list[Point]:
    """Design points for every budget (plus lr_sweep multipliers at the smallest budget)."""
    points = []
    for budget in sorted(budgets):
        for i in window(ladder, budget, n_points, tokens_per_param):
            s, n, fpt = ladder[i]
            batch, steps = steps_for(budget, fpt, batch_size, seq_len, min_steps)
            points.append(Point(budget, s, n, fpt, batch, seq_len, steps, lr=lr_rule(s["d_model"])))
    set_warmup(points, warmup_fraction)
    smallest = [p for p in points if p.budget == min(budgets)]
    for mult in lr_sweep:
        points += [dataclasses.replace(p, lr=p.lr * mult, lr_mult=mult) for p in smallest]
    return points


def set_warmup(points: list[Point], fraction: float) -> None:
    """Warmup = fraction of each run's own steps."""
    for p in points:
        p.warmup_steps = int(fraction * p.steps)


def budget_error(point: Point) -> float:
    """Relative difference between the FLOPs a point spends and its budget."""
    return point.flops / point.budget - 1


def bracketing(budget, n_params, loss, ladder_params=()) -> list[dict]:
    """Per budget: is the lowest loss at an interior size? If not, which sizes to add."""
    budget, n_params, loss = (np.asarray(v, dtype=np.float64) for v in (budget, n_params, loss))
    ladder_params = np.sort(np.asarray(ladder_params, dtype=np.float64))
    report = []
    for c in np.unique(budget):
        sel = budget == c
        order = np.argsort(n_params[sel])
        n, y = n_params[sel][order], loss[sel][order]
        best = int(np.argmin(y))
        entry = {"budget": float(c), "n_best": float(n[best]), "loss_best": float(y[best])}
        entry["bracketed"] = 0 < best < len(n) - 1
        entry["add"] = [] if entry["bracketed"] else _sizes_to_add(n, best, ladder_params)
        report.append(entry)
    return report


def _sizes_to_add(n, best: int, ladder_params) -> list[float]:
    """Two sizes beyond the edge where the optimum sits: ladder sizes if any, else ×2 steps."""
    if best == 0:
        beyond = ladder_params[ladder_params < n[0]][::-1][:2]
        fallback = [n[0] / 2, n[0] / 4]
    else:
        beyond = ladder_params[ladder_params > n[-1]][:2]
        fallback = [n[-1] * 2, n[-1] * 4]
    return [float(v) for v in (beyond if len(beyond) else fallback)]


def describe(report: list[dict]) -> list[str]:
    """Human-readable lines of a bracketing report."""
    lines = []
    for r in report:
        head = f"C={r['budget']:.3g}: best N={r['n_best']:.3g} (loss {r['loss_best']:.4f})"
        if r["bracketed"]:
            lines.append(head + ": bracketed")
        else:
            sizes_ = ", ".join(f"{v:.3g}" for v in r["add"])
            lines.append(head + f": NOT bracketed (optimum at the grid edge); add N ≈ {sizes_}")
    return lines
