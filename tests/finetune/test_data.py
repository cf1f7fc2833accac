"""Chat template, JSONL examples (bad input names file and line), packing and row batches."""

import json

import fsspec
import numpy as np
import pytest

from llm_jax.data import ByteTokenizer, DataError
from llm_jax.data.chat import ChatTemplate, load_template, prompt_ids, render
from llm_jax.data.examples import load_conversations, load_preferences
from llm_jax.data.packing import RowSet, empty_rows, fit, pack_rows, to_rows
from tests.finetune.helpers import write_jsonl

TOK, TEMPLATE = ByteTokenizer(), ChatTemplate()
CHAT = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "yo"},
    {"role": "user", "content": "again"},
    {"role": "assistant", "content": "ok!"},
]


def test_render_trains_assistant_contents_and_their_eos_only():
    r = render(TEMPLATE, TOK, CHAT)
    assert r.ids[0] == TOK.eos_id  # a document starts after EOS, as in pretraining
    trained = [(TOK.decode(r.ids[i : i + 1]) or "<eos>") for i in np.flatnonzero(r.trained)]
    assert "".join(trained) == "yo<eos>ok!<eos>"
    assert TOK.decode(r.ids[r.response_start :]) == "ok!"
    assert r.ids[-1] == TOK.eos_id
    turns = ["<|system|>\nbe brief\n", "<|user|>\nhi\n", "<|assistant|>\nyo"]
    turns += ["<|user|>\nagain\n", "<|assistant|>\nok!"]
    assert TOK.decode(r.ids) == "".join(turns)


def test_prompt_ids_are_the_rendering_up_to_the_response():
    r = render(TEMPLATE, TOK, CHAT)
    assert prompt_ids(TEMPLATE, TOK, CHAT[:-1]) == r.ids[: r.response_start].tolist()


def test_template_round_trip(tmp_path):
    assert load_template(tmp_path) is None
    custom = ChatTemplate(name="custom", user="U: {content}\n")
    custom.save(tmp_path)
    assert load_template(tmp_path) == custom
    (tmp_path / "chat_template.json").write_text('{"colour": 1}')
    with pytest.raises(DataError, match="not a chat template"):
        load_template(tmp_path)


def test_examples_from_a_memory_url():
    with fsspec.open("memory://ft/sft.jsonl", "w") as f:
        f.write(json.dumps({"prompt": "p", "response": "r", "answer": "r"}) + "\n\n")
        f.write(json.dumps({"messages": CHAT}) + "\n")
    a, b = load_conversations("memory://ft/sft.jsonl")
    assert a.messages[-1] == {"role": "assistant", "content": "r"} and a.answer == "r"
    assert b.messages == tuple(CHAT) and b.answer is None and b.where == "memory://ft/sft.jsonl:3"


GOOD_SFT = {"prompt": "p", "response": "r"}
GOOD_PAIR = {"prompt": "p", "chosen": "a", "rejected": "b"}


@pytest.mark.parametrize(
    "load, bad, message",
    [
        (load_conversations, {"prompt": "p"}, 'missing field "response"'),
        (load_conversations, {"prompt": 3, "response": "r"}, '"prompt" must be a string, not int'),
        (load_conversations, {"prompt": "p", "response": "  "}, '"response" is empty'),
        (load_conversations, {"messages": []}, '"messages" must be a non-empty list'),
        (load_conversations, {"messages": CHAT[:2]}, "last message must be the assistant's"),
        (load_conversations, {"messages": [{"role": "bot", "content": "x"}]}, 'role "bot"'),
        (load_conversations, GOOD_PAIR, "use --mode=reward|train it with --mode=reward"),
        (load_conversations, [1, 2], "must be a JSON object, not list"),
        (load_preferences, {"prompt": "p", "chosen": "a"}, 'missing field "rejected"'),
        (load_preferences, {"prompt": "p", "chosen": "a", "rejected": "a"}, "are identical"),
        (load_preferences, {"prompt": "p", "chosen": "", "rejected": "a"}, '"chosen" is empty'),
        (load_preferences, GOOD_SFT, "a preference pair"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, load, bad, message):
    good = GOOD_SFT if load is load_conversations else GOOD_PAIR
    path = write_jsonl(tmp_path / "x.jsonl", [good, good, bad])
    with pytest.raises(DataError, match=f"^{path}:3: .*({message})") as e:
        load(path)
    assert "\n" not in str(e.value)


def test_unreadable_files(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "p", \n')
    with pytest.raises(DataError, match=r"bad.jsonl:1: not valid JSON"):
        load_conversations(str(tmp_path / "bad.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="no examples"):
        load_conversations(str(tmp_path / "empty.jsonl"))
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="not UTF-8"):
        load_conversations(str(tmp_path / "binary.jsonl"))
    with pytest.raises(DataError, match="no such file"):
        load_conversations(str(tmp_path / "absent.jsonl"))


def _example(prompt: str, response: str):
    return render(
        TEMPLATE,
        TOK,
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}],
    )


def test_rows_hold_examples_with_shifted_targets_weights_positions_segments():
    a, b = _example("ab", "xy"), _example("c", "z")
    rows = to_rows([a, b], [[0, 1]], 64, TOK.pad_id)
    n, m = len(a.ids), len(b.ids)
    np.testing.assert_array_equal(rows["inputs"][0, :n], a.ids)
    np.testing.assert_array_equal(rows["targets"][0, : n - 1], a.ids[1:])
    np.testing.assert_array_equal(rows["weights"][0, : n - 1], a.trained[1:])
    assert rows["weights"][0, n - 1] == 0  # an example's last token has no target in its row
    np.testing.assert_array_equal(rows["positions"][0, n : n + m], np.arange(m))
    np.testing.assert_array_equal(rows["segments"][0, : n + m], [1] * n + [2] * m)
    assert (rows["positions"][0, n + m :] == -1).all() and (rows["segments"][0, n + m :] == 0).all()
    assert rows["weights"].sum() == a.trained[1:].sum() + b.trained[1:].sum()  # xy<eos>, z<eos>


def test_pack_rows_fits_each_row_and_places_every_example_once():
    lengths = np.random.default_rng(0).integers(5, 60, size=300)
    rows = pack_rows(lengths, 64, seed=3)
    assert sorted(i for row in rows for i in row) == list(range(300))
    assert max(sum(lengths[i] for i in row) for row in rows) <= 64
    assert len(rows) <= 1.15 * lengths.sum() / 64  # best fit wastes little
    assert rows == pack_rows(lengths, 64, seed=3) and rows != pack_rows(lengths, 64, seed=4)


def test_fit_truncates_the_prompts_left_or_skips_and_counts():
    short, long = _example("ab", "xy"), _example("p" * 40, "xy")
    pair_long = (_example("q" * 40, "xy"), _example("q" * 40, "xyz" * 5))
    too_long_response = _example("a", "r" * 80)
    groups = [(short,), (long,), pair_long, (too_long_response,)]
    fitted, counts = fit(groups, 48, "truncate")
    assert (counts.truncated, counts.skipped, counts.kept) == (2, 1, [0, 1, 2])
    cut = fitted[1][0]
    assert len(cut.ids) == 48 and cut.ids[0] == TOK.eos_id
    assert TOK.decode(cut.ids[cut.response_start :]) == "xy"  # the response is intact
    assert TOK.decode(cut.ids).endswith("ppp\n<|assistant|>\nxy")
    assert [len(r.ids) for r in fitted[2]] == [48 - 15 + 2, 48]  # one prompt cut for both
    assert fit(groups, 48, "skip")[1].kept == [0]


def test_row_batches_are_a_pure_function_of_seed_and_step_and_visit_every_row():
    rows = RowSet({"x": np.arange(10)[:, None], "y": {"z": np.arange(10)}}, "test")
    first_epoch = np.concatenate(
        [rows.batch_at(s, seed=1, batch_size=5)["x"][:, 0] for s in (0, 1)]
    )
    assert sorted(first_epoch) == list(range(10))
    again = rows.batch_at(1, seed=1, batch_size=5)
    np.testing.assert_array_equal(again["x"][:, 0], first_epoch[5:])
    np.testing.assert_array_equal(again["y"]["z"], first_epoch[5:])
    halves = [
        rows.batch_at(1, seed=1, batch_size=10, process_index=i, process_count=2) for i in (0, 1)
    ]
    whole = rows.batch_at(1, seed=1, batch_size=10)["x"][:, 0]
    np.testing.assert_array_equal(np.concatenate([h["x"][:, 0] for h in halves]), whole)
    with pytest.raises(DataError, match="no examples left"):
        RowSet({"x": np.zeros((0, 4))}, "train examples")


def test_fixed_batches_cover_every_row_once_then_padding():
    arrays = to_rows([_example("a", "b")] * 5, [[i] for i in range(5)], 32, TOK.pad_id)
    rows = RowSet(arrays, "eval")
    batches = rows.fixed_batches(4, empty_rows(4, 32, TOK.pad_id))
    assert len(batches) == 2
    weights = np.concatenate([b["weights"] for b in batches])
    assert (weights[:5].sum(1) > 0).all() and (weights[5:] == 0).all()
    local = rows.fixed_batches(4, empty_rows(4, 32, TOK.pad_id), process_index=1, process_count=2)
    np.testing.assert_array_equal(local[0]["inputs"], batches[0]["inputs"][2:])
