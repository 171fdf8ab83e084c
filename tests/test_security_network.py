"""No network at render time: HTML and PDF render with every socket refused, and the outputs load nothing remote.

The kernel that executes a notebook talks to papermill over loopback sockets, so the execution happens first;
then, in this process, socket connections and name lookups are made to fail and recorded, and the HTML and the
PDF are rendered from the executed notebook. A second notebook carries remote references on purpose (images,
stylesheets, scripts, frames, CSS imports) to show that the renderer drops them instead of fetching them.
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import nbformat
import pytest

from adversarial import packs as hostile  # noqa: E402  (tests/ is on sys.path: conftest.py)

REMOTE_HTML = """
<p>Remote things a notebook output might carry:</p>
<img src="https://evil.example/track.png" alt="tracker">
<img srcset="https://evil.example/a.png 1x, //evil.example/b.png 2x" src="data:image/png;base64,iVBORw0KGgo=" alt="x">
<link rel="stylesheet" href="https://cdn.example/theme.css">
<script src="https://cdn.example/lib.js"></script>
<iframe src="https://evil.example/frame"></iframe>
<video poster="http://evil.example/p.jpg"></video>
<style>@import url("https://evil.example/x.css"); p { background: url(http://evil.example/bg.png); }</style>
<p style="background-image:url('https://evil.example/inline.png')">styled</p>
<object data="https://evil.example/o.swf"></object>
"""
REMOTE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20" '
              'height="20"><image href="https://evil.example/z.png" width="20" height="20"/>'
              '<image xlink:href="//evil.example/y.png" width="20" height="20"/></svg>')


def _remote_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Remote references\n\n![remote](https://evil.example/md.png)\n\n"
                                      "[a link the reader may click](https://www.gov.uk/)"),
        nbformat.v4.new_code_cell("show()", outputs=[
            nbformat.v4.new_output("display_data", data={"text/html": REMOTE_HTML, "text/plain": "html"}),
            nbformat.v4.new_output("display_data", data={"image/svg+xml": REMOTE_SVG, "text/plain": "svg"}),
            nbformat.v4.new_output("display_data", data={"text/markdown": "![x](http://evil.example/m.png)",
                                                         "text/plain": "md"}),
        ]),
    ]
    return nb


@pytest.fixture
def hostile_packs():
    """The hostile packs, built (kernels talk over local sockets) before the network is cut off."""
    return hostile.built()


@pytest.fixture
def no_network(monkeypatch):
    """Refuse (and record) every outgoing connection and name lookup made in this process."""
    attempts: list[str] = []

    def refuse(kind):
        def blocked(*args, **kwargs):
            attempts.append(f"{kind}{args[1:2] if kind.startswith('socket.') else args[:1]}")
            raise OSError(f"network access refused in this test ({kind})")
        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket.socket, "sendto", refuse("socket.sendto"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", refuse("gethostbyname"))
    return attempts


_REMOTE_ATTR = re.compile(r"""<(?P<tag>[a-zA-Z][\w:-]*)\b[^>]*?\s"""
                          r"""(?P<attr>src|href|srcset|data|poster|xlink:href|action)"""
                          r"""\s*=\s*["']?[^"'>]*?(?:https?:)?//""", re.I)
_CSS_REMOTE = re.compile(r"""@import|url\(\s*["']?\s*(?:https?:)?//""", re.I)
_STYLES = re.compile(r"""<style\b[^>]*>(.*?)</style>|\sstyle\s*=\s*("[^"]*"|'[^']*')""", re.I | re.S)


def remote_references(html: str) -> list[str]:
    """Every reference to something outside the page that a browser would load by itself (links excluded)."""
    found = [m.group(0)[:120] for m in _REMOTE_ATTR.finditer(html) if m.group("tag").lower() not in ("a", "area")]
    # Namespace declarations are identifiers, not resources.
    found = [f for f in found if "xmlns" not in f or re.search(r"\s(src|href|srcset|data|poster)=", f)]
    css = " ".join(m.group(1) or m.group(2) for m in _STYLES.finditer(html))  # text on the page is not CSS
    found += [m.group(0) for m in _CSS_REMOTE.finditer(css)]
    return found


def _render_both(nb, tmp_path: Path, title: str):
    from cinb.render import render_html, render_pdf

    html = render_html(nb, title=title, marking="OFFICIAL", meta={"generated": "2026-11-01T09:00:00"})
    pdf = render_pdf(html, tmp_path / "pack.pdf")
    return html, pdf


@pytest.mark.slow
def test_real_pack_renders_offline_and_references_nothing_remote(tmp_path, hostile_packs, no_network):
    built = hostile_packs
    notebook = built["internal"] / "review.ipynb"
    assert notebook.exists(), [r.error for r in built["batch"].results]
    nb = nbformat.read(str(notebook), as_version=4)
    html, pdf = _render_both(nb, tmp_path, "NB-SD-001 review")
    assert no_network == [], f"rendering tried the network: {no_network[:5]}"
    assert remote_references(html) == []
    assert "default-src 'none'" in html  # and a browser is told to load nothing from anywhere
    assert pdf.stat().st_size > 10_000 and pdf.read_bytes()[:5] == b"%PDF-"


def test_remote_references_in_outputs_are_dropped_not_fetched(tmp_path, no_network):
    html, pdf = _render_both(_remote_notebook(), tmp_path, "Remote references")
    assert no_network == [], f"rendering tried the network: {no_network[:5]}"
    assert remote_references(html) == [], remote_references(html)
    tags_naming_it = re.findall(r"<([a-zA-Z][\w:-]*)\b[^>]*evil\.example", html)
    assert set(tags_naming_it) <= {"a"}, tags_naming_it
    assert 'href="https://www.gov.uk/"' in html  # a link a reader clicks is kept: it loads nothing by itself
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_the_blocker_itself_works(no_network):
    """Guard against a test that cannot fail: a connection attempt is refused and recorded."""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(OSError):
        socket.getaddrinfo("example.org", 443)
    assert len(no_network) == 2
    assert remote_references('<img src="https://x.example/a.png">')
    assert remote_references("<style>@import url(x);</style>") and remote_references('<p style="background:url(//x)">')
    assert remote_references("<p>@import url(https://x) written as text</p>") == []
    assert remote_references('<a href="https://www.gov.uk/">x</a>') == []
