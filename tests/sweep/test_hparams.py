"""TensorBoard's HParams data for a finished sweep, read back through a real `tensorboard`
server: one trial per run directory, named after the run, described by the study's facts."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from llm_jax.sweep.spec import load_study
from tests.sweep.helpers import STUDY

FACTS = {"study", "role", "budget", "N", "N_nonembed", "D", "tokens_per_param", "lr", "seed"}
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict, timeout=10.0):
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.fixture
def tensorboard(finished_sweep):
    """`tensorboard --logdir=DIR/runs` on a free localhost port; its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", f"--logdir={finished_sweep / 'runs'}",
         f"--port={port}", "--host=127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/data/plugins_listing", timeout=5).read()
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f"tensorboard did not come up: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)
    yield base
    server.terminate()
    server.wait(timeout=30)


def test_hparams_name_trials_by_run_and_lead_with_the_study_facts(tensorboard):
    plugin = f"{tensorboard}/data/plugin/hparams"
    deadline = time.time() + 60
    while not (experiment := post(f"{plugin}/experiment", {"experimentName": ""})).get(
        "hparamInfos"
    ):  # the server loads event files in the background
        assert time.time() < deadline, experiment
        time.sleep(0.5)
    names = [h["name"] for h in experiment["hparamInfos"]]
    assert set(names) >= FACTS
    assert not [n for n in names if n.startswith(("checkpoint.", "log.", "data.cache"))]
    request = {"startIndex": 0, "sliceSize": 100, "allowedStatuses": ALL_STATUSES}
    groups = post(f"{plugin}/session_groups", request | {"colParams": []})["sessionGroups"]
    by_name = {g["name"]: g for g in groups}
    expected = {r.dir_name for r in load_study(STUDY, None).runs}
    assert set(by_name) == expected  # run names, not absolute workdir paths
    d16 = by_name["tiny-d16"]["hparams"]
    assert (d16["study"], d16["role"], d16["budget"]) == ("tiny", "main", 1.0)
    assert d16["D"] == 40 * 8 * 32 and d16["tokens_per_param"] == d16["D"] / d16["N"]
    assert {m["name"]["tag"] for m in by_name["tiny-d16"]["metricValues"]} >= {"eval/loss"}
