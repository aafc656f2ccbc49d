"""Model engines named in ``config.yml`` (``models: [{engine: ...}]``)."""

from .lazy import LazyChatModel
from .registry import build_model, register_engine, registered_engines

__all__ = ["LazyChatModel", "build_model", "register_engine", "registered_engines"]
