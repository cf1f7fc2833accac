"""The pure train and eval steps. The trainer jits them once with explicit shardings.

A loss is `loss(model, train_cfg, params, batch) -> (loss to differentiate, metrics)` and eval
metrics `metrics(model, params, batch) -> {name: scalar}`; a batch is an array or a pytree of
arrays whose leading axis is the batch. Pretraining's are `lm_loss` and `lm_eval_metrics`.
"""

import jax
import jax.numpy as jnp
import optax

from llm_jax.train.loss import next_token_loss
from llm_jax.train.optimizer import make_optimizer


def lm_loss(model, train_cfg, params, tokens_BL1):
    """Next-token cross-entropy of (B, L+1) token windows (inputs, then targets shifted by one)."""
    logits_BLV = model.apply({"params": params}, tokens_BL1[:, :-1])
    return next_token_loss(logits_BLV, tokens_BL1[:, 1:], train_cfg.z_loss)


def lm_eval_metrics(model, params, tokens_BL1):
    """{'loss': mean next-token cross-entropy}."""
    logits_BLV = model.apply({"params": params}, tokens_BL1[:, :-1])
    return {"loss": next_token_loss(logits_BLV, tokens_BL1[:, 1:])[1]["loss"]}


def _micro_batches(batch, k: int):
    """Split into k micro-batches by interleaving rows, so each stays spread over all replicas."""

    def split(x):
        return x.reshape(x.shape[0] // k, k, *x.shape[1:]).swapaxes(0, 1)

    return jax.tree.map(split, batch)


def make_gradient_fn(model, train_cfg, loss=lm_loss):
    """(params, batch) → (grads, metrics), averaged over grad_accum micro-batches."""
    k = train_cfg.grad_accum

    def loss_fn(params, batch):
        return loss(model, train_cfg, params, batch)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def gradients(params, batch):
        if k == 1:
            (_, metrics), grads = grad_fn(params, batch)
            return grads, metrics

        def accumulate(total, micro_batch):
            (_, metrics), grads = grad_fn(params, micro_batch)
            return jax.tree.map(jnp.add, total, (grads, metrics)), None

        micro = _micro_batches(batch, k)
        first = jax.tree.map(lambda x: x[0], micro)
        metric_shapes = jax.eval_shape(loss_fn, params, first)[1]
        # Sum in float32 whatever the parameter dtype, so bf16 params lose nothing here.
        zero_grads = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
        zeros = (zero_grads, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metric_shapes))
        total, _ = jax.lax.scan(accumulate, zeros, micro)
        return jax.tree.map(lambda x: x / k, total)

    return gradients


def make_train_step(model, train_cfg, loss=lm_loss):
    """(state, batch, schedule inputs) → (new state, metrics). The learning-rate schedule's
    numbers are inputs, not constants (train/schedules.py: schedule_inputs)."""
    gradients = make_gradient_fn(model, train_cfg, loss)

    def train_step(state, batch, schedule_inputs):
        grads, metrics = gradients(state.params, batch)
        tx = make_optimizer(train_cfg, schedule_inputs)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = dict(metrics, grad_norm=optax.tree.norm(grads))
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, metrics

    return train_step


def make_eval_step(model, metrics=lm_eval_metrics):
    """(params, batch) → {name: scalar} for one eval batch."""

    def eval_step(params, batch):
        return metrics(model, params, batch)

    return eval_step
