"""Next-token cross-entropy (float32) with the optional z-loss of PaLM, and per-token weights."""

import jax
import jax.numpy as jnp
import optax


def next_token_loss(logits_BLV, targets_BL, z_loss: float = 0.0, weights_BL=None):
    """Returns (total loss to differentiate, {'loss': mean cross-entropy, 'z_loss': term}).

    weights_BL (e.g. 1 on response tokens, 0 on prompts and padding) makes both means weighted:
    Σ w·ce / Σ w over the batch; without it every token counts once.
    """
    logits_BLV = logits_BLV.astype(jnp.float32)
    ce_BL = optax.softmax_cross_entropy_with_integer_labels(logits_BLV, targets_BL)
    z_term = jnp.zeros((), jnp.float32)
    if weights_BL is None:
        ce = ce_BL.mean()
        if z_loss:
            # Keeps log Z near 0 so the softmax stays well-conditioned in low precision.
            z_term = z_loss * jnp.square(jax.nn.logsumexp(logits_BLV, axis=-1)).mean()
        return ce + z_term, {"loss": ce, "z_loss": z_term}
    weights_BL = weights_BL.astype(jnp.float32)
    n_tokens = jnp.maximum(weights_BL.sum(), 1.0)  # a batch of prompts only has loss 0, not NaN
    ce = (ce_BL * weights_BL).sum() / n_tokens
    if z_loss:
        log_z_BL = jax.nn.logsumexp(logits_BLV, axis=-1)
        z_term = z_loss * (jnp.square(log_z_BL) * weights_BL).sum() / n_tokens
    return ce + z_term, {"loss": ce, "z_loss": z_term}
