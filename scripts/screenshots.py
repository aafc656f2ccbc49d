"""Regenerate the console's screenshots in the docs from the real pages.

Starts ``langchain-guardrails server`` on the offline example configs (scripted models) and the
shipped eval config ``outputs``, opens ``/ui`` in headless Chromium (the same driver as the
console's browser tests), runs a prompt that is blocked mid-stream, and writes
``docs/images/console.png``; then runs the shipped ``outputs`` dataset on the Eval page and
writes ``docs/images/eval-report.png``.

    python scripts/screenshots.py        # or: make screenshots
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the browser helpers live with the tests that use them

from tests.unit_tests.server.console import browser  # noqa: E402

IMAGES = REPO / "docs" / "images"
PROMPT = "How do I log in to the admin account?"


def main() -> int:
    why = browser.missing()
    if why is not None:
        print(f"cannot take screenshots: {why}", file=sys.stderr)
        return 1
    from selenium.webdriver import ActionChains
    from selenium.webdriver.support.ui import Select, WebDriverWait

    folder = Path(tempfile.mkdtemp(prefix="console-shots-"))
    try:
        for name in ("streaming", "stream_first"):
            shutil.copytree(REPO / "examples" / "configs" / name, folder / name)
        data = REPO / "langchain_guardrails" / "eval" / "data" / "configs" / "outputs"
        shutil.copytree(data, folder / "outputs")
        IMAGES.mkdir(parents=True, exist_ok=True)
        with browser.served(folder) as base, browser.driver(1400, 900) as chrome:
            query = urlencode({"config": "streaming", "prompt": PROMPT})
            chrome.get(f"{base}/ui?{query}")
            WebDriverWait(chrome, 30).until(
                lambda d: (
                    d.find_element("css selector", "body").get_attribute("data-state") == "done"
                )
            )
            blocked = chrome.find_element("css selector", '[data-verdict="blocked"]')
            ActionChains(chrome).move_to_element(blocked).perform()
            chrome.save_screenshot(str(IMAGES / "console.png"))
            print(f"wrote {IMAGES / 'console.png'}")

            chrome.set_window_size(1400, 1300)
            chrome.find_element("css selector", '[data-testid="tab-eval"]').click()
            WebDriverWait(chrome, 10).until(
                lambda d: len(Select(d.find_element("id", "eval-dataset")).options) > 0
            )
            Select(chrome.find_element("id", "eval-config")).select_by_value("outputs")
            Select(chrome.find_element("id", "eval-dataset")).select_by_value("outputs")
            chrome.find_element("css selector", '[data-testid="eval-run"]').click()
            WebDriverWait(chrome, 120).until(
                lambda d: " examples of " in d.find_element("id", "eval-status").text
            )
            chrome.save_screenshot(str(IMAGES / "eval-report.png"))
            print(f"wrote {IMAGES / 'eval-report.png'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
