"""Ladder arithmetic (budgets met, warmup, LR rule, centring), bracketing, cooldown branch plans."""

import numpy as np
import pytest

from llm_jax.config import get_default_config
from llm_jax.sweep import ladder
from llm_jax.sweep.cooldown import flops_accounting, plan_branches

D_MODELS = (16, 24, 32, 48, 64, 80, 96, 112, 128, 160)


@pytest.fixture(scope="module")
def sizes():
    base = get_default_config().model
    base.update(vocab_size=259, tie_embeddings=True)
    return ladder.sizes(D_MODELS, base, 128)


@pytest.fixture(scope="module")
def points(sizes):
    return ladder.isoflop_design(
        (3e11, 1e12, 3e12), sizes, batch_size=16, seq_len=128, n_points=5, lr_sweep=(0.5, 2.0)
    )


def test_budget_met_within_two_percent(points):
    for p in points:
        assert abs(ladder.budget_error(p)) <= 0.02, p
        assert p.steps >= 100


def test_warmup_is_five_percent_of_each_run(points):
    for p in points:
        assert p.warmup_steps == int(0.05 * p.steps) > 0


def test_five_sizes_per_budget_centred_on_the_expected_optimum(points):
    for budget in (3e11, 1e12, 3e12):
        main = sorted(p.n_params for p in points if p.budget == budget and p.lr_mult == 1)
        assert len(main) == len(set(main)) == 5
        expected = np.sqrt(budget / (6 * 20))  # C = 6ND, D = 20N
        assert main[0] < expected < main[-1]
        assert main[-1] / main[0] > 6  # spans well beyond ×½ … ×2


def test_lr_rule_and_sweep(points):
    rule = ladder.LrRule()
    assert rule(128) == pytest.approx(3e-3)
    assert rule(32) == pytest.approx(6e-3)  # ∝ 1/sqrt(d_model)
    swept = [p for p in points if p.lr_mult != 1]
    assert {p.budget for p in swept} == {3e11} and {p.lr_mult for p in swept} == {0.5, 2.0}
    for p in swept:
        assert p.lr == pytest.approx(rule(p.shape["d_model"]) * p.lr_mult)


def test_shape_rule():
    assert ladder.shape(128) == dict(d_model=128, n_layers=4, n_heads=8, n_kv_heads=8, d_ff=352)
    assert ladder.shape(24)["n_heads"] == 3  # head_dim 8 when d is not a multiple of 16
    assert ladder.shape(32)["n_layers"] == 2  # at least two layers


def test_small_budgets_halve_the_batch_to_keep_enough_steps(sizes):
    shape, n, fpt = sizes[-1]
    batch, steps = ladder.steps_for(30 * 16 * 128 * fpt, fpt, 16, 128, min_steps=100)
    assert batch < 16 and steps >= 100


def _parabola_losses(n, n_opt):
    return 2.0 + 0.1 * (np.log(n) - np.log(n_opt)) ** 2


def test_bracketing_detects_interior_and_edge_optima():
    grid = np.array([1e4, 2e4, 4e4, 8e4, 1.6e5])
    budgets = np.repeat([1e11, 1e12, 1e13], 5)
    n = np.tile(grid, 3)
    loss = np.concatenate([_parabola_losses(grid, o) for o in (4e4, 5e3, 5e5)])
    ladder_params = [2.5e3, 5e3, *grid, 3.2e5, 6.4e5]
    report = ladder.bracketing(budgets, n, loss, ladder_params)
    assert [r["bracketed"] for r in report] == [True, False, False]
    assert report[1]["add"] == [5e3, 2.5e3]  # next smaller sizes of the ladder
    assert report[2]["add"] == [3.2e5, 6.4e5]  # next larger ones
    no_ladder = ladder.bracketing(budgets, n, loss)
    assert no_ladder[2]["add"] == [3.2e5, 6.4e5]  # ×2, ×4 when the ladder has none
    assert "NOT bracketed" in ladder.describe(report)[1]


def test_cooldown_branches_and_flops_saved(points):
    main = [p for p in points if p.lr_mult == 1]
    trunks = plan_branches(main, cooldown_fraction=0.2)
    assert sum(len(t.branches) for t in trunks) == len(main)
    for t in trunks:
        assert len({b.point.warmup_steps for b in t.branches}) == 1  # one trunk, one warmup
        for b in t.branches:
            assert b.point.warmup_steps <= 0.05 * b.point.steps
            assert b.start + b.cooldown == b.point.steps
            assert 0.1 <= b.decay_fraction <= 0.2 + 1 / b.point.steps
            assert b.start > b.point.warmup_steps
    cost = flops_accounting(trunks)
    shared = [t for t in trunks if len(t.branches) > 1]
    assert shared and cost["ratio"] < 1  # sizes shared by budgets save FLOPs
    single = flops_accounting([t for t in trunks if len(t.branches) == 1])
    assert single["ratio"] == pytest.approx(1.0)  # one branch: trunk + cooldown = one run
