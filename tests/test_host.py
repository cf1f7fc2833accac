"""The train CLI re-executes itself with glibc.malloc.hugetlb=1 where the kernel honours it."""

import subprocess
import sys

import pytest

from llm_jax.cli import host


@pytest.fixture
def thp(tmp_path, monkeypatch):
    def mode(text):
        path = tmp_path / "enabled"
        path.write_text(text)
        monkeypatch.setattr(host, "_THP_MODE", path)

    return mode


def test_host_env_adds_the_tunable_once(thp):
    thp("always [madvise] never\n")
    env = host.host_env({"PATH": "/bin"})
    assert env["GLIBC_TUNABLES"] == host.TUNABLE and env["PATH"] == "/bin"
    assert host.host_env(env) is env  # already set: no second re-exec
    other = host.host_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert other["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{host.TUNABLE}"


@pytest.mark.parametrize("mode", ["[always] madvise never\n", "always madvise [never]\n"])
def test_host_env_leaves_env_alone_where_it_would_not_help(thp, mode):
    thp(mode)
    env = {"PATH": "/bin"}
    assert host.host_env(env) is env


def test_reexec_sets_the_tunable_for_the_process_itself():
    code = (
        "from llm_jax.cli import host; host.reexec_with_host_tunables(); "
        "import os; print(os.environ.get('GLIBC_TUNABLES', ''))"
    )
    expected = host.host_env({}).get("GLIBC_TUNABLES", "")  # "" where THP is not "madvise"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
