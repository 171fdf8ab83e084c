"""HTML objects that display themselves in JupyterLab and pass through nbconvert unchanged into the pack."""

from __future__ import annotations

import base64
import html
import io
import numbers
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cinb.errors import UsageError
from cinb.formatting import DASH, NOT_AVAILABLE, cell_text, decimals_needed, is_missing
from cinb.labels import RATING_DISPLAY

__all__ = [
    "RATING_STYLES",
    "RatingStyle",
    "CALLOUT_KINDS",
    "CSS",
    "Chart",
    "Table",
    "Callout",
    "Heading",
    "Paragraphs",
    "KeyFacts",
    "Block",
    "show",
    "slugify",
    "format_value",
]


@dataclass(frozen=True)
class RatingStyle:
    """How one statutory rating word is shown: CSS class, symbol, cell colours and a short label."""

    word: str
    css_class: str
    symbol: str
    background: str
    color: str
    short: str


# Keyed by the statutory rating words of a Contract Performance Notice (Procurement Act 2023 s.71; the data
# contract, docs/data-contract.md, lists them); symbols and short words are cinb.labels.RATING_DISPLAY. Every
# cell shows symbol + word, so the meaning survives greyscale printing and colour-blindness; the colour pairs
# pass WCAG AA (>= 4.5:1, checked in tests/test_display.py). RAG: Good = green, Approaching target = amber,
# Requires improvement and Inadequate = red (Inadequate darker so the worst stands out in the portfolio heat map).
RATING_STYLES: dict[str, RatingStyle] = {
    word: RatingStyle(word, css_class, RATING_DISPLAY[word][0], background, color, RATING_DISPLAY[word][1])
    for word, css_class, background, color in (
        ("Good", "rating-good", "#B8E0C2", "#0B3D17"),
        ("Approaching target", "rating-approaching", "#FFE08A", "#4A3300"),
        ("Requires improvement", "rating-requires-improvement", "#F6B08A", "#5C2400"),
        ("Inadequate", "rating-inadequate", "#B3261E", "#FFFFFF"),
        ("Other", "rating-other", "#E4E4E4", "#333333"),
    )
}
_RATING_BY_LOWER = {k.lower(): v for k, v in RATING_STYLES.items()}

# kind -> (visible label, accent colour, background). The label is printed so colour is never alone.
CALLOUT_KINDS: dict[str, tuple[str, str, str]] = {
    "info": ("Note", "#0072B2", "#E8F1F8"),
    "warning": ("Warning", "#B06F00", "#FFF4DC"),
    "good": ("Good", "#007A5A", "#E3F4EC"),
    "concern": ("Concern", "#B3261E", "#FBE9E7"),
}

# Hidden from sight, still read by screen readers (the usual "visually-hidden" recipe). Inline so that the
# words do not appear on screen in JupyterLab, where the pack's stylesheet is absent.
_SR_ONLY = (
    "position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;"
    "clip:rect(0,0,0,0);white-space:nowrap;border:0"
)
#: An empty cell: a dash on screen, "not available" for screen readers (the words: cinb.formatting).
NA_HTML = (f'<span aria-hidden="true">{DASH}</span>'
           f'<span class="visually-hidden" style="{_SR_ONLY}">{NOT_AVAILABLE}</span>')

#: Stylesheet for the classes used here; the render template may include it (JupyterLab works without it).
CSS = """
.cinb-table { border-collapse: collapse; margin: 0.5em 0 1em; font-variant-numeric: tabular-nums; }
.cinb-table caption { caption-side: top; text-align: left; font-weight: 600; padding: 0.25em 0; }
.cinb-table th, .cinb-table td { border-bottom: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top;
  text-align: left; }
.cinb-table thead th { border-bottom: 2px solid #333; }
.cinb-table .num { text-align: right; }
.cinb-table th[scope="row"] { white-space: nowrap; }
.cinb-table td.rating { white-space: nowrap; font-weight: 600; }
.cinb-table tr { break-inside: avoid; page-break-inside: avoid; }
.visually-hidden { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
.cinb-chart { margin: 1em 0; break-inside: avoid; page-break-inside: avoid; }
.cinb-chart img { max-width: 100%; height: auto; }
.cinb-chart figcaption { font-weight: 600; margin-bottom: 0.3em; }
.cinb-chart .cinb-chart-note { display: block; font-weight: normal; }
.cinb-callout { border-left: 4px solid; padding: 0.5em 0.8em; margin: 0.8em 0; }
.cinb-keyfacts { margin: 0.5em 0 1em; }
.cinb-keyfacts div { display: flex; gap: 1em; padding: 0.15em 0; }
.cinb-keyfacts dt { font-weight: 600; flex: 0 0 11em; }
.cinb-keyfacts dd { margin: 0; }
"""


def _esc(text) -> str:
    """Escape any value for HTML text and attribute use (quotes included)."""
    return html.escape(str(text), quote=True)




def _is_number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, bool | np.bool_)


def slugify(text: str) -> str:
    """A stable, URL-safe id for a heading: ASCII, lower case, words joined by hyphens.

    Examples
    --------
    >>> slugify("KPI scorecard: Café & Co.")
    'kpi-scorecard-cafe-co'
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "section"


def format_value(v, fmt: str | Callable | None = None, *, decimals: int | None = None) -> str:
    """Format one cell value as escaped HTML.

    Parameters
    ----------
    v : object
        The value. Missing values (None, NaN, NaT, NA) become "–" with a screen-reader "not available".
    fmt : str or callable, optional
        A ``str.format`` pattern such as ``"{:,.1f}"`` or ``"£{:,.0f}"``, or a function returning text.
    decimals : int, optional
        Decimal places for floats when no ``fmt`` is given (tables use one count per column).

    Returns
    -------
    str
        HTML, always escaped. The text of a value is :func:`cinb.formatting.cell_text`'s: ``Yes``/``No``,
        ``Oct 2026`` for a month, ``1 Oct 2026`` for a date, ``1,234`` for an integer. A word longer than
        :data:`LONG_WORD` characters (a title typed without spaces, a hash, a path) gets a ``<wbr>`` line-break
        opportunity every :data:`WORD_PIECE` characters, so that it wraps inside its column on screen and with
        both PDF printers instead of widening the table past the page.
    """
    if is_missing(v):
        return NA_HTML
    if fmt is not None:
        text = fmt(v) if callable(fmt) else fmt.format(v)
        return breakable(text)
    return breakable(cell_text(v, decimals))


#: Words longer than this get line-break opportunities (see `breakable`); pieces of this many characters.
LONG_WORD, WORD_PIECE = 30, 15
_LONG_WORD = re.compile(rf"\S{{{LONG_WORD + 1},}}")


def breakable(text) -> str:
    """``text`` escaped for HTML, with a ``<wbr>`` after every `WORD_PIECE` characters of each word longer than
    `LONG_WORD` (shorter words are left whole).

    Examples
    --------
    >>> breakable("CI-002 " + "x" * 32)
    'CI-002 xxxxxxxxxxxxxxx<wbr>xxxxxxxxxxxxxxx<wbr>xx'
    """
    text = str(text)
    out, at = [], 0
    for m in _LONG_WORD.finditer(text):
        out.append(_esc(text[at:m.start()]))
        word = m.group(0)
        out.append("<wbr>".join(_esc(word[i:i + WORD_PIECE]) for i in range(0, len(word), WORD_PIECE)))
        at = m.end()
    out.append(_esc(text[at:]))
    return "".join(out)


class _HTMLObject:
    """Base: ``_repr_html_`` for JupyterLab, ``html`` for code, ``str`` gives the HTML too."""

    def to_html(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def html(self) -> str:
        """The object's HTML, as :meth:`to_html` returns it."""
        return self.to_html()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_html()


class Table(_HTMLObject):
    """An accessible HTML table: caption, column headers with scope, escaped text, ratings as symbol + word.

    Parameters
    ----------
    df : DataFrame
        The rows to show. Column names become headers.
    caption : str
        The table's caption (its accessible name).
    rating_columns : iterable of str
        Columns holding statutory rating words ("Good", ... "Other"); shown as coloured cells with a symbol.
    number_formats : dict, optional
        Column -> ``str.format`` pattern (``"{:,.1f}"``, ``"£{:,.0f}"``) or function returning text.
    index : bool
        Show the index as the first column (and use it as the row header).
    row_header : str, optional
        Column whose cells are row headers (``<th scope="row">``). Defaults to the index when ``index=True``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = Table(pd.DataFrame({"KPI": ["Uptime"], "Rating": ["Good"]}), caption="KPIs",
    ...           rating_columns=["Rating"], row_header="KPI")
    >>> 'class="rating rating-good"' in t.html
    True
    """

    def __init__(
        self,
        df: pd.DataFrame,
        *,
        caption: str,
        rating_columns: Iterable[str] = (),
        number_formats: Mapping[str, str | Callable] | None = None,
        index: bool = False,
        row_header: str | None = None,
    ):
        if not isinstance(df, pd.DataFrame):
            raise UsageError(f"Table needs a pandas DataFrame, got {type(df).__name__}; wrap a Series with .to_frame().")
        frame = df.copy()
        if isinstance(frame.columns, pd.MultiIndex):
            frame.columns = [" / ".join(str(p) for p in c if str(p)) for c in frame.columns]
        else:
            frame.columns = [str(c) for c in frame.columns]
        if index:
            names = [str(n) if n is not None else "" for n in frame.index.names]
            if frame.index.nlevels == 1 and not names[0]:
                names = ["Row"]  # an empty header cell would leave the row headers unnamed
            frame = frame.reset_index(names=names)
            frame.columns = [str(c) for c in frame.columns]
            if row_header is None:
                row_header = frame.columns[0]
        self.rating_columns = [str(c) for c in rating_columns]
        self.number_formats = {str(k): v for k, v in (number_formats or {}).items()}
        unknown = [c for c in [*self.rating_columns, *self.number_formats, *([row_header] if row_header else [])]
                   if c not in frame.columns]
        if unknown:
            raise UsageError(
                f"Table {caption!r}: column(s) {unknown} not found; the table has {list(frame.columns)}."
            )
        self.df = frame
        self.caption = caption
        self.row_header = row_header

    def _column_is_numeric(self, col: str) -> bool:
        s = self.df[col]
        if pd.api.types.is_bool_dtype(s):
            return False
        if pd.api.types.is_numeric_dtype(s):
            return True
        present = [v for v in s if not is_missing(v)]
        return bool(present) and all(_is_number(v) for v in present)

    def to_html(self) -> str:
        """The ``<table class="cinb-table">``: caption, ``<th scope="col">`` headers, one ``<tr>`` per row.

        Numeric columns are right-aligned (class ``num``) with one count of decimals per column (the fewest,
        up to 2, that show every value exactly) unless ``number_formats`` gives a pattern; missing cells show
        a dash read out as "not available"; rating columns are coloured cells with symbol and word. An empty
        frame gives one "No rows" row. All text is escaped.
        """
        cols = list(self.df.columns)
        numeric = {c: self._column_is_numeric(c) for c in cols}
        decimals = {
            c: decimals_needed(self.df[c].tolist())
            for c in cols
            if numeric[c] and not pd.api.types.is_integer_dtype(self.df[c])
        }
        # "cinb-wrap-words": its long words carry <wbr> (format_value), so the stylesheet keeps words whole.
        out = [f'<table class="cinb-table cinb-wrap-words"><caption>{_esc(self.caption)}</caption><thead><tr>']
        for c in cols:
            cls = ' class="num"' if numeric[c] and c not in self.rating_columns else ""
            out.append(f'<th scope="col"{cls}>{_esc(c)}</th>')
        out.append("</tr></thead><tbody>")
        if self.df.empty:
            out.append(f'<tr><td colspan="{max(len(cols), 1)}">No rows</td></tr>')
        for row in self.df.itertuples(index=False, name=None):
            out.append("<tr>")
            for c, v in zip(cols, row):
                out.append(self._cell(c, v, numeric[c], decimals.get(c)))
            out.append("</tr>")
        out.append("</tbody></table>")
        return "".join(out)

    def _cell(self, col: str, v, numeric: bool, decimals: int | None) -> str:
        tag, scope = ("th", ' scope="row"') if col == self.row_header else ("td", "")
        if col in self.rating_columns and not is_missing(v):
            return rating_cell(v, tag=tag, extra=scope)
        text = format_value(v, self.number_formats.get(col), decimals=decimals)
        cls = ' class="num"' if numeric or (_is_number(v) and not is_missing(v)) else ""
        return f"<{tag}{scope}{cls}>{text}</{tag}>"


def rating_cell(word, *, tag: str = "td", extra: str = "") -> str:
    """HTML for one rating cell: symbol (hidden from screen readers) + word, on the rating's colours."""
    style = _RATING_BY_LOWER.get(str(word).strip().lower())
    if style is None:
        # Not a statutory word: show it as written rather than guess a colour.
        return f"<{tag}{extra}>{_esc(word)}</{tag}>"
    return (
        f'<{tag}{extra} class="rating {style.css_class}" '
        f'style="background-color:{style.background};color:{style.color}">'
        f'<span aria-hidden="true">{style.symbol}</span> {_esc(style.word)}</{tag}>'
    )


class Chart(_HTMLObject):
    """A chart as a self-contained ``<figure>``: image (SVG or PNG data URI), title, alt text, data table.

    Parameters
    ----------
    fig_or_svg : matplotlib Figure, str or bytes
        A figure (rendered now, then closed so it is neither kept in memory nor shown again by the inline
        backend), or ready SVG markup.
    title : str
        Shown as the figure caption and in the data table's summary.
    alt : str
        One or two sentences saying what the chart shows.
    data : DataFrame or Table, optional
        The numbers behind the chart, shown in a collapsed ``<details>`` block.
    caption : str, optional
        A note under the title (source, method).
    format : {"svg", "png"}
        SVG (vector, text drawn as paths, no fonts fetched) or PNG at ``dpi``.
    dpi : int
        Resolution of PNG output.
    """

    def __init__(
        self,
        fig_or_svg,
        *,
        title: str,
        alt: str,
        data: pd.DataFrame | Table | None,
        caption: str | None = None,
        format: str = "svg",
        dpi: int = 150,
    ):
        if format not in ("svg", "png"):
            raise UsageError(f"Chart format must be 'svg' or 'png', got {format!r}.")
        self.title = title
        self.alt = alt
        self.caption = caption
        self.format = format
        if isinstance(data, pd.DataFrame):
            data = Table(data, caption=f"Data behind this chart: {title}")
        self.data = data
        if isinstance(fig_or_svg, str | bytes):
            if format != "svg":
                raise UsageError("Chart got SVG markup but format='png'; pass the matplotlib figure instead.")
            svg = fig_or_svg.decode("utf-8") if isinstance(fig_or_svg, bytes) else fig_or_svg
            self.image = svg.encode("utf-8")
            self.width, self.height = _svg_size_px(svg)
        else:
            self.image, self.width, self.height = _render_figure(fig_or_svg, format, dpi)

    @property
    def mime(self) -> str:
        """The image's MIME type: ``image/svg+xml`` or ``image/png``."""
        return "image/svg+xml" if self.format == "svg" else "image/png"

    @property
    def svg(self) -> str | None:
        """The SVG markup (None for PNG charts)."""
        return self.image.decode("utf-8") if self.format == "svg" else None

    def data_uri(self) -> str:
        """The image as a ``data:`` URI (base64), so the HTML pack needs no image files and fetches nothing."""
        return f"data:{self.mime};base64,{base64.b64encode(self.image).decode('ascii')}"

    def save(self, path) -> None:
        """Write the image (SVG or PNG bytes) to ``path``."""
        with open(path, "wb") as fh:
            fh.write(self.image)

    def to_html(self) -> str:
        """A ``<figure class="cinb-chart">``: title (and note) as figcaption, the image with its alt text and
        size in CSS px (the figure's printed size), and the data table in a collapsed ``<details>``."""
        note = f'<span class="cinb-chart-note">{_esc(self.caption)}</span>' if self.caption else ""
        dims = f' width="{self.width}" height="{self.height}"' if self.width and self.height else ""
        parts = [
            '<figure class="cinb-chart">',
            # figcaption must be the first or last child of <figure>; first puts the title above the chart.
            f"<figcaption>{_esc(self.title)}{note}</figcaption>",
            f'<img alt="{_esc(self.alt)}" src="{self.data_uri()}"{dims}>',
        ]
        if self.data is not None:
            table = self.data.to_html()
            # A "narrow" table fits half the page: the printed appendix sets it in two columns (pack.css).
            narrow = " cinb-narrow" if _fits_half_width(table) else ""
            parts.append(
                f'<details class="cinb-chart-data"><summary>Data behind this chart: {_esc(self.title)}</summary>'
                f'<div class="cinb-chart-table{narrow}">{table}</div></details>'
            )
        parts.append("</figure>")
        return "".join(parts)

    def __repr__(self) -> str:
        return f"Chart({self.title!r}, {self.format}, {len(self.image):,} bytes)"


#: Characters across half an A4 page's text (86 mm) at the printed appendix's 7 pt, less the column gap.
_HALF_WIDTH_CHARS = 64
#: A cell up to this long is kept on one line when columns are sized; a longer one wraps at its spaces.
_WHOLE_CELL_CHARS = 12


def _fits_half_width(table_html: str) -> bool:
    """Whether a table (the HTML of :class:`Table`) fits half an A4 page's text width at 7 pt.

    Sums, over the columns, the widest text a cell of the column cannot break (a short cell or a number whole,
    otherwise, and for a column header, its longest word; words for screen readers only left out) plus two characters of padding, and
    compares it with :data:`_HALF_WIDTH_CHARS`: an estimate from character counts, not a measurement.
    """
    widths: dict[int, int] = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table_html, flags=re.S):
        for i, (attrs, inner) in enumerate(re.findall(r"<t[hd]([^>]*)>(.*?)</t[hd]>", row, flags=re.S)):
            inner = re.sub(r'<span class="visually-hidden".*?</span>', "", inner, flags=re.S)
            text = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
            # A column header wraps at its spaces ("Lower / limit"); a number never wraps.
            whole = 'scope="col"' not in attrs and (len(text) <= _WHOLE_CELL_CHARS or 'class="num"' in attrs)
            need = len(text) if whole else max((len(w) for w in text.split()), default=0)
            widths[i] = max(widths.get(i, 0), need)
    return bool(widths) and sum(w + 2 for w in widths.values()) <= _HALF_WIDTH_CHARS


def _render_figure(fig, fmt: str, dpi: int) -> tuple[bytes, int, int]:
    """Render a matplotlib figure to SVG/PNG bytes and close it; returns (bytes, width px, height px)."""
    import matplotlib

    buf = io.BytesIO()
    # Text as text with the house font stack (cinb.chartkit.HOUSE_RC: no font is fetched). Fixed hash salt and no
    # date: identical input -> identical bytes.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cinb"}):
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
        else:
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    w_in, h_in = fig.get_size_inches()
    _close(fig)
    # CSS px are 1/96 in, so the image prints at the figure's physical size.
    return buf.getvalue(), round(w_in * 96), round(h_in * 96)


def _close(fig) -> None:
    """Close a figure made through pyplot (so the inline backend does not show it again); never import pyplot."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None and getattr(fig.canvas, "manager", None) is not None:
        plt.close(fig)


def _svg_size_px(svg: str) -> tuple[int | None, int | None]:
    m = re.search(r"<svg\b[^>]*>", svg)
    if not m:
        raise UsageError("Chart got text that is not SVG markup (no <svg> element).")
    tag = m.group(0)
    per_unit = {"pt": 96 / 72, "px": 1.0, "": 1.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4}
    dims = []
    for attr in ("width", "height"):
        a = re.search(rf'\s{attr}="([\d.]+)\s*([a-z]*)"', tag)
        dims.append(round(float(a.group(1)) * per_unit.get(a.group(2), 1.0)) if a else None)
    return dims[0], dims[1]


class Callout(_HTMLObject):
    """A boxed message with a visible label (Note / Warning / Good / Concern) so colour is not needed.

    Parameters
    ----------
    text : str
        The message (escaped).
    kind : {"info", "warning", "good", "concern"}
    """

    def __init__(self, text: str, kind: str = "info"):
        if kind not in CALLOUT_KINDS:
            raise UsageError(f"Callout kind {kind!r} is not one of {sorted(CALLOUT_KINDS)}.")
        self.text = text
        self.kind = kind

    def to_html(self) -> str:
        """A ``<div role="note">`` with a coloured left border and the visible label (``Note:``, ``Warning:`` …)."""
        label, accent, bg = CALLOUT_KINDS[self.kind]
        return (
            f'<div class="cinb-callout cinb-callout-{self.kind}" role="note" '
            f'style="border-left:4px solid {accent};background-color:{bg};color:#1A1A1A;padding:0.5em 0.8em">'
            f"<strong>{label}:</strong> {_esc(self.text)}</div>"
        )


class Heading(_HTMLObject):
    """A section heading ``<hN id="slug">`` with escaped text and a stable id derived from the text."""

    def __init__(self, text: str, level: int = 2, id: str | None = None):
        if not isinstance(level, int) or not 1 <= level <= 6:
            raise UsageError(f"Heading level must be an integer 1–6, got {level!r}.")
        self.text = text
        self.level = level
        self.id = slugify(id if id is not None else text)

    def to_html(self) -> str:
        """``<hN id="slug">text</hN>``, the text escaped."""
        return f'<h{self.level} id="{self.id}">{_esc(self.text)}</h{self.level}>'


class Paragraphs(_HTMLObject):
    """Sentences or paragraphs of narrative, one ``<p>`` each, escaped."""

    def __init__(self, paragraphs: str | Iterable[str]):
        self.paragraphs = [paragraphs] if isinstance(paragraphs, str) else [str(p) for p in paragraphs]

    def to_html(self) -> str:
        """A ``<div class="cinb-paragraphs">`` with one escaped ``<p>`` per non-empty paragraph."""
        body = "".join(f"<p>{_esc(p)}</p>" for p in self.paragraphs if p)
        return f'<div class="cinb-paragraphs">{body}</div>'


class NumberedList(_HTMLObject):
    """An ordered list ``<ol>`` of escaped items (questions, steps)."""

    def __init__(self, items: Iterable[str], css_class: str = "cinb-list"):
        self.items = [str(i) for i in items]
        self.css_class = css_class

    def to_html(self) -> str:
        """An ``<ol>`` of the given class with one escaped ``<li>`` per item."""
        body = "".join(f"<li>{_esc(i)}</li>" for i in self.items)
        return f'<ol class="{_esc(self.css_class)}">{body}</ol>'


class KeyFacts(_HTMLObject):
    """The cover's key facts (contract, supplier, period ...) as a definition list."""

    def __init__(self, facts: Mapping[str, object]):
        self.facts = dict(facts)

    def to_html(self) -> str:
        """A ``<dl class="cinb-keyfacts">``: each fact a ``<dt>`` name and ``<dd>`` value (values formatted as
        table cells are: dates as ``1 Oct 2026``, missing as a dash read out "not available")."""
        items = "".join(
            f"<div><dt>{_esc(k)}</dt><dd>{format_value(v)}</dd></div>" for k, v in self.facts.items()
        )
        return f'<dl class="cinb-keyfacts">{items}</dl>'


class Block(_HTMLObject):
    """Display objects shown as one: a ``<div>`` that a printed page keeps whole where it fits (the pack's print
    stylesheet gives ``.cinb-block`` ``break-inside: avoid``), e.g. one KPI's heading, chart and paragraph.

    Parameters
    ----------
    *parts : display objects
        Anything with ``to_html()`` (the objects of this module), in order.
    css_class : str, default "cinb-block"
        Extra class names (letters, digits, hyphens) after ``cinb-block``, for the stylesheet.

    Raises
    ------
    UsageError
        When a part has no ``to_html`` or a class name holds other characters.
    """

    def __init__(self, *parts, css_class: str = ""):
        bad = [type(p).__name__ for p in parts if not hasattr(p, "to_html")]
        if bad:
            raise UsageError(f"Block parts must be display objects with to_html(); got {', '.join(bad)}.")
        if not re.fullmatch(r"[A-Za-z0-9 -]*", css_class):
            raise UsageError(f"Block css_class {css_class!r}: use letters, digits, hyphens and spaces only.")
        self.parts = list(parts)
        self.css_class = " ".join(["cinb-block", *css_class.split()])

    def to_html(self) -> str:
        """A ``<div class="cinb-block ...">`` holding each part's HTML in order."""
        return f'<div class="{self.css_class}">' + "".join(p.to_html() for p in self.parts) + "</div>"


def show(*objs) -> None:
    """Display objects in JupyterLab (via IPython); outside IPython print their HTML."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with ipykernel, a core dependency
        display, get_ipython = None, None
    if display is not None and get_ipython is not None and get_ipython() is not None:
        display(*objs)
        return
    for o in objs:
        print(o._repr_html_() if hasattr(o, "_repr_html_") else o)
