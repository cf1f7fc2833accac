"""Everything the loop needs, built from a validated config: mesh, model, optimizer, shardings and
the jitted steps. Shared by the trainer, checkpoint loading and the compile check."""

from __future__ import annotations

import dataclasses

import jax

from llm_jax import sharding
from llm_jax.model import Transformer, model_config
from llm_jax.train.compile_options import STEP, compile_options
from llm_jax.train.optimizer import make_optimizer
from llm_jax.train.schedules import make_schedule, schedule_inputs
from llm_jax.train.state import state_layout, with_shardings
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
    options = compile_options(STEP, mesh.devices.flat)
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
    return Parts(
        mesh,
        rules,
        model,
        tx,
        make_schedule(config.train),
        abstract,
        state_shardings,
        batch_sharding,
        InMesh(train_step, mesh, rules, inputs),
        InMesh(eval_step, mesh, rules),
    )


class InMesh:
    """A jitted function called (and traced, and lowered) with the mesh and logical rules active,
    so the model's activation constraints apply; jax.set_mesh cannot be entered inside jit.
    `bound` are inputs appended to every call (the train step's schedule numbers)."""

    def __init__(self, jitted, mesh, rules, *bound):
        self.jitted, self.mesh, self.rules, self.bound = jitted, mesh, rules, bound

    def __call__(self, *args):
        with sharding.activate(self.mesh, self.rules):
            return self.jitted(*args, *self.bound)

    def lower(self, *args):
        with sharding.activate(self.mesh, self.rules):
            return self.jitted.lower(*args, *self.bound)
