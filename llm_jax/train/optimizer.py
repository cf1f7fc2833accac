"""AdamW with global-norm clipping; weight decay only on kernels (not norms, biases, embeddings)."""

import jax
import optax

from llm_jax.train.schedules import make_schedule

_EMBEDDING_NAMES = ("embedding", "table")  # token embedding, learned position table


def _param_name(path) -> str:
    """The parameter's own name: the last dict key on its path (boxes add attribute keys)."""
    names = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)]
    return names[-1] if names else ""


def decay_mask(params, decay_embeddings: bool):
    """True for the leaves weight decay applies to."""

    def decayed(path, _):
        name = _param_name(path)
        return name == "kernel" or (decay_embeddings and name in _EMBEDDING_NAMES)

    return jax.tree_util.tree_map_with_path(decayed, params)


def make_optimizer(t, schedule_inputs: dict | None = None) -> optax.GradientTransformation:
    """t is the train config; schedule_inputs: the schedule's numbers, as the train step's traced
    inputs (train/schedules.py). The state's structure never depends on them."""
    adamw = optax.adamw(
        learning_rate=make_schedule(t, schedule_inputs),
        b1=t.beta1,
        b2=t.beta2,
        eps=t.eps,
        weight_decay=t.weight_decay,
        mask=lambda params: decay_mask(params, t.decay_embeddings),
    )
    if t.grad_clip > 0:
        return optax.chain(optax.clip_by_global_norm(t.grad_clip), adamw)
    return adamw
