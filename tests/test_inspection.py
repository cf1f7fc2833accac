"""The inspect_model views on a random byte-level model: tables, PNGs and the numbers behind."""

import functools

import numpy as np
import pytest

from llm_jax.config import get_default_config
from llm_jax.data.tokenizer import ByteTokenizer
from llm_jax.inspection import attention, embeddings, next_token, tokens
from llm_jax.inspection.complete import SEPARATOR, complete
from llm_jax.inspection.run import Run, RunError, check_run, encode_prompt
from llm_jax.sampling import Sampler
from tests.test_sampling import random_params

PROMPT = "for i in x:"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@functools.cache
def random_run(**model_overrides) -> Run:
    config = get_default_config()
    config.model.update(vocab_size=320, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
    config.model.update(max_seq_len=48, init_std=0.2, **model_overrides)
    return Run(config, random_params(config.model), ByteTokenizer())


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def test_tokens_table_and_png(tmp_path):
    text = "déf f(x):"  # é is two bytes
    table = tokens.inspect_tokens(ByteTokenizer(), text, tmp_path / "t.png")
    assert_png(tmp_path / "t.png")
    rows = tokens.token_rows(ByteTokenizer(), text)
    assert [r[1] for r in rows] == list(text.encode())
    assert sum(r[3] for r in rows) == len(text.encode()) == 10
    assert "10 bytes → 10 tokens: 1.00 bytes/token" in table


def test_next_token_probabilities_and_survivors(tmp_path):
    run = random_run()
    table = next_token.inspect_next(run, PROMPT, tmp_path / "n.png", top_k=3, n=8)
    assert_png(tmp_path / "n.png")
    logits = next_token.next_token_logits(run, encode_prompt(run.tokenizer, PROMPT))
    assert np.isneginf(logits[run.tokenizer.vocab_size :]).all()  # padding ids never offered
    ids, probs, kept = next_token.candidates(logits, (0.5, 1.0), top_k=3, top_p=1.0, n=8)
    for j, t in enumerate((0.5, 1.0)):
        full = np.exp((logits - logits.max()) / t)
        np.testing.assert_allclose(probs[:, j], (full / full.sum())[ids], rtol=1e-5)
    assert kept.tolist() == [[True, True]] * 3 + [[False, False]] * 5  # top-k: the first 3
    assert table.count("*") == 3 * 3 + 1  # three temperatures, plus the legend


def test_top_p_survivors_depend_on_temperature():
    logits = np.log(np.array([0.5, 0.3, 0.2], np.float32))
    _, _, kept = next_token.candidates(logits, (0.25, 1.0), top_k=0, top_p=0.7, n=3)
    assert kept[:, 0].tolist() == [True, False, False]  # sharpened: 0.5 alone reaches 0.7
    assert kept[:, 1].tolist() == [True, True, False]


@pytest.mark.parametrize("scan_layers", [True, False])
def test_attention_rows_sum_to_one_and_are_causal(tmp_path, scan_layers):
    run = random_run(scan_layers=scan_layers)
    ids = encode_prompt(run.tokenizer, PROMPT)
    w = attention.attention_weights(run.model_cfg, run.params, ids)
    n = len(ids)
    assert w.shape == (2, 4, n, n)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    assert (w[..., np.triu_indices(n, k=1)[0], np.triu_indices(n, k=1)[1]] == 0).all()
    assert (w[..., np.tril_indices(n)[0], np.tril_indices(n)[1]] > 0).all()
    table = attention.inspect_attention(run, PROMPT, tmp_path / "a.png", layers=[1], heads=[0, 3])
    assert_png(tmp_path / "a.png")
    assert len(table.splitlines()) == 2 + 2 + 1  # header, rule, two heads, footer
    with pytest.raises(ValueError, match="heads \\[4\\] do not exist"):
        attention.inspect_attention(run, PROMPT, tmp_path / "b.png", heads=[4])


def test_head_stats_on_a_previous_token_head():
    w = np.eye(4, k=-1)
    w[0, 0] = 1.0
    self_w, prev, first, entropy = attention.head_stats(w)
    assert (self_w, prev, first, entropy) == (0.25, 1.0, 0.5, 0.0)


def test_embeddings_neighbours_and_pca(tmp_path):
    run = random_run()
    table = embeddings.inspect_embeddings(run, "e", tmp_path / "e.png", k=5, chosen=["a", "1"])
    assert_png(tmp_path / "e.png")
    emb = embeddings.embedding_table(run)
    assert emb.shape == (259, 32)
    unit = emb / np.linalg.norm(emb, axis=-1, keepdims=True)
    sims = unit @ unit[ord("e")]
    sims[ord("e")] = -np.inf
    ids, values = embeddings.nearest(emb, ord("e"), 5)
    assert ids.tolist() == np.argsort(-sims)[:5].tolist()
    np.testing.assert_allclose(values, np.sort(sims)[::-1][:5], rtol=1e-5)
    assert f"{values[0]:.4f}" in table
    with pytest.raises(ValueError, match="is 2 tokens"):
        embeddings.inspect_embeddings(run, "ab", tmp_path / "x.png")


def test_pca_recovers_a_planar_layout():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(20, 2)) * [5.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(8, 2)))[0]  # an orthonormal 2-D subspace of R^8
    coords = embeddings.pca_2d(plane @ basis.T)
    # Distances are preserved by the projection onto the subspace the points span.
    d_in = np.linalg.norm(plane[:, None] - plane[None], axis=-1)
    d_out = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.testing.assert_allclose(d_out, d_in, atol=1e-6)


def test_check_run_rejects_wrong_params_and_tokenizer():
    run = random_run()
    check_run(run)
    small = Run(run.config.copy_and_resolve_references(), run.params, run.tokenizer)
    small.config.model.vocab_size = 200
    with pytest.raises(RunError, match="tokenizer has 259 ids but model.vocab_size is 200"):
        check_run(small)
    wider = Run(run.config.copy_and_resolve_references(), run.params, run.tokenizer)
    wider.config.model.d_model = 64
    with pytest.raises(RunError, match="do not match the model in config.json"):
        check_run(wider)


def test_streamed_samples_equal_batched_samples():
    run, sampler = random_run(), Sampler(temperature=1.0, top_k=20)
    kwargs = dict(max_new_tokens=8, sampler=sampler, seed=3, num_samples=2)
    batched = complete(run, PROMPT, **kwargs)
    written = []
    streamed = complete(run, PROMPT, write=written.append, **kwargs)
    assert streamed == batched
    assert "".join(written) == SEPARATOR.join(batched)
