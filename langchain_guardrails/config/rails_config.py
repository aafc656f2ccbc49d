"""`RailsConfig`: the pydantic model of a guardrails config folder (NeMo-compatible subset).

A config is data plus, optionally, code: ``RailsConfig.from_path`` imports the ``actions.py``
found next to ``config.yml``, so only load config folders you trust.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from langchain_guardrails.colang.loading import load_colang_content, load_colang_folder
from langchain_guardrails.colang.nodes import EMPTY_PROGRAM, ColangProgram
from langchain_guardrails.config.rail_settings import RailSettings
from langchain_guardrails.config.strict import Strict
from langchain_guardrails.config.yaml_source import Located, load_yaml, merge
from langchain_guardrails.errors import ConfigError

DEFAULT_REFUSAL = "I'm sorry, I can't respond to that."
DEFAULT_RAIL_TIMEOUT = 30.0
CONFIG_FILE_NAMES = ("config.yml", "config.yaml")


class ModelConfig(Strict):
    """One entry of ``models``: the main model (``type: main``) or a model rails can name."""

    type: str
    """``main`` for the guarded model; any other name is addressable as ``$model=<type>``."""
    engine: str
    """``openai``, ``huggingface_pipeline``, ``scripted``, or one added with ``register_engine``."""
    model: str | None = None
    """Provider model name (or local path for ``huggingface_pipeline``)."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for the provider class, e.g. ``temperature`` or ``base_url``."""
    mode: Literal["chat", "text"] | None = None
    """Accepted for NeMo compatibility; chat models are always used in chat mode."""
    api_key_env_var: str | None = None
    """Name of the environment variable that holds the API key (NeMo compatible)."""


class CascadeSpec(Strict):
    """``cascade:`` of a flow entry: the flow is a cheap scored rail that decides alone outside
    the uncertain band ``(low, high)`` and asks ``escalate`` (an expensive rail) inside it.
    Checked when the rails are built (see ``engine.cascade``)."""

    escalate: str
    """The expensive rail asked in the band, with optional ``$key=value`` parameters."""
    low: float
    """At or below this score the cheap rail passes the text alone."""
    high: float
    """At or above this score the cheap rail blocks the text alone."""


class FlowSpec(Strict):
    """Long form of a flow entry, for per-rail settings: ``{flow: ..., on_error: allow}``."""

    flow: str
    """The flow name, with optional ``$key=value`` parameters."""
    on_error: Literal["block", "allow"] = "block"
    """What a rail that raises or times out does: block (fail-closed, default) or allow."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds before the rail counts as failed; defaults to ``rails.timeout``."""
    refusal: str | None = None
    """Refusal text when this rail blocks; defaults to the stage's refusal."""
    cascade: CascadeSpec | None = None
    """Make this rail the cheap first step of a cascade (see :class:`CascadeSpec`)."""


Flow = str | FlowSpec


class InputRails(Strict):
    """``rails.input``."""

    flows: list[Flow] = Field(default_factory=list)
    """Input rails, all run concurrently on the last user message."""
    parallel: bool | None = None
    """Accepted for NeMo compatibility: rails of a stage always run concurrently here."""
    speculative_generation: bool = False
    """Start the model at once, concurrently with the input (and tool_input) rails. Nothing it
    produces is released or shown to any observer before they all passed; on an input block
    its stream is closed and the tokens it produced are reported as usage. Not possible with
    a rail that rewrites the input (masking): such a config is an error."""


class OutputStreaming(Strict):
    """``rails.output.streaming``: how output rails see a stream (see the window semantics)."""

    enabled: bool = False
    """Check output per window while streaming. When false, the whole response is held and
    checked once at the end (nothing is released before it passed)."""
    chunk_size: int = 200
    """New units (model chunks) per window."""
    context_size: int = 50
    """Units of the previous window carried into the next one as context."""
    first_chunk_size: int | None = None
    """New units of the first window; each later window doubles it until ``chunk_size``
    (default: ``chunk_size``, every window the same size). Small values release sooner."""
    stream_first: bool = True
    """Release units as they arrive (true) or hold them back until checked (false)."""
    audit_unreleased_text: bool = False
    """Let callbacks and tracers see unreleased model text and rail inputs (auditing only)."""

    @field_validator("chunk_size")
    @classmethod
    def _chunk_size(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"chunk_size must be >= 1 (got {value})")
        return value

    @field_validator("context_size")
    @classmethod
    def _context_size(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"context_size must be >= 0 (got {value})")
        return value

    @model_validator(mode="after")
    def _context_smaller_than_chunk(self) -> OutputStreaming:
        if self.context_size >= self.chunk_size:
            raise ValueError(
                f"context_size ({self.context_size}) must be smaller than chunk_size "
                f"({self.chunk_size}): a window needs at least one new unit"
            )
        first = self.first_chunk_size
        if first is not None and not 1 <= first <= self.chunk_size:
            raise ValueError(
                f"first_chunk_size must be between 1 and chunk_size ({self.chunk_size}) "
                f"(got {first})"
            )
        return self


class OutputRails(Strict):
    """``rails.output``."""

    flows: list[Flow] = Field(default_factory=list)
    """Output rails, run concurrently on each window of the response."""
    streaming: OutputStreaming = Field(default_factory=OutputStreaming)
    """Window settings."""
    reasoning: Literal["check", "strip", "pass"] = "check"
    """The model's reasoning (``reasoning`` / ``thinking`` content blocks,
    ``additional_kwargs["reasoning_content"]``): ``check`` runs it through the output rails in
    the same windows and release rules as the answer; ``strip`` removes it before anyone sees
    it; ``pass`` releases it unchecked (unsafe: reasoning can hold what the rails block)."""
    parallel: bool | None = None
    """Accepted for NeMo compatibility: rails of a stage always run concurrently here."""
    max_tokens: int | None = None
    """The most completion tokens one request may ask for (the server answers 400 above it
    and uses it when a request sets none): bounds each answer's length and cost."""

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"max_tokens must be >= 1 (got {value})")
        return value


class ToolRails(Strict):
    """``rails.tool_output`` (tool calls the model emits) / ``rails.tool_input`` (tool results
    in the input), NeMo's names."""

    flows: list[Flow] = Field(default_factory=list)
    """Rails run concurrently on each tool call (``tool_output``) or tool result
    (``tool_input``); they get ``text`` and ``tool_call`` (``{"name", "args", "id"}``)."""
    per_tool: dict[str, list[Flow]] = Field(default_factory=dict)
    """Tool name -> rails run only on that tool's calls (or results), beside ``flows``
    (NeMo's ``per_tool``)."""
    parallel: bool | None = None
    """Accepted for NeMo compatibility: rails of a stage always run concurrently here."""


class Refusal(Strict):
    """``rails.refusal``: what the user gets when a rail blocks."""

    message: str = DEFAULT_REFUSAL
    """Default refusal text."""
    input: str | None = None
    """Refusal for input-rail blocks (default: ``message``)."""
    output: str | None = None
    """Refusal for output-rail blocks (default: ``message``)."""
    tool_output: str | None = None
    """Refusal for a blocked tool call (default: ``message``)."""
    tool_input: str | None = None
    """Refusal for a blocked tool result (default: ``message``)."""
    separator: str = "\n\n"
    """Put between text already released and a refusal after it, in every stream."""


class Rails(Strict):
    """``rails``."""

    input: InputRails = Field(default_factory=InputRails)
    output: OutputRails = Field(default_factory=OutputRails)
    tool_output: ToolRails = Field(default_factory=ToolRails)
    tool_input: ToolRails = Field(default_factory=ToolRails)
    config: RailSettings = Field(default_factory=RailSettings)
    refusal: Refusal = Field(default_factory=Refusal)
    timeout: float = Field(default=DEFAULT_RAIL_TIMEOUT, gt=0)
    """Seconds a rail may take before it counts as failed (fail-closed)."""
    dialog: Any = None
    retrieval: Any = None

    @field_validator("dialog", "retrieval")
    @classmethod
    def _unsupported(cls, value: Any) -> None:
        if value:
            raise ValueError(
                "dialog and retrieval rails are not supported by langchain_guardrails "
                "(only input and output rails are)"
            )
        return None


class TaskPrompt(Strict):
    """One entry of ``prompts`` (NeMo format)."""

    task: str
    content: str | None = None
    messages: list[dict[str, Any]] | None = None
    models: list[str] | None = None
    output_parser: str | None = None
    max_length: int | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    mode: str | None = None

    @model_validator(mode="after")
    def _content_or_messages(self) -> TaskPrompt:
        if (self.content is None) == (self.messages is None):
            raise ValueError(f"prompt for task {self.task!r} needs exactly one of content/messages")
        return self


class Instruction(Strict):
    """One entry of ``instructions``."""

    type: str = "general"
    content: str


class RailsConfig(Strict):
    """A guardrails configuration.

    Build it with :meth:`from_path` (a folder with ``config.yml``, optional ``prompts.yml`` and
    ``actions.py``) or :meth:`from_content`. Invalid input raises :class:`ConfigError` naming the
    file, the line and the key.

    Example:
        .. code-block:: python

            config = RailsConfig.from_content(yaml_content='''
            rails:
              output:
                flows: [regex check output]
                streaming: {enabled: true, chunk_size: 20, context_size: 5}
              config:
                regex_detection:
                  output: {patterns: ["secret"]}
            ''')
    """

    models: list[ModelConfig] = Field(default_factory=list)
    instructions: list[Instruction] = Field(default_factory=list)
    sample_conversation: str | None = None
    streaming: bool = False
    """NeMo's switch for ``LLMRails`` streaming; ``Guardrails.astream`` always streams."""
    enable_rails_exceptions: bool = False
    """Raise :class:`GuardrailsViolation` instead of returning a refusal."""
    rails: Rails = Field(default_factory=Rails)
    prompts: list[TaskPrompt] = Field(default_factory=list)
    colang_version: str | None = None
    lowest_temperature: float | None = Field(default=None, ge=0)
    """Temperature of the rails' LLM tasks (self check, content safety, topic safety,
    llama guard), NeMo's key; unset, the models' own temperature is used."""
    config_path: str | None = None
    """Folder the config was loaded from, if any."""

    _actions: tuple[Callable[..., Any], ...] = PrivateAttr(default=())
    _colang: ColangProgram = PrivateAttr(default=EMPTY_PROGRAM)

    @property
    def colang(self) -> ColangProgram:
        """The Colang 1.0 rail flows and bot messages of the config's ``.co`` files."""
        return self._colang

    @property
    def actions(self) -> tuple[Callable[..., Any], ...]:
        """Actions loaded from the config folder's ``actions.py``."""
        return self._actions

    @property
    def main_model(self) -> ModelConfig | None:
        """The ``models`` entry with ``type: main``, if any."""
        return next((m for m in self.models if m.type == "main"), None)

    def prompt_for(self, task: str) -> TaskPrompt | None:
        """The prompt registered for ``task``, if any."""
        return next((p for p in self.prompts if p.task == task), None)

    @classmethod
    def from_path(cls, path: str | Path) -> RailsConfig:
        """Load a config folder (``config.yml``, other ``*.yml``, ``actions.py``) or a YAML file.

        Example:
            .. code-block:: python

                config = RailsConfig.from_path("examples/configs/streaming")
        """
        root = Path(path)
        if not root.exists():
            raise ConfigError(f"{root}: no such file or folder")
        if root.is_file():
            located = load_yaml(_read(root), str(root))
            return _build(located, config_path=str(root.parent), actions_file=None)
        main = next((root / n for n in CONFIG_FILE_NAMES if (root / n).is_file()), None)
        if main is None:
            raise ConfigError(f"{root}: no config.yml or config.yaml in this folder")
        located = load_yaml(_read(main), str(main))
        others = sorted(p for p in root.iterdir() if p.suffix in (".yml", ".yaml") and p != main)
        for other in others:
            merge(located, load_yaml(_read(other), str(other)))
        actions_file = root / "actions.py"
        config = _build(
            located,
            config_path=str(root),
            actions_file=actions_file if actions_file.is_file() else None,
        )
        return _with_colang(config, load_colang_folder(root))

    @classmethod
    def from_content(
        cls,
        yaml_content: str | None = None,
        config: Mapping[str, Any] | None = None,
        colang_content: str | None = None,
    ) -> RailsConfig:
        """Build a config from YAML text and/or a dict (the dict is merged over the YAML).

        Example:
            .. code-block:: python

                config = RailsConfig.from_content(config={"rails": {"input": {"flows": []}}})
        """
        program = load_colang_content(colang_content)  # before the YAML: its errors come first
        located = load_yaml(yaml_content or "", "<yaml_content>")
        if config is not None:
            import yaml

            merge(located, load_yaml(yaml.safe_dump(dict(config)), "<config dict>"))
        return _with_colang(_build(located, config_path=None, actions_file=None), program)


ConfigLike = RailsConfig | Mapping[str, Any] | str | os.PathLike[str]
"""What every constructor that takes a config accepts (see :func:`as_rails_config`)."""

ACCEPTED_FORMS = (
    "a RailsConfig, a mapping (the content of config.yml as a dict), or a path (str or "
    "os.PathLike) to a config folder or YAML file"
)


def as_rails_config(value: Any) -> RailsConfig:
    """``value`` as a :class:`RailsConfig`: the one place that decides which forms a config
    may take (``Guardrails``, ``LLMRails``, ``GuardrailsMiddleware`` and ``RunnableRails``
    all call it).

    * a :class:`RailsConfig` is returned as it is;
    * a mapping is read like ``config.yml`` (:meth:`RailsConfig.from_content`);
    * a ``str`` or ``os.PathLike`` is a config folder or YAML file
      (:meth:`RailsConfig.from_path`).

    Raises:
        TypeError: ``value`` is none of these (the message names the accepted forms).
        ConfigError: the mapping, folder or file is not a valid config.

    Example:
        .. code-block:: python

            as_rails_config({"rails": {"input": {"flows": ["regex check input"]}}})
            as_rails_config("examples/configs/streaming")
    """
    if isinstance(value, RailsConfig):
        return value
    if isinstance(value, Mapping):
        return RailsConfig.from_content(config=value)
    if isinstance(value, str | os.PathLike):
        return RailsConfig.from_path(os.fspath(value))
    raise TypeError(f"config must be {ACCEPTED_FORMS}; got {type(value).__name__}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


def _build(located: Located, *, config_path: str | None, actions_file: Path | None) -> RailsConfig:
    from langchain_guardrails.config.nemo_keys import accept_nemo_keys

    # NeMo keys that change no decision load with a warning (the others stay errors).
    data = accept_nemo_keys(located.data, located.where)
    if config_path is not None:
        data.setdefault("config_path", config_path)
    try:
        config = RailsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, located)) from exc
    if actions_file is not None:
        from langchain_guardrails.config.actions_file import load_actions_file

        config._actions = tuple(load_actions_file(actions_file))
    return config


def _with_colang(config: RailsConfig, program: ColangProgram) -> RailsConfig:
    config._colang = program
    return config


def _describe(exc: ValidationError, located: Located) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
        key = ".".join(str(p) for p in loc) or "<top level>"
        if error["type"] == "extra_forbidden":
            known = _known_keys(loc[:-1])
            hint = f" (known keys: {', '.join(known)})" if known else ""
            message = f"unknown key {loc[-1]!r}{hint}"
        else:
            message = error["msg"].removeprefix("Value error, ")
            # Our own validators already say what they got; pydantic's type errors do not.
            if error["type"] not in ("missing", "value_error") and "input" in error:
                message += f" (got {error['input']!r})"
        lines.append(f"{located.where(loc)}: {key}: {message}")
    return "\n".join(dict.fromkeys(lines))


def _is_union_tag(part: str | int) -> bool:
    # Pydantic adds the union member's name ("str", "FlowSpec") to locations inside a union.
    return part in ("str", "FlowSpec")


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] | None = RailsConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return []
        model = _model_of(field.annotation)
    return list(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
