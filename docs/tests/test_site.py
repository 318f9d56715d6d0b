"""The docs site read as a visitor reads it: built, served on loopback, opened in headless
Chromium that may reach nothing but that server (and the site's folder, for the pages opened
from disk). Every page must load with no console error and no failed or blocked request; the
home page's cards must be HTML, not markdown; every mermaid block must have become an SVG;
search must answer. Screenshots of the home page and of the illustrated connection are kept in
build/docs-check/ (ignored) for a person to look at.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from devtools import Browser, PageLog, find_chromium

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "build" / "docs-check"
SITE = CHECK / "site"
SCREENSHOTS = {"index.html": "home.png", "explanation/connection.html": "connection.png"}
FROM_DISK = ("index.html", "explanation/connection.html")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site() -> Path:
    """A fresh strict build of the site (the same command `make docs` runs)."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(SITE)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
        timeout=300,
    )
    return SITE


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def browser(server: str, site: Path) -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (CI installs it: .ci/system-packages.txt)")
    browser = Browser(executable, allowed=(server, site.as_uri() + "/"))
    try:
        yield browser
    finally:
        browser.close()


def pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html"))


def test_the_site_has_the_pages_the_issue_asks_for(site: Path) -> None:
    assert len([p for p in pages(site) if p != "404.html"]) >= 16


def test_every_protocol_phase_page_has_a_sequence_diagram(site: Path) -> None:
    phase_pages = sorted((site / "protocol").glob("*.html"))
    assert len(phase_pages) >= 7
    assert [p.name for p in phase_pages if _diagrams_in(p) == 0] == []


def test_every_page_loads_offline_and_draws_its_diagrams(
    site: Path, server: str, browser: Browser
) -> None:
    CHECK.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    diagrams = 0
    for page in pages(site):
        problems += read(browser, server + page, site / page)
        diagrams += _diagrams_in(site / page)
        if page in SCREENSHOTS:
            browser.screenshot(CHECK / SCREENSHOTS[page])
    assert problems == []
    assert diagrams > 0  # (a site without diagrams would make the SVG check above empty)
    for name in SCREENSHOTS.values():
        assert (CHECK / name).stat().st_size > 10_000


def test_pages_opened_from_disk_work_too(site: Path, browser: Browser) -> None:
    problems: list[str] = []
    for page in FROM_DISK:
        problems += read(browser, (site / page).as_uri(), site / page)
    assert problems == []
    assert search(browser, "handshake") > 0


def read(browser: Browser, url: str, source: Path) -> list[str]:
    """Open one page, wait for its diagrams; what went wrong, one line each."""
    expected = _diagrams_in(source)
    log = browser.open(url)
    browser.wait_until(
        "document.querySelectorAll('pre.mermaid').length === 0 && "
        f"document.querySelectorAll('div.mermaid').length === {expected}",
        f"{url}: {expected} mermaid diagram(s) drawn",
    )
    problems = []
    svgs = _diagram_svgs(browser)
    if svgs != [True] * expected:
        problems.append(f"diagrams drawn as SVG: {svgs}")
    problems += _log_problems(browser, log)
    return [f"{url}: {line}" for line in problems]


def _log_problems(browser: Browser, log: PageLog) -> list[str]:
    problems = list(log.console_errors)
    problems += [f"failed request {line}" for line in log.failed_requests]
    problems += [f"blocked request to {url}" for url in log.blocked_requests]
    foreign = [url for url in log.requests if not url.startswith((*browser.allowed, "data:"))]
    problems += [f"request outside the site: {url}" for url in foreign]
    return problems


def _diagrams_in(page: Path) -> int:
    return len(re.findall(r'<pre class="mermaid"', page.read_text("utf-8")))


def _diagram_svgs(browser: Browser) -> list[bool]:
    """For each drawn diagram's host, whether its (closed) shadow root holds an <svg>."""
    found = []
    for node in browser.flat_nodes():
        attributes = node.get("attributes", [])
        if node.get("nodeName") == "DIV" and "mermaid" in attributes[1::2]:
            names = [n.get("nodeName") for r in node.get("shadowRoots", []) for n in _walk(r)]
            found.append("svg" in names)
    return found


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.get("children", []))


def search(browser: Browser, query: str) -> int:
    """Type a query into the search box of the open page; how many results it lists."""
    browser.evaluate("document.querySelector('.md-search__input').focus()")
    browser.call("Input.insertText", session=True, text=query)
    count: int = browser.wait_until(
        "document.querySelectorAll('.md-search-result__item').length",
        f"search results for {query!r}",
    )
    assert _log_problems(browser, browser.log) == []
    return count


def test_the_home_page_cards_are_html(server: str, browser: Browser) -> None:
    browser.open(server + "index.html")
    cards = browser.evaluate("document.querySelectorAll('.grid.cards > ul > li').length")
    assert cards >= 4
    text = browser.evaluate("document.querySelector('.grid.cards').innerText")
    assert "**" not in text and "](" not in text


def test_search_answers_a_query(server: str, browser: Browser) -> None:
    browser.open(server + "index.html")
    assert search(browser, "handshake") > 0


def test_every_requirement_has_a_stable_anchor_on_the_rendered_spec(site: Path) -> None:
    spec = (ROOT / "spec" / "protocol.md").read_text("utf-8")
    requirements = re.findall(r"\*\*\[([A-Z]+-\d+)\]\*\*", spec)
    page = (site / "reference" / "protocol.html").read_text("utf-8")
    missing = [r for r in requirements if f'id="{r.lower()}"' not in page]
    assert len(requirements) > 100 and missing == []


def test_the_conformance_report_links_resolve_on_the_site(site: Path) -> None:
    from conformance.report import spec_link

    spec = (ROOT / "spec" / "protocol.md").read_text("utf-8")
    for requirement in set(re.findall(r"\*\*\[([A-Z]+-\d+)\]\*\*", spec)):
        page, _, fragment = spec_link(requirement).partition("#")
        assert f'id="{fragment}"' in (site / page).read_text("utf-8"), requirement
