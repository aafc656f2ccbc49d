"""Property: for random rail flows of the subset, our verdict and refusal equal a small
table-driven reference of NeMo's Colang 1.0 semantics (written here, independent of the
package): statements in order, the first true branch of an if/elif/else, `stop` blocks with
the last `bot` message (the first message of its `define bot`), the end of the flow passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.actions import action
from langchain_guardrails.testing import FakeStreamingChatModel

ANSWER = "The model's answer."
DEFAULT = "I'm sorry, I can't respond to that."
VARIABLES = ("v0", "v1", "v2")
ACTIONS = ("a0", "a1", "a2")
BOTS = ("b0", "b1")
VALUES = st.one_of(st.booleans(), st.sampled_from(["x", "y", ""]), st.integers(0, 2))

# Expressions: ("lit", value) | ("var", name) | ("not", e) | ("eq", e, e) | ("in", e, [lits])
# | ("and", e, e) | ("or", e, e)
literal = st.builds(lambda v: ("lit", v), VALUES)
variable = st.builds(lambda n: ("var", n), st.sampled_from(VARIABLES))
expressions = st.recursive(
    st.one_of(literal, variable),
    lambda inner: st.one_of(
        st.builds(lambda e: ("not", e), inner),
        st.builds(lambda a, b: ("eq", a, b), inner, inner),
        st.builds(lambda e, items: ("in", e, items), inner, st.lists(VALUES, max_size=3)),
        st.builds(lambda a, b: ("and", a, b), inner, inner),
        st.builds(lambda a, b: ("or", a, b), inner, inner),
    ),
    max_leaves=4,
)
simple = st.one_of(
    st.builds(
        lambda v, a: ("exec", v, a),
        st.one_of(st.none(), st.sampled_from(VARIABLES)),
        st.sampled_from(ACTIONS),
    ),
    st.builds(lambda v, e: ("assign", v, e), st.sampled_from(VARIABLES), expressions),
    st.builds(lambda b: ("bot", b), st.sampled_from(BOTS)),
    st.builds(lambda v: ("botvar", v), st.sampled_from(VARIABLES)),
    st.just(("stop",)),
)
bodies = st.recursive(
    st.lists(simple, min_size=1, max_size=4),
    lambda inner: st.lists(
        st.one_of(
            simple,
            st.builds(
                lambda branches, orelse: ("if", branches, orelse),
                st.lists(st.tuples(expressions, inner), min_size=1, max_size=3),
                st.one_of(st.none(), inner),
            ),
        ),
        min_size=1,
        max_size=4,
    ),
    max_leaves=12,
)


# ---- the reference semantics, one table entry per construct --------------------------------


def _value(e: tuple[Any, ...], env: dict[str, Any]) -> Any:
    return EXPRESSION_TABLE[e[0]](e, env)


EXPRESSION_TABLE: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    "lit": lambda e, env: e[1],
    "var": lambda e, env: env.get(e[1]),
    "not": lambda e, env: not _value(e[1], env),
    "eq": lambda e, env: _value(e[1], env) == _value(e[2], env),
    "in": lambda e, env: _value(e[1], env) in e[2],
    "and": lambda e, env: _value(e[1], env) and _value(e[2], env),
    "or": lambda e, env: _value(e[1], env) or _value(e[2], env),
}


class Stopped(Exception):
    pass


def _exec(s: tuple[Any, ...], st_: dict[str, Any]) -> None:
    if s[1] is not None:
        st_["env"][s[1]] = st_["results"][s[2]]


def _assign(s: tuple[Any, ...], st_: dict[str, Any]) -> None:
    st_["env"][s[1]] = _value(s[2], st_["env"])


def _bot(s: tuple[Any, ...], st_: dict[str, Any]) -> None:
    st_["bot"] = f"Refusal {s[1]}."  # the first message of `define bot`


def _botvar(s: tuple[Any, ...], st_: dict[str, Any]) -> None:
    value = st_["env"].get(s[1])
    # An empty message says nothing: the stage's refusal stands (never a blank refusal).
    st_["bot"] = None if value is None or str(value) == "" else str(value)


def _stop(s: tuple[Any, ...], st_: dict[str, Any]) -> None:
    raise Stopped


def _if(s: tuple[Any, ...], st_: dict[str, Any]) -> None:
    for condition, body in s[1]:
        if _value(condition, st_["env"]):
            _run(body, st_)
            return
    if s[2] is not None:
        _run(s[2], st_)


STATEMENT_TABLE = {
    "exec": _exec,
    "assign": _assign,
    "bot": _bot,
    "botvar": _botvar,
    "stop": _stop,
    "if": _if,
}


def _run(body: list[Any], st_: dict[str, Any]) -> None:
    for statement in body:
        STATEMENT_TABLE[statement[0]](statement, st_)


def reference(body: list[Any], results: dict[str, Any]) -> str:
    """What the user gets under NeMo's Colang 1.0 semantics."""
    state: dict[str, Any] = {"env": {}, "results": results, "bot": None}
    try:
        _run(body, state)
    except Stopped:
        return state["bot"] if state["bot"] is not None else DEFAULT
    return ANSWER


# ---- rendering to Colang text --------------------------------------------------------------


def render_value(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else repr(v)


def render_expression(e: tuple[Any, ...]) -> str:
    kind = e[0]
    if kind == "lit":
        return render_value(e[1])
    if kind == "var":
        return f"${e[1]}"
    if kind == "not":
        return f"(not {render_expression(e[1])})"
    if kind == "in":
        return f"({render_expression(e[1])} in [{', '.join(map(render_value, e[2]))}])"
    op = {"eq": "==", "and": "and", "or": "or"}[kind]
    return f"({render_expression(e[1])} {op} {render_expression(e[2])})"


def render(body: list[Any], indent: int = 2) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for s in body:
        if s[0] == "exec":
            lines.append(pad + (f"${s[1]} = " if s[1] else "") + f"execute {s[2]}")
        elif s[0] == "assign":
            lines.append(pad + f"${s[1]} = {render_expression(s[2])}")
        elif s[0] == "bot":
            lines.append(pad + f"bot {s[1]}")
        elif s[0] == "botvar":
            lines.append(pad + f"bot ${s[1]}")
        elif s[0] == "stop":
            lines.append(pad + "stop")
        else:
            for i, (condition, branch) in enumerate(s[1]):
                keyword = "if" if i == 0 else "elif"
                lines.append(pad + f"{keyword} {render_expression(condition)}")
                lines += render(branch, indent + 2)
            if s[2] is not None:
                lines.append(pad + "else")
                lines += render(s[2], indent + 2)
    return lines


def scripted(name: str, value: Any) -> Any:
    async def run() -> Any:
        return value

    return action(name=name)(run)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, results=st.fixed_dictionaries({a: VALUES for a in ACTIONS}))
def test_our_verdict_and_refusal_equal_the_reference(
    body: list[Any], results: dict[str, Any]
) -> None:
    bots = "".join(f'define bot {b}\n  "Refusal {b}."\n  "Never picked."\n' for b in BOTS)
    colang = bots + "define subflow random rail\n" + "\n".join(render(body)) + "\n"
    config = RailsConfig.from_content(
        config={"rails": {"input": {"flows": ["random rail"]}}}, colang_content=colang
    )
    actions = [scripted(name, value) for name, value in results.items()]
    rails = Guardrails(llm=FakeStreamingChatModel(text=ANSWER), config=config, actions=actions)
    expected = reference(body, results)
    event("passes" if expected == ANSWER else "default refusal" if expected == DEFAULT else "bot")
    assert rails.invoke("hello").text == expected, colang
