"""Kaplan et al. (2020) laws on synthetic curves: exact recovery without noise, the frontier as the
true envelope, intervals over runs that cover the truth, and the parameter-count convention."""

import numpy as np
import pytest

from llm_jax.scaling.bootstrap import resample_weights
from llm_jax.scaling.kaplan import (
    allocation,
    bootstrap_rows,
    fit_envelope,
    fit_joint,
    fit_power,
    implied_frontier,
    joint_law,
    joint_loss,
)
from llm_jax.scaling.kaplan_fit import ENVELOPE_GRID, fit_kaplan, interior, lower_envelopes
from llm_jax.scaling.synthetic import KAPLAN_LAW, kaplan_curves

TIGHT = 1e-6  # noise-free fits must recover the law to this relative accuracy


def test_joint_jacobian_matches_finite_differences():
    law = joint_law(18.0, 21.0)
    x = np.array([[1.2, 0.08, 1.0, 0.1]])
    rng = np.random.default_rng(0)
    log_n, log_d = rng.uniform(15, 21, 40), rng.uniform(17, 25, 40)
    y, jac = law.log_loss_and_jac(x, log_n, log_d)
    eps = 1e-6
    for i in range(4):
        up = law.log_loss_and_jac(x + eps * np.eye(4)[i], log_n, log_d)[0]
        down = law.log_loss_and_jac(x - eps * np.eye(4)[i], log_n, log_d)[0]
        np.testing.assert_allclose((up - down) / (2 * eps), jac[..., i], rtol=1e-7, atol=1e-8)


def test_joint_law_recovered_from_noise_free_curves():
    table = kaplan_curves()
    fit, _, _ = fit_joint(table["params"], table["tokens"], table["loss"])
    assert fit.converged, fit.diagnostics["problems"]
    assert fit.diagnostics["starts_at_best"] >= 2
    for name, truth in KAPLAN_LAW.items():
        assert fit.params[name] == pytest.approx(truth, rel=TIGHT), name


@pytest.mark.parametrize(
    ("exponent", "scale", "truth"),
    [("alpha_N", "N_c", (0.076, 8.8e13)), ("alpha_D", "D_c", (0.095, 5.4e13)),
     ("alpha_C", "C_c", (0.050, 3.1e8 * 8.64e19))],
)  # fmt: skip
def test_single_laws_recovered_exactly(exponent, scale, truth):
    """Kaplan's published L(N), L(D) and L(C_min) (C_min in PF-days converted to FLOPs)."""
    alpha, v_c = truth
    v = np.geomspace(1e7, 1e12, 15)
    fit, _, _ = fit_power(v, (v_c / v) ** alpha, exponent, scale)
    assert fit.converged, fit.diagnostics["problems"]
    assert fit.params[exponent] == pytest.approx(alpha, rel=TIGHT)
    assert fit.params[scale] == pytest.approx(v_c, rel=TIGHT)


def test_implied_frontier_is_the_minimum_along_c_equals_6nd():
    frontier = implied_frontier(KAPLAN_LAW)
    n = np.geomspace(1e5, 1e13, 400_001)
    for c in (1e18, 1e22):
        loss = joint_loss(KAPLAN_LAW, n, c / (6 * n))
        best = int(np.argmin(loss))
        assert n[best] == pytest.approx(frontier["n_coef"] * c ** frontier["a"], rel=1e-4)
        assert loss[best] == pytest.approx((frontier["C_c"] / c) ** frontier["alpha_C"], rel=1e-9)
    r = KAPLAN_LAW["alpha_N"] / KAPLAN_LAW["alpha_D"]
    assert frontier["a"] == pytest.approx(1 / (1 + r))


def _frontier(table, n_grid=ENVELOPE_GRID):
    n = table["params"]
    masks = np.ones((1, len(n)), bool)
    return lower_envelopes(table["flops"], table, n, masks, n_grid), n, masks


def test_frontier_is_the_true_envelope_of_the_curves():
    sizes = np.geomspace(1e7, 1e9, 6)
    table = kaplan_curves(sizes=sizes, points=300, tokens=(1e7, 1e11))
    env, _, _ = _frontier(table)
    c = env["flops"][0]
    covers = (c[:, None] >= 6 * sizes * 1e7) & (c[:, None] <= 6 * sizes * 1e11)
    on_curve = np.where(covers, joint_loss(KAPLAN_LAW, sizes, c[:, None] / (6 * sizes)), np.inf)
    inside = covers.sum(axis=1) >= 2
    np.testing.assert_array_equal(np.isfinite(env["loss"][0]), inside)
    np.testing.assert_allclose(env["loss"][0][inside], on_curve.min(axis=1)[inside], rtol=1e-5)
    winner = sizes[np.argmin(on_curve, axis=1)]
    # Away from the crossings (where interpolation may swap near-equal curves) the winners agree.
    gap = np.sort(on_curve, axis=1)[:, 1] / on_curve.min(axis=1) - 1
    clear = inside & (gap > 1e-4)
    np.testing.assert_array_equal(env["n_opt"][0][clear], winner[clear])


def test_frontier_fits_approach_the_joint_laws_closed_form():
    """Many sizes: L(C) on the envelope is the law's frontier; N_opt(C) is a staircase over the
    trained sizes, so its exponent is close, not exact."""
    table = kaplan_curves(sizes=np.geomspace(1e7, 1e10, 30), points=100, tokens=(1e7, 1e12))
    env, n, masks = _frontier(table)
    frontier = interior(env, n, masks)
    fit_c, _ = fit_envelope(frontier, "alpha_C", "C_c")
    truth = implied_frontier(KAPLAN_LAW)
    assert fit_c.params["alpha_C"] == pytest.approx(truth["alpha_C"], rel=1e-4)
    assert fit_c.params["C_c"] == pytest.approx(truth["C_c"], rel=0.02)
    assert allocation(frontier)["a"][0] == pytest.approx(truth["a"], abs=0.005)
    # Keeping the points the smallest and largest sizes win by default flattens N_opt(C).
    assert allocation(env)["a"][0] < truth["a"] - 0.05


def _joint_coverage(n_draws, n_resamples, level=0.95):
    """Share of draws whose interval covers each true parameter, with per-row and per-run
    (seed-like) noise: only resampling whole runs gets the per-run part right."""
    hits = []
    for seed in range(n_draws):
        table = kaplan_curves(noise=0.005, run_noise=0.005, points=20, seed=seed)
        n, runs = table["params"], table["run"]
        fit, law, data = fit_joint(n, table["tokens"], table["loss"])
        weights = resample_weights(len(n), n_resamples, runs, seed)
        valid = np.array([len(np.unique(n[w > 0])) >= 2 for w in weights])
        bootstrap_rows(fit, law, data, table["loss"], weights, valid, level)
        hits.append([fit.ci[k][0] <= v <= fit.ci[k][1] for k, v in KAPLAN_LAW.items()])
    return np.mean(hits, axis=0)


def test_noisy_intervals_contain_the_truth():
    assert _joint_coverage(n_draws=3, n_resamples=200).min() >= 2 / 3


@pytest.mark.slow
def test_noisy_coverage_of_95_percent_intervals():
    coverage = _joint_coverage(n_draws=40, n_resamples=200)
    print("95% interval coverage of (alpha_N, alpha_D, N_c, D_c):", coverage)
    assert (coverage >= 0.85).all()


def test_nonembedding_counts_used_when_present():
    """Kaplan's convention: the law holds in non-embedding N; total N (here + 2e7 embedding
    parameters per model) misfits it."""
    table = kaplan_curves(per_budget=4, points=15)
    table["params_nonembed"] = table["params"].copy()
    table["params"] = table["params"] + 2e7
    fit = fit_kaplan(table)
    assert fit.params_convention == "nonembed"
    assert fit.joint.params["alpha_N"] == pytest.approx(KAPLAN_LAW["alpha_N"], rel=TIGHT)
    total = fit_kaplan(table, params="total")
    assert abs(total.joint.params["alpha_N"] / KAPLAN_LAW["alpha_N"] - 1) > 0.05


def test_unconverged_limit_points_are_flagged():
    """Runs that stop near the compute-optimal size are far from L(N)'s D → ∞ limit."""
    short = fit_kaplan(kaplan_curves(per_budget=4, points=15))
    assert short.l_n.diagnostics["limit_excess_max"] > 0.05
    assert any("kaplan L(N)" in w for w in short.warnings)
    sizes = np.geomspace(1e6, 1e8, 4)
    long = fit_kaplan(kaplan_curves(sizes=sizes, points=15, tokens=(1e9, 1e15)))
    assert long.l_n.diagnostics["limit_excess_max"] < 0.01
    assert not any("kaplan L(N)" in w for w in long.warnings)
