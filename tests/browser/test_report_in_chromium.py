"""The HTML report in a real browser: Debian's chromium driven by Playwright (it cannot download its own here).

Skips with the reason when chromium or Playwright is absent; CI (`.ci/run`, which installs chromium with apt)
requires it. The chromium binary: $DERAIN_BENCH_CHROMIUM, else `chromium` on PATH.
"""

import os
import shutil
from pathlib import Path

import pytest
from anchors import missing_anchor
from PIL import Image
from report_runs import toy_run

from bench.report import write_report

WIDTH = 1280


def _chromium() -> str:
    found = os.environ.get("DERAIN_BENCH_CHROMIUM") or shutil.which("chromium")
    if not found:
        missing_anchor("chromium is not installed (apt-get install chromium) and DERAIN_BENCH_CHROMIUM is unset")
    return found


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    out = folder / "report.html"
    write_report([toy_run(folder / "run")], out)
    return out


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_anchor("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def opened(browser, report_file):
    """The report in a 1280 px wide page, with every console error and every request the page made."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    errors, requests = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_file.as_uri())
    page.wait_for_load_state("load")
    yield page, errors, requests
    page.close()


def test_no_console_error_and_no_request_leaves_the_page(opened, report_file):
    page, errors, requests = opened
    assert errors == []
    assert all(url == report_file.as_uri() or url.startswith("data:") for url in requests), requests
    assert page.evaluate("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def _first_column(page, table) -> list[str]:
    return table.locator("tbody tr td:first-child").all_inner_texts()


def test_clicking_a_header_sorts_the_rows(opened):
    page, _, _ = opened
    table = page.locator("table.sortable").first
    psnr = table.locator("thead th", has_text="PSNR")

    def values() -> list[float]:
        cells = table.locator("tbody tr td:nth-child(3)")
        return [float(v) for v in cells.evaluate_all("cells => cells.map(c => c.dataset.value)")]

    psnr.click()
    ascending = values()
    assert ascending == sorted(ascending)
    psnr.click()
    assert values() == sorted(ascending, reverse=True)
    assert len(set(_first_column(page, table))) == len(ascending)


def test_the_swipe_slider_moves_the_boundary(opened):
    page, _, _ = opened
    swipe = page.locator(".swipe").first
    assert swipe.is_visible()
    over = swipe.locator("img.top")
    assert over.evaluate("i => i.naturalWidth") > 0
    assert "50%" in over.evaluate("i => i.style.clipPath")
    page.locator(".swipe-box input[type=range]").first.fill("20")
    assert over.evaluate("i => i.style.clipPath") == "inset(0px 80% 0px 0px)"


def test_the_swipe_is_as_wide_as_a_row_of_tiles_and_insets_are_whole_multiples(opened):
    page, _, _ = opened
    tiles = page.locator(".tiles").first.locator(".tile")
    boxes = [tiles.nth(k).bounding_box() for k in range(tiles.count())]
    first_row = [box for box in boxes if box["y"] == boxes[0]["y"]]
    row_width = first_row[-1]["x"] + first_row[-1]["width"] - first_row[0]["x"]
    assert page.locator(".swipe").first.bounding_box()["width"] >= row_width
    insets = page.locator("img.inset")
    for k in range(insets.count()):
        shown, natural = insets.nth(k).evaluate("i => [i.getBoundingClientRect().width, i.naturalWidth]")
        assert shown == natural * 16  # the toy run's 16-pixel squares, 16 times over


def test_a_screenshot_at_1280_px(opened, tmp_path):
    page, _, _ = opened
    path = tmp_path / "report.png"
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as shot:
        assert shot.width == WIDTH, "nothing overflows the page width"
        assert shot.height > 2000


def test_readable_without_javascript(browser, report_file):
    context = browser.new_context(java_script_enabled=False, viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    page.goto(report_file.as_uri())
    assert page.locator("table.sortable").count() == 2  # leaderboard and paired comparison (one protocol)
    assert page.locator(".tile").count() == 12
    assert page.locator(".swipe-nojs").first.is_visible() and not page.locator(".swipe-box").first.is_visible()
    context.close()
