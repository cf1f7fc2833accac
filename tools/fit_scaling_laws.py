"""Fit scaling laws to a run table (see llm_jax/cli/fit_scaling_laws.py; --help lists flags)."""

from llm_jax.cli.fit_scaling_laws import main

raise SystemExit(main())
