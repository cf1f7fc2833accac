"""Hugging Face interop: Llama-format export and import, and lm-eval-harness evaluation.

Needs the [hf] extra (safetensors, tokenizers; lm-eval for evaluation); nothing here imports torch.
"""
