"""End to end in a real browser: Playwright drives Debian's headless Chromium through every tab of
the app on the shipped emoji64 zoo — upload, run, wait for an output image — and saves a
screenshot per tab (SCREENSHOTS=<folder> keeps them, e.g. for the README; default: a temp dir).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import app
from ui.examples import EXAMPLES

CHROMIUM = Path("/usr/bin/chromium")
STEP_TIMEOUT_MS = 240_000



@pytest.fixture(scope="module")
def page(free_port):
    from playwright import sync_api

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    demo = app.build_demo()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=app.MAX_FILE_SIZE, show_error=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
        page.get_by_role("tab", name="Generate").wait_for(timeout=60_000)
        yield page
        browser.close()
    demo.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _upload(page, elem: str, file: Path) -> None:
    page.locator(f"#{elem} input[type=file]").set_input_files(str(file))
    page.locator(f"#{elem} img").first.wait_for(timeout=STEP_TIMEOUT_MS)


def _set_slider(page, elem: str, value: int) -> None:
    box = page.locator(f"#{elem} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _wait_images(page, elem: str, count: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#{elem} img').length >= {count}", timeout=STEP_TIMEOUT_MS)


@pytest.mark.slow
def test_every_tab_in_a_browser(page, shots):
    google = EXAMPLES / "google_1f929.png"
    reference = EXAMPLES / "twitter_1f600_reference.png"

    _open_tab(page, "Generate")
    page.locator("#generate-run").click()
    _wait_images(page, "generate-gallery", 2)
    page.screenshot(path=str(shots / "generate.png"), full_page=True)

    _open_tab(page, "Inversion")
    _upload(page, "inversion-image", google)
    page.locator("#inversion-run").click()
    _wait_images(page, "inversion-gallery", 2)
    page.screenshot(path=str(shots / "inversion.png"), full_page=True)

    _open_tab(page, "Editing")
    _upload(page, "editing-image", google)
    page.locator("#editing-run").click()
    _wait_images(page, "editing-gallery", 2)
    page.screenshot(path=str(shots / "editing.png"), full_page=True)

    _open_tab(page, "Text-driven adaptation")
    _set_slider(page, "text-iterations", 20)
    page.locator("#text-run").click()
    _wait_images(page, "text-gallery", 8)
    page.screenshot(path=str(shots / "text_adaptation.png"), full_page=True)

    _open_tab(page, "One-shot adaptation")
    _upload(page, "oneshot-image", reference)
    _set_slider(page, "oneshot-iterations", 20)
    page.locator("#oneshot-run").click()
    _wait_images(page, "oneshot-gallery", 8)
    page.screenshot(path=str(shots / "oneshot_adaptation.png"), full_page=True)

    _open_tab(page, "Kernel spectrum")
    page.locator("#spectrum-run").click()
    page.locator("#spectrum-plot img").first.wait_for(timeout=STEP_TIMEOUT_MS)
    page.screenshot(path=str(shots / "kernel_spectrum.png"), full_page=True)

    _open_tab(page, "Zoo")
    page.locator("#zoo-refresh").click()
    page.locator("#zoo-table").get_by_text("generator", exact=True).first.wait_for(timeout=STEP_TIMEOUT_MS)
    page.screenshot(path=str(shots / "zoo.png"), full_page=True)

    assert sorted(p.name for p in shots.glob("*.png")) == sorted(
        ["generate.png", "inversion.png", "editing.png", "text_adaptation.png", "oneshot_adaptation.png",
         "kernel_spectrum.png", "zoo.png"])
