"""The divergence stop names the first non-finite quantity and says what checkpoint is kept."""

import pytest

from llm_jax.train.trainer import TrainingDiverged, _fetch_finite


class Saved:
    def __init__(self, step):
        self.step = step

    def latest_step(self):
        return self.step


def test_names_the_first_non_finite_quantity_and_that_no_checkpoint_exists():
    with pytest.raises(TrainingDiverged) as error:
        _fetch_finite({"loss": 2.0, "grad_norm": float("inf")}, 3, Saved(None))
    assert "non-finite grad_norm (inf) at step 3" in str(error.value)
    assert "no checkpoint was saved yet" in str(error.value)
    assert "None" not in str(error.value)


def test_names_the_last_good_checkpoint():
    with pytest.raises(TrainingDiverged, match=r"non-finite loss \(nan\).*checkpoint \(step 10\)"):
        _fetch_finite({"loss": float("nan"), "grad_norm": float("nan")}, 12, Saved(10))


def test_finite_metrics_pass_through():
    assert _fetch_finite({"loss": 2.0, "grad_norm": 1.0}, 3, Saved(None))["loss"] == 2.0
