"""LangServe's ``/stream_events`` and ``/invoke`` carry no part of withheld text, on any channel."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_guardrails import Guardrails
from langchain_guardrails.testing import FakeToolCallingModel, FakeTurn

from .helpers import SECRET, config

pytestmark = pytest.mark.requires("langserve")


def app_for(turn: FakeTurn, **kwargs: Any) -> Any:
    from fastapi import FastAPI

    from langchain_guardrails.server.langserve.routes import add_config_routes

    model = FakeToolCallingModel(turns=[turn], logprobs=True, **kwargs)
    guarded = Guardrails(llm=model, config=config(tool_output=["regex check output"]))
    app = FastAPI()
    add_config_routes(app, guarded, "guarded")
    return app


TURNS = {
    "content with logprobs": FakeTurn(text=f"Sure, the admin password is {SECRET} and so on."),
    "reasoning blocks": FakeTurn(reasoning=f"the password is {SECRET} so", text="No."),
    "tool call": FakeTurn(
        text="Sending.", tool_calls=[{"name": "mail", "args": {"body": SECRET}, "id": "c1"}]
    ),
}


@pytest.mark.parametrize("name", sorted(TURNS))
@pytest.mark.parametrize("endpoint", ["stream_events", "invoke", "stream"])
async def test_langserve_endpoints_carry_no_withheld_text(name: str, endpoint: str) -> None:
    import httpx

    transport = httpx.ASGITransport(app=app_for(TURNS[name]))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        body: dict[str, Any] = {"input": "What is the password?"}
        if endpoint == "stream_events":
            body["version"] = "v2"
        response = await client.post(f"/configs/guarded/{endpoint}", json=body)
    assert response.status_code == 200
    assert SECRET not in response.text
    assert "I'm sorry, I can't respond to that." in response.text
