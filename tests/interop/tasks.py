"""Local lm-eval tasks (YAML + JSONL written into a directory): multiple choice, generation and
rolling log-likelihood, each with a document longer than the tiny models' context."""

import json

LONG = "a long context that runs past the model's window " * 3

MC = [
    {"question": "The sky is", "choices": ["blue", "green", "made of cheese"], "answer": 0},
    {"question": "2 + 2 =", "choices": [" 4", " 5", " twenty-two"], "answer": 0},
    {"question": "def f(x):\n    return", "choices": [" x", " None", " f(x)"], "answer": 0},
    {"question": LONG + "so", "choices": [" yes", " no", " maybe"], "answer": 1},
    {"question": "Emoji 👍 means", "choices": [" good", " bad", " 🦊"], "answer": 0},
]
GEN = [
    {"prompt": "Q: name a colour.\nA:", "target": " blue"},
    {"prompt": "print(", "target": "1)"},
    {"prompt": LONG, "target": "x"},
]
TEXTS = [{"text": "short text."}, {"text": LONG + LONG}]

YAML = {
    "tiny_mc": """task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
""",
    "tiny_gen": """task: tiny_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{target}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
  do_sample: false
metric_list:
  - metric: exact_match
""",
    "tiny_ppl": """task: tiny_ppl
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
""",
}
ROWS = {"tiny_mc": MC, "tiny_gen": GEN, "tiny_ppl": TEXTS}


def write_tasks(directory) -> str:
    """The task files in `directory`; returns it (lm-eval's include_path)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, yaml in YAML.items():
        data = directory / f"{name}.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in ROWS[name]))
        (directory / f"{name}.yaml").write_text(yaml.format(data=data))
    return str(directory)
