"""Install this code on every worker of a Cloud TPU VM and start training on all hosts.

  python -m llm_jax.cli.launch_tpu_vm --tpu=my-v5p-64 --zone=us-east5-a --project=my-project \
      --config=configs/sizes.py:1.3b --workdir=gs://my-bucket/runs/1.3b \
      [--source=.|https://github.com/ORG/llm_jax.git|llm_jax.tar.gz] [--ref=main] \
      [--run] [-- --config.mesh.fsdp=-1 --config.mesh.data=1 ...]

Prints the gcloud commands (the default, --dry_run); --run executes them in order. Arguments
after `--` are passed to tools/train.py unchanged. Rerunning resumes from the gs:// checkpoint.
"""

import shlex
import subprocess

from absl import flags

from llm_jax import launch
from llm_jax.cli import errors

flags.DEFINE_string("tpu", None, "TPU VM (pod slice) name")
flags.DEFINE_string("zone", None, "Its zone, e.g. us-east5-a")
flags.DEFINE_string("project", None, "Its Google Cloud project")
flags.DEFINE_string("config", None, "Preset, relative to the repo: configs/<name>.py[:arg]")
flags.DEFINE_string("workdir", None, "gs:// run directory (checkpoints, metrics, TensorBoard)")
flags.DEFINE_string("source", ".", "Code to install: '.' (this checkout), a git URL or a .tar.gz")
flags.DEFINE_string("ref", "", "Branch, tag or commit to check out (git URL or '.')")
flags.DEFINE_string("python", "python3", "Python (≥ 3.11) on the workers, e.g. python3.11")
flags.DEFINE_bool("dry_run", True, "Only print the commands")
flags.DEFINE_bool("run", False, "Execute the commands (overrides --dry_run)")
flags.mark_flags_as_required(["tpu", "zone", "project", "config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
    vm = launch.TpuVm(FLAGS.tpu, FLAGS.zone, FLAGS.project)
    commands = launch.launch_commands(
        vm,
        source=FLAGS.source,
        ref=FLAGS.ref,
        config=FLAGS.config,
        workdir=FLAGS.workdir,
        overrides=argv[1:],
        python=FLAGS.python,
    )
    for command in commands:
        print(shlex.join(command), flush=True)
        if FLAGS.run:
            subprocess.run(command, check=True)
    print(f"# follow the log: {shlex.join(launch.logs_command(vm))}")


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
