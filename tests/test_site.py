"""The built documentation site, read as a visitor reads it.

``mkdocs build --strict`` catches what MkDocs knows is wrong; this catches what renders
wrong: reST roles left raw (``:meth:`aclose```), doctest examples rendered as prose or
blockquotes instead of code, links to pages or anchors that do not exist, and pages with
no content. It builds the site once (the ``docs`` nox session runs it; where mkdocs is
not installed, as in the ``tests`` session, it is skipped).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("mkdocs", reason="the docs session checks the built site")

ROOT = Path(__file__).parent.parent
ROLE = re.compile(r":(?:meth|class|func|attr|data|exc|mod|obj|ref|py:\w+):`?")


class Page(HTMLParser):
    """What a built page holds: its ids, its links, and its visible text, in and out of code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.prose: list[str] = []  # text outside <pre>/<code>
        self.article: list[str] = []  # text of the page's own content
        self._code = 0
        self._article = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        fields = dict(attrs)
        if fields.get("id"):
            self.ids.add(fields["id"] or "")
        if tag == "a" and fields.get("href"):
            self.links.append(fields["href"] or "")
        if tag in {"pre", "code"}:
            self._code += 1
        if tag == "article":
            self._article += 1
        if tag in {"script", "style"}:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"pre", "code"}:
            self._code -= 1
        if tag == "article":
            self._article -= 1
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if not self._code:
            self.prose.append(data)
        if self._article:
            self.article.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(built)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return built


def pages(site: Path) -> Iterator[Path]:
    yield from (path for path in sorted(site.rglob("*.html")) if path.name != "404.html")


def read(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_the_site_has_every_page(site: Path) -> None:
    built = {path.relative_to(site).parent.name or "index" for path in pages(site)}
    written = {path.stem for path in (ROOT / "docs").glob("*.md")}
    assert written <= built


def test_no_page_is_empty(site: Path) -> None:
    for path in pages(site):
        words = " ".join(read(path).article).split()
        assert len(words) >= 40, f"{path.relative_to(site)} has {len(words)} words"


def test_no_rest_role_is_left_raw(site: Path) -> None:
    for path in pages(site):
        found = ROLE.findall(" ".join(read(path).prose))
        assert not found, f"{path.relative_to(site)}: raw roles {found[:5]}"


def test_examples_render_as_code_not_prose(site: Path) -> None:
    for path in pages(site):
        prose = " ".join(read(path).prose)
        assert ">>>" not in prose, f"{path.relative_to(site)}: a >>> example rendered as prose"
        assert "Traceback (most recent call last)" not in prose, path
    reference = (site / "reference" / "index.html").read_text(encoding="utf-8")
    assert "<blockquote>" not in reference  # >>> lines read as nested Markdown quotes
    # Examples as highlighted console sessions: prompts inside code, not stripped quotes.
    assert reference.count('<span class="gp">&gt;&gt;&gt; </span>') >= 20


def test_a_returns_section_is_one_value(site: Path) -> None:
    reference = (site / "reference" / "index.html").read_text(encoding="utf-8")
    sections = reference.split('<span class="doc-section-title">Returns:</span>')[1:]
    assert len(sections) >= 3
    for section in sections:
        table = section[: section.index("</table>")]
        # A continuation line read as a second return value shows as a second row.
        assert table.count('<tr class="doc-section-item">') == 1, table[:300]


def test_internal_links_and_anchors_resolve(site: Path) -> None:
    broken: list[str] = []
    for path in pages(site):
        for href in read(path).links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)} -> {href}")
                continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html" and anchor not in read(target).ids:
                broken.append(f"{path.relative_to(site)} -> {href} (no such anchor)")
    assert not broken, "\n".join(broken[:20])
