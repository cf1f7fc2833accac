"""Next-token cross-entropy (float32) with the optional z-loss of PaLM."""

import jax
import jax.numpy as jnp
import optax


def next_token_loss(logits_BLV, targets_BL, z_loss: float = 0.0):
    """Returns (total loss to differentiate, {'loss': mean cross-entropy, 'z_loss': term})."""
    logits_BLV = logits_BLV.astype(jnp.float32)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits_BLV, targets_BL).mean()
    z_term = jnp.zeros((), jnp.float32)
    if z_loss:
        # Keeps log Z near 0 so the softmax stays well-conditioned in low precision.
        z_term = z_loss * jnp.square(jax.nn.logsumexp(logits_BLV, axis=-1)).mean()
    return ce + z_term, {"loss": ce, "z_loss": z_term}
