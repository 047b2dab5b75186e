"""The example handbook in a real browser: Playwright driving Debian's Chromium.

The site is built from the example project (``docgen build --strict``) into a temporary
folder and served on 127.0.0.1 by a stdlib HTTP server. Every request that leaves
127.0.0.1 is aborted and recorded, so these tests also prove the site works offline
(local Mermaid, no web fonts, no CDN).

Without Chromium (``/usr/bin/chromium`` or ``$DOCGEN_CHROMIUM``) or Playwright the tests
skip with the reason; with ``CI`` set they fail instead, because CI must run them.
Artifacts (screenshots, a print PDF) go to ``test-artifacts/`` (gitignored); run with
``--update-goldens`` to refresh ``docs/screenshot-home.png`` used by the README.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from docgen.assets import MERMAID_SITE_PATH

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
README_SCREENSHOT = REPO / "docs" / "screenshot-home.png"
CHROMIUM = os.environ.get("DOCGEN_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
#: The stack whose pages are all visited.
STACK = "primary"
#: Fixed page order inside a stack section, and handbook-wide pages (DESIGN.md, Pages).
STACK_ORDER = ["index", "deploy", "parameters", "outputs", "troubleshooting", "backup",
               "monitoring", "security", "cost"]
HANDBOOK_ORDER = ["index", "deployment-order", "disaster-recovery", "compliance", "cost"]
TIMEOUT_MS = 20_000
#: Material's copy button (9.7 and older: .md-clipboard; 9.8: a code-block toolbar button).
COPY_BUTTON = "button.md-clipboard, button.md-code__button[data-md-type='copy']"


def _unavailable() -> str | None:
    if not os.path.isfile(CHROMIUM):
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def available() -> None:
    reason = _unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(f"browser tests skipped: {reason}")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def served(available: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Path, str]]:
    """(site folder, base URL): a stdlib server on a free 127.0.0.1 port, and the example
    handbook built strictly into the folder it serves, through the public CLI. The site
    is built for that URL because instant navigation matches links against the sitemap."""
    out = tmp_path_factory.mktemp("site")
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_QuietHandler, directory=str(out)))
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "DOCGEN_SITE_URL": base}
        proc = subprocess.run([sys.executable, "-m", "docgen", "build", "--strict",
                               "--site-dir", str(out)], cwd=REPO, capture_output=True,
                              text=True, timeout=600, check=False, env=env)
        assert proc.returncode == 0, f"docgen build failed:\n{proc.stdout}\n{proc.stderr}"
        assert (out / MERMAID_SITE_PATH).is_file(), (
            "the site has no local Mermaid script (docgen.yml site.mermaid: local); build "
            "said:\n" + proc.stderr)
        yield out, base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(served: tuple[Path, str]) -> Path:
    return served[0]


@pytest.fixture(scope="module")
def base_url(served: tuple[Path, str]) -> str:
    return served[1]


class Browser:
    """A Chromium context with a fresh profile that records console errors and every
    request that tried to leave the local server."""

    def __init__(self, base_url: str) -> None:
        from playwright.sync_api import sync_playwright

        self.base_url = base_url
        self.errors: list[str] = []
        self.external: list[str] = []
        self._profile = tempfile.mkdtemp(prefix="docgen-chromium-")
        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            self._profile, executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS,
            viewport={"width": 1280, "height": 900}, color_scheme="light")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                       origin=base_url.rstrip("/"))
        # Material draws diagrams into a *closed* shadow root; open it so tests can see
        # the SVG (instrumentation only: the page behaves the same).
        self.context.add_init_script(
            "const _attach = Element.prototype.attachShadow;"
            "Element.prototype.attachShadow = function (o) {"
            "  return _attach.call(this, Object.assign({}, o, {mode: 'open'})); };")
        host = urlparse(base_url).netloc
        self.context.route("**/*", functools.partial(self._route, host))

    def _route(self, host: str, route: Any) -> None:
        url = route.request.url
        if urlparse(url).netloc == host or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def page(self) -> Any:
        page = self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"{page.url}: console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: exception: {e}"))
        return page

    def close(self) -> None:
        try:
            self.context.close()
            self._pw.stop()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Browser]:
    b = Browser(base_url)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Any]:
    p = browser.page()
    try:
        yield p
    finally:
        p.close()


def stack_pages(site: Path) -> list[str]:
    """URLs (relative) of every page of the stack, overview first."""
    root = site / "runbooks" / STACK
    pages = [f"runbooks/{STACK}/"]
    for child in sorted(root.iterdir()):
        if child.is_dir() and (child / "index.html").is_file():
            pages.append(f"runbooks/{STACK}/{child.name}/")
    return pages


def stack_ids() -> list[str]:
    from docgen.config import load_config

    return [s.id for s in load_config(str(REPO / "docgen.yml")).stacks]


def wait_for_diagrams(page: Any) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.mermaid')].length > 0 &&"
        " [...document.querySelectorAll('div.mermaid')].every("
        "   d => d.shadowRoot && d.shadowRoot.querySelector('svg'))")


# --------------------------------------------------------------------------- loading


def test_home_and_every_stack_page_load_without_console_errors(
        browser: Browser, site: Path) -> None:
    urls = ["", "runbooks/", *stack_pages(site)]
    assert len(urls) >= 6, urls
    before = len(browser.errors)
    for rel in urls:
        page = browser.page()
        try:
            response = page.goto(browser.base_url + rel, wait_until="load")
            assert response is not None and response.status == 200, rel
            assert page.locator("article h1").count() == 1, rel
            if page.locator("pre.mermaid, div.mermaid").count():
                wait_for_diagrams(page)
            page.wait_for_load_state("networkidle")
        finally:
            page.close()
    assert browser.errors[before:] == []
    assert browser.external == [], "the site must work offline"


def test_mermaid_diagram_renders_to_svg_from_the_local_script(page: Any,
                                                              browser: Browser) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(browser.base_url + f"runbooks/{STACK}/")
    wait_for_diagrams(page)
    svg = page.locator("div.mermaid svg").first
    box = svg.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    # Nodes carry the logical IDs of the template's resources.
    assert page.locator("div.mermaid svg .node").count() >= 5
    assert any(u.endswith(MERMAID_SITE_PATH) for u in requested)
    assert not any("unpkg" in u or "jsdelivr" in u for u in browser.external)
    # Reached by instant navigation (no page load), the diagram renders as well.
    page.goto(browser.base_url + f"runbooks/{STACK}/deploy/")
    page.evaluate("() => { window.__docgenMarker = 7; }")
    page.locator(f"nav.md-nav--primary a.md-nav__link[href$='{STACK}/']").first.click()
    page.wait_for_url(re.compile(rf"runbooks/{STACK}/$"))
    wait_for_diagrams(page)
    assert page.evaluate("() => window.__docgenMarker") == 7


# --------------------------------------------------------------------------- search


def search(page: Any, base_url: str, query: str) -> list[str]:
    """Type into Material's search box; the page paths of the results, in order."""
    page.goto(base_url)
    box = page.locator("input.md-search__input")
    box.click()  # the box is in the header at desktop width
    box.press_sequentially(query, delay=20)  # Material searches on key events
    page.wait_for_selector(".md-search-result__item")
    hrefs = page.eval_on_selector_all(
        ".md-search-result__item > .md-search-result__link",
        "els => els.map(e => e.getAttribute('href'))")
    return [urlparse(h).path.replace(urlparse(base_url).path, "", 1).lstrip("/")
            for h in hrefs]


def indexed_pages(site: Path, needle: str) -> set[str]:
    """Pages whose search-index text contains ``needle`` (what search must find)."""
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    return {doc["location"].split("#")[0] for doc in index["docs"]
            if needle.lower() in (doc["text"] + " " + doc["title"]).lower()}


@pytest.mark.parametrize(("query", "expected"), [
    ("DBPassword", [f"runbooks/{STACK}/parameters/", f"runbooks/{STACK}/deploy/"]),  # parameter
    ("CacheReplicationGroup", [f"runbooks/{STACK}/"]),                          # logical ID
    ("AWS::ElastiCache::ReplicationGroup", [f"runbooks/{STACK}/"]),              # resource type
])
def test_search_finds_template_names(page: Any, browser: Browser, site: Path, query: str,
                                     expected: list[str]) -> None:
    results = search(page, browser.base_url, query)
    for want in expected:
        assert want in results, (query, results)
    if "::" not in query:  # a resource type also matches its words one by one
        assert set(results) <= indexed_pages(site, query), results


def test_search_finds_an_error_code(page: Any, browser: Browser, site: Path) -> None:
    pages = indexed_pages(site, "InvalidReplicationGroupState")
    if not pages:
        pytest.xfail("no page mentions InvalidReplicationGroupState yet (troubleshooting)")
    results = search(page, browser.base_url, "InvalidReplicationGroupState")
    assert results and set(results) <= pages, results
    assert any("/troubleshooting/" in r for r in results), results


def test_search_finds_a_stack_state(page: Any, browser: Browser, site: Path) -> None:
    pages = indexed_pages(site, "ROLLBACK_FAILED")
    if not pages:
        pytest.xfail("no page mentions ROLLBACK_FAILED yet (troubleshooting pages pending)")
    results = search(page, browser.base_url, "ROLLBACK_FAILED")
    assert results, "no search results"
    assert set(results) <= pages, results
    troubleshooting = sorted(p for p in pages if "/troubleshooting/" in p)
    assert troubleshooting, f"ROLLBACK_FAILED is on {sorted(pages)} but no troubleshooting page"
    assert set(results) & set(troubleshooting), results


# --------------------------------------------------------------------------- commands


def tab_state(page: Any) -> list[str]:
    """For every tab group on the page: the label of its selected tab."""
    return page.eval_on_selector_all(
        ".tabbed-set",
        """sets => sets.map(s => {
             const checked = s.querySelector(':scope > input:checked');
             const label = s.querySelector(`:scope > .tabbed-labels > label[for="${checked.id}"]`);
             return label.textContent.trim(); })""")


def test_environment_tab_switches_every_tab_group(page: Any, browser: Browser) -> None:
    page.goto(browser.base_url + f"runbooks/{STACK}/deploy/")
    before = tab_state(page)
    assert len(before) >= 3 and set(before) == {"dev"}, before
    page.locator(".tabbed-set").nth(1).locator(".tabbed-labels > label",
                                               has_text="prod").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.tabbed-set')].every(s => {"
        " const c = s.querySelector(':scope > input:checked');"
        " return s.querySelector(`:scope > .tabbed-labels > label[for=\"${c.id}\"]`)"
        "   .textContent.trim() === 'prod'; })")
    assert set(tab_state(page)) == {"prod"}
    # What is visible now is the prod command, in every group.
    visible = page.locator(".tabbed-block:visible")
    assert visible.count() == len(before)
    assert all("prod" in t for t in visible.all_inner_texts())


def fence_bodies(markdown: str) -> list[str]:
    """Code fence bodies of a generated page, in order (fences of 3+ backticks)."""
    out = []
    for m in re.finditer(r"^( *)(`{3,})[^\n]*\n(.*?)\n\1\2$", markdown, re.M | re.S):
        indent = len(m.group(1))
        out.append("\n".join(line[indent:] for line in m.group(3).split("\n")))
    return out


def test_copy_button_copies_the_exact_command(page: Any, browser: Browser) -> None:
    page.goto(browser.base_url + f"runbooks/{STACK}/deploy/")
    # The deploy block of the first environment: Material copies its text content.
    block = page.locator(".tabbed-block:visible").first
    block.hover()
    button = block.locator(COPY_BUTTON)
    assert button.count() == 1
    button.click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    source = (REPO / "docs_src" / "runbooks" / STACK / "deploy.md").read_text(encoding="utf-8")
    assert copied.rstrip("\n") in fence_bodies(source)
    assert copied.startswith(("aws ", "DB", "export ", "#")) or "aws " in copied
    assert "cloudformation deploy" in copied
    # Teardown is flagged: an admonition says what is kept or that data is lost.
    teardown = page.locator(".admonition.warning, .admonition.danger")
    assert teardown.count() >= 1
    assert any(w in " ".join(teardown.all_inner_texts()).lower()
               for w in ("deletion", "data loss", "deleting"))
    # Every code block on a runbook page has a copy button.
    assert page.locator("pre > code").count() == page.locator(COPY_BUTTON).count()


# --------------------------------------------------------------------------- look and feel


def test_dark_mode_toggles(page: Any, browser: Browser) -> None:
    page.goto(browser.base_url + f"runbooks/{STACK}/")
    scheme = "() => document.body.getAttribute('data-md-color-scheme')"
    background = "() => getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(scheme) == "default"
    light = page.evaluate(background)
    page.locator("label.md-header__button[for='__palette_1']").click()
    page.wait_for_function(f"({scheme})() === 'slate'")
    dark = page.evaluate(background)
    assert light != dark
    # docgen's colours follow the scheme too.
    card_bg = page.evaluate(
        "() => getComputedStyle(document.querySelector('.docgen-card')).backgroundColor")
    assert card_bg not in ("rgb(245, 247, 251)", "rgba(0, 0, 0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview-dark.png"))
    page.locator("label.md-header__button[for='__palette_0']").click()
    page.wait_for_function(f"({scheme})() === 'default'")


CONTRAST_JS = """
(classes) => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const host = document.querySelector('article');
  return classes.map(cls => {
    const el = document.createElement('span');
    el.className = cls; el.textContent = 'x';
    host.appendChild(el);
    const st = getComputedStyle(el);
    const bg = st.backgroundColor;
    const [a, b] = [lum(st.color), lum(bg)].sort((x, y) => y - x);
    el.remove();  // computed styles are live: read them first
    return [cls, bg, (a + 0.05) / (b + 0.05)];
  });
}
"""


def test_severity_badges_keep_contrast_in_light_and_dark(page: Any, browser: Browser) -> None:
    page.goto(browser.base_url + f"runbooks/{STACK}/")
    classes = [f"docgen-badge docgen-badge--{s}" for s in
               ("critical", "high", "medium", "low", "info", "pass", "fail")]
    backgrounds = {}
    for scheme in ("default", "slate"):
        page.evaluate(f"() => document.body.setAttribute('data-md-color-scheme', '{scheme}')")
        results = page.evaluate(CONTRAST_JS, classes)
        for cls, _bg, ratio in results:
            assert ratio >= 4.5, f"{cls} in {scheme}: contrast {ratio:.2f} < 4.5 (WCAG AA)"
        backgrounds[scheme] = [bg for _, bg, _ in results]
        # Severities are told apart by colour, not only by their word.
        assert len(set(backgrounds[scheme][:4])) == 4, backgrounds[scheme]
    assert backgrounds["default"] != backgrounds["slate"]


def test_overview_has_a_styled_header_card(page: Any, browser: Browser) -> None:
    page.goto(browser.base_url + f"runbooks/{STACK}/")
    card = page.locator(".docgen-card")
    assert card.count() == 1
    labels = card.locator(".docgen-card__label").all_inner_texts()
    assert [x.lower() for x in labels[:3]] == ["region", "environments", "resources"]
    display = page.evaluate(
        "() => getComputedStyle(document.querySelector('.docgen-card')).display")
    assert display == "grid", "docgen.css is not applied"


def test_navigation_order_breadcrumbs_instant_and_back_to_top(
        page: Any, browser: Browser) -> None:
    page.goto(browser.base_url + f"runbooks/{STACK}/deploy/")
    links = page.eval_on_selector_all(
        "nav.md-nav--primary a.md-nav__link[href]", "els => els.map(e => e.href)")
    paths = [urlparse(u).path.lstrip("/") for u in links]
    runbooks = list(dict.fromkeys(p for p in paths if p.startswith("runbooks/")))
    stacks = stack_ids()

    def stack_of(path: str) -> str | None:
        first = path.removeprefix("runbooks/").split("/")[0]
        return first if first in stacks else None

    first_stack = next(i for i, p in enumerate(runbooks) if stack_of(p))
    handbook = [p.removeprefix("runbooks/").strip("/") or "index"
                for p in runbooks[:first_stack]]
    assert handbook and handbook[0] == "index", handbook
    assert [s for s in HANDBOOK_ORDER if s in handbook] == handbook
    # Stacks are contiguous sections in docgen.yml order, after the handbook pages.
    order = list(dict.fromkeys(stack_of(p) for p in runbooks[first_stack:]))
    assert order == [s for s in stacks if s in order] and None not in order, order
    in_stack = [p.removeprefix(f"runbooks/{STACK}/").strip("/") or "index"
                for p in runbooks if stack_of(p) == STACK]
    assert in_stack[0] == "index" and len(in_stack) >= 4, in_stack
    assert [s for s in STACK_ORDER if s in in_stack] == in_stack
    # Breadcrumbs (navigation.path) lead back to the stack.
    crumbs = page.locator(".md-path .md-path__link").all_inner_texts()
    assert len(crumbs) >= 2 and "Runbooks" in crumbs, crumbs
    # Instant navigation: following a link swaps the page without a reload.
    page.evaluate("() => { window.__docgenMarker = 42; }")
    page.locator("nav.md-nav--primary a.md-nav__link[href$='parameters/']").first.click()
    page.wait_for_url(re.compile(rf"runbooks/{STACK}/parameters/"))
    page.wait_for_function("() => document.querySelector('article h1') &&"
                           " /parameters/i.test(document.title + ' ' + location.href)")
    assert page.evaluate("() => window.__docgenMarker") == 42
    # Back to top appears when scrolling back up a long page.
    page.mouse.wheel(0, 4000)
    page.wait_for_timeout(300)
    page.mouse.wheel(0, -600)
    page.wait_for_selector(".md-top:not([hidden])")


def test_deploy_page_prints_every_environment(page: Any, browser: Browser) -> None:
    page.goto(browser.base_url + f"runbooks/{STACK}/deploy/")
    blocks = page.locator(".tabbed-block").count()
    page.emulate_media(media="print")
    assert page.locator(".tabbed-block:visible").count() == blocks
    for hidden in (".md-header", ".md-sidebar--primary", ".md-footer", COPY_BUTTON):
        assert not page.locator(hidden).first.is_visible(), hidden
    ARTIFACTS.mkdir(exist_ok=True)
    page.pdf(path=str(ARTIFACTS / "deploy-print.pdf"), format="A4", print_background=True)
    page.emulate_media(media="screen")


# --------------------------------------------------------------------------- screenshots


def test_screenshots(page: Any, browser: Browser, update_goldens: bool) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(browser.base_url)
    page.wait_for_load_state("networkidle")
    home = ARTIFACTS / "home.png"
    page.screenshot(path=str(home))
    page.goto(browser.base_url + f"runbooks/{STACK}/")
    wait_for_diagrams(page)
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    page.evaluate("() => localStorage.clear()")  # linked tabs persist: show the first
    page.goto(browser.base_url + f"runbooks/{STACK}/deploy/")
    page.screenshot(path=str(ARTIFACTS / "deploy.png"), full_page=True)
    for name in ("home.png", "overview.png", "deploy.png"):
        data = (ARTIFACTS / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    if update_goldens or not README_SCREENSHOT.exists():
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(home, README_SCREENSHOT)
