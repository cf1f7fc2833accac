"""The pure train and eval steps. The trainer jits them once with explicit shardings."""

import jax
import jax.numpy as jnp
import optax

from llm_jax.train.loss import next_token_loss


def _micro_batches(tokens_BL1, k: int):
    """Split into k micro-batches by interleaving rows, so each stays spread over all replicas."""
    b = tokens_BL1.shape[0]
    return tokens_BL1.reshape(b // k, k, -1).swapaxes(0, 1)


def make_gradient_fn(model, train_cfg):
    """(params, tokens (B, L+1)) → (grads, metrics), averaged over grad_accum micro-batches."""
    k = train_cfg.grad_accum

    def loss_fn(params, tokens_BL1):
        logits_BLV = model.apply({"params": params}, tokens_BL1[:, :-1])
        return next_token_loss(logits_BLV, tokens_BL1[:, 1:], train_cfg.z_loss)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def gradients(params, tokens_BL1):
        if k == 1:
            (_, metrics), grads = grad_fn(params, tokens_BL1)
            return grads, metrics

        def accumulate(total, micro_BL1):
            (_, metrics), grads = grad_fn(params, micro_BL1)
            return jax.tree.map(jnp.add, total, (grads, metrics)), None

        # Sum in float32 whatever the parameter dtype, so bf16 params lose nothing here.
        zero_grads = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
        zeros = (zero_grads, {"loss": jnp.zeros(()), "z_loss": jnp.zeros(())})
        total, _ = jax.lax.scan(accumulate, zeros, _micro_batches(tokens_BL1, k))
        return jax.tree.map(lambda x: x / k, total)

    return gradients


def make_train_step(model, tx, train_cfg):
    """(state, tokens (B, L+1)) → (new state, metrics)."""
    gradients = make_gradient_fn(model, train_cfg)

    def train_step(state, tokens_BL1):
        grads, metrics = gradients(state.params, tokens_BL1)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = dict(metrics, grad_norm=optax.tree.norm(grads))
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, metrics

    return train_step


def make_eval_step(model):
    """(params, tokens (B, L+1)) → mean next-token cross-entropy."""

    def eval_step(params, tokens_BL1):
        logits_BLV = model.apply({"params": params}, tokens_BL1[:, :-1])
        return next_token_loss(logits_BLV, tokens_BL1[:, 1:])[1]["loss"]

    return eval_step
