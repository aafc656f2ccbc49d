"""Test doubles for guarded streaming: use them in your own tests, notebooks and demos.

- Fake chat models (:mod:`~langchain_guardrails.testing.chat_models`):
  ``FakeStreamingChatModel`` streams a fixed text as given chunks, ``ScriptedChatModel`` picks
  its reply by regex (it backs ``engine: scripted``), ``FakeToolCallingModel`` plays tool-calling
  turns.
- A fake OpenAI-compatible server (:mod:`~langchain_guardrails.testing.openai_server`):
  ``FakeOpenAIServer`` serves scripted ``FakeReply`` turns on 127.0.0.1 and records what
  clients sent, for code that talks HTTP (``ChatOpenAI``, the ``openai`` SDK, the gateway).

Imports: nothing else of the package (so ``llm`` can build the ``scripted`` engine from it).

Example:
    .. code-block:: python

        from langchain_guardrails.testing import FakeStreamingChatModel

        llm = FakeStreamingChatModel(chunks=["Paris ", "is ", "the ", "capital."])
        assert llm.invoke("Capital of France?").content == "Paris is the capital."
"""

from langchain_guardrails.testing.chat_models import (
    FakeStreamingChatModel,
    FakeToolCallingModel,
    FakeTurn,
    ProductionStats,
    ScriptedChatModel,
    ScriptedReply,
    split_units,
)
from langchain_guardrails.testing.openai_replies import FakeReply, ReplyLike
from langchain_guardrails.testing.openai_server import (
    FakeOpenAIServer,
    RecordedRequest,
    RouteAnswer,
)

__all__ = [
    "FakeOpenAIServer",
    "FakeReply",
    "FakeStreamingChatModel",
    "FakeToolCallingModel",
    "FakeTurn",
    "ProductionStats",
    "RecordedRequest",
    "ReplyLike",
    "RouteAnswer",
    "ScriptedChatModel",
    "ScriptedReply",
    "split_units",
]
