"""Open built reports in headless Chromium the way a reader would (file://, no
network) and check them: no console errors, every image loaded, every index link
resolves, a title and a table of contents, readable on a narrow window. Saves a
screenshot of each page under ``<reports>/screenshots/``.

Uses Debian's ``chromium`` and ``chromium-driver`` through Selenium, pointed at
those executables (a browser download is not possible on these machines).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                  "--hide-scrollbars")
WIDE, NARROW = (1280, 900), (390, 844)


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
    has_toc: bool = False
    narrow_overflow_px: int = 0
    screenshots: list[Path] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [f"console error: {e}" for e in self.console_errors]
        found += [f"image not loaded: {src[:80]}" for src in self.broken_images]
        found += [f"link to a missing file: {link}" for link in self.missing_links]
        if not self.title:
            found.append("no <title>")
        if self.narrow_overflow_px > 0:
            found.append(f"page is {self.narrow_overflow_px}px wider than a {NARROW[0]}px window")
        return found


def find_browser() -> tuple[str, str]:
    """Paths of chromium and chromedriver, or a RuntimeError saying how to install them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise RuntimeError("headless checks need Chromium and its driver: apt-get install chromium chromium-driver")
    return browser, driver


def open_browser(user_data_dir: str):
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
    return webdriver.Chrome(service=Service(driver), options=options)


def _full_page_screenshot(driver, path: Path, width: int) -> Path:
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 16000)")
    driver.set_window_size(width, max(int(height), 400))
    driver.save_screenshot(str(path))
    return path


def check_page(driver, page: Path, shots: Path) -> PageCheck:
    """Load ``page`` from disk and record what a reader would hit."""
    result = PageCheck(name=page.name)
    driver.set_window_size(*WIDE)
    driver.get(page.resolve().as_uri())
    driver.execute_script("return document.readyState")
    result.title = driver.title.strip()
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0, i.src.slice(0, 120)])")
    result.images = len(images)
    result.broken_images = [src for ok, src in images if not ok]
    result.has_toc = bool(driver.execute_script("return document.querySelectorAll('nav.toc a').length"))
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    for href in hrefs:
        url = urlparse(href)
        if url.scheme == "file" and not url.fragment:
            result.links.append(href)
            if not Path(unquote(url.path)).exists():
                result.missing_links.append(href)
    result.screenshots.append(_full_page_screenshot(driver, shots / f"{page.stem}.png", WIDE[0]))
    driver.set_window_size(*NARROW)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    result.narrow_overflow_px = max(int(overflow), 0)
    result.screenshots.append(_full_page_screenshot(driver, shots / f"{page.stem}.narrow.png", NARROW[0]))
    result.console_errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return result


def check_reports(folder: str | Path) -> dict[str, PageCheck]:
    """Check ``index.html`` and every page it links to; screenshots go to ``folder/screenshots``."""
    folder = Path(folder)
    index = folder / "index.html"
    if not index.exists():
        raise FileNotFoundError(f"{index} does not exist: build the reports first (make reports)")
    shots = folder / "screenshots"
    shots.mkdir(exist_ok=True)
    results: dict[str, PageCheck] = {}
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        driver = open_browser(profile)
        try:
            results["index.html"] = check_page(driver, index, shots)
            for link in results["index.html"].links:
                path = Path(unquote(urlparse(link).path))
                if path.suffix == ".html" and path.exists() and path.name not in results:
                    results[path.name] = check_page(driver, path, shots)
        finally:
            driver.quit()
    return results
