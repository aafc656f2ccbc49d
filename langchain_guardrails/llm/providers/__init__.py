"""Provider adapters of optional extras: ``huggingface`` (``hf`` extra) is a chat model over a
local transformers ``text-generation`` pipeline with real async token streaming.

Imports: ``config`` and ``errors`` only; transformers and torch lazily.
"""
