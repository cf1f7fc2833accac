"""`tokens`: how a text splits into pieces and ids under the run's tokenizer."""

from llm_jax.inspection import figures
from llm_jax.inspection.run import piece

_PLOTTED = 80  # tokens drawn in the figure; the table lists all


def token_rows(tokenizer, text: str) -> list[list]:
    """[index, id, piece, bytes] per token."""
    rows = []
    for i, token_id in enumerate(tokenizer.encode(text)):
        shown = tokenizer.decode([token_id])
        # A byte-fallback token alone decodes to U+FFFD: it stands for exactly one byte.
        n_bytes = 1 if "\ufffd" in shown else len(shown.encode("utf-8"))
        rows.append([i, int(token_id), piece(tokenizer, token_id), n_bytes])
    return rows


def inspect_tokens(tokenizer, text: str, png) -> str:
    """Table of the split (and bytes per token overall); bar chart of bytes per token to `png`."""
    rows = token_rows(tokenizer, text)
    n_bytes = len(text.encode("utf-8"))
    summary = f"{n_bytes} bytes → {len(rows)} tokens: {n_bytes / max(len(rows), 1):.2f} bytes/token"
    shown = rows[:_PLOTTED]
    fig = figures.new_figure(max(6, 0.25 * len(shown)), 3.5)
    ax = fig.add_subplot()
    ax.bar(range(len(shown)), [r[3] for r in shown], color="tab:blue")
    ax.set_xticks(range(len(shown)), [r[2] for r in shown], rotation=90, fontsize=8)
    ax.set_ylabel("bytes")
    ax.set_title(summary + (f" (first {_PLOTTED} shown)" if len(rows) > _PLOTTED else ""))
    figures.save(fig, png)
    return figures.table(["#", "id", "piece", "bytes"], rows) + "\n" + summary
