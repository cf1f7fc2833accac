"""A sweep root at a gs:// URL, through the real code path (etils.epath's fsspec backend) into
memory (tests/fake_gcs.py)."""

import functools
import json

import pytest
from etils import epath

import llm_jax.scaling.fit as scaling_fit
from llm_jax.cli import paths
from llm_jax.scaling.synthetic import isoflop_table
from llm_jax.sweep import run_sweep
from llm_jax.sweep.executors import run_log
from llm_jax.sweep.report import _fit
from llm_jax.sweep.store import Status
from tests.fake_gcs import memory_gcs
from tests.sweep.helpers import FIT_COLUMNS, STUDY, read_csv
from tests.train.cli import ROOT

ROOT_URL = "gs://test-bucket/sweep"


@pytest.fixture
def bucket():
    with memory_gcs():
        yield epath.Path(ROOT_URL)


def upload(local, remote: epath.Path) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file():
            target = remote / str(path.relative_to(local))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def test_urls_stay_urls_at_the_cli_boundary():
    assert paths.absolute(ROOT_URL) == ROOT_URL
    assert paths.absolute("memory://x/y") == "memory://x/y"
    assert paths.absolute("runs/x").startswith("/")


def test_collect_on_a_gs_root_equals_the_local_one(bucket, finished_sweep, tmp_path, monkeypatch):
    """A finished sweep's run directories and statuses copied to the bucket; --collect there
    writes the same runs.csv as on disk, and nothing lands in a local ./gs: directory."""
    upload(finished_sweep / "runs", bucket / "runs")
    upload(finished_sweep / "status", bucket / "status")
    monkeypatch.chdir(tmp_path)
    study = str(ROOT / STUDY)  # the working directory is elsewhere
    summary = run_sweep(study, ROOT_URL, collect_only=True, fit=False, log=lambda *_: None)
    assert summary["status"] == {"done": 6}
    (tmp_path / "runs.csv").write_text((bucket / "runs.csv").read_text())
    want, got = read_csv(finished_sweep / "runs.csv"), read_csv(tmp_path / "runs.csv")
    assert set(got) == set(want)
    for name in want:
        for column in FIT_COLUMNS:
            assert got[name][column] == want[name][column], (name, column)
    assert (bucket / "all_runs.csv").exists() and (bucket / "summary.json").exists()
    assert not (tmp_path / "gs:").exists()
    assert not [p for p in (bucket).iterdir() if p.name.endswith(".tmp")]


def test_status_claims_and_logs_on_a_gs_root(bucket):
    status = Status(bucket)
    assert status.claim("run", attempts=1) == {"status": "planned"}
    assert status.claim("run") is None  # this process owns it, alive
    status.set("run", status="done")
    assert status.get("run")["status"] == "done" and status.get("run")["attempts"] == 1
    for text in ("first attempt\n", "second attempt\n"):
        with run_log(bucket, "run") as local:
            assert "://" not in local  # a child process writes to a real file
            with open(local, "a") as f:
                f.write(text)
    assert (bucket / "logs" / "run.log").read_text() == "first attempt\nsecond attempt\n"


def test_fits_on_a_gs_root_land_in_the_bucket(bucket, monkeypatch):
    """The fit (pure, local files) runs in a temporary directory; its files go up to the bucket
    and fits.json names the bucket's runs.csv. Approach 2 only, to keep the test short."""
    monkeypatch.setattr(
        scaling_fit, "fit_runs", functools.partial(scaling_fit.fit_runs, approaches=(2,))
    )
    table = isoflop_table(budgets=(1e18, 1e19, 1e20), per_budget=5, noise=0.01)
    rows = [
        {"run": f"r{i}", **{k: float(v[i]) for k, v in table.items()}}
        for i in range(len(table["loss"]))
    ]
    doc = _fit(rows, [], bucket / "fit", bootstrap=0, log=print, kaplan_params="total")
    assert 0.4 < doc["approach2"]["a"] < 0.6
    names = {p.name for p in (bucket / "fit").iterdir()}
    assert {"runs.csv", "fits.json"} <= names and any(n.endswith(".png") for n in names)
    assert doc["runs"] == f"{ROOT_URL}/fit/runs.csv"
    saved = json.loads((bucket / "fit" / "fits.json").read_text())
    assert saved["runs"] == saved["curves"] == doc["runs"] == doc["curves"]  # no curve table
    assert all(f.startswith(f"{ROOT_URL}/fit/") for f in doc["figures"])
