"""Everything the loop needs, built from a validated config: mesh, model, optimizer, shardings and
the jitted steps. Shared by the trainer, checkpoint loading and the compile check."""

from __future__ import annotations

import collections
import dataclasses
import json

import jax

from llm_jax import sharding
from llm_jax.model import Transformer, model_config
from llm_jax.train.compile_options import STEP, compile_options
from llm_jax.train.optimizer import make_optimizer
from llm_jax.train.schedules import make_schedule, schedule_inputs
from llm_jax.train.state import init_program, state_layout, with_shardings
from llm_jax.train.step import make_eval_step, make_train_step
from llm_jax.train.tasks import NEXT_TOKEN, Objective


@dataclasses.dataclass
class Parts:
    mesh: jax.sharding.Mesh
    rules: tuple
    model: Transformer
    tx: object
    schedule: object
    abstract_state: object  # ShapeDtypeStructs, nothing allocated
    state_shardings: object
    batch_sharding: object  # a NamedSharding per batch leaf (one, for token windows)
    train_step: object  # jitted (state, batch) → (state, metrics); donates state
    eval_step: object  # jitted (params, batch) → {name: scalar}
    init: object  # jitted rng → a new run's TrainState, on its shardings

    @property
    def restore_target(self):
        return with_shardings(self.abstract_state, self.state_shardings)

    def global_batch(self, local_batch):
        """This process's rows → global arrays sharded over the batch axes (leaf by leaf)."""
        n = jax.process_count()

        def place(x, batch_sharding):
            shape = (x.shape[0] * n, *x.shape[1:])
            return jax.make_array_from_process_local_data(batch_sharding, x, shape)

        return jax.tree.map(place, local_batch, self.batch_sharding)


def build(config, devices=None, objective: Objective = NEXT_TOKEN) -> Parts:
    """config.model.vocab_size must already be resolved (> 0)."""
    mesh = sharding.make_mesh(config.mesh, devices)
    rules = sharding.logical_rules(config.mesh)
    model = Transformer(model_config(config.model), head=objective.head)
    tx = make_optimizer(config.train)
    abstract, state_shardings = state_layout(model, tx, config.data.seq_len, mesh, rules)
    batch_sharding = jax.tree.map(
        lambda x: sharding.batch_sharding(mesh, rules, x.ndim), objective.batch_shapes(config.data)
    )
    replicated = sharding.replicated(mesh)
    options = compile_options(STEP, mesh.devices.flat[0])
    train_step = jax.jit(
        make_train_step(model, config.train, objective.loss),
        in_shardings=(state_shardings, batch_sharding, replicated),
        out_shardings=(state_shardings, replicated),
        donate_argnums=0,
        compiler_options=options,
    )
    eval_step = jax.jit(
        make_eval_step(model, objective.eval_metrics),
        in_shardings=(state_shardings.params, batch_sharding),
        out_shardings=replicated,
        compiler_options=options,
    )
    # The schedule's numbers are the step's third input, placed once (train/schedules.py).
    inputs = jax.device_put(schedule_inputs(config.train), replicated)
    init = init_program(model, tx, config.data.seq_len, state_shardings)
    key = _program_key(config, objective, mesh) if _kept is not None else None
    return Parts(
        mesh,
        rules,
        model,
        tx,
        make_schedule(config.train),
        abstract,
        state_shardings,
        batch_sharding,
        InMesh(train_step, mesh, rules, inputs, key=key and ("train", *key)),
        InMesh(eval_step, mesh, rules, key=key and ("eval", *key)),
        InMesh(init, mesh, rules, key=key and ("init", *key)),
    )


# Compiled programs kept across runs in this process (keep_compiled): key → executable.
_kept: collections.OrderedDict | None = None
_kept_limit = 0
# Train keys that are inputs of the compiled step, or not in it at all.
_NOT_IN_PROGRAM = ("lr", "steps", "warmup_steps", "min_lr_ratio", "decay_fraction", "seed",
                   "init_from")  # fmt: skip


def keep_compiled(programs: int) -> None:
    """Keep the last `programs` compiled programs (init, train and eval steps) for later builds
    in this process (the sweep worker): a run of the same model, data shapes, optimizer settings,
    objective and devices as an earlier one (another budget, learning rate or seed) calls the
    earlier executables without tracing, lowering or loading them again. 0: off (each build's
    jit traces its own)."""
    global _kept, _kept_limit
    _kept, _kept_limit = (collections.OrderedDict() if programs else None), programs


def _program_key(config, objective, mesh) -> tuple:
    """What a step's program depends on: the config without its logging, eval and checkpoint
    cadences and the train keys above, the objective (its functions, by identity), the devices."""
    c = config.to_dict()
    for section in ("log", "eval", "checkpoint"):
        c.pop(section, None)
    c["train"] = {k: v for k, v in c["train"].items() if k not in _NOT_IN_PROGRAM}
    devices = tuple(d.id for d in mesh.devices.flat)
    return json.dumps(c, sort_keys=True, default=str), objective, devices, mesh.shape_tuple


class InMesh:
    """A jitted function called (and traced, and lowered) with the mesh and logical rules active,
    so the model's activation constraints apply; jax.set_mesh cannot be entered inside jit.
    `bound` are inputs appended to every call (the train step's schedule numbers)."""

    def __init__(self, jitted, mesh, rules, *bound, key=None):
        self.jitted, self.mesh, self.rules, self.bound = jitted, mesh, rules, bound
        self.key = key  # set when compiled programs are kept across runs (keep_compiled)
        self.executable = None

    def __call__(self, *args):
        if self.key is not None:
            self.executable = self.executable or self._kept_executable(args)
            return self.executable(*args, *self.bound)
        with sharding.activate(self.mesh, self.rules):
            return self.jitted(*args, *self.bound)

    def _kept_executable(self, args):
        """The executable an earlier build of the same program compiled, or this one's, kept.
        Its calls take exactly the shapes and shardings of the first (the loop's always do)."""
        executable = _kept.get(self.key)
        if executable is None:
            executable = _kept[self.key] = self.lower(*args).compile()
            while len(_kept) > _kept_limit:
                _kept.popitem(last=False)  # the least recently used program
        _kept.move_to_end(self.key)
        return executable

    def lower(self, *args):
        with sharding.activate(self.mesh, self.rules):
            return self.jitted.lower(*args, *self.bound)
