"""The month's index page: ``<out>/<period>/index.html``, one accessible, self-contained page linking every pack.

No script, no stylesheet or font from elsewhere, relative links only, so the folder can be copied or zipped and
opened anywhere. A table with a caption and header cells (``scope``) lists each pack with its status in words
(not colour alone), its headline ratings and links to its files; a failed pack shows its reason and a link to its
diagnostics under ``_failed/``.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import __version__
from .audience import entry_for_audience
from .branding import Brand, check_accent, check_text
from .errors import UsageError
from .sanitize import CONTENT_SECURITY_POLICY

INDEX_NAME = "index.html"

STATUS_WORDS = {"ok": "Built", "skipped": "Unchanged", "failed": "Failed"}
_STATUS_MARK = {"ok": "✓", "skipped": "=", "failed": "✗"}
_FILE_LABELS = {"html": "HTML", "pdf": "PDF", "json": "figures (JSON)", "ipynb": "notebook"}
_KIND_WORDS = {"contract": "Contract review", "portfolio": "Portfolio review", "supplier": "Supplier scorecard"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 2rem auto;
       max-width: 75rem; padding: 0 1rem; color: #0b0c0c; line-height: 1.45; }
h1 { font-size: 1.8rem; margin-bottom: .25rem; }
p.meta { color: #505a5f; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
caption { text-align: left; font-weight: 600; padding: .5rem 0; }
th, td { border-bottom: 1px solid #b1b4b6; padding: .45rem .5rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #0b0c0c; }
th[scope=row] { font-weight: 600; }
.status { font-weight: 700; white-space: nowrap; }
.status-failed { color: #a3220f; }
.status-ok { color: #00703c; }
.status-skipped { color: #3d4449; }
.reason { font-size: .92rem; max-width: 32rem; overflow-wrap: anywhere; }
.num { text-align: right; white-space: nowrap; }
a { color: #1d70b8; }
a:focus { outline: 3px solid #ffdd00; background: #ffdd00; color: #0b0c0c; }
ul.files { list-style: none; margin: 0; padding: 0; }
.sub { color: #505a5f; font-weight: 400; font-size: .92rem; }
@media print { a { color: inherit; } }
"""

# Branding (cinb.branding), added only when a brand_* parameter is set; --accent is a checked #RRGGBB.
_BRAND_CSS = """
.brand { margin: 0 0 1.25rem; }
.brand-logo { display: block; width: auto; height: auto; max-width: 16rem; max-height: 5rem; margin: 0 0 .75rem; }
.brand-name { margin: 0; padding: .45rem .75rem; font-weight: 700; font-size: 1.15rem; color: #ffffff;
              background-color: var(--accent, #0b0c0c); }
thead th { border-bottom-color: var(--accent, #0b0c0c); }
.brand-footer { color: #505a5f; margin-top: 2rem; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _href(rel: str) -> str:
    # Relative links only: a manifest path is relative to the month folder; each segment is percent-encoded.
    return quote(str(rel).replace("\\", "/").lstrip("/"), safe="/")


def _name(entry: dict[str, Any]) -> tuple[str, str]:
    kind = entry.get("kind")
    head = entry.get("headline") or {}
    subject = entry.get("subject")
    if kind == "contract":
        name = str(subject)
        extra = head.get("supplier") or ""
    elif kind == "supplier":
        name, extra = str(subject), ""
    else:
        name, extra = "Portfolio", ""
    if entry.get("audience") == "supplier":
        extra = (extra + " · " if extra else "") + "supplier version"
    return name, extra


def _ratings(head: dict[str, Any]) -> str:
    counts = head.get("ratings") or {}
    if not isinstance(counts, dict) or not counts:
        return ""
    return ", ".join(f"{int(n)} {_e(r)}" for r, n in counts.items() if n)


def _headline(entry: dict[str, Any]) -> tuple[str, str]:
    head = entry.get("headline") or {}
    if entry.get("status") == "failed" or not head:
        return "—", "—"
    if entry.get("kind") == "contract":
        overall = _e(head.get("overall") or "Not rated")
        score = head.get("score")
        if isinstance(score, (int, float)):
            overall += f" <span class=\"score\">(score {score:.1f})</span>"
    else:
        n = head.get("contracts")
        overall = f"{_e(n)} contract{'s' if n != 1 else ''}" if n is not None else "—"
    detail = _ratings(head) or "—"
    extra = []
    if head.get("concerns"):
        extra.append(f"{_e(head['concerns'])} special-cause concern{'s' if head['concerns'] != 1 else ''}")
    if head.get("off_track"):
        extra.append(f"{_e(head['off_track'])} commitment{'s' if head['off_track'] != 1 else ''} off track")
    if extra:
        detail += "<br>" + "; ".join(extra)
    return overall, detail


def _files(entry: dict[str, Any]) -> str:
    files = entry.get("files") or {}
    items = []
    for fmt in ("html", "pdf", "json", "ipynb"):
        if fmt in files:
            label = _FILE_LABELS[fmt]
            name, _ = _name(entry)
            # The visible word is short; the accessible name says whose file it is.
            items.append(f'<li><a href="{_href(files[fmt])}" aria-label="{_e(label)} of {_e(name)}">'
                         f"{_e(label)}</a></li>")
    if entry.get("status") == "failed" and entry.get("failure"):
        name, _ = _name(entry)
        items.append(f'<li><a href="{_href(entry["failure"])}/error.txt" aria-label="error details of {_e(name)}">'
                     "error details</a></li>")
    return '<ul class="files">' + "".join(items) + "</ul>" if items else "—"


def _row(entry: dict[str, Any]) -> str:
    status = entry.get("status") or "failed"
    name, extra = _name(entry)
    word = STATUS_WORDS.get(status, status.title())
    overall, detail = _headline(entry)
    reason = ""
    if status == "failed" and entry.get("error"):
        reason = f'<div class="reason">{_e(entry["error"])}</div>'
    seconds = entry.get("seconds")
    took = f"{float(seconds):.1f} s" if isinstance(seconds, (int, float)) and status != "skipped" else "—"
    kind = _KIND_WORDS.get(entry.get("kind"), _e(entry.get("kind")))
    who = f"{_e(name)}" + (f'<br><span class="sub">{_e(extra)}</span>' if extra else "")
    return (
        "<tr>"
        f'<th scope="row">{who}</th>'
        f"<td>{kind}</td>"
        f'<td><span class="status status-{_e(status)}"><span aria-hidden="true">{_STATUS_MARK.get(status, "")} '
        f"</span>{_e(word)}</span>{reason}</td>"
        f"<td>{overall}</td>"
        f"<td>{detail}</td>"
        f"<td>{_files(entry)}</td>"
        f'<td class="num">{took}</td>'
        "</tr>"
    )


def _month(period: str) -> str:
    try:
        return dt.date(int(period[:4]), int(period[5:7]), 1).strftime("%B %Y")
    except (ValueError, TypeError):
        return str(period)


def _brand(manifest: dict[str, Any]) -> Brand:
    """The branding of the run that last wrote ``manifest`` (its ``last_run.settings``), as far as it still holds.

    The index is rewritten after every pack: a logo that can no longer be read is left out rather than failing
    the batch (the packs themselves check it).
    """
    settings = ((manifest.get("last_run") or {}).get("settings") or {})
    if not isinstance(settings, dict):
        return Brand()
    try:
        return Brand.from_settings(settings)
    except UsageError:
        pass
    try:
        return Brand.from_settings({k: v for k, v in settings.items() if k != "brand_logo"})
    except UsageError:
        return Brand()


def _brand_parts(brand: Brand) -> tuple[str, str, str]:
    """The branding's stylesheet, header (name and logo) and footer, as HTML; empty strings without branding."""
    if not brand:
        return "", "", ""
    accent = check_accent(brand.accent)  # it goes into the stylesheet as it is
    css = _BRAND_CSS + (f":root {{ --accent: {accent}; }}\na {{ color: {accent}; }}\n" if accent else "")
    name, footer = check_text("brand_name", brand.name), check_text("brand_footer", brand.footer)
    header = ""
    if name or brand.logo:
        logo = (f'<img class="brand-logo" src="{_e(brand.logo.data_uri())}" alt="{_e(brand.logo_alt)}">'
                if brand.logo else "")
        header = (f'<header class="brand">{logo}' + (f'<p class="brand-name">{_e(name)}</p>' if name else "")
                  + "</header>\n")
    return css, header, f'<footer><p class="brand-footer">{_e(footer)}</p></footer>\n' if footer else ""


def render_index(manifest: dict[str, Any], brand: Brand | None = None) -> str:
    """The index page of a month's manifest, as HTML text.

    ``brand`` is the authority's branding (name and logo above the title, accent colour, footer line); by
    default the branding of the run that last wrote the manifest (``last_run.settings``). Without any, the page
    is as it always was.

    Examples
    --------
    >>> page = render_index({"period": "2026-10", "packs": [{"key": "C1", "kind": "contract", "subject": "C1",
    ...     "status": "ok", "files": {"html": "C1/review.html"}, "headline": {"overall": "Good"}}]})
    >>> 'href="C1/review.html"' in page and "<th scope=\\"row\\">C1</th>" in page
    True
    """
    period = str(manifest.get("period", ""))
    packs = list(manifest.get("packs", []))
    counts = {s: sum(p.get("status") == s for p in packs) for s in ("ok", "skipped", "failed")}
    title = f"Review packs, {_month(period)}"
    updated = manifest.get("updated") or dt.datetime.now().astimezone().isoformat(timespec="seconds")
    summary = (f"{len(packs)} pack{'s' if len(packs) != 1 else ''}: {counts['ok']} built, "
               f"{counts['skipped']} unchanged since an earlier run, {counts['failed']} failed.")
    failed_note = ""
    if counts["failed"]:
        failed_note = ("<p><strong>Some packs failed.</strong> They are not published; the reason is shown in the "
                       "table and the executed notebook and logs are kept under <code>_failed/</code>.</p>")
    # Each row as its pack's audience may see it (cinb.audience), whoever wrote the manifest.
    rows = "\n".join(_row(entry_for_audience(p)) for p in packs) or '<tr><td colspan="7">No packs yet.</td></tr>'
    brand = _brand(manifest) if brand is None else brand
    brand_css, brand_header, brand_footer = _brand_parts(brand)
    page_title = f"{title} — {brand.name}" if brand.name else title
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cinb {_e(__version__)}">
<title>{_e(page_title)}</title>
<style>{_CSS}{brand_css}</style>
</head>
<body>
{brand_header}<main>
<h1>{_e(title)}</h1>
<p class="meta">Updated {_e(updated)} by cinb {_e(__version__)}.</p>
<h2>Summary</h2>
<p>{_e(summary)}</p>
{failed_note}
<h2>Packs</h2>
<table>
<caption>Every pack of {_e(_month(period))}: status, headline ratings and files</caption>
<thead>
<tr><th scope="col">Pack</th><th scope="col">Kind</th><th scope="col">Status</th>
<th scope="col">Overall</th><th scope="col">KPI ratings (latest month)</th><th scope="col">Files</th>
<th scope="col">Build time</th></tr>
</thead>
<tbody>
{rows}
</tbody>
</table>
<p>Machine-readable: <a href="manifest.json">manifest.json</a> (files, hashes, status, timings, errors).</p>
</main>
{brand_footer}</body>
</html>
"""


def write_index(period_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``index.html`` for ``manifest`` into ``period_dir`` (atomically)."""
    from .files import atomic_write_bytes

    path = Path(period_dir) / INDEX_NAME
    atomic_write_bytes(path, render_index(manifest).encode("utf-8"))
    return path
