"""Runs shared by the sharding tests: each mesh is built, compiled and trained once per session."""

import dataclasses

import jax
import numpy as np
import pytest

from tests.sharding.helpers import batches, build_on, config, train

STEPS = 5


@dataclasses.dataclass
class Run:
    parts: object
    state: object  # after STEPS steps; live, sharded
    losses: list
    params: dict  # host copy of state.params


class Runs:
    """mesh (data, fsdp, tensor) → Run, trained on first use; (1, 1, 1) is one device."""

    def __init__(self):
        self._runs = {}

    def __getitem__(self, mesh) -> Run:
        if mesh not in self._runs:
            parts, state = build_on(config(*mesh), int(np.prod(mesh)))
            state, losses = train(parts, state, batches(STEPS))
            self._runs[mesh] = Run(parts, state, losses, jax.device_get(state.params))
        return self._runs[mesh]


@pytest.fixture(scope="session")
def runs():
    return Runs()
