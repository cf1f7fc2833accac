"""`attention`: attention weights (query rows × key columns) per layer and head for a prompt."""

import dataclasses

import jax.numpy as jnp
import matplotlib
import numpy as np

from llm_jax.inspection import figures
from llm_jax.inspection.run import Run, RunError, encode_prompt, forward, piece
from llm_jax.model import model_config

_LABELLED = 48  # above this many tokens the axes get no per-token labels


def attention_weights(model_cfg, params, ids: list[int]) -> np.ndarray:
    """Weights (n_layers, H, L, L) for one prompt, from the einsum path's sown intermediates."""
    # Only the reference path sows weights; the params are the same.
    cfg = dataclasses.replace(model_config(model_cfg), attention="xla")
    _, state = forward(cfg, params, ids, mutable=("intermediates",))
    found = state["intermediates"]
    if cfg.scan_layers:  # nn.scan stacks the sown tuple's array over layers: (layers, B, H, L, M)
        return np.asarray(found["blocks"]["attn"]["attention_weights"][0][:, 0])
    layers = [found[f"block_{i}"]["attn"]["attention_weights"][0] for i in range(cfg.n_layers)]
    return np.asarray(jnp.stack(layers)[:, 0])


def head_stats(weights_LM) -> list[float]:
    """Mean weight on self, on the previous token and on the first token; mean entropy (nats)."""
    n = weights_LM.shape[0]
    prev = [weights_LM[i, i - 1] for i in range(1, n)] or [0.0]
    entropy = -(weights_LM * np.log(np.where(weights_LM > 0, weights_LM, 1))).sum(-1)
    return [
        float(np.diag(weights_LM).mean()),
        float(np.mean(prev)),
        float(weights_LM[:, 0].mean()),
        float(entropy.mean()),
    ]


def inspect_attention(run: Run, prompt: str, png, layers=None, heads=None) -> str:
    """Heatmaps of the chosen layers × heads (all by default) and a table of per-head habits."""
    ids = encode_prompt(run.tokenizer, prompt)
    weights = attention_weights(run.model_cfg, run.params, ids)
    layers = list(range(weights.shape[0])) if layers is None else list(layers)
    heads = list(range(weights.shape[1])) if heads is None else list(heads)
    _check_range("layer", layers, weights.shape[0])
    _check_range("head", heads, weights.shape[1])
    labels = [piece(run.tokenizer, t) for t in ids]
    _plot(weights, layers, heads, labels, png)
    rows = [[lay, h, *head_stats(weights[lay, h])] for lay in layers for h in heads]
    headers = ["layer", "head", "self", "previous", "first", "entropy"]
    return figures.table(headers, rows) + f"\n{len(ids)} tokens (EOS first: the document start)"


def _check_range(name, chosen, n):
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise RunError(f"{name}s {bad} do not exist: the model has {name}s 0..{n - 1}")


def _plot(weights, layers, heads, labels, png) -> None:
    n = len(labels)
    fig = figures.new_figure(2.2 + 3 * len(heads), 0.4 + 3 * len(layers))
    axes = fig.subplots(len(layers), len(heads), squeeze=False)
    upper = np.triu(np.ones((n, n), bool), k=1)  # the causal mask, drawn in gray
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgray")
    for r, lay in enumerate(layers):
        for c, h in enumerate(heads):
            ax = axes[r, c]
            image = ax.imshow(np.ma.masked_where(upper, weights[lay, h]), vmin=0, vmax=1, cmap=cmap)
            ax.set_title(f"layer {lay} head {h}", fontsize=9)
            ticks = range(n) if n <= _LABELLED else []
            ax.set_xticks(ticks, labels if n <= _LABELLED else [], rotation=90, fontsize=6)
            ax.set_yticks(ticks, labels if n <= _LABELLED else [], fontsize=6)
    fig.colorbar(image, ax=axes, shrink=0.6, label="weight (rows: queries, columns: keys)")
    figures.save(fig, png)
