"""`embeddings`: nearest tokens by cosine similarity, and a 2-D PCA of chosen tokens."""

import numpy as np

from llm_jax.inspection import figures
from llm_jax.inspection.run import Run, RunError, piece


def embedding_table(run: Run) -> np.ndarray:
    """The input embedding (vocab rows, padding ids past the tokenizer's dropped): (V, D)."""
    return np.asarray(run.params["embed"]["embedding"], np.float32)[: run.tokenizer.vocab_size]


def single_token(tokenizer, text: str) -> int:
    """The id of `text` if it is exactly one token; else an error listing its pieces."""
    ids = tokenizer.encode(text)
    if len(ids) != 1:
        pieces = [piece(tokenizer, i) for i in ids]
        raise RunError(f"{text!r} is {len(ids)} tokens {pieces}, not one: pick one of them")
    return int(ids[0])


def nearest(table_VD: np.ndarray, token_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k other ids most cosine-similar to token_id, and their similarities."""
    unit_VD = table_VD / np.maximum(np.linalg.norm(table_VD, axis=-1, keepdims=True), 1e-12)
    sims_V = unit_VD @ unit_VD[token_id]
    sims_V[token_id] = -np.inf
    ids = np.argsort(-sims_V, kind="stable")[:k]
    return ids, sims_V[ids]


def pca_2d(vectors_ND: np.ndarray) -> np.ndarray:
    """Coordinates (N, 2) on the two leading principal components."""
    centred = vectors_ND - vectors_ND.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def inspect_embeddings(run: Run, token: str, png, k: int = 10, chosen=()) -> str:
    """Neighbours of `token` as a table; PCA of it, its neighbours and the `chosen` texts."""
    if not token:
        raise RunError("embeddings needs a query token (--token=TEXT, one token long)")
    table_VD = embedding_table(run)
    query = single_token(run.tokenizer, token)
    ids, sims = nearest(table_VD, query, k)
    rows = [
        [r + 1, int(i), piece(run.tokenizer, int(i)), float(s)]
        for r, (i, s) in enumerate(zip(ids, sims, strict=True))
    ]
    points = list(
        dict.fromkeys([query, *map(int, ids), *(single_token(run.tokenizer, t) for t in chosen)])
    )
    _plot(pca_2d(table_VD[points]), [piece(run.tokenizer, i) for i in points], png)
    title = f"nearest to {piece(run.tokenizer, query)!r} (id {query}) by cosine similarity"
    return title + "\n" + figures.table(["rank", "id", "piece", "cosine"], rows)


def _plot(coords_N2, labels, png) -> None:
    fig = figures.new_figure(6, 5)
    ax = fig.add_subplot()
    ax.scatter(coords_N2[:, 0], coords_N2[:, 1], c=["tab:red"] + ["tab:blue"] * (len(labels) - 1))
    for (x, y), label in zip(coords_N2, labels, strict=True):
        ax.annotate(label, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("token embeddings, 2-D PCA (red: the query)")
    figures.save(fig, png)
