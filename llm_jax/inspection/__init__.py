"""Using and seeing inside a trained run: load it, complete text, and the inspect_model views.

run.py loads a run directory (config, params, tokenizer) with clear errors; complete.py turns text
into completions (tools/sample.py); tokens.py, next_token.py, attention.py and embeddings.py each
compute one view, print it as a text table and draw it as a PNG (figures.py).
"""
