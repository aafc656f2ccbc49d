"""Floor 1, the config: what a guardrails config folder says, loaded and validated.

``RailsConfig`` (``rails_config``) is the pydantic model of ``config.yml``; ``yaml_source``
remembers where each key came from so errors name file and line; ``rail_settings`` holds the
built-in rails' settings (``rails.config``); ``instructions`` the ``type: general`` system message;
``actions`` the ``@action`` decorator and ``RailResult``; ``actions_file`` loads a folder's
``actions.py`` (with ``nemo_actions``, NeMo's ``@action`` shim, and ``action_isolation``);
``nemo_keys`` the NeMo keys that load with a warning; ``pii_entities`` the entity names PII rails
know.

Imports: ``langchain_guardrails.errors`` only (and the standard library, pydantic, yaml).
"""

from langchain_guardrails.config.rails_config import (
    ConfigLike,
    FlowSpec,
    InputRails,
    ModelConfig,
    OutputRails,
    OutputStreaming,
    Rails,
    RailsConfig,
    ToolRails,
    as_rails_config,
)

__all__ = [
    "ConfigLike",
    "FlowSpec",
    "InputRails",
    "ModelConfig",
    "OutputRails",
    "OutputStreaming",
    "Rails",
    "RailsConfig",
    "ToolRails",
    "as_rails_config",
]
