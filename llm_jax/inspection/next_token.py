"""`next`: the most likely next tokens, their probability at several temperatures, and which
survive the chosen top-k / top-p at each temperature."""

import jax
import jax.numpy as jnp
import numpy as np

from llm_jax import sampling
from llm_jax.inspection import figures
from llm_jax.inspection.run import Run, RunError, encode_prompt, forward, piece


def next_token_logits(run: Run, ids: list[int]) -> np.ndarray:
    """Logits (V,) after the prompt, ids past the tokenizer's vocab dropped (-inf)."""
    logits_1LV = forward(run.model_cfg, run.params, ids)
    logits_V = np.array(logits_1LV[0, -1], np.float32)  # a writable copy
    logits_V[run.tokenizer.vocab_size :] = -np.inf
    return logits_V


def candidates(logits_V, temperatures, top_k: int, top_p: float, n: int):
    """Top-n ids, probs (n, T) at each temperature, kept (n, T) under top-k/top-p there."""
    ids = np.argsort(-logits_V, kind="stable")[:n]
    probs, kept = [], []
    for t in temperatures:
        processed = sampling.process_logits(
            jnp.asarray(logits_V)[None], sampling.Sampler(temperature=t, top_k=top_k, top_p=top_p)
        )[0]
        probs.append(np.asarray(jax.nn.softmax(jnp.asarray(logits_V) / t))[ids])
        kept.append(np.isfinite(np.asarray(processed))[ids])
    return ids, np.stack(probs, 1), np.stack(kept, 1)


def inspect_next(
    run: Run, prompt: str, png, temperatures=(0.5, 1.0, 2.0), top_k=0, top_p=1.0, n=10
) -> str:
    """Table and grouped bar chart of the top-n next tokens; * marks survivors of the filters."""
    if min(temperatures) <= 0:
        raise RunError(f"temperatures must be > 0 (0 is greedy: the top row), got {temperatures}")
    logits_V = next_token_logits(run, encode_prompt(run.tokenizer, prompt))
    ids, probs, kept = candidates(logits_V, temperatures, top_k, top_p, n)
    labels = [piece(run.tokenizer, int(i)) for i in ids]
    rows = [
        [r + 1, int(i), labels[r]]
        + [f"{p:.4f}{'*' if k else ' '}" for p, k in zip(probs[r], kept[r], strict=True)]
        for r, i in enumerate(ids)
    ]
    _plot(labels, probs, kept, temperatures, png)
    legend = f"* survives top_k={top_k or 'off'}, top_p={top_p} at that temperature"
    return figures.table(["rank", "id", "piece", *(f"T={t:g}" for t in temperatures)], rows) + (
        "\n" + legend
    )


def _plot(labels, probs, kept, temperatures, png) -> None:
    fig = figures.new_figure(max(6, 0.7 * len(labels)), 4)
    ax = fig.add_subplot()
    width = 0.8 / len(temperatures)
    x = np.arange(len(labels))
    for j, t in enumerate(temperatures):
        colors = [f"C{j}" if k else "lightgray" for k in kept[:, j]]
        ax.bar(x + j * width, probs[:, j], width, color=colors, label=f"T={t:g}")
    ax.set_xticks(x + 0.4 - width / 2, labels, rotation=45, fontsize=8)
    ax.set_ylabel("probability")
    ax.set_title("next-token candidates (gray: removed by top-k / top-p)")
    ax.legend()
    figures.save(fig, png)
