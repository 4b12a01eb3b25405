"""The built book in a real browser: headless Chromium, offline, every page.

Runs after the book is built (``make test`` calls it last, with ``-o addopts=``):
it serves ``_build/html`` on 127.0.0.1 and refuses every other host inside the
browser, so a page that still needs a CDN fails here. For every page of the
table of contents: no JavaScript error (beyond an exact-text allow-list), every
image decoded, at least as many images as its executed notebook has image
outputs, mathematics typeset by the shipped MathJax. Every page also at phone width (no
sideways scrolling; screenshots ``*_phone.png``). Every page: no Markdown table left
as text, no library log in an output, a ``<table>`` wherever the notebook displays a table,
and every widget control (slider, toggle button) changes the picture it belongs to: the
static book shows no control that moves while the picture stays put.
Screenshots of every page go to ``_build/screenshots/`` for review.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
STAGE = ROOT / "_build" / "stage"
SCREENSHOTS = ROOT / "_build" / "screenshots"

#: Console messages that every Jupyter Book 1 page prints, by exact text (after the
#: server's address and a script's line:column are removed, see _normalise).
ALLOWED_CONSOLE = frozenset(
    {
        # pydata-sphinx-theme before a reader has chosen light or dark mode.
        '"Got invalid theme mode: . Resetting to auto."',
        # Jupyter Book 1 sets no favicon; the browser asks for one anyway.
        "/favicon.ico - Failed to load resource: the server responded with a status of 404 "
        "(File not found)",
    }
)


#: A widget view that the page renders from the saved widget state.
_VIEW = "script[type='application/vnd.jupyter.widget-view+json']"


def _normalise(message: str, server: str) -> str:
    """A console message without the server's address and a script's line:column."""
    message = message.replace(server, "")
    match = re.match(r"^(\S+) (\d+:\d+) (.*)$", message, flags=re.S)
    return match.group(3) if match else message


def _pages() -> list[str]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [entry["file"] for entry in toc["chapters"]]
    return [f"{name}.html" for name in files]


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} has no built book: run `make book` (make test builds it first)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail("Debian's chromium and chromium-driver are needed (make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        # Offline: every host but the local server is unresolvable.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _stage_outputs(page: str) -> list[dict]:
    notebook = STAGE / page.replace(".html", ".ipynb")
    if not notebook.is_file():
        return []
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [output for cell in cells for output in cell.get("outputs", [])]


def _image_outputs(page: str) -> int:
    return sum("image/png" in output.get("data", {}) for output in _stage_outputs(page))


def _wait(driver, script: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            return True
        time.sleep(0.25)
    return False


@pytest.mark.parametrize("page", _pages())
def test_page_renders_offline(server, browser, page):
    browser.get(f"{server}/{page}")
    assert _wait(browser, "return document.readyState === 'complete'"), f"{page} never loaded"
    has_math = browser.execute_script("return document.querySelectorAll('.math').length > 0")
    if has_math:
        assert _wait(browser, "return document.querySelectorAll('mjx-container').length > 0"), (
            f"{page}: mathematics was not typeset (MathJax must load from ./offline)"
        )
    # A widget view in the page (live explorers are shown as pictures, so a page may
    # carry widget state without any view).
    if browser.execute_script(f"return document.querySelector({json.dumps(_VIEW)}) !== null"):
        assert _wait(browser, "return document.querySelectorAll('.jupyter-widgets').length > 0"), (
            f"{page}: widgets were not rendered from their saved state"
        )
    assert _wait(
        browser,
        "return Array.from(document.images).every(i => i.complete)",
    ), f"{page}: images still loading"
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => i.naturalWidth === 0)"
        ".map(i => i.getAttribute('src').slice(0, 80))"
    )
    assert broken == [], f"{page}: images that did not load: {broken}"
    n_images = browser.execute_script("return document.images.length")
    expected = _image_outputs(page)
    assert n_images >= expected, f"{page}: {n_images} images, the notebook has {expected}"
    errors = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE"
        and _normalise(entry["message"], server) not in ALLOWED_CONSOLE
    ]
    assert errors == [], f"{page}: JavaScript errors: {errors}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / page.replace("/", "_").replace(".html", ".png")))


# --------------------------------------------------------------------------------------
# What a reader sees in the outputs: tables, no library log, controls that do something
# --------------------------------------------------------------------------------------

#: Lines of a library's log that must never reach a reader's output.
_LOG_NOISE = re.compile(r"absl|oneDNN|^\s*WARNING:", flags=re.M)

#: A Markdown pipe-table delimiter row, e.g. ``|---|:--:|``.
_TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", flags=re.M)


def _has_table_output(page: str) -> bool:
    """True when the executed notebook displays a table (Markdown pipe table or HTML)."""
    for output in _stage_outputs(page):
        data = output.get("data", {})
        markdown = "".join(data.get("text/markdown", ""))
        html = "".join(data.get("text/html", ""))
        if _TABLE_DELIMITER.search(markdown) or "<table" in html:
            return True
    return False


@pytest.mark.parametrize("page", _pages())
def test_outputs_read_cleanly(server, browser, page):
    browser.get(f"{server}/{page}")
    assert _wait(browser, "return document.readyState === 'complete'"), f"{page} never loaded"
    text = browser.execute_script("return document.querySelector('main').innerText")
    raw = [line for line in text.splitlines() if _TABLE_DELIMITER.search(line)]
    assert raw == [], f"{page}: a Markdown table printed as text: {raw[:2]}"
    outputs = browser.execute_script(
        "return Array.from(document.querySelectorAll('.cell_output, .output'))"
        ".map(e => e.innerText).join('\\n')"
    )
    noise = [line for line in outputs.splitlines() if _LOG_NOISE.search(line)]
    assert noise == [], f"{page}: library log lines in an output: {noise[:3]}"
    if _has_table_output(page):
        n_tables = browser.execute_script("return document.querySelectorAll('main table').length")
        assert n_tables > 0, f"{page}: its notebook displays a table but the page has no <table>"


@pytest.mark.parametrize("page", _pages())
def test_page_fits_a_phone(server, browser, page):
    """At phone width (390 px) no page scrolls sideways; a screenshot for review."""
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{server}/{page}")
        assert _wait(browser, "return document.readyState === 'complete'"), f"{page} never loaded"
        time.sleep(0.5)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = page.replace("/", "_").replace(".html", "_phone.png")
        browser.save_screenshot(str(SCREENSHOTS / name))
        assert overflow <= 2, f"{page} scrolls sideways on a phone by {overflow} px"
    finally:
        browser.set_window_size(1280, 1000)


_VISIBLE_PICTURES = (
    "return Array.from(document.querySelectorAll('.jupyter-widgets img'))"
    ".filter(i => i.offsetParent !== null && i.naturalWidth > 0)"
    ".map(i => i.src.length + ':' + i.src.slice(-64)).join('|');"
)


def _controls(browser):
    from selenium.webdriver.common.by import By

    handles = browser.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")
    toggles = browser.find_elements(By.CSS_SELECTOR, ".widget-toggle-button")
    return handles, toggles


@pytest.mark.parametrize("page", _pages())
def test_every_control_changes_the_picture(server, browser, page):
    """No control in the static book moves while the picture stays put."""
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{server}/{page}")
    assert _wait(browser, "return document.readyState === 'complete'"), f"{page} never loaded"
    if not browser.execute_script(f"return document.querySelector({json.dumps(_VIEW)}) !== null"):
        return
    _wait(browser, "return document.querySelectorAll('.jupyter-widgets').length > 0")
    time.sleep(1.0)
    handles, toggles = _controls(browser)
    changed = "return (function(){%s})() !== %s"
    for number, handle in enumerate(handles):
        before = browser.execute_script(_VISIBLE_PICTURES)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
        handle.send_keys(Keys.ARROW_RIGHT)
        if not _wait(browser, changed % (_VISIBLE_PICTURES, json.dumps(before)), timeout=5):
            handle.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
            assert _wait(browser, changed % (_VISIBLE_PICTURES, json.dumps(before)), timeout=5), (
                f"{page}: slider {number + 1} of {len(handles)} moves but the picture stays put"
            )
    for number, toggle in enumerate(toggles):
        if "mod-active" in (toggle.get_attribute("class") or ""):
            continue
        before = browser.execute_script(_VISIBLE_PICTURES)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", toggle)
        toggle.click()
        assert _wait(browser, changed % (_VISIBLE_PICTURES, json.dumps(before)), timeout=5), (
            f"{page}: button {toggle.text!r} ({number + 1} of {len(toggles)}) changes nothing"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if handles or toggles:
        name = page.replace("/", "_").replace(".html", "_moved.png")
        browser.save_screenshot(str(SCREENSHOTS / name))
