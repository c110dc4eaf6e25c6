"""Headless Chromium (Debian's `chromium` + `chromedriver`, driven by Selenium) for the
web console tests, and the folder their screenshots go to.

`make test` runs scripts/ensure_chromium.sh first, which installs both packages when
they are missing and it can (root with apt-get). These tests skip only when the
browser is still not there, and say so loudly in the summary.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WINDOW = (1280, 900)


def _first(env: str, names: tuple[str, ...]) -> str | None:
    """The binary named by ``env`` (if it exists), else the first of ``names`` on the PATH."""
    if os.environ.get(env):
        return os.environ[env] if Path(os.environ[env]).exists() else None
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go: $HEADSTART_TEST_ARTIFACTS/console, default tests/artifacts/console."""
    folder = Path(os.environ.get("HEADSTART_TEST_ARTIFACTS", ROOT / "tests" / "artifacts")) / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    """A headless Chromium under chromedriver, at a fixed window size."""
    chromium = _first("HEADSTART_CHROMIUM", ("chromium", "chromium-browser", "google-chrome"))
    driver_path = _first("HEADSTART_CHROMEDRIVER", ("chromedriver",))
    if not chromium or not driver_path:
        pytest.skip("!!! CONSOLE TESTS SKIPPED: no Chromium/chromedriver on this machine "
                    f"(chromium={chromium}, chromedriver={driver_path}). Run "
                    "`sudo scripts/ensure_chromium.sh` (Debian: apt-get install chromium "
                    "chromium-driver) or set HEADSTART_CHROMIUM / HEADSTART_CHROMEDRIVER.")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("!!! CONSOLE TESTS SKIPPED: selenium is not installed (pip install -e '.[test]')")

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--force-device-scale-factor=1",
                "--lang=en-US", "--hide-scrollbars", "--disable-extensions"):
        options.add_argument(arg)
    # Console errors (CSP violations among them) are read back after each test.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_window_size(*WINDOW)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, path: Path, full_page: bool = True, height: int = 6000) -> Path:
    """Save a PNG of the page: the document from its top (at most ``height`` pixels),
    or only what the window shows."""
    if not full_page:
        driver.save_screenshot(str(path))
        return path
    layout = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": layout["cssLayoutViewport"]["clientWidth"],
                 "height": min(layout["cssContentSize"]["height"], height), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
