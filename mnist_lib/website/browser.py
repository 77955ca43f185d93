"""Open the report site in headless Chromium the way a reader would and check it.

From ``file://`` (no network) or through a local web server, every page is
checked for: no console errors; every image loaded; every link (the header's
series, previous/next, the index's) resolves; a title; on reports the current
report marked in the navigation, a table of contents, a code toggle that shows
its cell's code and a "show all code" switch that shows all; no horizontal
overflow in a 390 px window, with code folded and with all of it open. A second
pass with JavaScript disabled checks that every result still shows. Saves a
wide and a narrow screenshot of each page.

Uses Debian's ``chromium`` and ``chromium-driver`` through Selenium, pointed at
those executables (a browser download is not possible on these machines).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from mnist_lib.website.publish import links_in

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                  "--hide-scrollbars")
WIDE, NARROW = (1280, 900), (390, 844)

# Results a reader must see: every output of a code cell, every image. checkVisibility() is false
# inside a closed <details>, whose content keeps its layout boxes.
_RESULTS_JS = """
const shown = e => e.checkVisibility() && e.getBoundingClientRect().height > 0;
const outputs = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .filter(e => e.textContent.trim() || e.querySelector('img, svg'));
const results = outputs.concat(Array.from(document.images).filter(i => !i.closest('.jp-OutputArea-output')));
return [results.length, results.filter(shown).length];
"""
_OVERFLOW_JS = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
_CODE_SHOWN_JS = """
const pre = arguments[0].querySelector('pre');
return Boolean(pre) && pre.checkVisibility() && pre.getBoundingClientRect().height > 0;
"""


@dataclass
class PageCheck:
    """What one page showed."""

    name: str
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    missing_links: list[str] = field(default_factory=list)
    navigation: list[str] = field(default_factory=list)  # links of the header, sidebar and pager
    index_link: bool = False
    current_marked: bool = True  # a page of the series is marked as the current one, and only it
    has_toc: bool = False
    code_cells: int = 0
    toggle_shows_code: bool | None = None  # None: nothing to toggle (no code, or --no-input)
    show_all_shows_code: bool | None = None
    narrow_overflow_px: int = 0
    narrow_overflow_open_px: int = 0  # with every code cell open
    results: int = 0  # outputs (text, tables, figures) and images on the page
    results_shown: int = 0  # of those, how many a reader sees on opening the page
    results_without_js: int | None = None  # the same with JavaScript off (None: not checked)
    switch_without_js: bool = False  # the "show all code" switch showing although it cannot work
    screenshots: list[Path] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [f"console error: {e}" for e in self.console_errors]
        found += [f"image not loaded: {src[:80]}" for src in self.broken_images]
        found += [f"link to a missing page: {link}" for link in self.missing_links]
        if not self.title:
            found.append("no title")
        if not self.index_link:
            found.append("no link to the index in the header")
        if not self.current_marked:
            found.append("the navigation does not mark this report as the current one")
        if self.toggle_shows_code is False:
            found.append("clicking a code toggle did not show that cell's code")
        if self.show_all_shows_code is False:
            found.append('"show all code" did not show every code cell')
        if self.narrow_overflow_px > 0:
            found.append(f"page is {self.narrow_overflow_px}px wider than a {NARROW[0]}px window")
        if self.narrow_overflow_open_px > 0:
            found.append(f"with all code open the page is {self.narrow_overflow_open_px}px wider than a "
                         f"{NARROW[0]}px window")
        if self.results_shown < self.results:
            found.append(f"only {self.results_shown} of {self.results} results show when the page opens")
        if self.results_without_js is not None and self.results_without_js < self.results:
            found.append(f"with JavaScript off only {self.results_without_js} of {self.results} results show")
        if self.switch_without_js:
            found.append('the "show all code" switch shows with JavaScript off, where it cannot work')
        return found


def find_browser() -> tuple[str, str]:
    """Paths of chromium and chromedriver, or a RuntimeError saying how to install them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise RuntimeError("headless checks need Chromium and its driver: apt-get install chromium chromium-driver")
    return browser, driver


def open_browser(user_data_dir: str, javascript: bool = True):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={WIDE[0]},{WIDE[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(service=Service(driver), options=options)


@contextlib.contextmanager
def serve(folder: str | Path):
    """Serve ``folder`` over HTTP on a free port of 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the browser dropping a connection when it leaves a page is not an error of the site


def resolves(url: str) -> bool:
    """Whether a link of the site leads to a page: a file that exists, or an HTTP 200."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).exists()
    try:
        with urllib.request.urlopen(url.split("#")[0], timeout=20) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _same_site(href: str, base: str) -> bool:
    url, root = urlparse(href), urlparse(base)
    return url.scheme == root.scheme and url.netloc == root.netloc


def _full_page_screenshot(driver, path: Path, width: int) -> Path:
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 16000)")
    driver.set_window_size(width, max(int(height), 400))
    driver.save_screenshot(str(path))
    return path


def _check_code_toggles(driver, result: PageCheck) -> None:
    """Click the first code toggle, then "show all code"; record whether the code showed."""
    from selenium.webdriver.common.by import By

    folds = driver.find_elements(By.CSS_SELECTOR, "details.code-fold")
    result.code_cells = len(folds)
    if not folds:
        return
    first = folds[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", first)
    hidden_before = not driver.execute_script(_CODE_SHOWN_JS, first)
    first.find_element(By.TAG_NAME, "summary").click()
    others_closed = all(not f.get_attribute("open") for f in folds[1:])
    result.toggle_shows_code = hidden_before and driver.execute_script(_CODE_SHOWN_JS, first) and others_closed
    first.find_element(By.TAG_NAME, "summary").click()  # fold it again
    buttons = driver.find_elements(By.CSS_SELECTOR, "button.show-code")
    if not buttons or not buttons[0].is_displayed():
        result.show_all_shows_code = False
        return
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", buttons[0])
    buttons[0].click()
    result.show_all_shows_code = all(driver.execute_script(_CODE_SHOWN_JS, f) for f in folds)


def check_page(driver, url: str, shots: Path, name: str, base: str) -> PageCheck:
    """Load ``url`` and record what a reader would hit."""
    result = PageCheck(name=name)
    driver.set_window_size(*WIDE)
    driver.get(url)
    driver.execute_script("return document.readyState")
    result.title = driver.title.strip()
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0, i.src.slice(0, 120)])")
    result.images = len(images)
    result.broken_images = [src for ok, src in images if not ok]
    result.has_toc = bool(driver.execute_script("return document.querySelectorAll('nav.toc a').length"))
    result.navigation = driver.execute_script(
        "return Array.from(document.querySelectorAll('.site-header a[href], .site-sidebar a[href], "
        ".page-pager a[href]')).map(a => a.href)")
    result.index_link = any(urlparse(h).path.endswith("/index.html") for h in driver.execute_script(
        "return Array.from(document.querySelectorAll('.site-header a[href]')).map(a => a.href)"))
    sidebar = driver.execute_script(
        "return Array.from(document.querySelectorAll('.site-sidebar a[href]'))"
        ".map(a => [a.href.split('/').pop(), a.getAttribute('aria-current') === 'page'])")
    if sidebar:  # a page of the series marks itself, and only itself; other pages mark nothing
        marked = [page for page, current in sidebar if current]
        result.current_marked = marked == ([name] if name in {page for page, _ in sidebar} else [])
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    for href in dict.fromkeys(hrefs):
        if not _same_site(href, base) or (urlparse(href).fragment and href.split("#")[0] == url.split("#")[0]):
            continue
        result.links.append(href)
        if not resolves(href):
            result.missing_links.append(href)
    result.results, result.results_shown = driver.execute_script(_RESULTS_JS)
    result.screenshots.append(_full_page_screenshot(driver, shots / f"{Path(name).stem}.png", WIDE[0]))
    driver.set_window_size(*NARROW)
    result.narrow_overflow_px = max(int(driver.execute_script(_OVERFLOW_JS)), 0)
    result.screenshots.append(_full_page_screenshot(driver, shots / f"{Path(name).stem}.narrow.png", NARROW[0]))
    driver.set_window_size(*NARROW)
    _check_code_toggles(driver, result)
    driver.execute_script("document.querySelectorAll('details.code-fold').forEach(d => { d.open = true; })")
    result.narrow_overflow_open_px = max(int(driver.execute_script(_OVERFLOW_JS)), 0)
    result.console_errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return result


def _without_javascript(driver, url: str, result: PageCheck) -> None:
    driver.set_window_size(*WIDE)
    driver.get(url)
    result.results_without_js = driver.execute_script(_RESULTS_JS)[1]
    result.switch_without_js = bool(driver.execute_script(
        "const b = document.querySelector('button.show-code'); return Boolean(b) && b.getClientRects().length > 0"))


def site_pages(folder: Path) -> list[str]:
    """The pages to check: the index, every page of the folder it links to, and 404.html."""
    links = map(urlparse, links_in((folder / "index.html").read_text()))
    linked = [url.path for url in links if not url.scheme and not url.netloc and url.path.endswith(".html")
              and (folder / unquote(url.path)).exists()]
    pages = ["index.html", *dict.fromkeys(linked)]
    if (folder / "404.html").exists():
        pages.append("404.html")
    return list(dict.fromkeys(pages))


def check_reports(folder: str | Path, over_http: bool = False, shots: str | Path | None = None,
                  javascript_off: bool = True) -> dict[str, PageCheck]:
    """Check ``index.html`` and every page it links to (and ``404.html`` when there is one).

    ``over_http``: through a local web server instead of ``file://``. Screenshots go
    to ``shots`` (default ``folder/screenshots``). ``javascript_off``: also load every
    page with JavaScript disabled and count the results that show.
    """
    folder = Path(folder).resolve()
    if not (folder / "index.html").exists():
        raise FileNotFoundError(f"{folder / 'index.html'} does not exist: build the reports first (make reports)")
    shots = Path(shots) if shots else folder / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    pages = site_pages(folder)
    results: dict[str, PageCheck] = {}
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(serve(folder)) if over_http else folder.as_uri() + "/"
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            driver = open_browser(profile)
            try:
                for name in pages:
                    results[name] = check_page(driver, urljoin(base, name), shots, name, base)
            finally:
                driver.quit()
        if javascript_off:
            with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
                driver = open_browser(profile, javascript=False)
                try:
                    for name in pages:
                        _without_javascript(driver, urljoin(base, name), results[name])
                finally:
                    driver.quit()
    return results
