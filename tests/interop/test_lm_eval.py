"""The lm-eval adapter against direct, unbatched computations with llm_jax's forward pass."""

import json

import jax
import numpy as np
import pytest

from llm_jax.data.tokenizer import ByteTokenizer
from tests.interop.helpers import logits, random_params, require, tiny_model
from tests.interop.tasks import write_tasks

lm_eval = require("lm_eval")
from lm_eval.tasks import TaskManager  # noqa: E402

from llm_jax.evaluation.adapter import LlmJaxLM  # noqa: E402

TASKS = ["tiny_mc", "tiny_gen", "tiny_ppl"]
CFG = tiny_model(max_seq_len=64)
TOK = ByteTokenizer()


@pytest.fixture(scope="module")
def params():
    return random_params(CFG)


@pytest.fixture(scope="module")
def samples(params, tmp_path_factory):
    """lm-eval's per-request results for the three local tasks, batch size 4 (padded batches)."""
    include = write_tasks(tmp_path_factory.mktemp("tasks"))
    model = LlmJaxLM(CFG, params, TOK, batch_size=4)
    results = lm_eval.simple_evaluate(
        model=model, tasks=TASKS, log_samples=True, bootstrap_iters=0,
        task_manager=TaskManager(include_path=include, include_defaults=False),
    )  # fmt: skip
    return results["samples"]


def log_probs(params, inputs):
    """log p(next token) for one row alone: (len(inputs), V). The row is right-padded to one
    fixed length (one compile); a causal model's outputs before the padding do not see it."""
    row = np.zeros((1, CFG.max_seq_len), np.int32)
    row[0, : len(inputs)] = inputs
    return np.asarray(jax.nn.log_softmax(logits(CFG, params, row)[0], axis=-1))[: len(inputs)]


def direct_loglikelihood(params, context: str, continuation: str) -> float:
    """Trailing context spaces belong to the continuation; truncate left to the window."""
    stripped = context.rstrip()
    continuation = context[len(stripped) :] + continuation
    target = TOK.encode(continuation)
    whole = (TOK.encode(stripped) + target)[-(CFG.max_seq_len + 1) :]
    lp = log_probs(params, whole[:-1])
    n = len(target)
    return float(sum(lp[len(whole) - 1 - n + i, t] for i, t in enumerate(whole[-n:])))


def test_multiple_choice_loglikelihoods_match_direct_computation(samples, params):
    assert len(samples["tiny_mc"]) == 5
    for sample in samples["tiny_mc"]:
        for (context, continuation), (logprob, _) in zip(
            sample["arguments"], sample["filtered_resps"], strict=True
        ):
            assert logprob == pytest.approx(
                direct_loglikelihood(params, context, continuation), rel=1e-5, abs=1e-4
            )


def direct_greedy(params, context: str, max_new: int) -> str:
    """Greedy decoding by repeated full forward passes (no KV cache), ids < the tokenizer's."""
    ids = TOK.encode(context)[-(CFG.max_seq_len - max_new) :]
    out = []
    for _ in range(max_new):
        token = int(np.argmax(log_probs(params, ids + out)[-1][: TOK.vocab_size]))
        if token == TOK.eos_id:
            break
        out.append(token)
    return TOK.decode(out).split("\n")[0]


def test_generation_matches_direct_greedy_decoding(samples, params):
    assert len(samples["tiny_gen"]) == 3
    for sample in samples["tiny_gen"]:
        (context, kwargs), text = sample["arguments"][0], sample["filtered_resps"][0]
        assert text == direct_greedy(params, context, kwargs["max_gen_toks"])


def test_rolling_loglikelihood_scores_each_token_once(samples, params):
    """Tokens scored in chunks of max_seq_len after an EOS prefix; each chunk's input is the
    (up to) max_seq_len tokens ending just before its last token."""
    window = CFG.max_seq_len
    for sample in samples["tiny_ppl"]:
        tokens = TOK.encode(sample["arguments"][0][0])
        seq = [TOK.eos_id, *tokens]  # seq[j + 1] is token j
        total = 0.0
        for start in range(0, len(tokens), window):
            end = min(start + window, len(tokens))
            first = max(0, end - window)
            lp = log_probs(params, seq[first:end])
            total += sum(lp[j - first, seq[j + 1]] for j in range(start, end))
        assert len(tokens) <= window or len(tokens) > 2 * window  # one doc spans windows
        assert sample["filtered_resps"][0] == pytest.approx(total, rel=1e-5, abs=1e-4)


def test_evaluate_run_writes_json_and_tensorboard(smoke_run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from llm_jax.evaluation.harness import evaluate_run

    include = write_tasks(tmp_path / "tasks")
    evaluate_run(smoke_run, ["tiny_mc"], limit=3, include_path=include, bootstrap_iters=0)
    saved = json.loads((smoke_run / "eval_harness.json").read_text())
    assert saved["step"] == 2 and saved["results"]["tiny_mc"]["sample_len"] == 3
    acc = saved["results"]["tiny_mc"]["acc,none"]
    board = EventAccumulator(str(smoke_run / "tensorboard"))
    board.Reload()
    scores = [(e.step, e.value) for e in board.Scalars("lm_eval/tiny_mc/acc")]
    assert scores == [(2, pytest.approx(acc))]


@pytest.mark.slow
def test_same_loglikelihoods_as_lm_evals_own_hf_model_on_the_export(params, tmp_path):
    """The exported model through lm-eval's transformers backend scores as the adapter does."""
    require("torch")
    from lm_eval.models.huggingface import HFLM

    from llm_jax.interop.export import export_params

    export_params(CFG, params, TOK, tmp_path / "hf")
    include = write_tasks(tmp_path / "tasks")
    scores = {}
    for name, model in {
        "llm_jax": LlmJaxLM(CFG, params, TOK, batch_size=4),
        "hf": HFLM(pretrained=str(tmp_path / "hf"), device="cpu", batch_size=4),
    }.items():
        out = lm_eval.simple_evaluate(
            model=model, tasks=["tiny_mc"], task_manager=TaskManager(include_path=include),
            log_samples=True, bootstrap_iters=0,
        )  # fmt: skip
        scores[name] = [r[0] for s in out["samples"]["tiny_mc"] for r in s["filtered_resps"]]
    np.testing.assert_allclose(scores["llm_jax"], scores["hf"], rtol=1e-5, atol=1e-4)
