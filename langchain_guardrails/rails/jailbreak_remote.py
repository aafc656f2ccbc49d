"""Remote jailbreak detection: NeMo Guardrails' jailbreak detection server and the NemoGuard
JailbreakDetect NIM (``rails.config.jailbreak_detection``).

* ``jailbreak detection heuristics`` with ``server_endpoint``: ``POST <server_endpoint>`` with
  ``{"prompt", "lp_threshold", "ps_ppl_threshold"}`` (the server's ``/heuristics`` route);
* ``jailbreak detection model``: ``POST <nim_base_url>/<nim_server_endpoint>`` with
  ``{"input"}`` (bearer token from ``api_key_env_var``), or ``POST <server_endpoint>`` with
  ``{"prompt"}`` (the server's ``/model`` route).

Both answer ``{"jailbreak": true|false, ...}``. Unlike NeMo Guardrails, which lets the text
through when the server fails, these rails fail closed: a connection error, a timeout, a
status other than 200 or an answer without a boolean ``jailbreak`` blocks, and the reason says
which (never the server's text).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from langchain_guardrails.config.actions import ActionSpec, RailResult, build_spec
from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.errors import ConfigError

HEURISTICS = "jailbreak detection heuristics"
MODEL = "jailbreak detection model"


class RemoteCheckError(Exception):
    """The detection server could not give a verdict; the message is safe to show."""


def join_url(base: str, path: str) -> str:
    """``base`` and ``path`` joined by exactly one slash."""
    return base.rstrip("/") + "/" + path.lstrip("/")


async def post_verdict(
    url: str, payload: dict[str, Any], *, seconds: float, token: str | None = None
) -> dict[str, Any]:
    """POST ``payload``; the JSON answer, which must hold a boolean ``jailbreak``."""
    body = await post_json(url, payload, seconds=seconds, token=token)
    if not isinstance(body.get("jailbreak"), bool):
        raise RemoteCheckError("the answer has no boolean 'jailbreak' field")
    return body


async def post_json(
    url: str, payload: dict[str, Any], *, seconds: float, token: str | None = None
) -> dict[str, Any]:
    """POST ``payload`` to a detection server; its answer, which must be a JSON object.

    Raises:
        RemoteCheckError: no answer in time, a failed request, a status other than 200 or an
            answer that is not a JSON object (the message never quotes the server's text).
    """
    import httpx

    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with httpx.AsyncClient(timeout=seconds) as client:
            response = await client.post(url, json=payload, headers=headers)
    except httpx.TimeoutException as exc:
        raise RemoteCheckError(f"no answer within {seconds} s") from exc
    except httpx.HTTPError as exc:
        raise RemoteCheckError(f"request failed ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise RemoteCheckError(f"HTTP status {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise RemoteCheckError("the answer is not JSON") from exc
    if not isinstance(body, dict):
        raise RemoteCheckError("the answer is not a JSON object")
    return body


def _verdict(rail: str, body: Mapping[str, Any]) -> RailResult:
    if not body["jailbreak"]:
        return RailResult(allowed=True)
    metadata: dict[str, Any] = {}
    score = body.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        metadata["score"] = float(score)
    return RailResult(allowed=False, reason=f"{rail}: jailbreak detected", metadata=metadata)


def _failed(rail: str, error: RemoteCheckError) -> RailResult:
    return RailResult(
        allowed=False,
        reason=f"{rail}: the detection server gave no verdict ({error}); blocked to be safe",
        metadata={"error": "remote_check_failed"},
    )


def remote_heuristics(config: RailsConfig) -> ActionSpec:
    """``jailbreak detection heuristics`` against ``server_endpoint``."""
    settings = config.rails.config.jailbreak_detection
    url = settings.server_endpoint
    assert url is not None  # chosen by the caller because it is set
    lp = settings.length_per_perplexity_threshold
    ps = settings.prefix_suffix_perplexity_threshold
    timeout = settings.timeout

    async def check(text: str) -> RailResult:
        if not text.strip():
            return RailResult(allowed=True)
        payload = {"prompt": text, "lp_threshold": lp, "ps_ppl_threshold": ps}
        try:
            body = await post_verdict(url, payload, seconds=timeout)
        except RemoteCheckError as error:
            return _failed(HEURISTICS, error)
        return _verdict(HEURISTICS, body)

    return build_spec(check, name=HEURISTICS)


def jailbreak_model(config: RailsConfig, params: Mapping[str, str]) -> ActionSpec:
    """Factory of ``jailbreak detection model`` (NIM at ``nim_base_url`` or ``server_endpoint``)."""
    if params:
        raise ConfigError(
            f"{MODEL!r} takes no $ parameters; configure it in rails.config.jailbreak_detection"
        )
    settings = config.rails.config.jailbreak_detection
    timeout = settings.timeout
    env_var = settings.api_key_env_var
    if settings.nim_base_url:
        url = join_url(settings.nim_base_url, settings.nim_server_endpoint)
        field = "input"
    elif settings.server_endpoint:
        url, field, env_var = settings.server_endpoint, "prompt", None
    else:
        raise ConfigError(
            f"{MODEL!r} needs rails.config.jailbreak_detection.nim_base_url (a NemoGuard "
            "JailbreakDetect NIM, e.g. http://localhost:8000/v1) or server_endpoint (a jailbreak "
            "detection server's /model route); the in-process classifier of NeMo Guardrails is "
            "not supported"
        )

    async def check(text: str) -> RailResult:
        if not text.strip():
            return RailResult(allowed=True)
        # Read at each call: credentials are not needed to load the config.
        token = os.environ.get(env_var) if env_var else None
        try:
            body = await post_verdict(url, {field: text}, seconds=timeout, token=token)
        except RemoteCheckError as error:
            return _failed(MODEL, error)
        return _verdict(MODEL, body)

    return build_spec(check, name=MODEL)


__all__ = [
    "HEURISTICS",
    "MODEL",
    "RemoteCheckError",
    "jailbreak_model",
    "join_url",
    "post_json",
    "post_verdict",
    "remote_heuristics",
]
