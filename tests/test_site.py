"""The built documentation site, read as a visitor reads it.

``mkdocs build --strict`` catches what MkDocs knows is wrong; this catches what renders
wrong: reST roles left raw (``:meth:`aclose```), doctest examples rendered as prose or
blockquotes instead of code, links to pages or anchors that do not exist, and pages with
no content. It builds the site once (the ``docs`` nox session runs it; where mkdocs is
not installed, as in the ``tests`` session, it is skipped).

It also checks what a reader sees at 1280 px: names in tables never break mid-word (the
stylesheet's rule, and, where Chromium is installed, the pages laid out by it), and no
page cites the project's internal history (issue numbers, commit hashes): that belongs
in the changelog.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
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
        self.read: list[str] = []  # text of the page's own content outside code blocks
        self.table_code: list[tuple[str, str]] = []  # (class, text) of code in tables
        self._code = 0
        self._pre = 0
        self._table = 0
        self._table_code: list[str] | None = None
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
        if tag == "pre":
            self._pre += 1
        if tag == "table":
            self._table += 1
        if tag == "code" and self._table and not self._pre:
            self._table_code = [fields.get("class") or ""]
        if tag == "article":
            self._article += 1
        if tag in {"script", "style"}:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"pre", "code"}:
            self._code -= 1
        if tag == "pre":
            self._pre -= 1
        if tag == "table":
            self._table -= 1
        if tag == "code" and self._table_code is not None:
            kind, *text = self._table_code
            self.table_code.append((kind, "".join(text)))
            self._table_code = None
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
            if not self._pre:
                self.read.append(data)
        if self._table_code is not None:
            self._table_code.append(data)


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


def test_the_site_publishes_no_source_file(site: Path) -> None:
    """MkDocs copies every file of docs/ that is not a page: a build helper would be served."""
    published = sorted(
        str(path.relative_to(site))
        for path in site.rglob("*")
        if path.suffix in {".py", ".pyc", ".toml", ".cfg", ".sh"} or path.name == "__pycache__"
    )
    assert published == []


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
    ids = functools.cache(lambda target: read(target).ids)  # the reference is linked often
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
            if anchor and target.suffix == ".html" and anchor not in ids(target):
                broken.append(f"{path.relative_to(site)} -> {href} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


#: How a page would cite the project's history: issues and pull requests by number, commits.
ISSUE = re.compile(r"\b(?:issues?|PR|pull request)\s*#?\d+\b|(?<![\w&/])#\d+\b", re.I)
COMMIT = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def test_no_page_cites_issue_numbers_or_commits(site: Path) -> None:
    cited: list[str] = []
    for path in pages(site):
        if path.parent.name == "changelog":  # history belongs there
            continue
        page = read(path)
        text = " ".join(page.article)
        cited += [f"{path.relative_to(site)}: {found}" for found in ISSUE.findall(text)]
        # Outside code blocks: a sample may print hex (a signature's first digits).
        cited += [
            f"{path.relative_to(site)}: {found}" for found in COMMIT.findall(" ".join(page.read))
        ]
    assert not cited, cited


def test_the_internal_reference_check_finds_them() -> None:
    for text in ("see issue 14", "issue #8", "(#14)", "PR 3", "pull request 12"):
        assert ISSUE.search(text), text
    for text in ("&#160;", "close #", "row 14", "C=100", "02006"):
        assert not ISSUE.search(text), text
    assert COMMIT.findall("@493b185 and 1492922c0ffee and 256612345678901 and deadbeef") == [
        "493b185",
        "1492922c0ffee",
    ]


STYLESHEET = ROOT / "docs" / "stylesheets" / "extra.css"


def css_rules(text: str) -> dict[str, dict[str, str]]:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    rules = {}
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", text):
        declarations = (part.split(":", 1) for part in body.split(";") if ":" in part)
        rules[" ".join(selector.split())] = {k.strip(): v.strip() for k, v in declarations}
    return rules


def test_names_in_tables_do_not_wrap(site: Path) -> None:
    rules = css_rules(STYLESHEET.read_text())
    assert rules[".md-typeset table code"]["white-space"] == "nowrap"
    assert rules[".md-typeset table code"]["word-break"] == "normal"
    assert rules[".md-typeset table code.wrap"] == {"white-space": "normal"}
    assert (site / "stylesheets" / "extra.css").read_text() == STYLESHEET.read_text()
    checked = 0
    for path in pages(site):
        source = path.read_text(encoding="utf-8")
        assert re.search(r'<link rel="stylesheet" href="[./]*stylesheets/extra\.css"', source), path
        assert re.search(r'class="[^"]*\bmd-typeset\b', source), path  # the rule's scope
        for kind, text in read(path).table_code:
            checked += 1
            if "wrap" in kind.split():  # the exception: long code with spaces, not a name
                assert " " in text and len(text) > 40, (path, text)
    assert checked >= 300  # the pages' tables and the reference's parameter tables


#: Lays every page out at 1280 px in an iframe; lists code in tables that wraps, and wide tables.
PROBE = """<!doctype html><meta charset="utf-8"><pre id="found"></pre><script>
const found = {};
function probe(frame) {
  const page = frame.contentDocument;
  const wrapped = [...page.querySelectorAll("article table code:not(.wrap)")]
    .filter((code) => code.getClientRects().length > 1).map((code) => code.textContent);
  const tables = [...page.querySelectorAll("article table")];
  const width = page.querySelector("article").getBoundingClientRect().width;
  const wide = tables.filter((table) => table.getBoundingClientRect().width > width + 1)
    .map((table) => table.rows[0].textContent.trim().slice(0, 60));
  found[frame.dataset.page] = {wrapped, wide, tables: tables.length};
  document.getElementById("found").textContent = JSON.stringify(found);
}
</script>
"""


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Chromium to lay pages out")
def test_tables_at_1280_px_keep_names_whole_and_fit(site: Path) -> None:
    names = [path.relative_to(site).parent.as_posix() for path in pages(site)]
    frames = "".join(
        f'<iframe data-page="{name}" src="/{name}/" width="1280" height="900" onload="probe(this)">'
        "</iframe>"
        for name in names
    )
    (site / "probe.html").write_text(PROBE + frames, encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *_: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory() as profile:
            shown = subprocess.run(
                [
                    "chromium",
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={profile}",
                    "--window-size=1280,2000",
                    "--virtual-time-budget=20000",
                    "--dump-dom",
                    f"http://127.0.0.1:{server.server_address[1]}/probe.html",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        (site / "probe.html").unlink()  # not a page of the site
    dumped = re.search(r'<pre id="found">(.*?)</pre>', shown, re.S)
    assert dumped, shown[-2000:]
    found = json.loads(html.unescape(dumped[1]))
    assert set(found) == set(names)
    assert sum(page["tables"] for page in found.values()) >= 20
    wrapped = {name: page["wrapped"] for name, page in found.items() if page["wrapped"]}
    assert not wrapped
    wide = {name: page["wide"] for name, page in found.items() if page["wide"]}
    assert not wide  # a table wider than the page scrolls sideways: not readable at 1280 px


def test_the_reference_documents_every_public_name(site: Path) -> None:
    import opay_async  # noqa: PLC0415 (only where the site is built)
    import opay_async.testing  # noqa: PLC0415

    ids = read(site / "reference" / "index.html").ids
    public = [f"opay_async.{name}" for name in opay_async.__all__ if name != "__version__"]
    public += [f"opay_async.testing.{name}" for name in opay_async.testing.__all__]
    missing = [name for name in public if name not in ids]
    assert not missing, missing


def test_attrs_classes_show_the_constructor_attrs_writes(site: Path) -> None:
    import inspect  # noqa: PLC0415

    import attrs  # noqa: PLC0415

    import opay_async  # noqa: PLC0415 (only where the site is built)
    import opay_async.testing  # noqa: PLC0415

    text = (site / "reference" / "index.html").read_text(encoding="utf-8")
    checked = []
    for module in (opay_async, opay_async.testing):
        for name in module.__all__:
            kind = getattr(module, name)
            if not (isinstance(kind, type) and attrs.has(kind)):
                continue
            start = text.index(f'id="{module.__name__}.{name}"')
            end = text.find('class="doc doc-heading"', text.index("</h", start))
            section = re.sub(r"<[^>]+>", "", html.unescape(text[start:end]))
            shown = " ".join(section.split())
            assert f"{name}(" in shown, name
            for parameter in inspect.signature(kind).parameters:
                assert f"{parameter}:" in shown, (name, parameter)
            checked.append(name)
    assert {"Amount", "CloseRequest", "Payment", "RetryPolicy", "Fault"} <= set(checked)
