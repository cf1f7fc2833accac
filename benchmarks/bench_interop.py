"""Hugging Face export/import time and peak host memory; lm-eval loglikelihood requests/s.

    .venv/bin/python benchmarks/bench_interop.py [--sizes=125m,1.3b] [--max_shard_mb=2000]
        [--requests=256]

Models are configs/sizes.py shapes (vocab 32,000, untied, float32) with random weights, never
materialised whole for export: jax.eval_shape gives the tree, and each Llama tensor is drawn and
written as its shard is (so export memory is about one shard). Import is read_params onto one
device (all parameters end up in host memory, so its peak is the model's size plus one tensor).
Each phase runs in a fresh process and reports its own peak RSS (ru_maxrss). The lm-eval number
is LlmJaxLM.loglikelihood on the 5m byte-level model (context ~200 bytes, continuation ~10), batch
16, compile excluded.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _sized(size: str):
    """configs/sizes.py's config for `size`."""
    import runpy

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return runpy.run_path(os.path.join(root, "configs", "sizes.py"))["get_config"](size)


def _abstract(model_cfg):
    """The parameter tree as ShapeDtypeStructs: nothing allocated."""
    import jax
    import jax.numpy as jnp

    from llm_jax.model import Transformer
    from llm_jax.train.state import strip_boxes

    init = Transformer(model_cfg).init
    return strip_boxes(jax.eval_shape(init, jax.random.key(0), jnp.zeros((1, 1), jnp.int32)))[
        "params"
    ]


def export_phase(size: str, out: str, max_shard_mb: float) -> dict:
    import numpy as np

    from llm_jax.data.tokenizer import ByteTokenizer
    from llm_jax.interop.export import export_tensors
    from llm_jax.interop.hf_weights import tensor_maps

    config = _sized(size)
    maps = tensor_maps(_abstract(config.model))
    rng = np.random.default_rng(0)
    drawing = [0.0]

    def get(m):
        start = time.perf_counter()
        value = rng.standard_normal(m.shape, dtype=np.float32) * 0.02
        drawing[0] += time.perf_counter() - start
        return value

    start = time.perf_counter()
    files = export_tensors(
        config.model, maps, get, ByteTokenizer(), out, "float32", int(max_shard_mb * 1e6)
    )
    total = time.perf_counter() - start
    n_bytes = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    return {"seconds": total, "drawing_seconds": drawing[0], "bytes": n_bytes, "files": len(files)}


def import_phase(size: str, directory: str) -> dict:
    import jax

    from llm_jax.interop.hf_weights import read_params

    config = _sized(size)
    abstract = _abstract(config.model)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    shardings = jax.tree.map(lambda _: device, abstract)
    start = time.perf_counter()
    params = read_params(directory, abstract, shardings, tied=config.model.tie_embeddings)
    jax.block_until_ready(params)
    return {"seconds": time.perf_counter() - start}


def lm_eval_phase(n_requests: int) -> dict:
    import jax
    import numpy as np
    from lm_eval.api.instance import Instance

    from llm_jax.data.tokenizer import ByteTokenizer
    from llm_jax.evaluation.adapter import LlmJaxLM

    config = _sized("5m")
    config.model.vocab_size = 320
    abstract = _abstract(config.model)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda x: rng.standard_normal(x.shape, dtype=np.float32) * 0.02, abstract)
    model = LlmJaxLM(config.model, params, ByteTokenizer(), batch_size=16)
    words = [
        "the",
        "of",
        "and",
        "a",
        "to",
        "in",
        "is",
        "you",
        "that",
        "it",
        "he",
        "was",
        "for",
        "on",
        "are",
        "as",
        "with",
        "his",
        "they",
    ]

    def request(i):
        context = " ".join(rng.choice(words, 40 + i % 8))
        return Instance("loglikelihood", {}, (context, " " + rng.choice(words)), i)

    model.loglikelihood([request(i) for i in range(32)], disable_tqdm=True)  # compile
    requests = [request(i) for i in range(n_requests)]
    start = time.perf_counter()
    model.loglikelihood(requests, disable_tqdm=True)
    seconds = time.perf_counter() - start
    return {"requests": n_requests, "seconds": seconds, "requests_per_s": n_requests / seconds}


def _in_child(*args) -> dict:
    """Run one phase in a fresh process; its JSON result plus peak RSS in GiB."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    command = [sys.executable, os.path.abspath(__file__), "--phase", *args]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="125m,1.3b")
    p.add_argument("--max_shard_mb", type=float, default=2000.0)
    p.add_argument("--requests", type=int, default=256)
    p.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        name, *rest = args.phase
        phases = {"export": export_phase, "import": import_phase, "lm_eval": lm_eval_phase}
        if name == "export":
            rest[2] = float(rest[2])
        if name == "lm_eval":
            rest = [int(rest[0])]
        result = phases[name](*rest)
        result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(json.dumps(result))
        return
    print(f"load average at start: {os.getloadavg()}")
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "hf")
            exported = _in_child("export", size, out, str(args.max_shard_mb))
            imported = _in_child("import", size, out)
        print(json.dumps({"size": size, "export": exported, "import": imported}))
    print(json.dumps({"lm_eval_loglikelihood": _in_child("lm_eval", str(args.requests))}))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
