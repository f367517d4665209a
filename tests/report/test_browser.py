"""The report in a real headless browser: Debian's Chromium driven by Playwright.

Never downloads a browser (no ``playwright install``): where ``/usr/bin/chromium`` is absent
(``scripts/test.sh`` installs it with apt where it can) these tests skip, saying why.
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from m002.report import render_report
from tests.report.conftest import (
    CHART_IDS,
    TUNING_CHART_IDS,
    TUNING_RUNNING_BEST,
    embedded_data,
    write_fake_tuning,
)

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"browser test: {CHROMIUM} is absent (Debian: apt-get install chromium; "
        "scripts/test.sh does it where it runs as root)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test: playwright is absent")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

# Decodes a PNG with the browser's own decoder and summarises its pixels.
PIXEL_STATS = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const px = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const colours = new Set();
  let inked = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i] < 240 || px[i + 1] < 240 || px[i + 2] < 240) inked++;
    colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
  }
  return { width: bitmap.width, height: bitmap.height, inked: inked / (px.length / 4),
           colours: colours.size };
}"""


@dataclass
class Loaded:
    """A report page loaded in the browser, with what went wrong on the way."""

    page: Any
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def loaded(browser: Any, report_file: Path) -> Iterator[Loaded]:
    yield from load(browser, report_file)


@pytest.fixture(scope="module")
def pareto_report_file(tuned_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tuned run whose study had two objectives: every tuning chart, the front included."""
    run = Path(shutil.copytree(tuned_run_dir, tmp_path_factory.mktemp("pareto") / "run"))
    write_fake_tuning(run, pareto=True)
    return render_report(run, run / "report.html")


@pytest.fixture
def loaded_tuned(browser: Any, pareto_report_file: Path) -> Iterator[Loaded]:
    yield from load(browser, pareto_report_file)


def load(browser: Any, report_file: Path) -> Iterator[Loaded]:
    """Open ``report_file``, wait until every chart is drawn, yield it, close it."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    state = Loaded(page)
    page.on("pageerror", lambda error: state.errors.append(str(error)))
    page.on(
        "console",
        lambda message: message.type == "error" and state.console_errors.append(message.text),
    )
    page.on("request", lambda request: state.requests.append(request.url))
    page.goto(report_file.resolve().as_uri())
    deadline = time.monotonic() + 15
    while True:  # in short waits, so that a script error fails at once, not after 15 s
        if state.errors:
            pytest.fail(f"the page raised: {state.errors}")
        try:
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=250)
            break
        except sync_api.TimeoutError:
            if time.monotonic() > deadline:
                pytest.fail("the charts never finished drawing (no page error either)")
    yield state
    page.close()


def trace0(page: Any) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate(
        "() => { const t = document.getElementById('ticker-chart').data[0];"
        " return { name: t.name, type: t.type, x: t.x, close: t.close }; }"
    )
    return data


def pixel_stats(page: Any, png: bytes) -> dict[str, float]:
    stats: dict[str, float] = page.evaluate(PIXEL_STATS, base64.b64encode(png).decode())
    return stats


def test_loads_from_file_without_errors_or_network(loaded: Loaded) -> None:
    assert loaded.errors == []
    assert loaded.console_errors == []
    remote = [url for url in loaded.requests if not url.startswith(LOCAL_SCHEMES)]
    assert remote == []


def test_every_chart_is_drawn(loaded: Loaded) -> None:
    for chart in CHART_IDS:
        assert loaded.page.locator(f"#{chart} .main-svg").count() > 0, f"#{chart} is empty"
    n_traces = loaded.page.evaluate("document.getElementById('ticker-chart').data.length")
    assert n_traces == 1 + 2 + 5 + 1 + 7  # candles, LONG/SHORT, states, position, flags


def test_explorer_screenshot_is_not_blank(loaded: Loaded) -> None:
    png = loaded.page.locator("#ticker-chart").screenshot()
    stats = pixel_stats(loaded.page, png)
    assert stats["width"] > 600
    assert stats["height"] > 600
    assert stats["inked"] > 0.05, stats
    assert stats["colours"] > 50, stats


def test_selecting_a_ticker_redraws_the_explorer(loaded: Loaded, report_file: Path) -> None:
    page = loaded.page
    before = trace0(page)
    assert before["type"] == "candlestick"
    assert before["name"] == "T000"
    png_before = page.locator("#ticker-chart").screenshot()

    page.select_option("#ticker-select", "T002")
    page.wait_for_function("document.getElementById('ticker-chart').data[0].name === 'T002'")
    after = trace0(page)
    expected = embedded_data(report_file.read_text(encoding="utf-8"))["explorer"]["series"]["T002"]
    assert after["close"] == expected["c"]
    assert after["close"] != before["close"]
    assert page.locator("#ticker-chart").screenshot() != png_before
    assert loaded.errors == []


def test_selecting_a_feature_redraws_its_boxes(loaded: Loaded) -> None:
    page = loaded.page
    title = "document.getElementById('feature-chart').layout.title.text"
    assert page.evaluate(title) == "atr_smooth"
    # atr_smooth has no LateDown stats: four boxes, the fifth state labelled "no rows"
    assert page.evaluate("document.getElementById('feature-chart').data.length") == 4
    page.select_option("#feature-select", "vol_ratio_20")
    page.wait_for_function(f"{title} === 'vol_ratio_20'")
    assert page.evaluate("document.getElementById('feature-chart').data.length") == 5
    assert loaded.errors == []


def test_the_equity_chart_switches_to_a_log_axis(loaded: Loaded) -> None:
    page = loaded.page
    axis = "document.getElementById('equity-chart').layout.yaxis.type"
    assert page.evaluate(axis) == "linear"
    page.locator("#equity-chart .updatemenu-button").filter(has_text="log").click()
    page.wait_for_function(f"{axis} === 'log'")
    assert loaded.errors == []


def test_reliability_has_one_diagram_per_outcome(loaded: Loaded) -> None:
    page = loaded.page
    traces = page.evaluate(
        "document.getElementById('reliability-chart').data.map((t) => [t.name, t.xaxis])"
    )
    named = [(name, axis) for name, axis in traces if name]
    assert [name for name, _ in named] == [
        "Peak", "Accumulation", "EarlyUp", "LateDown", "Distribution", "none",
    ]  # fmt: skip
    assert len({axis for _, axis in named}) == 6  # each in its own panel
    assert len(traces) == 12  # and a diagonal in each
    png = page.locator("#reliability-chart").screenshot()
    assert pixel_stats(page, png)["inked"] > 0.02


def test_a_run_without_tuning_draws_no_tuning_chart(loaded: Loaded) -> None:
    assert loaded.page.locator("#tuning").count() == 0
    script = "JSON.parse(document.getElementById('m002-data').textContent).tuning"
    assert loaded.page.evaluate(script) is None


def test_every_tuning_chart_is_drawn(loaded_tuned: Loaded) -> None:
    page = loaded_tuned.page
    assert loaded_tuned.errors == []
    assert loaded_tuned.console_errors == []
    for chart in (*TUNING_CHART_IDS, "tuning-pareto-chart", *CHART_IDS):
        assert page.locator(f"#{chart} .main-svg").count() > 0, f"#{chart} is empty"
        assert page.locator(f"#{chart} p.na").count() == 0, f"#{chart} failed to draw"
    history = page.evaluate(
        "document.getElementById('tuning-history-chart').data.map((t) => [t.mode, t.y])"
    )
    assert history[1] == ["lines", list(TUNING_RUNNING_BEST)]
    parallel = page.evaluate(
        "document.getElementById('tuning-parallel-chart').data[0].dimensions.map((d) => d.label)"
    )
    assert parallel == ["sizing", "long_only", "risk_aversion", "cooldown_days", "sharpe"]
    front = page.evaluate("document.getElementById('tuning-pareto-chart').data[1].x")
    assert front == [0.0, 3.0, 8.0, 9.5]
    png = page.locator("#tuning-parallel-chart").screenshot()
    assert pixel_stats(page, png)["inked"] > 0.02
