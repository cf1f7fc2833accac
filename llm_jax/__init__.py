"""llm_jax: a JAX/Flax research codebase for language-model scaling experiments."""
