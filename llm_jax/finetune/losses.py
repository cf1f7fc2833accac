"""Fine-tuning losses: response-masked next-token loss (SFT), Bradley–Terry (reward models), DPO
and IPO. Log-probs and rewards are computed in float32; every mean is over valid rows only.

A preference batch is {"chosen": rows, "rejected": rows, "valid": (B,)} with rows as in
data/packing.py (one example per row); DPO batches add the reference's log-probs
"ref_chosen", "ref_rejected" (B,).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from llm_jax.train.loss import next_token_loss

ROW_KEYS = ("inputs", "targets", "weights", "positions", "segments")


def _apply(model, params, rows):
    return model.apply({"params": params}, rows["inputs"], rows["positions"], rows["segments"])


def sft_loss(model, train_cfg, params, rows):
    """Mean cross-entropy over response tokens (weights) of packed rows."""
    logits_BLV = _apply(model, params, rows)
    return next_token_loss(logits_BLV, rows["targets"], train_cfg.z_loss, rows["weights"])


def sft_eval_metrics(model, params, rows):
    """Sums, so that the held-out loss is an exact per-token mean: nll / tokens."""
    logits_BLV = _apply(model, params, rows)
    ce_BL = optax.softmax_cross_entropy_with_integer_labels(logits_BLV, rows["targets"])
    return {"nll": (ce_BL * rows["weights"]).sum(), "tokens": rows["weights"].sum()}


def _both(pairs):
    """Chosen and rejected rows interleaved into one (2B, L) batch: row 2i is pair i's chosen.
    Interleaving keeps each pair on the device that holds its rows."""
    return {
        k: jnp.stack([pairs["chosen"][k], pairs["rejected"][k]], axis=1).reshape(
            -1, pairs["chosen"][k].shape[1]
        )
        for k in ROW_KEYS
    }


def sequence_logprobs(model, params, pairs):
    """log π(response | prompt), summed over response tokens: (B, 2) [chosen, rejected]."""
    rows = _both(pairs)
    logits_BLV = _apply(model, params, rows)
    log_probs_BLV = jax.nn.log_softmax(logits_BLV.astype(jnp.float32), axis=-1)
    picked_BL = jnp.take_along_axis(log_probs_BLV, rows["targets"][..., None], axis=-1)[..., 0]
    return (picked_BL * rows["weights"]).sum(-1).reshape(-1, 2)


def last_rewards(model, params, rows):
    """The reward head at each row's last token (one example per row; its closing EOS): (B,)."""
    rewards_BL = _apply(model, params, rows)
    last_B = (rows["positions"] >= 0).sum(-1) - 1
    return jnp.take_along_axis(rewards_BL, last_B[:, None], axis=-1)[:, 0]


def rewards(model, params, pairs):
    """(B, 2): the rewards of [chosen, rejected]."""
    return last_rewards(model, params, _both(pairs)).reshape(-1, 2)


def bradley_terry(reward_chosen_B, reward_rejected_B):
    """−log σ(r_chosen − r_rejected) per pair, and the margin r_chosen − r_rejected."""
    margin_B = reward_chosen_B - reward_rejected_B
    return jax.nn.softplus(-margin_B), margin_B


def dpo(policy_chosen_B, policy_rejected_B, ref_chosen_B, ref_rejected_B, beta, kind="sigmoid"):
    """Per-pair DPO loss and reward margin β·h, h = log-ratio(chosen) − log-ratio(rejected).

    sigmoid (Rafailov et al. 2023): −log σ(β·h). ipo (Azar et al. 2023): (h − 1/(2β))², which
    stops pushing once the margin reaches 1/(2β) instead of driving h to infinity.
    """
    h_B = (policy_chosen_B - ref_chosen_B) - (policy_rejected_B - ref_rejected_B)
    if kind == "sigmoid":
        loss_B = jax.nn.softplus(-beta * h_B)
    elif kind == "ipo":
        loss_B = jnp.square(h_B - 1.0 / (2.0 * beta))
    else:
        raise ValueError(f"train.dpo_loss={kind!r} is not one of ('sigmoid', 'ipo')")
    return loss_B, beta * h_B


def accuracy(margin_B):
    """1 where the chosen response wins, 0 where it loses, ½ on a tie (the untrained start)."""
    return jnp.where(margin_B > 0, 1.0, jnp.where(margin_B == 0, 0.5, 0.0))


def weighted_means(terms: dict, valid_B) -> dict:
    """Each (B,) term averaged over valid pairs."""
    n = jnp.maximum(valid_B.sum(), 1.0)
    return {k: (v * valid_B).sum() / n for k, v in terms.items()}


def weighted_sums(terms: dict, valid_B) -> dict:
    """Each (B,) term summed over valid pairs, plus their count ("pairs")."""
    sums = {k: (v * valid_B).sum() for k, v in terms.items()}
    return dict(sums, pairs=valid_B.sum())


def reward_terms(model, params, pairs) -> dict:
    r_B2 = rewards(model, params, pairs)
    loss_B, margin_B = bradley_terry(r_B2[:, 0], r_B2[:, 1])
    return {
        "loss": loss_B,
        "accuracy": accuracy(margin_B),
        "margin": margin_B,
        "chosen_reward": r_B2[:, 0],
        "rejected_reward": r_B2[:, 1],
    }


def dpo_terms(model, params, pairs, beta, kind) -> dict:
    logp_B2 = sequence_logprobs(model, params, pairs)
    ref_c, ref_r = pairs["ref_chosen"], pairs["ref_rejected"]
    loss_B, margin_B = dpo(logp_B2[:, 0], logp_B2[:, 1], ref_c, ref_r, beta, kind)
    return {
        "loss": loss_B,
        "accuracy": accuracy(margin_B),
        "margin": margin_B,
        "chosen_logp": logp_B2[:, 0],
        "rejected_logp": logp_B2[:, 1],
        "chosen_reward": beta * (logp_B2[:, 0] - ref_c),
        "rejected_reward": beta * (logp_B2[:, 1] - ref_r),
    }
