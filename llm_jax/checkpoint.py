"""Orbax checkpoints of the train state (params, optimizer state, step, RNG; the data position is
the step, since batches are a pure function of (seed, step)), plus a small JSON of run facts."""

from __future__ import annotations

import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp
from etils import epath

from llm_jax.errors import UserError
from llm_jax.model import Transformer, model_config
from llm_jax.sharding import strip_boxes

log = logging.getLogger("llm_jax")

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


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used with this config; the message says why and what to do."""


def checkpoint_dir(workdir) -> epath.Path:
    """epath, so gs:// workdirs go through the same path layer as Orbax."""
    return epath.Path(workdir) / "checkpoints"


class Checkpointer:
    """Thin wrapper: save/restore a TrainState and a dict of JSON facts, keep the last N.

    On CPU, with async saves in one process, `save` only dispatches a copy of the state (so the
    next step may donate the original's buffers) and hands it to a thread of its own, where
    Orbax's synchronous part (a host copy of every leaf, run against XLA's worker threads) goes
    on beside the next steps instead of holding the loop; Orbax then writes in the background
    as usual. Every other call waits for that thread first, so the manager is never used from
    two threads at once. Elsewhere Orbax's synchronous part stays on the loop's thread: on an
    accelerator its host copy is a DMA and the copy would cost device memory, and with several
    processes Orbax's barriers are device collectives, which every process must issue in the
    same order as its train steps.
    """

    def __init__(self, workdir, keep: int, async_save: bool = True, saver_thread=None):
        """saver_thread: None decides as above; True or False forces it (benchmarks, tests)."""
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self._manager = ocp.CheckpointManager(checkpoint_dir(workdir), options=options)
        if saver_thread is None:
            one_cpu_process = jax.process_count() == 1 and jax.default_backend() == "cpu"
            saver_thread = async_save and one_cpu_process
        self._saver = ThreadPoolExecutor(1, "llm_jax-checkpoint") if saver_thread else None
        self._pending = None

    @property
    def manager(self) -> ocp.CheckpointManager:
        """Orbax's manager, once a save handed to the saver thread has been handed on to it."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # raises what the save raised
        return self._manager

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def directory(self) -> epath.Path:
        return epath.Path(self._manager.directory)

    def save(self, step: int, state, extra: dict) -> None:
        manager = self.manager  # at most one state copy waits for the saver thread
        if self._saver is None:
            _save(manager, step, state, extra)
            return
        copy = jax.device_put(state, may_alias=False)  # dispatched, not waited for
        self._pending = self._saver.submit(_save, manager, step, copy, extra)

    def restore(self, step: int, abstract_state):
        """abstract_state: ShapeDtypeStructs with target shardings (any mesh, any process count)."""
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), extra=ocp.args.JsonRestore()
        )
        restored = self.manager.restore(step, args=args)
        return restored["state"], restored["extra"]

    def restore_newest(self, abstract_state, upto: int | None = None):
        """(step, state, extra) of the newest checkpoint (≤ upto) that restores. Newer ones that
        fail to restore while an older one succeeds are corrupt: moved to checkpoints/corrupt/
        (never deleted) and named in a warning. If none restores, nothing is moved."""
        failed = []
        for step in reversed([s for s in self.all_steps() if upto is None or s <= upto]):
            try:
                state, extra = self.restore(step, abstract_state)
            except Exception as e:  # Orbax/TensorStore raise Exception, ValueError, KeyError...
                failed.append((step, e))
                continue
            for bad, error in failed:
                moved = self.move_aside(bad, "corrupt")
                log.warning("checkpoint %d does not restore (%s): moved to %s", bad,
                            _first_line(error), moved)  # fmt: skip
            return step, state, extra
        bad, error = failed[0]
        raise CheckpointError(
            f"no checkpoint in {self.directory()} restores (step {bad}: {_first_line(error)}); "
            "nothing was moved. Move the broken step directories elsewhere to start over, or use "
            "a new --workdir"
        )

    def move_aside(self, step: int, folder: str) -> epath.Path:
        """checkpoints/<step> → checkpoints/<folder>/<step>[.k]: out of Orbax's sight, kept."""
        self.manager.wait_until_finished()
        target_dir = self.directory() / folder
        if jax.process_index() == 0:
            target_dir.mkdir(parents=True, exist_ok=True)
        target, k = target_dir / str(step), 1
        while target.exists():
            target, k = target_dir / f"{step}.{k}", k + 1
        if jax.process_index() == 0:  # one shared directory: one process renames
            (self.directory() / str(step)).rename(target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"llm_jax: moved checkpoint {step} aside")
        self.manager.reload()
        return target

    def close(self) -> None:
        try:
            self.manager.wait_until_finished()
        finally:
            if self._saver is not None:
                self._saver.shutdown()
            self._manager.close()


def _save(manager, step: int, state, extra: dict) -> None:
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), extra=ocp.args.JsonSave(extra))
    manager.save(step, args=args, force=True)


def _first_line(error: Exception, limit: int = 160) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:limit]


def load_config(workdir) -> ml_collections.ConfigDict:
    path = epath.Path(workdir) / "config.json"
    if not path.exists():
        raise CheckpointError(f"{path} not found: is {workdir} a run directory of tools/train.py?")
    return ml_collections.ConfigDict(read_json(path))


def read_json(path) -> dict:
    """A run file's JSON object; an empty, truncated or foreign file is a CheckpointError."""
    try:
        value = json.loads(epath.Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"{path} is not valid JSON ({e}); it is written by tools/train.py: restore it from a "
            "copy, or use a new --workdir"
        ) from e
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} holds a {type(value).__name__}, not a JSON object")
    return value


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
    if step is not None and step not in steps:
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
    try:  # the asked-for step, else the newest that restores (readers move nothing aside)
        for candidate in [step] if step is not None else sorted(steps, reverse=True):
            try:
                restored = manager.restore(candidate, args=ocp.args.Composite(state=restore))
                return config, restored["state"]["params"]
            except Exception as e:  # Orbax/TensorStore raise Exception, ValueError, KeyError...
                log.warning("%s: checkpoint %d does not restore (%s)", workdir, candidate,
                            _first_line(e))  # fmt: skip
                failed = e
        raise CheckpointError(
            f"no checkpoint in {checkpoint_dir(workdir)} restores"
            + (f" at step {step}" if step is not None else "")
            + f" ({_first_line(failed)}); pick another --step, or retrain"
        )
    finally:
        manager.close()


def abstract_params(model_cfg, device, head: str = "lm"):
    """The parameter tree's ShapeDtypeStructs, placed on `device`; nothing allocated."""
    model = Transformer(model_config(model_cfg), head=head)
    init = functools.partial(model.init, tokens_BL=jnp.zeros((1, 1), jnp.int32))
    boxed = jax.eval_shape(init, jax.random.PRNGKey(0))["params"]
    single = jax.sharding.SingleDeviceSharding(device)
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=single), strip_boxes(boxed)
    )
