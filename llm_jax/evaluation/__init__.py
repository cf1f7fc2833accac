"""Standard evaluation: an lm-eval-harness model over llm_jax's own forward pass and sampler
(adapter.py) and a run's scores written beside it (harness.py). Needs the [hf] extra (lm-eval)."""
