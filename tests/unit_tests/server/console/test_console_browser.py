"""Issue 25: the console in a real browser (headless Debian Chromium, Selenium) against a real
``langchain-guardrails server`` whose scripted model streams known answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from . import browser
from .conftest import ANSWER, BLOCKED, CONSOLE_CONFIGS, HELD_RELEASED, PASSING, REFUSAL

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))

KEY = "console-key"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with browser.served(CONSOLE_CONFIGS) as base:
        yield base


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    with browser.driver() as driver:
        yield driver


def by(testid: str) -> tuple[str, str]:
    return ("css selector", f'[data-testid="{testid}"]')


def text(chrome: Any, testid: str) -> str:
    # textContent: the text exactly as received (Selenium's .text trims and folds whitespace).
    return str(chrome.find_element(*by(testid)).get_attribute("textContent"))


def wait_done(chrome: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(chrome, 20).until(
        lambda d: d.find_element("css selector", "body").get_attribute("data-state") == "done"
    )


def windows(chrome: Any) -> list[tuple[str, str]]:
    found = chrome.find_elements(*by("window"))
    return [(w.get_attribute("data-window"), w.get_attribute("data-verdict")) for w in found]


def send(chrome: Any, base: str, prompt: str, config: str, mode: str = "") -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    chrome.get(base + "/ui")
    WebDriverWait(chrome, 20).until(
        lambda d: len(Select(d.find_element(*by("config"))).options) == 2
    )
    Select(chrome.find_element(*by("config"))).select_by_value(config)
    Select(chrome.find_element(*by("mode"))).select_by_value(mode)
    box = chrome.find_element(*by("message-user"))
    box.clear()
    box.send_keys(prompt)
    chrome.find_element(*by("send")).click()
    wait_done(chrome)


def errors(chrome: Any) -> list[dict[str, Any]]:
    return [e for e in chrome.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def test_a_passing_prompt_streams_the_answer_with_its_windows(server: str, chrome: Any) -> None:
    send(chrome, server, PASSING, "held")
    assert text(chrome, "answer") == ANSWER
    assert chrome.find_element(*by("refusal")).is_displayed() is False
    assert windows(chrome) == [("0", "passed"), ("1", "passed")]
    assert chrome.find_elements(*by("block")) == []
    assert errors(chrome) == []


def test_a_prompt_blocked_mid_stream_shows_the_block_and_the_refusal(
    server: str, chrome: Any
) -> None:
    send(chrome, server, BLOCKED, "held")
    assert text(chrome, "answer") == HELD_RELEASED + "\n\n"
    assert text(chrome, "refusal") == REFUSAL
    assert windows(chrome) == [("0", "passed"), ("1", "passed"), ("2", "blocked")]
    (block,) = chrome.find_elements(*by("block"))
    assert block.text == "block: regex check output"
    assert text(chrome, "model-end").startswith("model stopped (")
    status = text(chrome, "status")
    assert "blocked by output rail “regex check output”" in status
    # Hovering the blocked window shows its rails and the rail's reason.
    from selenium.webdriver import ActionChains

    blocked = chrome.find_element("css selector", '[data-testid="window"][data-window="2"]')
    ActionChains(chrome).move_to_element(blocked).perform()
    detail = text(chrome, "detail")
    assert detail.startswith("window 2: units 5\u20138 (new from 6) · blocked in ")
    assert "regex check output: blocked in " in detail
    assert detail.endswith("reason: matched pattern 'secret\\\\s+plan'")
    assert errors(chrome) == []


def test_stream_first_chosen_in_the_page(server: str, chrome: Any) -> None:
    send(chrome, server, BLOCKED, "held", mode="stream_first")
    assert text(chrome, "answer").startswith("Sure, here it is: the secret plan ")
    assert text(chrome, "refusal") == REFUSAL
    assert windows(chrome)[:3] == [("0", "passed"), ("1", "passed"), ("2", "blocked")]
    assert "mode: stream-first" in text(chrome, "status")


def test_the_shareable_link_runs_by_itself(server: str, chrome: Any) -> None:
    send(chrome, server, BLOCKED, "flowing", mode="hold_back")
    link = chrome.find_element(*by("share")).get_attribute("href")
    query = urlencode({"config": "flowing", "prompt": BLOCKED, "mode": "hold_back"})
    assert link == f"{server}/ui?{query}"
    chrome.get(link)
    wait_done(chrome)
    assert text(chrome, "answer") == HELD_RELEASED + "\n\n"
    assert text(chrome, "refusal") == REFUSAL
    assert [v for _, v in windows(chrome)] == ["passed", "passed", "blocked"]
    assert errors(chrome) == []


def test_the_rails_page_lists_every_rail_of_the_config(server: str, chrome: Any) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    send(chrome, server, PASSING, "held")
    chrome.find_element(*by("tab-rails")).click()
    Select(chrome.find_element("id", "rails-config")).select_by_value("held")
    WebDriverWait(chrome, 10).until(lambda d: len(d.find_elements(*by("rail-row"))) == 2)
    rows = [
        [td.get_attribute("textContent") for td in row.find_elements("css selector", "td")][:2]
        for row in chrome.find_elements(*by("rail-row"))
    ]
    assert rows == [["input", "regex check input"], ["output", "regex check output"]]
    assert errors(chrome) == []


def test_dump_dom_of_a_link_holds_the_answer_and_the_windows(server: str) -> None:
    query = urlencode({"config": "held", "prompt": PASSING})
    dom = browser.dump_dom(f"{server}/ui?{query}")
    assert f'data-testid="answer" id="answer">{ANSWER}</span>' in dom
    assert dom.count('data-testid="window"') == 2
    assert dom.count('data-verdict="passed"') == 3  # two windows and the input rail


def test_a_keyed_server_asks_for_the_key(chrome: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    with browser.served(CONSOLE_CONFIGS, "--api-key", KEY) as base:
        chrome.get(base + "/ui?" + urlencode({"config": "held", "prompt": PASSING}))
        form = chrome.find_element("id", "key-form")
        WebDriverWait(chrome, 10).until(lambda d: form.is_displayed())
        assert chrome.find_element("id", "key-message").text == "This server needs an API key."
        chrome.find_element("id", "key-input").send_keys(KEY + "\n")
        wait_done(chrome)
        assert text(chrome, "answer") == ANSWER
    # The 401 the page met first is the only error it logged.
    logged = errors(chrome)
    assert [e["message"].endswith("401 (Unauthorized)") for e in logged] == [True]


def test_debug_is_marked_on_the_page(chrome: Any) -> None:
    with browser.served(CONSOLE_CONFIGS, "--console-debug") as base:
        send(chrome, base, BLOCKED, "held")
        assert chrome.find_element(*by("debug-banner")).is_displayed()
        assert text(chrome, "raw").startswith("Sure, here it is: the secret plan")
        assert text(chrome, "answer") == HELD_RELEASED + "\n\n"
