"""Beside the engine, the built-in rail library, by flow name (``BUILTIN_RAILS``).

A built-in rail is a factory: given the config and the flow's ``$`` parameters it returns the
:class:`~langchain_guardrails.config.actions.ActionSpec` to run, so per-config work (compiling
patterns, checking settings) happens once when the ``Guardrails`` object is built, not per window.
One module per family (``regex``, ``sensitive_data`` with ``recognizers``/``presidio``,
``self_check``, ``content_safety``, ``topic_safety``, ``jailbreak``, ``classifier``,
``gliner``, ``huggingface_detector``, ``injection`` with its shipped model in
``injection_model`` / ``injection_text``); sync rails run
on ``executor``, the package's bounded thread pool.

To add a rail: a module here, and its factory in ``BUILTIN_RAILS``.

Imports: ``config`` and ``errors`` only (the engine imports the library, never the reverse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from langchain_guardrails.config.actions import ActionSpec
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.rails.classifier import hf_classifier_check
from langchain_guardrails.rails.content_safety import content_safety_check, llama_guard_check
from langchain_guardrails.rails.gliner import gliner_detect_pii, gliner_mask_pii
from langchain_guardrails.rails.huggingface_detector import huggingface_detector_check
from langchain_guardrails.rails.injection import prompt_injection_check
from langchain_guardrails.rails.jailbreak import jailbreak_heuristics
from langchain_guardrails.rails.jailbreak_remote import jailbreak_model
from langchain_guardrails.rails.regex import regex_check
from langchain_guardrails.rails.self_check import (
    self_check_facts,
    self_check_hallucination,
    self_check_input,
    self_check_output,
)
from langchain_guardrails.rails.sensitive_data import detect_sensitive_data, mask_sensitive_data
from langchain_guardrails.rails.topic_safety import topic_safety_check_input

RailFactory = Callable[[RailsConfig, Mapping[str, str]], ActionSpec]

BUILTIN_RAILS: Mapping[str, RailFactory] = MappingProxyType(
    {
        "regex check input": lambda config, params: regex_check(config, "input"),
        "regex check output": lambda config, params: regex_check(config, "output"),
        "self check input": self_check_input,
        "self check output": self_check_output,
        "self check facts": self_check_facts,
        "self check hallucination": self_check_hallucination,
        "content safety check input": content_safety_check("input"),
        "content safety check output": content_safety_check("output"),
        "llama guard check input": llama_guard_check("input"),
        "llama guard check output": llama_guard_check("output"),
        "detect sensitive data on input": detect_sensitive_data("input"),
        "detect sensitive data on output": detect_sensitive_data("output"),
        "mask sensitive data on input": mask_sensitive_data("input"),
        "mask sensitive data on output": mask_sensitive_data("output"),
        "jailbreak detection heuristics": jailbreak_heuristics,
        "jailbreak detection model": jailbreak_model,
        "topic safety check input": topic_safety_check_input,
        "hf classifier check input": hf_classifier_check("input"),
        "hf classifier check output": hf_classifier_check("output"),
        **{
            name: huggingface_detector_check(name)
            for name in (
                "huggingface detector check input",
                "huggingface detector check output",
                "huggingface detector check tool input",
                "huggingface detector check tool output",
            )
        },
        "gliner detect pii on input": gliner_detect_pii("input"),
        "gliner detect pii on output": gliner_detect_pii("output"),
        "gliner mask pii on input": gliner_mask_pii("input"),
        "gliner mask pii on output": gliner_mask_pii("output"),
        "prompt injection check input": prompt_injection_check("input"),
        "prompt injection check output": prompt_injection_check("output"),
    }
)
"""Flow name -> factory; read-only, so one config's code cannot change another's rails."""

__all__ = ["BUILTIN_RAILS", "RailFactory"]
