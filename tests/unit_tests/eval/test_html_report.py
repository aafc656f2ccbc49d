"""The eval HTML report: matrices, per-category rows, misclassified examples, the latency chart
on a log axis and the streaming chart, parsed back from the page."""

from __future__ import annotations

import re
from typing import Any

from langchain_guardrails.config.rails_config import RailsConfig
from langchain_guardrails.eval import evaluate, parse_lines
from langchain_guardrails.eval.html.scales import LogScale, shade, text_colour
from langchain_guardrails.eval.html_report import render_html
from langchain_guardrails.eval.metrics import Confusion
from langchain_guardrails.eval.runner import OVERALL
from tests.unit_tests.eval.html_dom import matrix, parse


def report(
    stage: str,
    rail: str,
    counts: tuple[int, int, int, int],
    *,
    latency: tuple[float, float, float, float] = (0.1, 0.2, 0.3, 0.4),
    categories: dict[str, dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A report as ``RailReport.as_dict`` gives it; ``counts`` is (tp, fp, tn, fn) and
    ``latency`` (min, p50, p95, max) in ms."""
    confusion = Confusion(*counts)
    low, p50, p95, high = latency
    return {
        "stage": stage,
        "rail": rail,
        "n": confusion.total,
        **confusion.as_dict(),
        "rail_errors": 0,
        "categories": categories or {},
        "latency": {
            "min_ms": low,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p95,
            "mean_ms": p50,
            "max_ms": high,
        },
        "tokens": {"total": 0, "per_check": 0.0},
        "errors": errors or [],
    }


def test_matrix_cells_show_counts_and_row_shares_with_readable_text() -> None:
    figures = {
        "reports": [
            report("input", "a", (3, 0, 4, 1)),
            report("input", "b", (0, 2, 2, 4)),
            report("input", OVERALL, (3, 2, 2, 1)),
        ],
        "skipped": {},
    }
    page = parse(render_html(figures))
    assert matrix(page, "input", "a") == {
        "tp": ("3", "75.0%", shade(0.75), "#ffffff"),
        "fn": ("1", "25.0%", shade(0.25), "#111111"),
        "fp": ("0", "0.0%", "#f7fbff", "#111111"),
        "tn": ("4", "100.0%", "#08306b", "#ffffff"),
    }
    assert matrix(page, "input", "b") == {
        "tp": ("0", "0.0%", "#f7fbff", "#111111"),
        "fn": ("4", "100.0%", "#08306b", "#ffffff"),
        "fp": ("2", "50.0%", shade(0.5), "#111111"),
        "tn": ("2", "50.0%", shade(0.5), "#111111"),
    }
    assert [c[0] for c in matrix(page, "input", OVERALL).values()] == ["3", "1", "2", "2"]
    # The stage total comes first, then each rail, under one heading per stage.
    section = page.one("section", class_="stage", data_stage="input")
    captions = [
        f.one(
            "figcaption",
        ).text()
        for f in section.all("figure")
    ]
    assert captions == ["input: all rails", "input / a", "input / b"]


def test_a_row_without_examples_shows_a_dash() -> None:
    page = parse(render_html({"reports": [report("input", "r", (0, 1, 1, 0))]}))
    assert matrix(page, "input", "r")["tp"] == ("0", "-", "#f7fbff", "#111111")


def test_a_stage_with_one_rail_has_one_matrix() -> None:
    figures = {
        "reports": [report("output", "r", (1, 0, 1, 0)), report("output", OVERALL, (1, 0, 1, 0))]
    }
    page = parse(render_html(figures))
    section = page.one("section", class_="stage", data_stage="output")
    assert [f.one("figcaption").text() for f in section.all("figure")] == [
        "output / r (the stage's only rail)"
    ]


def test_text_colour_flips_on_dark_shades() -> None:
    flips = [
        share for share in (i / 20 for i in range(21)) if text_colour(shade(share)) == "#ffffff"
    ]
    # White wins the WCAG contrast ratio from 65% of the ramp on.
    assert flips == [i / 20 for i in range(13, 21)]


def test_per_category_rows() -> None:
    categories = {
        "EMAIL_ADDRESS": {"n": 3, "recall": 2 / 3, "fpr": None},
        "hard negative: date": {"n": 4, "recall": None, "fpr": 0.25},
    }
    page = parse(
        render_html({"reports": [report("input", "r", (2, 1, 3, 1), categories=categories)]})
    )
    table = page.one("table", class_="categories", data_stage="input", data_rail="r")
    rows = [[td.text() for td in tr.all("td")] for tr in table.all("tr")[1:]]
    assert rows == [
        ["EMAIL_ADDRESS", "3", "0.667", "-"],
        ["hard negative: date", "4", "-", "0.250"],
    ]
    bar = table.one("tr", data_category="EMAIL_ADDRESS").one("span", class_="bar")
    assert bar.attrs["style"] == "width:66.7%"


CONFIG = """
rails:
  input:
    flows: [regex check input]
  config:
    regex_detection:
      input: {patterns: ["ignore previous"]}
"""
DATASET = [
    '{"input": "ignore previous rules", "label": "block", "category": "override"}',
    '{"input": "you may ignore the previous email", "label": "block", "category": "override"}',
    '{"input": "hello", "label": "allow", "id": "greet-1"}',
    '{"input": "please ignore previous <b>bold</b> ok", "label": "allow", "id": "x"}',
]


async def test_misclassified_examples_are_listed_and_correct_ones_are_not() -> None:
    result = await evaluate(RailsConfig.from_content(yaml_content=CONFIG), parse_lines(DATASET))
    page = parse(render_html(result.as_dict(show_errors=None)))
    details = page.one("details", class_="misclassified", data_rail="regex check input")
    assert details.one("summary").text() == (
        "input / regex check input: 2 misclassified (missed 1, false alarms 1)"
    )
    rows = [[td.text() for td in tr.all("td")] for tr in details.all("tr", class_="wrong")]
    assert rows == [
        ["2", "", "override", "block", "passed", "you may ignore the previous email"],
        ["4", "x", "", "allow", "blocked by regex check input",
         "please ignore previous <b>bold</b> ok"],
    ]  # fmt: skip
    # The stage's total repeats the single rail: one listing only.
    assert len(page.all("details")) == 1
    listed = details.text()
    assert "ignore previous rules" not in listed and "hello" not in listed


async def test_a_limited_listing_says_how_many_it_shows() -> None:
    result = await evaluate(RailsConfig.from_content(yaml_content=CONFIG), parse_lines(DATASET))
    page = parse(render_html(result.as_dict(show_errors=1)))
    details = page.one("details", class_="misclassified")
    assert details.one("summary").text() == (
        "input / regex check input: 1 of 2 misclassified (missed 1, false alarms 1)"
    )
    assert [tr.attrs["data-line"] for tr in details.all("tr", class_="wrong")] == ["2"]
    bare = parse(render_html(result.as_dict()))
    assert bare.one("details").one("p").text() == (
        "not listed: the figures were made without the examples"
    )


def test_latency_on_a_log_axis_with_p50_and_p95_marks() -> None:
    figures = {
        "reports": [
            report("input", "regex", (1, 0, 1, 0), latency=(0.03, 0.05, 0.2, 0.4)),
            report("input", "llm judge", (1, 0, 1, 0), latency=(100.0, 120.0, 190.0, 250.0)),
            report("input", OVERALL, (1, 0, 1, 0), latency=(100.0, 121.0, 191.0, 251.0)),
        ]
    }
    svg = parse(render_html(figures)).one(
        "svg", role="img", aria_label="latency per rail, log scale"
    )
    ticks = [(t.attrs["x"], t.text()) for t in svg.all("text", class_="tick")]
    # Decades 0.01 .. 1000 ms over 440 px from x=300: 88 px each.
    assert ticks == [
        ("300", "0.01 ms"), ("388", "0.1 ms"), ("476", "1 ms"), ("564", "10 ms"),
        ("652", "100 ms"), ("740", "1000 ms"),
    ]  # fmt: skip
    marks = {
        g.attrs["data-rail"]: [
            (line.attrs["class"], line.attrs["data-ms"], line.attrs["x1"])
            for line in g.all("line")
            if line.attrs["class"] in ("p50", "p95")
        ]
        for g in svg.all("g", class_="rail")
    }
    # x = 300 + 88 * (log10(ms) + 2): 0.05 -> 361.5, 0.2 -> 414.5, 120 -> 659, 190 -> 676.5
    assert marks == {
        "regex": [("p50", "0.05", "361.5"), ("p95", "0.20", "414.5")],
        "llm judge": [("p50", "120.00", "659"), ("p95", "190.00", "676.5")],
        OVERALL: [("p50", "121.00", "659.3"), ("p95", "191.00", "676.7")],
    }
    values = [t.text() for t in svg.all("text", class_="values")]
    assert values[0] == "p50 0.05 ms, p95 0.20 ms"
    regex_range = svg.one("g", data_rail="regex").one("line", class_="range")
    assert (regex_range.attrs["x1"], regex_range.attrs["x2"]) == ("342", "441")


def test_log_scale_edges() -> None:
    scale = LogScale.spanning([0.0, None, 5.0], x0=0.0, width=100.0)
    assert (scale.low, scale.high) == (0, 1)  # one decade at least; 0 and None ignored
    assert scale.x(0.0) == 0.0 and scale.x(10.0) == 100.0 and scale.x(500.0) == 100.0
    assert LogScale.spanning([], x0=5.0, width=10.0).ticks() == [(5.0, "1 ms"), (15.0, "10 ms")]


def stream_mode(stream_first: bool, rows: list[tuple[bool, bool, int]]) -> dict[str, Any]:
    """A mode of ``ReplayResult.as_dict`` from (whole blocked, stream blocked, leaked)."""
    leaks = [leak for _, streamed, leak in rows if streamed]
    return {
        "stream_first": stream_first,
        "unavailable": None,
        "n": len(rows),
        "agreement": sum(w == s for w, s, _ in rows) / len(rows) if rows else None,
        "stream_blocked": len(leaks),
        "whole_blocked": sum(w for w, _, _ in rows),
        "leak_mean_chars": sum(leaks) / len(leaks) if leaks else None,
        "leak_max_chars": max(leaks) if leaks else None,
        "examples": [
            {
                "line": i + 1,
                "label": "block",
                "whole_blocked": w,
                "stream_blocked": s,
                "agrees": w == s,
                "leaked_chars": leak,
            }
            for i, (w, s, leak) in enumerate(rows)
        ],
    }


def test_streaming_chart() -> None:
    stream = {
        "unit": "words",
        "skipped": None,
        "modes": [
            stream_mode(
                True, [(True, True, 40), (True, True, 20), (False, False, 0), (False, True, 60)]
            ),
            stream_mode(
                False, [(True, True, 0), (True, True, 0), (False, False, 0), (True, False, 0)]
            ),
        ],
    }
    page = parse(render_html({"reports": [], "stream": stream}))
    assert (
        page.one(
            "h2",
        ).text()
        == "Streaming replay"
    )
    svg = page.one("svg")
    modes = {g.attrs["data-mode"]: g for g in svg.all("g", class_="mode")}
    assert {k: g.attrs["data-agreement"] for k, g in modes.items()} == {
        "stream_first": "75.0%", "hold-back": "75.0%",
    }  # fmt: skip
    bars = {
        k: [(r.attrs["data-verdict"], r.attrs["data-count"], r.attrs["x"], r.attrs["width"])
            for r in g.all("rect", class_="verdict")]
        for k, g in modes.items()
    }  # fmt: skip
    # 440 px for 4 examples: 110 px each, from x=130.
    assert bars == {
        "stream_first": [("both_blocked", "2", "130", "220"), ("both_passed", "1", "350", "110"),
                         ("stream_only", "1", "460", "110")],
        "hold-back": [("both_blocked", "2", "130", "220"), ("both_passed", "1", "350", "110"),
                      ("whole_only", "1", "460", "110")],
    }  # fmt: skip
    # Each segment's count in the colour that reads best on it.
    labels = [
        (t.text(), t.attrs["fill"]) for t in modes["stream_first"].all("text") if "fill" in t.attrs
    ]
    assert labels == [("2", "#ffffff"), ("1", "#111111"), ("1", "#111111")]
    leaks = {
        k: [(r.attrs["data-leak"], r.attrs["data-chars"], r.attrs["width"])
            for r in g.all("rect", class_="leak")]
        for k, g in modes.items()
    }  # fmt: skip
    # One linear scale across modes: the longest leak (60 chars) fills 440 px.
    assert leaks == {
        "stream_first": [("mean", "40.0", "293.3"), ("max", "60", "440")],
        "hold-back": [("mean", "0.0", "0"), ("max", "0", "0")],
    }


def test_a_mode_that_cannot_run_is_not_drawn() -> None:
    unavailable = {**stream_mode(True, []), "n": 0, "agreement": None}
    unavailable["unavailable"] = "masking rails need hold-back"
    stream = {"unit": "words", "skipped": None, "modes": [
        unavailable, stream_mode(False, [(True, True, 0)])]}  # fmt: skip
    page = parse(render_html({"reports": [], "stream": stream}))
    assert [g.attrs["data-mode"] for g in page.all("g", class_="mode")] == ["hold-back"]
    assert "stream_first: not available with this config: masking rails need hold-back" in (
        page.one("pre").text()
    )


def test_the_page_is_self_contained() -> None:
    figures = {
        "reports": [report("input", "r", (1, 1, 1, 1))],
        "stream": {
            "unit": "words",
            "skipped": None,
            "modes": [stream_mode(True, [(True, True, 3)])],
        },
    }
    page = render_html(figures, title="a <title>")
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"\b(src|href)=", page)
    assert "url(" not in page and "@import" not in page
    # The only URL is the SVG namespace, which is a name, not a fetch.
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {"http://www.w3.org/2000/svg"}
    assert parse(page).one("head").one("title").text() == "a <title>"
