"""Issue 21 item 7: prompt templates render within bounds (time, size, ``range``) and off the
event loop; a template over a bound fails its rail closed (``internal_error``)."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from langchain_guardrails import Guardrails, RailsConfig
from langchain_guardrails.rails.bounded_render import MAX_RENDER_CHARS, RenderLimitError
from langchain_guardrails.rails.prompting import Template

NESTED_LOOPS = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


def guard(prompt: str) -> Guardrails:
    return Guardrails(
        config=RailsConfig.from_content(
            config={
                "models": [
                    {"type": "main", "engine": "scripted", "parameters": {"default_reply": "No"}}
                ],
                "rails": {"timeout": 5, "input": {"flows": ["self check input"]}},
                "prompts": [{"task": "self_check_input", "content": prompt + "{{ user_input }}"}],
            }
        )
    )


BUILDS = "the template builds a value over 1000000 characters"
RANGE = "10000 items in a template"
LONG_OUTPUT = "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'a' * 10**9 }}", f"{BUILDS} ('*')"),
        ("{{ 10**9 * 'a' }}", f"{BUILDS} ('*')"),
        ("{{ [0] * 10**7 }}", f"{BUILDS} ('*')"),
        ("{{ 9 ** 10000000 }}", f"{BUILDS} ('**')"),
        ("{% for i in range(20000) %}{% endfor %}", f"range() may hold at most {RANGE}"),
        (NESTED_LOOPS, "the template took longer than 1 s to render"),
        (LONG_OUTPUT, "the rendered template is longer than 1000000 characters"),
    ],
)
def test_templates_over_a_bound_raise_a_clear_error(source: str, message: str) -> None:
    template = Template(source)  # compiling folds no constant: 'a' * 10**9 is not built here
    with pytest.raises(RenderLimitError) as raised:
        template.render({})
    assert str(raised.value) == message
    assert isinstance(raised.value, SecurityError)


def test_templates_within_the_bounds_render_as_before() -> None:
    source = "{% for i in range(3) %}{{ i }}{% endfor %}{{ 'ab' * 2 }}{{ 2 ** 10 }}{{ [1] + [2] }}"
    assert Template(source).render({}) == "012abab1024[1, 2]"
    assert len(Template("{{ 'a' * n }}").render({"n": MAX_RENDER_CHARS})) == MAX_RENDER_CHARS
    assert "lipsum" not in Template("x").template.environment.globals


@pytest.mark.parametrize("prompt", ["{{ 'a' * 10**9 }}", "{{ range(20000) | list }}", NESTED_LOOPS])
async def test_runaway_prompt_fails_the_rail_closed(prompt: str) -> None:
    # Before the fix: MemoryError out of ainvoke, or the loop held for the whole render.
    answer = await guard(prompt).ainvoke("hi")
    assert answer.content == "I'm sorry, I can't respond to that."
    assert answer.response_metadata["guardrails"] == {
        "blocked": True,
        "stage": "input",
        "rail": "self check input",
        "reason": "rail 'self check input' failed: ValueError",
        "type": "internal_error",
    }


async def test_a_sane_prompt_still_renders_and_passes() -> None:
    answer = await guard("{% for i in range(3) %}{{ i }}{% endfor %} Is this ok? ").ainvoke("hi")
    assert (answer.content, answer.response_metadata["guardrails"]["blocked"]) == ("No", False)
