"""Colang 1.0 rail flows: parser, interpreter, property against a reference, NeMo folders."""
