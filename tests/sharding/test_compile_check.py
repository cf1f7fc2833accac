"""The compile check: per-device memory of a train step compiled for a mesh, nothing allocated."""

import importlib.util
import json
import subprocess
import sys

import jax
import pytest

from llm_jax.train.compile_check import compile_train_step, parse_mesh
from tests.sharding.helpers import config
from tests.train.cli import ROOT, cli_env


def test_report_matches_the_real_shards(runs):
    """Per-device bytes from the shardings equal what the trained (1, 8, 1) state really holds."""
    report = compile_train_step(config(1, 8, 1), devices=jax.devices())
    state = runs[1, 8, 1].state
    for key, tree in (("params_bytes", state.params), ("optimizer_bytes", state.opt_state)):
        held = sum(leaf.addressable_shards[0].data.nbytes for leaf in jax.tree.leaves(tree))
        assert report[key] == held, key
    assert report["argument_bytes"] >= report["params_bytes"] + report["optimizer_bytes"]
    assert report["temp_bytes"] > 0


def test_parse_mesh_rejects_bad_sizes():
    assert parse_mesh("2,4,1") == {"data": 2, "fsdp": 4, "tensor": 1}
    for text in ("8", "0,8,1", "-1,8,1", "a,b,c"):
        with pytest.raises(ValueError):
            parse_mesh(text)


# Runs the CLI and reports the process's own peak RSS on stderr, however it exits.
MEASURED_CLI = """
import resource, runpy, sys
sys.argv = ["tools/compile_check.py", *sys.argv[1:]]
try:
    runpy.run_path("tools/compile_check.py", run_name="__main__")
finally:
    print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


# Slow: alone (cold or warm compilation cache) the CLI peaks at ~0.63 GB, but late in the full
# default suite the same subprocess measured 3.76 GB of RSS, a cause not yet found; run it alone.
@pytest.mark.slow
def test_7b_on_64_fake_devices_without_allocating_it(tmp_path):
    """The CLI compiles a 7B step for fsdp=64 in a process that never holds the 27 GB model."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURED_CLI,
            "--config=configs/sizes.py:7b",
            "--mesh=1,64,1",
            "--json",
        ],
        cwd=ROOT,
        # Its own compilation cache: the peak below is a cold compile's, whatever the suite cached.
        env=cli_env() | {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n_devices"] == 64 and report["mesh"] == {"data": 1, "fsdp": 64, "tensor": 1}
    assert 6.5e9 < report["params"] < 7e9
    full_bytes = 4 * report["params"]  # float32
    assert report["params_bytes"] == pytest.approx(full_bytes / 64, rel=1e-3)
    assert report["optimizer_bytes"] == pytest.approx(2 * report["params_bytes"], rel=1e-3)
    assert report["temp_bytes"] > 0
    peak_kib = int(result.stderr.split("maxrss_kib")[-1].split()[0])
    assert peak_kib * 1024 < full_bytes / 8  # a few hundred MB of compiler, not the 27 GB model


def test_fsdp_cuts_params_and_optimizer_per_device_eightfold():
    """configs/sizes.py:1.3b on 8 devices: fsdp=8 holds 1/8 of what data=8 holds, per device."""
    spec = importlib.util.spec_from_file_location("sizes", ROOT / "configs" / "sizes.py")
    sizes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizes)
    held = {}
    for mesh in ((8, 1, 1), (1, 8, 1)):
        c = sizes.get_config("1.3b")
        c.mesh.update(data=mesh[0], fsdp=mesh[1], tensor=mesh[2])
        report = compile_train_step(c, devices=jax.devices())
        held[mesh] = report["params_bytes"] + report["optimizer_bytes"]
    assert held[8, 1, 1] == pytest.approx(4 * 3 * 1.364e9, rel=1e-2)  # float32 params, mu, nu
    assert held[8, 1, 1] / held[1, 8, 1] == pytest.approx(8, rel=1e-3)
