"""Synthetic run tables from a known law, for recovery tests, benchmarks and examples."""

import numpy as np

from llm_jax.scaling.approach3 import law_loss, optimal_allocation
from llm_jax.scaling.kaplan import implied_frontier, joint_loss

# A Chinchilla-like law (Besiroglu et al.'s refit, rounded): a = 0.51.
DEFAULT_LAW = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}


def isoflop_table(
    params: dict = DEFAULT_LAW,
    budgets=(1e18, 1e19, 1e20, 1e21),
    per_budget: int = 9,
    span: float = 1.0,
    noise: float = 0.0,
    seed: int = 0,
) -> dict:
    """IsoFLOP sweep: per budget C, model sizes log-spaced ±span/2 decades around the law's N_opt,
    D = C/(6N), loss with multiplicative log-normal noise of relative size `noise`."""
    rng = np.random.default_rng(seed)
    rows = {"params": [], "tokens": [], "flops": [], "budget": []}
    for c in budgets:
        n_opt, _ = optimal_allocation(params, c)
        n = n_opt * np.logspace(-span / 2, span / 2, per_budget)
        rows["params"].append(n)
        rows["tokens"].append(c / (6 * n))
        rows["flops"].append(np.full(per_budget, float(c)))
        rows["budget"].append(np.full(per_budget, float(c)))
    table = {k: np.concatenate(v) for k, v in rows.items()}
    loss = law_loss(params, table["params"], table["tokens"])
    table["loss"] = loss * np.exp(noise * rng.standard_normal(loss.shape))
    return table


def training_curves(
    params: dict = DEFAULT_LAW, sizes=(1e7, 3e7, 1e8, 3e8, 1e9), points=40, max_tokens=1e11
) -> dict:
    """Loss along training for each model size (the law at every token count), for Approach 1."""
    rows = {"params": [], "tokens": [], "run": [], "step": []}
    for i, n in enumerate(sizes):
        d = np.geomspace(max_tokens / 1e3, max_tokens, points)
        rows["params"].append(np.full(points, float(n)))
        rows["tokens"].append(d)
        rows["run"].append(np.full(points, f"n{i}"))
        rows["step"].append(np.arange(points, dtype=np.float64) + 1)
    table = {k: np.concatenate(v) for k, v in rows.items()}
    table["flops"] = 6 * table["params"] * table["tokens"]
    table["loss"] = law_loss(params, table["params"], table["tokens"])
    return table


# Kaplan et al. (2020), the joint L(N, D) fit (N non-embedding parameters, D tokens, loss in nats).
KAPLAN_LAW = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}


def kaplan_runs(law: dict, sizes, budgets, per_budget: int, span: float, tokens) -> list:
    """(N, first D, last D) per run: one run per size over `tokens`, or, without sizes, an IsoFLOP
    sweep: per budget, sizes ±span/2 decades around the law's N_opt(C), trained to D = C/(6N)."""
    if sizes is not None:
        return [(float(n), *tokens) for n in sizes]
    frontier = implied_frontier(law)
    runs = []
    for c in budgets:
        n_opt = frontier["n_coef"] * c ** frontier["a"]
        for n in n_opt * np.logspace(-span / 2, span / 2, per_budget):
            runs.append((float(n), c / (6 * n) / 100, c / (6 * n)))
    return runs


def kaplan_curves(
    law: dict = KAPLAN_LAW,
    sizes=None,
    budgets=(1e17, 1e18, 1e19),
    per_budget: int = 5,
    span: float = 1.0,
    points: int = 30,
    tokens=(1e7, 1e11),
    noise: float = 0.0,
    run_noise: float = 0.0,
    seed: int = 0,
) -> dict:
    """Training curves (`points` rows per run, log-spaced in D) from Kaplan's L(N, D) (see
    kaplan_runs for the design), with log-normal noise per row (`noise`) and per run
    (`run_noise`: an offset of the whole curve, as between seeds)."""
    rng = np.random.default_rng(seed)
    rows = {"run": [], "step": [], "params": [], "tokens": [], "loss": []}
    for i, (n, d_first, d_last) in enumerate(
        kaplan_runs(law, sizes, budgets, per_budget, span, tokens)
    ):
        d = np.geomspace(d_first, d_last, points)
        offset = run_noise * rng.standard_normal()
        loss = joint_loss(law, n, d) * np.exp(offset + noise * rng.standard_normal(points))
        rows["run"].append(np.full(points, f"run{i:03d}"))
        rows["step"].append(np.arange(1, points + 1, dtype=np.float64))
        rows["params"].append(np.full(points, n))
        rows["tokens"].append(d)
        rows["loss"].append(loss)
    table = {k: np.concatenate(v) for k, v in rows.items()}
    table["flops"] = 6 * table["params"] * table["tokens"]
    return table
