"""Hugging Face interop: Llama-format export and import of weights, configs and tokenizers.

Needs the [hf] extra (safetensors, tokenizers); nothing here imports torch.
"""
