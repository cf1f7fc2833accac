"""Orbax checkpoints of the train state (params, optimizer state, step, RNG; the data position is
the step, since batches are a pure function of (seed, step)), plus a small JSON of run facts."""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp
from etils import epath

from llm_jax.model import Transformer, model_config
from llm_jax.sharding import strip_boxes

# Model keys that change parameter shapes or the tree: resuming across a change is refused.
SHAPE_KEYS = (
    "vocab_size",
    "d_model",
    "n_layers",
    "n_heads",
    "n_kv_heads",
    "d_ff",
    "pos_encoding",
    "norm",
    "mlp",
    "tie_embeddings",
    "scan_layers",
    "param_dtype",
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used with this config; the message says why and what to do."""


def checkpoint_dir(workdir) -> epath.Path:
    """epath, so gs:// workdirs go through the same path layer as Orbax."""
    return epath.Path(workdir) / "checkpoints"


class Checkpointer:
    """Thin wrapper: save/restore a TrainState and a dict of JSON facts, keep the last N."""

    def __init__(self, workdir, keep: int, async_save: bool = True):
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self.manager = ocp.CheckpointManager(checkpoint_dir(workdir), options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state, extra: dict) -> None:
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), extra=ocp.args.JsonSave(extra)
        )
        self.manager.save(step, args=args, force=True)

    def restore(self, step: int, abstract_state):
        """abstract_state: ShapeDtypeStructs with target shardings (any mesh, any process count)."""
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), extra=ocp.args.JsonRestore()
        )
        restored = self.manager.restore(step, args=args)
        return restored["state"], restored["extra"]

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def load_config(workdir) -> ml_collections.ConfigDict:
    path = epath.Path(workdir) / "config.json"
    if not path.exists():
        raise CheckpointError(f"{path} not found: is {workdir} a run directory of tools/train.py?")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def check_compatible(saved: ml_collections.ConfigDict, config: ml_collections.ConfigDict) -> None:
    """Refuse to resume when the model's shapes changed; other changes (e.g. steps) are allowed."""
    changed = [
        f"model.{k}: checkpoint has {saved.model[k]!r}, config has {config.model[k]!r}"
        for k in SHAPE_KEYS
        if saved.model.get(k) != config.model[k]
    ]
    if changed:
        raise CheckpointError(
            "cannot resume: the config changes the model's shapes:\n  "
            + "\n  ".join(changed)
            + "\nUse a new --workdir for a different model, or restore the original values."
        )


def load_params(workdir, step: int | None = None, target=None):
    """(config, params) of a run for inference, on one device: the latest checkpoint unless `step`
    is given. Restores the parameters alone (no optimizer state, no train step built).

    `target` (abstract params with shardings, or a subset of the tree) restores those leaves
    alone, onto those shardings.
    """
    config = load_config(workdir)
    handlers = {"state": ocp.PyTreeCheckpointHandler()}  # reads StandardSave's tree, partially
    manager = ocp.CheckpointManager(checkpoint_dir(workdir), item_handlers=handlers)
    steps = manager.all_steps()
    if not steps:
        raise CheckpointError(f"no checkpoint in {checkpoint_dir(workdir)}: train first")
    step = max(steps) if step is None else step
    if step not in steps:
        raise CheckpointError(f"no checkpoint at step {step} in {workdir}; have {sorted(steps)}")
    if target is None:
        head = "reward" if config.train.get("mode") == "reward" else "lm"
        target = abstract_params(config.model, jax.devices()[0], head)
    target = {"params": target}
    restore = ocp.args.PyTreeRestore(
        item=target,
        restore_args=ocp.checkpoint_utils.construct_restore_args(target),
        partial_restore=True,
    )
    restored = manager.restore(step, args=ocp.args.Composite(state=restore))
    manager.close()
    return config, restored["state"]["params"]


def abstract_params(model_cfg, device, head: str = "lm"):
    """The parameter tree's ShapeDtypeStructs, placed on `device`; nothing allocated."""
    model = Transformer(model_config(model_cfg), head=head)
    init = functools.partial(model.init, tokens_BL=jnp.zeros((1, 1), jnp.int32))
    boxed = jax.eval_shape(init, jax.random.PRNGKey(0))["params"]
    single = jax.sharding.SingleDeviceSharding(device)
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=single), strip_boxes(boxed)
    )
