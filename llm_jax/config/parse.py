"""Parsers of the config's compound string values (train.init_from, data.mixture)."""

from __future__ import annotations


def parse_init_from(value: str, step_optional: bool = False) -> tuple[str, int | None]:
    """'WORKDIR:STEP' → (WORKDIR, STEP); the last colon splits, so gs:// paths work.

    With step_optional (fine-tuning), 'WORKDIR' alone gives (WORKDIR, None): its latest step.
    """
    workdir, sep, step = value.rpartition(":")
    if step_optional and not (sep and workdir and step.isdigit()):
        return value, None
    if not sep or not workdir or not step.isdigit():
        raise ValueError(
            f"train.init_from={value!r} must be 'WORKDIR:STEP' (e.g. runs/trunk:1200), "
            "'hf:DIR' (a Hugging Face model directory), or ''"
        )
    return workdir, int(step)


def parse_mixture(value: str) -> list[tuple[str, float, str]]:
    """'NAME:WEIGHT:CORPUS,...' → [(name, weight, corpus)]; weights > 0, names unique."""
    sources, problems = [], []
    for entry in value.split(","):
        name, weight, corpus = (entry.strip().split(":", 2) + ["", ""])[:3]
        try:
            w = float(weight)
        except ValueError:
            w = float("nan")
        if not (name.replace("_", "").replace("-", "").isalnum() and corpus):
            problems.append(
                f"entry {entry.strip()!r} is not NAME:WEIGHT:CORPUS (NAME: [A-Za-z0-9_-])"
            )
        elif not w > 0 or w == float("inf"):
            problems.append(f"source {name!r} has weight {weight!r}; weights must be > 0")
        elif name in (s[0] for s in sources):
            problems.append(f"source {name!r} appears twice")
        else:
            sources.append((name, w, corpus))
    if problems:
        raise ValueError(
            f"data.mixture={value!r}: " + "; ".join(problems) + ". Write e.g. "
            "'code:0.3:stdlib,web:0.7:/data/web_store' (drop a source rather than weighting it 0)"
        )
    return sources
