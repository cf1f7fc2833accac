"""What `make demo` prints: each law's figures in the convention of its printed numbers."""

from llm_jax.cli.demo import figures


def test_kaplan_figures_come_from_the_non_embedding_fit():
    total = {"figures": ["runs/demo/isoflop.png", "runs/demo/kaplan_compute.png"]}
    nonembed = {
        "figures": [
            "runs/demo/non_embedding/isoflop.png",
            "runs/demo/non_embedding/kaplan_compute.png",
            "runs/demo/non_embedding/kaplan_joint.png",
        ]
    }
    assert figures(total, nonembed) == [
        "runs/demo/isoflop.png",
        "runs/demo/non_embedding/kaplan_compute.png",
        "runs/demo/non_embedding/kaplan_joint.png",
    ]
    assert figures(total, {}) == ["runs/demo/isoflop.png"]
