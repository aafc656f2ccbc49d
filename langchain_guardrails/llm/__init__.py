"""Model engines named in ``config.yml`` (``models: [{engine: ...}]``)."""

from .registry import build_model, register_engine, registered_engines

__all__ = ["build_model", "register_engine", "registered_engines"]
