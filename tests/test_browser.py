"""End to end in a real browser: Playwright drives Debian's headless Chromium through every tab of
the app on the shipped emoji64 zoo — each tab's default run, as a visitor's first click makes it,
within its time limit and with non-blank images; Stop ending a long run; captions and tables whole
at 1400 and 800 px — and saves a screenshot per tab (SCREENSHOTS=<folder> keeps them, e.g. for the
README; default: a temp dir).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import app
from ui.examples import EXAMPLES
from ui.jobs import job_threads

CHROMIUM = Path("/usr/bin/chromium")
FAST_MS = 20_000  # a default run's limit
# an adaptation's 60-s limit is asserted through gradio_client (tests/test_app_emoji64.py); the browser
# waits up to three times that for its images, so a loaded machine's rendering does not fail the UI checks
ADAPT_WAIT_MS = 180_000
STOP_S = 2.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser_app():
    from playwright import sync_api

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with app.served() as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser, url
        browser.close()


@pytest.fixture(scope="module")
def page(browser_app):
    browser, url = browser_app
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="Generate").wait_for(timeout=60_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.is_visible():
        tab.click()
    else:  # narrow: the tabs that do not fit are listed behind "More tabs"
        page.get_by_label("More tabs").click()
        page.locator(".overflow-dropdown button", has_text=name).click()


def _upload(page, elem: str, file: Path) -> None:
    page.locator(f"#{elem} input[type=file]").set_input_files(str(file))
    page.locator(f"#{elem} img").first.wait_for(timeout=FAST_MS)


def _set_slider(page, elem: str, value: int) -> None:
    box = page.locator(f"#{elem} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _run(page, button: str, gallery: str, count: int, limit_ms: int) -> float:
    """Click, wait for `count` non-blank images in the gallery; the seconds it took."""
    start = time.perf_counter()
    page.locator(f"#{button}").click()
    page.wait_for_function(
        f"""() => {{
            const imgs = [...document.querySelectorAll('#{gallery} img')];
            return imgs.length >= {count} && imgs.every(i => i.complete && i.naturalWidth > 0);
        }}""", timeout=limit_ms)
    return time.perf_counter() - start


def _nothing_cut(page) -> list[str]:
    """Visible gallery captions and tables that are cut: wider than their box, or past the window's edge."""
    return page.evaluate("""() => [...document.querySelectorAll('.caption-label, table')]
        .filter(e => e.offsetParent !== null)
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 || e.scrollWidth > e.clientWidth + 1)
        .map(e => e.tagName + ': ' + e.textContent.slice(0, 60))""")


def _deep_link_reopens(page, browser, tab: str, gallery: str, table_text: str) -> None:
    """The tab's "Share via Link" copies a link that, opened in a fresh browser context, shows the
    same comparison (the gallery's images and the table's first row)."""
    page.locator("button", has_text="Share via Link").locator("visible=true").first.click()
    start, link = time.perf_counter(), ""
    while "deep_link=" not in link:
        assert time.perf_counter() - start < FAST_MS / 1000, "no link copied"
        page.wait_for_timeout(100)
        link = page.evaluate("() => navigator.clipboard.readText()")
    count = page.locator(f"#{gallery} img").count()
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = fresh.new_page()
    other.goto(link, wait_until="load")
    other.get_by_role("tab", name="Generate").wait_for(timeout=60_000)
    _open_tab(other, tab)
    other.wait_for_function(f"document.querySelectorAll('#{gallery} img').length >= {count}", timeout=FAST_MS)
    other.get_by_text(table_text, exact=True).first.wait_for(timeout=FAST_MS)
    fresh.close()


def test_every_tab_in_a_browser(browser_app, page, shots):
    google = EXAMPLES / "google_1f929.png"
    reference = EXAMPLES / "twitter_1f600_reference.png"
    page.get_by_text("Active zoo:").first.wait_for()
    seconds = {}

    _open_tab(page, "Generate")
    seconds["generate"] = _run(page, "generate-run", "generate-gallery", 8, FAST_MS)
    page.screenshot(path=str(shots / "generate.png"), full_page=True)

    _open_tab(page, "Inversion")
    _upload(page, "inversion-image", google)
    seconds["inversion"] = _run(page, "inversion-run", "inversion-gallery", 3, FAST_MS)  # input + e4e + GradStyle
    page.screenshot(path=str(shots / "inversion.png"), full_page=True)
    assert _nothing_cut(page) == []
    _deep_link_reopens(page, browser_app[0], "Inversion", "inversion-gallery", "GradStyle")

    _open_tab(page, "Editing")
    layers = page.get_by_text("GANSpace layers")
    assert not layers.is_visible()  # only for GANSpace
    page.get_by_label("GANSpace", exact=True).check()
    layers.wait_for(state="visible")
    page.get_by_label("InterFaceGAN", exact=True).check()
    layers.wait_for(state="hidden")
    _upload(page, "editing-image", google)
    seconds["editing"] = _run(page, "editing-run", "editing-sweep", 14, FAST_MS)  # two methods × 7 strengths
    captions = page.locator("#editing-sweep .caption-label").all_text_contents()
    assert captions[:2] == ["-3σ e4e", "-2σ e4e"]
    page.screenshot(path=str(shots / "editing.png"), full_page=True)
    assert _nothing_cut(page) == []

    _open_tab(page, "Text-driven adaptation")
    seconds["text adaptation"] = _run(page, "text-run", "text-gallery", 8, ADAPT_WAIT_MS)
    page.screenshot(path=str(shots / "text_adaptation.png"), full_page=True)

    _set_slider(page, "text-iterations", 1000)  # Stop: the run ends within a step, says where, writes nothing
    page.locator("#text-run").click()
    progress = ("() => [...document.querySelectorAll('body *')].filter(e => e.children.length === 0"
                " && e.offsetParent !== null && /iteration \\d+ of 1000.*left/.test(e.textContent))")
    page.wait_for_function(f"{progress}.length > 0", timeout=FAST_MS)
    texts = page.evaluate(f"{progress}.map(e => e.textContent)")
    assert len(texts) == 1, texts  # shown once, on the grid, with an estimate of the time left
    start = time.perf_counter()
    page.locator("#text-stop").click()
    while any(t.name == "job-adapt_text" for t in job_threads()):
        assert time.perf_counter() - start < STOP_S
        time.sleep(0.02)
    seconds["stop"] = time.perf_counter() - start
    page.get_by_text("Stopped after").wait_for(timeout=FAST_MS)

    _open_tab(page, "One-shot adaptation")
    _upload(page, "oneshot-image", reference)
    seconds["one-shot adaptation"] = _run(page, "oneshot-run", "oneshot-gallery", 8, ADAPT_WAIT_MS)
    page.screenshot(path=str(shots / "oneshot_adaptation.png"), full_page=True)

    _open_tab(page, "Kernel spectrum")
    page.locator("#spectrum-run").click()
    page.locator("#spectrum-plot img").first.wait_for(timeout=FAST_MS)
    page.screenshot(path=str(shots / "kernel_spectrum.png"), full_page=True)

    _open_tab(page, "Zoo")
    page.locator("#zoo-refresh").click()
    page.locator("#zoo-table").get_by_text("generator", exact=True).first.wait_for(timeout=FAST_MS)
    page.screenshot(path=str(shots / "zoo.png"), full_page=True)
    assert _nothing_cut(page) == []

    page.set_viewport_size({"width": 800, "height": 1000})
    for tab, results in (("Inversion", "inversion-gallery"), ("Editing", "editing-sweep"), ("Zoo", "zoo-table")):
        _open_tab(page, tab)
        page.locator(f"#{results}").wait_for(state="visible")
        assert _nothing_cut(page) == [], tab
    print("browser:", ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(
        ["generate.png", "inversion.png", "editing.png", "text_adaptation.png", "oneshot_adaptation.png",
         "kernel_spectrum.png", "zoo.png"])
