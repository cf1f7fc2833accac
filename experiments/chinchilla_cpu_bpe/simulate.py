"""Design check before running: the 95% interval of a this design would report, on losses drawn
from chinchilla_cpu's fitted law moved to BPE tokens, with seed-like noise.

  python experiments/chinchilla_cpu_bpe/simulate.py [--noise=0.005,0.01] [--draws=8] [--approach3]
      [--calibrate] [--budgets=3e11,6e11 --n_points=7 --tokens_per_param=20]
      [--law=E,A,B,alpha,beta] [--short_noise=0.02 --short_tokens=450000]

The law: a BPE model learns what the byte model of the same shape learns from the same text, so
L_bpe(shape, D) = κ · L_byte(N_byte(shape), κ·D) with κ bytes per token and L_byte chinchilla_cpu's
Approach 3 fit (results/fits.json), or --law's parameters of this study's own N and D. Noise:
log-normal, relative size `noise` per point (`short_noise` for runs of fewer than `short_tokens`).
--calibrate runs chinchilla_cpu's own design under its own law (κ = 1) instead: the noise at which
its simulated interval matches the ±0.14 it reported is the noise its runs had.
"""

import argparse
import importlib.util
import json
import pathlib

import numpy as np

from llm_jax.scaling.approach3 import fit_approach3, law_loss
from llm_jax.scaling.approach12 import bootstrap_approach2, fit_approach2
from llm_jax.scaling.bootstrap import attach, bootstrap_approach3
from llm_jax.sweep import ladder

HERE = pathlib.Path(__file__).parent
BYTES_PER_TOKEN = 2.43  # bpe:1024 on the stdlib's held-out files (measured: data.info)


def load(path):
    spec = importlib.util.spec_from_file_location(path.parent.name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def byte_law() -> dict:
    fit = json.loads((HERE.parent / "chinchilla_cpu" / "results" / "fits.json").read_text())
    return {k: fit["approach3"][k] for k in ("E", "A", "B", "alpha", "beta")}


def losses(points, byte_cpu, noise, rng, kappa, law=None, short=(0.0, 0)) -> np.ndarray:
    """Loss of each design point under `law` (E, A, B, alpha, beta of this study's N and D) or,
    without one, chinchilla_cpu's law moved to κ bytes per token; with noise (short = (noise,
    tokens): the noise of runs shorter than that)."""
    if law:
        out = [law_loss(law, p.n_params, p.tokens) for p in points]
    else:
        byte_model, moved = byte_cpu.base_config().model, byte_law()
        out = []
        for p in points:
            ((_, n_byte, _),) = ladder.sizes([p.shape["d_model"]], byte_model, byte_cpu.SEQ_LEN)
            out.append(kappa * law_loss(moved, n_byte, kappa * p.tokens))
    if not noise:
        return np.array(out)
    sigma = np.array([short[0] if p.tokens < short[1] else noise for p in points])
    return np.array(out) * np.exp(sigma * rng.standard_normal(len(out)))


def check(points, byte_cpu, kappa, noise, draws, approach3, law=None, short=(0.0, 0)) -> dict:
    """Intervals of a over `draws` noise draws: Approach 2 (and 3) with 200 bootstraps each."""
    n = np.array([p.n_params for p in points], dtype=float)
    d = np.array([p.tokens for p in points], dtype=float)
    c = np.array([p.budget for p in points])
    truth = fit_approach2(n, d, losses(points, byte_cpu, 0.0, None, kappa, law), c)
    half, half3, tpp = [], [], [o["d_opt"] / o["n_opt"] for o in truth.optima if o["used"]]
    for seed in range(draws):
        loss = losses(points, byte_cpu, noise, np.random.default_rng(seed), kappa, law, short)
        ci, _ = bootstrap_approach2(n, d, loss, c, 200, seed)
        half.append((ci["a"][1] - ci["a"][0]) / 2)
        if approach3:
            fit = fit_approach3(n, d, loss)
            attach(fit, bootstrap_approach3(fit, n, d, loss, 200, seed=seed))
            half3.append((fit.ci["a"][1] - fit.ci["a"][0]) / 2)
    return {
        "noise": noise,
        "a_noise_free": truth.a,
        "tokens_per_param_at_optima": [round(v, 1) for v in tpp],
        "approach2_ci_half_width": [round(h, 3) for h in half],
        "approach3_ci_half_width": [round(h, 3) for h in half3],
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--noise", default="0.005,0.01")
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--approach3", action="store_true")
    p.add_argument("--budgets", default="", help="e.g. 2e11,4e11 (default: the study's)")
    p.add_argument("--n_points", type=int, default=0, help="sizes per budget (default: study's)")
    p.add_argument("--calibrate", action="store_true", help="chinchilla_cpu's design, κ = 1")
    p.add_argument("--law", default="", help="E,A,B,alpha,beta of a BPE fit (default: moved)")
    p.add_argument("--tokens_per_param", type=float, default=0, help="centre (default: study's)")
    p.add_argument("--short_noise", type=float, default=0.0)
    p.add_argument("--short_tokens", type=int, default=0)
    args = p.parse_args(argv)
    byte_cpu = load(HERE.parent / "chinchilla_cpu" / "config.py")
    study = byte_cpu if args.calibrate else load(HERE / "config.py")
    kappa = 1.0 if args.calibrate else BYTES_PER_TOKEN
    budgets = tuple(map(float, args.budgets.split(","))) if args.budgets else study.BUDGETS
    n_points = args.n_points or getattr(study, "N_POINTS", 5)
    centre = args.tokens_per_param or study.TOKENS_PER_PARAM
    _, _, points = study.design(budgets, n_points=n_points, tokens_per_param=centre)
    flops = sum(p.flops for p in points)
    print(f"{len(points)} points, {flops:.3g} FLOPs (6N), min steps {min(p.steps for p in points)}")
    keys = ("E", "A", "B", "alpha", "beta")
    law = dict(zip(keys, map(float, args.law.split(",")), strict=True)) if args.law else None
    short = (args.short_noise, args.short_tokens)
    for noise in map(float, args.noise.split(",")):
        result = check(points, byte_cpu, kappa, noise, args.draws, args.approach3, law, short)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
