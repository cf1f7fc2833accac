"""Compile the train step for a target mesh on fake CPU devices and print per-device memory.

  python -m llm_jax.cli.compile_check --config=configs/sizes.py:7b --mesh=1,64,1

Nothing is allocated: the state and batch are ShapeDtypeStructs with shardings. Costs seconds
to a minute of CPU (7B on 64 devices, scanned layers). Any --config.<key>=<value> override works.
"""

import json

from absl import flags
from ml_collections import config_flags

from llm_jax.cli import errors
from llm_jax.train import compile_check

config_flags.DEFINE_config_file("config", None, "Preset file: configs/<name>.py[:arg]")
flags.DEFINE_string("mesh", None, "data,fsdp,tensor sizes of the target mesh, e.g. 1,64,1")
flags.DEFINE_bool("json", False, "Print the report as one JSON object instead of a table")
flags.mark_flags_as_required(["config", "mesh"])
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    sizes = compile_check.parse_mesh(FLAGS.mesh)
    n_devices = sizes["data"] * sizes["fsdp"] * sizes["tensor"]
    compile_check.request_cpu_devices(n_devices)  # before anything touches a JAX backend
    config = FLAGS.config
    config.mesh.update(sizes)
    report = compile_check.compile_train_step(config)
    print(json.dumps(report) if FLAGS.json else compile_check.format_report(report))


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
