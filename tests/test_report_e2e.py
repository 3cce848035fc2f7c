"""End to end: ``kit report 2025Q4`` on the sample, as a user runs it, then the pages in headless Chromium.

The report is built once per module (a subprocess, like the command line) into a temporary folder;
the browser test opens that folder's index and one report with every non-file request blocked.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kit import config
from kit.format import money
from kit.report.runner import discover
from tests.test_overview import reference_kpis, sample_table
from tests.test_report import external_references

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = config.ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def quarter_report(tmp_path_factory):
    if not (config.SAMPLE_DIR / "orders.parquet").exists():
        pytest.fail(f"the sample data is missing in {config.SAMPLE_DIR}: run `make sample` (kit synth) first")
    out = tmp_path_factory.mktemp("e2e")
    result = subprocess.run([sys.executable, "-m", "kit", "report", "2025Q4", "--out", str(out), "--no-progress"],
                            cwd=config.ROOT, capture_output=True, text=True, timeout=900)
    return result, out / "2025Q4"


def test_kit_report_builds_every_page(quarter_report):
    result, folder = quarter_report
    assert result.returncode == 0, result.stdout + result.stderr
    notebooks = discover()
    assert notebooks, "no notebooks in notebooks/"
    index = (folder / "index.html").read_text()
    assert f"All {len(notebooks)} reports built." in index
    for notebook in notebooks:
        page = folder / f"{notebook.stem}.html"
        assert page.is_file() and (folder / f"{notebook.stem}.ipynb").is_file(), notebook.stem
        assert f'href="{notebook.stem}.html"' in index
        assert f'data-notebook="{notebook.stem}" data-status="ok"' in index
        html = page.read_text()
        assert external_references(html) == [], notebook.stem
        assert "hl-ipython3" not in html and "celltag_injected-parameters" not in html, notebook.stem
    assert f"2025Q4: {len(notebooks)}/{len(notebooks)} reports ok" in result.stdout


def test_index_tiles_show_the_sample_kpis(quarter_report):
    _, folder = quarter_report
    raw = {"orders": sample_table("orders", ["user_id", "paid_at", "gmv", "status"]),
           "sessions": sample_table("sessions", ["user_id", "started_at"])}
    import kit

    expected = reference_kpis(raw, "2025Q4", basis=kit.params.load("2025Q4").gmv_basis)
    index = (folder / "index.html").read_text()
    assert index.count('class="kit-tile"') == 9  # 8 KPIs and the 30-day repurchase
    assert f">{money(expected['gmv'])}</div>" in index
    assert f">{expected['buyers']:,}</div>" in index
    assert not math.isnan(expected["repurchase_rate"]) and f">{expected['repurchase_rate']:.1%}</div>" in index


# --------------------------------------------------------------------------------------------
# Browser

def _chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} not found: install Debian's chromium and chromium-driver (.ci/run does)"
    if os.environ.get("KIT_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


class Guard:
    """Blocks and records every request that is not file://; records failed requests and console errors."""

    def __init__(self, context):
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def watch(self, page):
        page.on("requestfailed", lambda request: self.failed.append(request.url))
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


@pytest.mark.browser
def test_index_and_a_report_render_offline_in_chromium(quarter_report, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = _chromium_or_skip()
    _, folder = quarter_report
    ARTIFACTS.mkdir(exist_ok=True)
    decoy = tmp_path / "decoy.html"
    decoy.write_text('<!DOCTYPE html><html><body><img src="https://cdn.example.invalid/x.png"></body></html>')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # the guard works: a page with an external image is caught
            control = Guard(context)
            control.watch(context.new_page()).goto(decoy.as_uri(), wait_until="load")
            assert control.blocked == ["https://cdn.example.invalid/x.png"]
            context.close()

            context = browser.new_context(viewport={"width": 1280, "height": 900})
            guard = Guard(context)
            page = guard.watch(context.new_page())
            page.goto((folder / "index.html").as_uri(), wait_until="load")
            tiles = page.locator(".kit-tile")
            assert tiles.count() == 9
            for i in range(tiles.count()):
                assert tiles.nth(i).is_visible()
                assert tiles.nth(i).locator(".kit-tile-value").inner_text().strip() not in ("", "–")
            assert page.locator("tr.kit-entry").count() == len(discover())
            page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)

            page.click("a[href='00_quarter_overview.html']")
            page.wait_for_load_state("load")
            assert page.url.endswith("/00_quarter_overview.html")
            assert page.locator(".kit-tile").first.is_visible()
            assert page.get_by_text("Headline findings").first.is_visible()
            images_ok = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            assert images_ok and page.evaluate("document.images.length") >= 2
            page.screenshot(path=str(ARTIFACTS / "00_quarter_overview.png"), full_page=True)
            context.close()
        finally:
            browser.close()
    assert guard.blocked == [] and guard.failed == [] and guard.errors == []
