"""The web console in headless Chromium against the real stack: the Flask app on a
loopback port, a real Celery worker, Qdrant local mode, EfficientNet-Lite0.

The tests run in file order as one user session: sign in, upload labelled photos
(by the file input and by a synthetic drop), edit a label, create and train a model
watching its progress bar, read the version's metrics, heat map and threshold
slider, then predict photos, a video and a broken file. Screenshots of each step go
to tests/artifacts/console/ (or $HEADSTART_TEST_ARTIFACTS/console).
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import ADMIN
from tests.console.conftest import screenshot
from tests.media import crops, encode, make_video, photo

pytestmark = pytest.mark.console

CONCEPTS = ("cat", "coffee", "rocket")
PER_CONCEPT = 5
STATIC = Path(__file__).resolve().parents[2] / "api" / "console_static"


# --- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Any]:
    """Real photos on disk: crops per concept, unseen queries, a video, a broken JPEG."""
    folder = tmp_path_factory.mktemp("console-media")
    out: dict[str, Any] = {"crops": {}}
    for name in CONCEPTS:
        paths = []
        for n, image in enumerate(crops(photo(name), PER_CONCEPT, seed=11)):
            path = folder / f"{name}{n}.jpg"
            image.save(path, quality=90)
            paths.append(path)
        out["crops"][name] = paths
        query = folder / f"query-{name}.jpg"
        photo(name).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(query, quality=90)
        out[f"query-{name}"] = query
    video = folder / "cat-then-coffee.mp4"
    video.write_bytes(make_video([(photo("cat"), 3), (photo("coffee"), 3)]))
    out["video"] = video
    broken = folder / "broken.jpg"
    broken.write_bytes(encode(photo("cat"))[:1500])  # a JPEG cut short: invalid_media
    out["broken"] = broken
    return out


@pytest.fixture(scope="module")
def account(api_url, worker) -> dict[str, str]:
    """A fresh app created over HTTP with the admin key; its API key."""
    app_id = f"console-{uuid.uuid4().hex[:8]}"
    request = urllib.request.Request(
        f"{api_url}/v1/apps", data=json.dumps({"id": app_id}).encode(), method="POST",
        headers={**ADMIN, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return {"app": app_id, "key": json.load(resp)["api_key"]}


class Page:
    """The browser on the console, with waits and screenshots."""

    def __init__(self, driver: Any, base: str, artifacts: Path) -> None:
        self.d = driver
        self.base = base
        self.artifacts = artifacts

    def open(self, fragment: str = "") -> None:
        self.d.get(f"{self.base}/console/{fragment}")

    def js(self, script: str, *args: Any) -> Any:
        return self.d.execute_script(script, *args)

    def until(self, script: str, *args: Any, timeout: float = 30.0, what: str = "") -> Any:
        """Poll a JS expression (``return ...``) until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                self.shot("timeout")
                raise AssertionError(f"timed out waiting for {what or script}")
            time.sleep(0.1)

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        self.until("return document.querySelector(arguments[0])", css, what=css)
        return self.d.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
                       css) or ""

    def type_tags(self, css: str, tags: list[str]) -> None:
        from selenium.webdriver.common.keys import Keys

        field = self.find(css)
        for tag in tags:
            field.send_keys(tag, Keys.ENTER)

    def choose_files(self, input_css: str, paths: list[Path]) -> None:
        """What the file picker does: set files on the drop zone's file input."""
        self.find(input_css).send_keys("\n".join(str(p) for p in paths))

    def drop_files(self, zone_id: str, paths: list[Path], mime: str) -> None:
        """A real drag and drop as the page sees it: drag events carrying a DataTransfer
        with the files' bytes (WebDriver cannot drag from the desktop)."""
        payload = [{"name": p.name, "type": mime, "b64": base64.b64encode(p.read_bytes()).decode()}
                   for p in paths]
        self.js("""
            const [zoneId, files] = arguments;
            const dt = new DataTransfer();
            for (const f of files) {
              const bin = atob(f.b64), bytes = new Uint8Array(bin.length);
              for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
              dt.items.add(new File([bytes], f.name, {type: f.type}));
            }
            const zone = document.getElementById(zoneId);
            for (const type of ['dragenter', 'dragover', 'drop'])
              zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
        """, zone_id, payload)

    def shot(self, name: str, full_page: bool = True, height: int = 6000) -> Path:
        return screenshot(self.d, self.artifacts / f"{name}.png", full_page, height)

    def problems(self) -> list[str]:
        """Browser console errors other than the HTTP errors a test provokes on purpose:
        CSP violations and uncaught script errors end up here."""
        entries = self.d.get_log("browser")
        return [e["message"] for e in entries if e["level"] == "SEVERE"
                and "Failed to load resource: the server responded with a status of" not in e["message"]]


@pytest.fixture(scope="module")
def page(chrome, api_url, artifacts) -> Page:
    return Page(chrome, api_url, artifacts)


@pytest.fixture(autouse=True)
def _no_browser_errors(request):
    yield
    if "page" in request.fixturenames:
        problems = request.getfixturevalue("page").problems()
        assert not problems, problems


# --- serving -------------------------------------------------------------------------------
def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_console_is_static_files_under_a_strict_csp(api_url):
    status, headers, _ = _get(f"{api_url}/console")
    assert status == 308 and headers["Location"].endswith("/console/")
    status, headers, body = _get(f"{api_url}/console/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and headers["X-Content-Type-Options"] == "nosniff"
    html = body.decode()
    # No inline code at all: every script has a src, no style attributes or on* handlers.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\sstyle=|\son[a-z]+=", html)
    status, headers, _ = _get(f"{api_url}/console/js/app.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    assert "Content-Security-Policy" in headers
    # Vendored means vendored: nothing in the console loads from another host.
    for path in STATIC.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            assert not re.search(r"(src|href|import|url)\W+(https?:)?//", path.read_text()), path
    assert _get(f"{api_url}/console/nothing.js")[0] == 404
    assert _get(f"{api_url}/console/..%2f__init__.py")[0] == 404
    # The console is not part of the API's document.
    _, _, doc = _get(f"{api_url}/v1/openapi.json")
    assert not [p for p in json.loads(doc)["paths"] if p.startswith("/console")]


# --- the session ---------------------------------------------------------------------------
def test_sign_in_refuses_a_bad_key_inline_then_accepts_the_real_one(page, account):
    page.open()
    page.until("return location.hash === '#/signin'", what="redirect to sign-in")
    field = page.find("#api-key")
    assert page.js("return document.activeElement.id") == "api-key"
    field.send_keys("hsk_000000000000_not-a-real-key")
    page.find("#sign-in").click()
    message = page.until("const e = document.querySelector('#signin-error [role=alert]'); "
                         "return e && e.textContent", what="inline sign-in error")
    assert "unauthorized" in message
    page.shot("01-signin-refused")

    field.clear()
    field.send_keys(account["key"])
    page.find("#sign-in").click()
    page.until("return location.hash === '#/inputs' && document.querySelector('#inputs-grid')",
               what="the inputs page")
    assert page.text("#who-app") == account["app"]
    assert page.js("return sessionStorage.getItem('headstart.apiKey')") == account["key"]
    assert account["key"] not in page.d.current_url
    page.until("return document.querySelector('#inputs-grid').textContent.includes('No inputs here yet')",
               what="the empty inputs list")


def test_upload_photos_by_picker_and_by_drop_with_concept_tags(page, files):
    # cat and rocket through the drop zone's file input (what choosing files does)...
    for concept in ("cat", "rocket"):
        page.type_tags("#upload-concepts", [concept])
        page.choose_files("#upload-drop-input", files["crops"][concept])
        page.until("return document.querySelectorAll('#staged li').length === arguments[0]",
                   PER_CONCEPT, what="staged files")
        if concept == "cat":
            page.until("return document.querySelectorAll('#staged img').length === arguments[0]",
                       PER_CONCEPT, what="client-side thumbnails")
            page.shot("02-upload-staged")
        page.find("#upload-go").click()
        page.until("return document.querySelector('#upload-status .progress')?.dataset.state === 'succeeded'",
                   timeout=180, what=f"{concept} embedded")
        assert "5 embedded" in page.text("#upload-status")
        page.find("#add-inputs .tags .chip-x").click()  # untag before the next concept
    # ...and coffee by dropping the files on the zone (the drop handler's own path).
    page.type_tags("#upload-concepts", ["coffee"])
    page.drop_files("upload-drop", files["crops"]["coffee"], "image/jpeg")
    page.until("return document.querySelectorAll('#staged li').length === 5", what="dropped files")
    page.find("#upload-go").click()
    page.until("return document.querySelector('#upload-status .progress')?.dataset.state === 'succeeded'",
               timeout=120, what="coffee embedded")

    cards = page.until("""
        const cards = [...document.querySelectorAll('#inputs-grid .input-card')];
        return cards.length === 15 && cards.every(c => c.dataset.status === 'embedded') && cards.map(c => ({
          concepts: [...c.querySelectorAll('.chip')].map(x => x.dataset.concept),
          thumb: c.querySelector('img.thumb')?.src.slice(0, 22) || null}));
    """, timeout=30, what="15 embedded cards")
    assert sorted(c["concepts"][0] for c in cards) == sorted(
        [c for c in CONCEPTS for _ in range(PER_CONCEPT)])
    assert all(len(c["concepts"]) == 1 for c in cards)
    # The server keeps no pixels: every picture was drawn in this tab at upload.
    assert all(c["thumb"] == "data:image/jpeg;base64" for c in cards)
    page.shot("03-inputs")


def test_labels_are_edited_on_a_card(page):
    card_id = page.js("return document.querySelector('#inputs-grid .input-card').dataset.id")
    card = f".input-card[data-id='{card_id}']"
    from selenium.webdriver.common.keys import Keys

    page.find(f"{card} .add-label").click()
    page.find(f"{card} .label-field").send_keys("-astronaut", Keys.ENTER)
    page.until("return document.querySelector(arguments[0] + \" .chip[data-concept='astronaut']\")"
               "?.dataset.value === '0'", card, what="negative label added")
    page.find(f"{card} .chip[data-concept='astronaut'] .chip-x").click()
    page.until("return !document.querySelector(arguments[0] + \" .chip[data-concept='astronaut']\")"
               " && document.querySelectorAll(arguments[0] + ' .chip').length === 1",
               card, what="label removed")


def test_texts_are_added_and_inputs_page_by_page_with_filters(page):
    page.find("#add-texts summary").click()
    page.js("document.querySelectorAll('#add-inputs .tags .chip-x').forEach(b => b.click())")
    page.type_tags("#upload-concepts", ["note"])
    page.find("#upload-texts").send_keys("\n".join(
        f"Reminder number {n}: water the plants on the balcony." for n in range(10)))
    page.find("#upload-texts-go").click()
    page.until("return document.querySelector('#upload-status .progress')?.dataset.state === 'succeeded'",
               timeout=120, what="texts embedded")
    cards = "return document.querySelectorAll('#inputs-grid .input-card').length"
    page.until(f"{cards} === 24", what="a full first page")  # 25 inputs, 24 a page
    page.find("#next-page").click()
    page.until(f"{cards} === 1 && document.querySelector('#page-number').textContent === 'Page 2'",
               what="the second page")
    assert page.js("return document.querySelector('#next-page').disabled")
    page.find("#prev-page").click()
    page.until(f"{cards} === 24", what="back to the first page")
    from selenium.webdriver.support.select import Select

    Select(page.find("#filter-concept")).select_by_value("coffee")
    page.until(f"""{cards} === 5 && [...document.querySelectorAll('#inputs-grid .chip')]
                   .every(c => c.dataset.concept === 'coffee')""", what="only coffee")
    Select(page.find("#filter-concept")).select_by_value("note")
    page.until(f"{cards} === 10 && document.querySelector('#inputs-grid blockquote.thumb.text')",
               what="the texts")
    page.shot("03b-texts")


def test_create_and_train_a_model_with_a_live_progress_bar(page):
    from selenium.webdriver.support.select import Select

    page.open("#/models")
    page.find("#model-id").send_keys("photos")
    page.type_tags("#model-concepts", list(CONCEPTS))
    Select(page.find("#model-embedder")).select_by_value("modality:image")
    assert page.js("return document.querySelector('#model-exclusive').checked")
    page.find("#model-create").click()
    page.until("return location.hash === '#/models/photos' && document.querySelector('#train')",
               what="the model page")
    # Record every state the bar shows, so the test sees it move, not just its end.
    page.js("""
        window.__states = [];
        new MutationObserver(() => {
          const p = document.querySelector('#train-status .progress');
          if (!p) return;
          const bar = p.querySelector('[role=progressbar]');
          const s = p.dataset.state + ':' + (bar.getAttribute('aria-valuenow') ?? 'busy');
          if (window.__states.at(-1) !== s) window.__states.push(s);
        }).observe(document.querySelector('#train-status'), {subtree: true, childList: true, attributes: true});
    """)
    page.find("#train").click()
    page.until("return document.querySelector('#train-status .progress')?.dataset.state === 'succeeded'",
               timeout=120, what="training done")
    states = page.js("return window.__states")
    assert states[-1] == "succeeded:100", states
    assert any(s.startswith(("queued", "running")) for s in states[:-1]), states
    assert re.search(r"Trained in \d+\.\d s", page.text("#train-status"))
    page.until("return document.querySelector(\"#versions-table tr[data-version='1']\")"
               "?.dataset.status === 'trained'", what="version 1 trained in the table")
    page.shot("04-trained")


def test_version_page_shows_metrics_heat_map_and_threshold_trade_off(page):
    from selenium.webdriver.common.keys import Keys

    page.find("#open-version").click()
    page.until("return document.querySelectorAll('#concept-metrics tbody tr').length === 3",
               what="per-concept metrics")
    rows = page.js("return [...document.querySelectorAll('#concept-metrics tbody tr')].map(r => r.dataset.concept)")
    assert rows == list(CONCEPTS)
    cells = page.js("""return [...document.querySelectorAll('#confusion td')].map(td => ({
        t: td.dataset.true, p: td.dataset.predicted, n: +td.dataset.count,
        bg: getComputedStyle(td).backgroundColor}))""")
    assert len(cells) == 9 and sum(c["n"] for c in cells) == 15
    for concept in CONCEPTS:  # each row's largest cell is on the diagonal
        row = [c for c in cells if c["t"] == concept]
        assert max(row, key=lambda c: c["n"])["p"] == concept
    assert len({c["bg"] for c in cells}) > 1  # shaded by value: a heat map
    page.shot("05-version", full_page=False)

    slider = page.find("#threshold-slider")
    # It starts at the grid point at or below the suggested threshold: a working point.
    start = float(page.text("#threshold-value"))
    assert start <= float(page.text("#concept-metrics tbody tr td:last-child")) < start + 0.05
    assert float(page.text("#threshold-precision")) > 0 and float(page.text("#threshold-recall")) > 0
    slider.send_keys(Keys.HOME)  # keyboard: threshold 0, every input predicted
    assert page.text("#threshold-value") == "0.00"
    assert page.text("#threshold-recall") == "1.000"
    low = float(page.text("#threshold-precision"))
    assert abs(low - PER_CONCEPT / 15) < 1e-3  # everything predicted: precision is the base rate
    for _ in range(10):
        slider.send_keys(Keys.ARROW_RIGHT)
    assert page.text("#threshold-value") == "0.50"
    high = float(page.text("#threshold-precision"))
    assert high > low, (low, high)
    page.js("document.querySelector('#threshold').scrollIntoView()")
    page.shot("06-threshold")
    # The README's picture (docs/img/console.png): this page from the top to the slider.
    page.shot("console-readme", height=int(page.js(
        "return document.querySelector('#threshold').getBoundingClientRect().bottom + scrollY + 16")))


def test_predict_box_puts_the_right_concept_first(page, files):
    page.choose_files("#predict-drop-input", [files["query-cat"]])
    first = page.until("return document.querySelector('#predict-result .bars li')?.dataset.concept",
                       timeout=60, what="bars for the cat photo")
    assert first == "cat"
    bars = page.js("return [...document.querySelectorAll('#predict-result .bars li')].map(l => +l.dataset.value)")
    assert len(bars) == 3 and bars == sorted(bars, reverse=True) and abs(sum(bars) - 1) < 1e-3
    page.drop_files("predict-drop", [files["query-coffee"]], "image/jpeg")
    page.until("return document.querySelector('#predict-result .preview strong')?.textContent === 'query-coffee.jpg'"
               " && document.querySelector('#predict-result .bars li')?.dataset.concept", what="coffee bars")
    assert page.js("return document.querySelector('#predict-result .bars li').dataset.concept") == "coffee"
    page.js("document.querySelector('#predict').scrollIntoView()")
    page.shot("07-predict-photo")


def test_predict_box_shows_a_video_timeline(page, files):
    page.find("#predict-sample-ms").send_keys("1000")
    page.choose_files("#predict-drop-input", [files["video"]])
    page.until("return document.querySelector('#timeline .top-strip')", timeout=90,
               what="the video timeline")
    frames = page.js("""return [...document.querySelectorAll('#timeline .top-strip .cell')]
                       .map(c => [+c.dataset.time, c.dataset.concept])""")
    assert len(frames) == 6, frames
    assert [c for _, c in frames] == ["cat"] * 3 + ["coffee"] * 3, frames
    assert [t for t, _ in frames] == sorted(t for t, _ in frames)
    strips = page.js("return [...document.querySelectorAll('#timeline .strip[data-concept]')].map(s => s.dataset.concept)")
    assert set(strips) == set(CONCEPTS)
    page.js("document.querySelector('#predict').scrollIntoView()")
    page.shot("08-predict-video")


def test_predict_box_shows_api_errors_inline(page, files):
    assert page.js("return document.querySelector('#predict-text').disabled")  # an image model
    page.choose_files("#predict-drop-input", [files["broken"]])
    error = page.until("return document.querySelector('#predict-error [role=alert]')?.textContent",
                       timeout=30, what="inline invalid_media error")
    assert "invalid_media" in error and "inputs[0].data.image.file" in error
    page.shot("09-predict-error")


def test_a_one_vs_rest_version_shows_a_matrix_per_concept(page):
    from selenium.webdriver.support.select import Select

    page.open("#/models")
    page.find("#model-id").send_keys("photos-ovr")
    page.type_tags("#model-concepts", list(CONCEPTS))
    Select(page.find("#model-embedder")).select_by_value("modality:image")
    page.find("#model-exclusive").click()  # one-vs-rest: the closed-environment box appears
    assert page.js("return !document.querySelector('#model-closed').closest('[hidden]')")
    page.find("#model-create").click()
    page.until("return location.hash === '#/models/photos-ovr' && document.querySelector('#train')",
               what="the model page")
    page.find("#train").click()
    page.find("#open-version").click()
    tables = page.until("""const t = [...document.querySelectorAll('#confusion table.heatmap')];
        return t.length === 3 && t.map(x => [x.dataset.concept,
          [...x.querySelectorAll('td')].map(td => +td.dataset.count)])""", what="binary matrices")
    for concept, (tp, fn, fp, tn) in tables:  # 5 positives and 10 negatives each
        assert tp + fn == PER_CONCEPT and fp + tn == 15 - PER_CONCEPT, (concept, tp, fn, fp, tn)
    assert "score reaches the threshold" in page.text("#threshold .hint")
    page.shot("11-one-vs-rest")


def test_pages_fit_a_phone_width_and_sign_out_forgets_the_key(page):
    page.d.set_window_size(400, 900)
    try:
        for fragment in ("#/inputs", "#/models/photos/versions/1"):
            page.open(fragment)
            page.until("return document.querySelector('#inputs-grid .input-card, #threshold-slider')",
                       what=fragment)
            # No sideways scrolling: every page reflows to one column.
            wide = page.js("""return [...document.querySelectorAll('main *')]
                .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
                .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""")
            assert page.js("return document.documentElement.scrollWidth <= innerWidth + 1"), (
                fragment, wide)
        page.shot("10-phone")
    finally:
        page.d.set_window_size(1280, 900)
    page.find("#sign-out").click()
    page.until("return location.hash === '#/signin'", what="back to sign-in")
    assert page.js("return sessionStorage.getItem('headstart.apiKey')") is None
    page.open("#/models")  # a page behind sign-in now leads to sign-in
    page.until("return location.hash === '#/signin' && document.querySelector('#api-key')",
               what="sign-in guard")
