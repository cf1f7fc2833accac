"""The package's layers import one way (docs/design.md, "Layers"): every import in llm_jax, lazy
ones inside functions included, is read with ast; a circle or an arrow upward fails."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "llm_jax"

# Lowest first: a component may import its own modules and components of lower rank only.
LAYERS = (
    ("errors",),  # the UserError base every component's error types extend
    ("sharding", "distributed", "launch"),
    ("config",),
    ("model",),
    ("data",),
    ("checkpoint", "metric_writer"),
    ("interop",),  # Hugging Face checkpoints, configs and tokenizers (train.init_from=hf:DIR)
    ("train",),
    ("sampling",),
    ("inspection",),
    ("evaluation",),  # the lm-eval adapter
    ("finetune",),  # fine-tuning tasks for the trainer (SFT, reward models, DPO)
    ("scaling",),  # pure analysis for sweeps and the fit tool: see test_scaling_is_pure
    ("sweep",),
    ("cli",),
)
RANK = {component: rank for rank, names in enumerate(LAYERS) for component in names}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: pathlib.Path, known: set[str]) -> set[str]:
    """llm_jax modules this file imports anywhere (`from pkg import submodule` resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= subs or {node.module}
    return {name for name in found if name.split(".")[0] == "llm_jax"}


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) for name, path in known.items()}


def test_every_component_has_a_layer():
    missing = {component(m) for m in modules()} - set(RANK) - {""}
    assert not missing, f"components without a declared layer: {sorted(missing)}"


def test_imports_run_down_the_layers():
    upward = [
        f"{src} → {dst}"
        for src, targets in graph().items()
        for dst in targets
        if component(src) != component(dst) and RANK[component(dst)] >= RANK[component(src)]
    ]
    assert not upward, "imports against the declared order:\n  " + "\n  ".join(sorted(upward))


def test_scaling_is_pure():
    """Fits, tables and plots (numpy, scipy, matplotlib) import nothing of llm_jax but scaling."""
    outside = [
        f"{src} → {dst}"
        for src, targets in graph().items()
        if component(src) == "scaling"
        for dst in targets
        if component(dst) != "scaling"
    ]
    assert not outside, "llm_jax.scaling imports outside itself:\n  " + "\n  ".join(outside)


def test_no_import_circles():
    edges = graph()
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                pytest.fail("import circle: " + " → ".join(trail[trail.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_walk_sees_lazy_imports():
    """The checker itself: an import inside a function body counts."""
    edges = graph()
    assert "llm_jax.scaling.fit" in edges["llm_jax.sweep.report"]  # imported lazily there
