"""Shared fixtures: the Chinchilla Figure 4 points as Besiroglu et al. (2024) refit them."""

import csv

import numpy as np
import pytest

from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def chinchilla_points():
    """(N, D, loss) of the 240 points left after dropping the 5 highest losses; D = C/(6N).

    Module-scoped (one full-grid fit serves several tests), so it checks ../shared itself with
    the same skip as the function-scoped shared_data fixture.
    """
    n, c, loss = all_chinchilla_points()
    keep = np.argsort(loss)[:-5]
    return n[keep], c[keep] / (6 * n[keep]), loss[keep]


def all_chinchilla_points():
    """(N, C, loss) of all 245 Figure 4 points; skips the test when ../shared lacks them."""
    path = SHARED_DATA / "chinchilla_fig4_points.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared test data lives beside the checkout)")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    return n, c, np.array([float(r["loss"]) for r in rows])
