"""The terminal chat of ``langchain-guardrails chat``: a guarded model here, or a server.

Both backends yield the same events for one turn: released text pieces (``Text``), the
refusal when a rail blocked (``Refusal``), then one ``TurnEnd``. :class:`ChatSession` prints
them and keeps the history.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_guardrails.guard.chat_model import Guardrails
from langchain_guardrails.server.operations.activity import RailActivity


@dataclass(frozen=True, slots=True)
class Text:
    """Released answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """The refusal that replaces the answer after a block."""

    text: str


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """How a turn ended: the guardrails metadata, usage per model, rails that ran."""

    guardrails: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    """``{model: {"input_tokens", "output_tokens", "total_tokens"}}``."""
    rails: list[dict[str, Any]] = field(default_factory=list)


Event = Text | Refusal | TurnEnd


class TurnFailed(Exception):
    """The model or the server failed during a turn; the message says why."""


class Backend(Protocol):
    def turn(
        self, messages: list[BaseMessage], *, streaming: bool, verbose: bool
    ) -> Iterator[Event]: ...


class LocalBackend:
    """Runs the guarded model in this process (sync API: Ctrl-C stops the model stream)."""

    def __init__(self, guarded: Guardrails) -> None:
        self.guarded = guarded

    def turn(
        self, messages: list[BaseMessage], *, streaming: bool, verbose: bool
    ) -> Iterator[Event]:
        activity, usage = RailActivity(), UsageMetadataCallbackHandler()
        config: Any = {"callbacks": [activity, usage]} if verbose else {}
        chunks = (
            self.guarded.stream(messages, config)
            if streaming
            else iter([self.guarded.invoke(messages, config)])
        )
        guard: dict[str, Any] = {}
        try:
            for chunk in chunks:
                guard = chunk.response_metadata.get("guardrails", guard)
                if guard.get("blocked"):
                    yield Refusal(chunk.text)
                elif chunk.text:
                    yield Text(chunk.text)
        except Exception as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                # Ctrl-C while the sync bridge waited: closing the stream it interrupted
                # raises RuntimeError("aclose(): ... already running"); the user pressed Ctrl-C.
                raise KeyboardInterrupt from None
            raise TurnFailed(f"the model failed: {type(exc).__name__}: {exc}") from exc
        totals = {
            model: {
                "input_tokens": u["input_tokens"],
                "output_tokens": u["output_tokens"],
                "total_tokens": u["total_tokens"],
            }
            for model, u in usage.usage_metadata.items()
        }
        yield TurnEnd(guard, totals, activity.summary())


class RemoteBackend:
    """Talks to ``langchain-guardrails server`` over its OpenAI-compatible API."""

    def __init__(self, url: str, config_id: str | None, api_key: str | None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.config_id = config_id
        self.client = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(300, connect=10)
        )

    def turn(
        self, messages: list[BaseMessage], *, streaming: bool, verbose: bool
    ) -> Iterator[Event]:
        import httpx

        body: dict[str, Any] = {
            "messages": [_wire(m) for m in messages],
            "stream": streaming,
            "guardrails": {"log": {"activated_rails": verbose}},
        }
        if self.config_id:
            body["config_id"] = self.config_id
        if streaming:
            body["stream_options"] = {"include_usage": True}
        try:
            if not streaming:
                response = self.client.post("/v1/chat/completions", json=body)
                if response.status_code != 200:
                    raise TurnFailed(_http_error(response))
                yield from _from_completion(response.json())
                return
            with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise TurnFailed(_http_error(response))
                yield from _from_events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise TurnFailed(f"cannot reach the server at {self.url}: {exc}") from exc


def _wire(message: BaseMessage) -> dict[str, str]:
    role = {"human": "user", "ai": "assistant"}.get(message.type, "system")
    return {"role": role, "content": message.text}


def _http_error(response: Any) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    if response.status_code == 401:
        message += " (pass --api-key or set LANGCHAIN_GUARDRAILS_API_KEY)"
    return f"server answered {response.status_code}: {message}"


def _from_events(lines: Iterable[str]) -> Iterator[Event]:
    guard: dict[str, Any] = {}
    usage: dict[str, dict[str, int]] = {}
    for line in lines:
        if not line.startswith("data: "):
            continue
        data = line[len("data: ") :]
        if data == "[DONE]":
            break
        event = json.loads(data)
        if "error" in event and "choices" not in event:
            raise TurnFailed(f"server error: {event['error'].get('message')}")
        for choice in event.get("choices") or []:
            delta = choice.get("delta", {})
            # The refusal's delta has it twice (content and refusal): shown once, after the
            # separator delta, as the local chat shows it.
            text = delta.get("refusal") or delta.get("content")
            if text:
                yield Text(text)
        guard = event.get("guardrails", guard)
        if event.get("usage"):
            usage = {event.get("model", "model"): _usage(event["usage"])}
    yield TurnEnd(guard, usage, guard.get("activated_rails", []))


def _from_completion(body: dict[str, Any]) -> Iterator[Event]:
    guard = body.get("guardrails", {})
    text = body["choices"][0]["message"].get("content") or ""
    if text:
        yield Refusal(text) if guard.get("blocked") else Text(text)
    usage = {body.get("model", "model"): _usage(body["usage"])} if body.get("usage") else {}
    yield TurnEnd(guard, usage, guard.get("activated_rails", []))


def _usage(usage: dict[str, int]) -> dict[str, int]:
    return {
        "input_tokens": usage.get("prompt_tokens", 0),
        "output_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
    }


class ChatSession:
    """Reads user lines, prints guarded answers, keeps the history.

    On an input block the turn is dropped from the history; on an output block the history
    keeps the refusal, never the blocked text. ``/reset`` clears the history, ``/exit`` ends.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        streaming: bool = False,
        verbose: bool = False,
        color: bool = False,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.backend = backend
        self.streaming = streaming
        self.verbose = verbose
        self.color = color
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.history: list[BaseMessage] = []

    def run(self, stdin: IO[str], *, interactive: bool) -> int:
        """The chat loop; returns the exit code (3 when a turn failed)."""
        failed = False
        if interactive:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())
            self._say(
                "Chat with the guarded model. /reset clears the history, /exit or Ctrl-D ends.", "2"
            )
        while True:
            try:
                line = input("> ") if interactive else stdin.readline()
            except EOFError:
                line = ""
            except KeyboardInterrupt:
                self.out.write("\n")
                return 130
            if not line:
                if interactive:
                    self.out.write("\n")
                return 3 if failed else 0
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                return 3 if failed else 0
            if text == "/reset":
                self.history.clear()
                self._say("(history cleared)", "2")
                continue
            try:
                self.one_turn(text)
            except TurnFailed as exc:
                failed = True
                self.out.write("\n")
                self._say(f"error: {exc}", "31", err=True)
            except KeyboardInterrupt:
                self.out.write("\n")
                self._say("[interrupted]", "33")
                if not interactive:
                    return 130

    def one_turn(self, text: str) -> None:
        """Send one user message and print the answer as it arrives."""
        user = HumanMessage(content=text)
        answer: list[str] = []
        end = TurnEnd()
        for event in self.backend.turn(
            [*self.history, user], streaming=self.streaming, verbose=self.verbose
        ):
            if isinstance(event, Text):
                answer.append(event.text)
                self.out.write(event.text)
                self.out.flush()
            elif isinstance(event, Refusal):
                # After released text the stream already brought rails.refusal.separator.
                answer = [event.text]
                self.out.write(event.text)
            else:
                end = event
        self.out.write("\n")
        guard = end.guardrails
        if guard.get("blocked"):
            where = f"{guard.get('stage', '?')} rail {guard.get('rail')!r}"
            reason = f": {guard['reason']}" if guard.get("reason") else ""
            self._say(f"[blocked by {where}{reason}]", "1;31")
        if not (guard.get("blocked") and guard.get("stage") == "input"):
            self.history += [user, AIMessage(content="".join(answer))]
        if self.verbose:
            self._report(end)
        self.out.flush()

    def _report(self, end: TurnEnd) -> None:
        rails = "; ".join(
            f"{r['stage']} {r['rail']!r} {r['status']} x{r['runs']}" for r in end.rails
        )
        self._say(f"  rails: {rails or 'none ran'}", "36", err=True)
        if not end.usage:
            self._say("  usage: not reported", "36", err=True)
        for model, u in end.usage.items():
            self._say(
                f"  usage: {u['input_tokens']} prompt + {u['output_tokens']} completion = "
                f"{u['total_tokens']} tokens ({model})",
                "36",
                err=True,
            )

    def _say(self, text: str, color: str, *, err: bool = False) -> None:
        stream = self.err if err else self.out
        self.out.flush()
        stream.write(f"\033[{color}m{text}\033[0m\n" if self.color else f"{text}\n")
        stream.flush()
