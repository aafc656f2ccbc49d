"""What LangChain sees of a guard: the wrapped model's name, types, schemas and tracing
parameters, so that LangServe, schema tools and tracers see the real model (as
``RunnableWithFallbacks`` forwards them)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import BaseModel, PrivateAttr
from typing_extensions import override

from langchain_guardrails.llm.model_parts import LLMParts, chat_model_of
from langchain_guardrails.llm.model_stream import model_name


class WrappedModelIdentity(BaseChatModel):
    """The LangChain identity of a chat model that wraps another one (``_parts``)."""

    _parts: LLMParts = PrivateAttr()
    """The wrapped model, with the steps before and after it."""
    _model: Runnable[Any, Any] = PrivateAttr()
    """The wrapped model as it is streamed."""

    @property
    @override
    def _llm_type(self) -> str:
        return "guardrails"

    @property
    def model_name(self) -> str | None:
        """The wrapped model's name (what agents and tracers read)."""
        return model_name(chat_model_of(self._parts.model))

    @property
    @override
    def _identifying_params(self) -> dict[str, Any]:
        inner = chat_model_of(self._parts.model)
        params = getattr(inner, "_identifying_params", None)
        return dict(params) if isinstance(params, Mapping) else {}

    @override
    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        inner = chat_model_of(self._parts.model)
        if isinstance(inner, BaseChatModel):
            return inner._get_ls_params(stop=stop, **kwargs)
        return super()._get_ls_params(stop=stop, **kwargs)

    @cached_property
    def _model_dict(self) -> dict[str, Any]:
        return self._dict_for_compat()

    @override
    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # As BaseChatModel's, with the model's own part built once per guard rather than per
        # call (it goes through LangChain's deprecation wrapper of ``dict()``).
        return {**self._model_dict, "stop": stop, **kwargs}

    @cached_property
    def _serialized(self) -> dict[str, Any]:
        # What callbacks and tracers get as ``serialized``: the class and the wrapped model's
        # name, not the config (its model parameters may hold credentials).
        inner = chat_model_of(self._parts.model)
        return {
            "lc": 1,
            "type": "not_implemented",
            "id": ["langchain_guardrails", "Guardrails"],
            "repr": f"Guardrails(llm={type(inner).__name__})",
            "name": self.get_name(),
        }

    @classmethod
    @override
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    @override
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_guardrails"]

    @property
    @override
    def InputType(self) -> Any:
        before = self._parts.before
        return before.InputType if before is not None else self._model.InputType

    @property
    @override
    def OutputType(self) -> Any:
        after = self._parts.after
        return after.OutputType if after is not None else self._model.OutputType

    @override
    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        before = self._parts.before
        runnable = before if before is not None else self._model
        return cast("type[BaseModel]", runnable.get_input_schema(config))

    @override
    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        after = self._parts.after
        runnable = after if after is not None else self._model
        return cast("type[BaseModel]", runnable.get_output_schema(config))

    @property
    @override
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return self._model.config_specs
