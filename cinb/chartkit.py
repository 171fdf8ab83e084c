"""Chart primitives in one house style: palette, rcParams, the A4 figure, month axes, margin labels, text fitting.

The chart kinds (:mod:`cinb.charts`, :mod:`cinb.charts_xmr`) are built from these. Every figure is a
:class:`matplotlib.figure.Figure` made directly, never through pyplot: no backend is selected or changed.

Palette: Okabe, M. and Ito, K. (2008) "Color Universal Design (CUD) – How to make figures and presentations
that are friendly to colorblind people", https://jfly.uni-koeln.de/color/ — distinguishable under the common
colour-vision deficiencies. Text colours pass WCAG AA on white.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Iterator

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FixedLocator, FuncFormatter

from cinb.errors import UsageError
from cinb.formatting import NATURAL_BOUNDS, value_text, within_bounds
from cinb.regimes import step_of

__all__ = [
    "OKABE_ITO",
    "INK",
    "GREY",
    "SERIES_COLOURS",
    "A4_TEXT_WIDTH_IN",
    "HOUSE_RC",
    "EPOCH_MONTH",
    "house_style",
    "HouseFigure",
    "house_figure",
    "wrap",
    "clip",
    "to_period",
    "month_x",
    "monthly_series",
    "set_month_axis",
    "set_period_axis",
    "period_tick_label",
    "bounded",
    "bounds_phrase",
    "trim_ticks_to_bounds",
    "minus",
    "right_labels",
    "balanced_columns",
]

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
INK = "#1A1A1A"  # text: near-black, 17:1 on white
GREY = "#595959"  # secondary text and process limits: 7:1 on white
#: Colours of successive series (lines, stacked bars), in the order they are used.
SERIES_COLOURS = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple",
                                         "sky_blue", "yellow", "black")]

#: The printable width of an A4 page with ~2 cm margins: charts are drawn at the size they are printed.
A4_TEXT_WIDTH_IN = 17 / 2.54

#: rcParams of the house style. Sizes are true points at A4 text width (8 pt is the smallest text).
HOUSE_RC = {
    # DejaVu Sans ships with matplotlib (✓ ✗ ◐ included), so text is measured the same on every machine. SVG text
    # is written as text with this stack (Bitstream Vera and Verdana share DejaVu's metrics), read by the fonts
    # installed where the pack is opened or printed: nothing is fetched.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Bitstream Vera Sans", "Verdana", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#4D4D4D",
    "xtick.color": "#4D4D4D",
    "ytick.color": "#4D4D4D",
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#E0E0E0",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.prop_cycle": matplotlib.cycler(color=SERIES_COLOURS),
    "legend.frameon": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.dpi": 100,
    "savefig.dpi": 150,
    # Text as <text> elements, not outlines: a chart's SVG is ~60 % smaller, quicker to write, parse and print,
    # and its words can be searched and copied (the <img> keeps its alt text and the data table for screen readers).
    "svg.fonttype": "none",
    "svg.hashsalt": "cinb",  # stable element ids, so identical data gives identical SVG
    "text.parse_math": False,  # a supplier's "$" must print as "$", not start TeX maths
    "lines.solid_capstyle": "butt",
    # Where an axes stands before the layout places it: about where the layout puts a house chart (ticks and a
    # two-line y label on the left, line labels on the right, two-line month ticks and the legend below). An
    # automatic y locator then ticks the axes as it will finally stand, so the layout measures once, not twice.
    "figure.subplot.left": 0.12,
    "figure.subplot.right": 0.85,
    "figure.subplot.bottom": 0.3,
    "figure.subplot.top": 0.98,
}


@contextlib.contextmanager
def house_style() -> Iterator[None]:
    """Apply the house rcParams inside a ``with`` block, restoring the caller's settings afterwards.

    The backend is never touched, so importing or using this in JupyterLab keeps the user's backend.

    Examples
    --------
    >>> with house_style():
    ...     fig = house_figure(height_in=3)
    """
    with matplotlib.rc_context(HOUSE_RC):
        yield


class HouseFigure(Figure):
    """A Figure laid out once, at its first draw, with the renderer of that draw; its axes stay there after.

    A plain constrained-layout figure lays itself out at every draw, and ``savefig`` draws it twice (a silent
    draw to lay it out, then the real one): four layout runs, each measuring every tick label and text twice,
    with a renderer other than the one that writes the file. A chart is finished before it is saved, so this
    figure lays itself out once, inside the one draw that writes the file, measuring its text with that draw's
    renderer (whose text-size cache the draw then reuses): about a third of the work, for the same image
    within a pixel or two.
    """

    _settled = False
    _saving = False
    _engine_at_save = None

    def settle(self, renderer=None) -> "HouseFigure":
        """Lay the figure out now (once) and fix the axes there; later draws do not move them.

        A grid of subplots (one gridspec, one cell each, a figure legend at most "outside lower center": every
        cinb chart) is laid out by :meth:`_grid_layout` (the rules of constrained layout, measured with
        ``renderer``, default the figure's own); any other figure by the constrained layout engine itself.
        Saving or drawing calls this; call it only to read the axes' final positions first. Returns the figure.
        """
        # While saving, matplotlib switches the engine off for the draw: the engine the save began with counts.
        engine = self._engine_at_save or super().get_layout_engine()
        if not self._settled and engine is not None and self.axes:
            grid = isinstance(engine, ConstrainedLayoutEngine) and self._grid_layout(
                engine, renderer or self._get_renderer())
            if not grid:
                engine.execute(self)
        self._settled = True
        return self

    def _grid_layout(self, engine, renderer) -> bool:
        """Constrained layout's rules, measured in fewer passes: each axes' decorations (ticks, labels, title,
        notes) are measured where the axes stand, then every cell gets ``w_pad``/``h_pad`` around its
        decorations, columns (rows) take the widest decorations of their axes, the axes share the rest equally,
        and an outside-lower figure legend gets its height plus two pads at the foot. A single axes is measured
        once unless its ticks change as it grows, a grid twice like constrained layout (a panel's left-aligned
        title overhangs its right edge less once the panel is wider). Returns False, doing nothing, for a
        figure this does not cover (subfigures, spanning cells, suptitles, other legends)."""
        params = engine.get()
        specs = [ax.get_subplotspec() for ax in self.axes]
        if (self.subfigs or self._suptitle is not None or self._supxlabel is not None
                or self._supylabel is not None or any(s is None for s in specs)
                or len({id(s.get_gridspec()) for s in specs}) != 1
                or any(len(s.rowspan) != 1 or len(s.colspan) != 1 for s in specs)
                or any(getattr(leg, "_outside_loc", None) != "lower" for leg in self.legends)):
            return False
        nrows, ncols = specs[0].get_gridspec().get_geometry()
        def ticks():
            return [(tuple(ax.xaxis.get_majorticklocs()), tuple(ax.yaxis.get_majorticklocs())) for ax in self.axes]

        before = ticks()
        if not self._grid_pass(renderer, params, specs, nrows, ncols):
            return False
        # Measure again where the axes now stand when what was measured may have changed: a grid's left-aligned
        # titles overhang a wider panel less, and an automatic locator may tick a taller axis differently.
        if nrows * ncols > 1 or ticks() != before:
            return self._grid_pass(renderer, params, specs, nrows, ncols)
        return True

    def _grid_pass(self, renderer, params, specs, nrows: int, ncols: int) -> bool:
        """One measuring and placing pass of :meth:`_grid_layout`; False when the axes would collapse."""
        width, height = self.bbox.width, self.bbox.height
        w_pad, h_pad = params["w_pad"] * self.dpi, params["h_pad"] * self.dpi
        left, right, top, bottom = [0.0] * ncols, [0.0] * ncols, [0.0] * nrows, [0.0] * nrows
        for ax, ss in zip(self.axes, specs):
            if not ax.get_visible():
                continue
            box = ax.get_window_extent(renderer)
            tight = ax.get_tightbbox(renderer, for_layout_only=True)
            if tight is None:
                continue
            r, c = ss.rowspan.start, ss.colspan.start
            left[c] = max(left[c], box.x0 - tight.x0)
            right[c] = max(right[c], tight.x1 - box.x1)
            top[r] = max(top[r], tight.y1 - box.y1)
            bottom[r] = max(bottom[r], box.y0 - tight.y0)
        foot = max((leg.get_tightbbox(renderer).height + 2 * h_pad for leg in self.legends), default=0.0)
        ax_w = (width - sum(left) - sum(right) - 2 * w_pad * ncols) / ncols
        ax_h = (height - foot - sum(top) - sum(bottom) - 2 * h_pad * nrows) / nrows
        if ax_w <= 0 or ax_h <= 0:
            return False
        xs, x = [], 0.0
        for c in range(ncols):
            x += w_pad + left[c]
            xs.append(x)
            x += ax_w + right[c] + w_pad
        ys, y = [], height
        for r in range(nrows):
            y -= h_pad + top[r]
            ys.append(y - ax_h)
            y -= ax_h + bottom[r] + h_pad
        for ax, ss in zip(self.axes, specs):
            ax.set_position([xs[ss.colspan.start] / width, ys[ss.rowspan.start] / height, ax_w / width,
                             ax_h / height])
            ax.set_in_layout(True)  # set_position takes an axes out of layout; it stays in for tight bboxes
        return True

    def get_layout_engine(self):
        """The layout engine until the figure is laid out (and None while saving: the save's own draw lays it
        out, so no silent draw before it is needed)."""
        return None if (self._settled or self._saving) else super().get_layout_engine()

    def savefig(self, fname, **kwargs):
        """Save the figure, drawing it once (its layout done inside that draw). Arguments as
        :meth:`matplotlib.figure.Figure.savefig`."""
        self._saving, self._engine_at_save = True, super().get_layout_engine()
        try:
            return super().savefig(fname, **kwargs)
        finally:
            self._saving, self._engine_at_save = False, None

    def draw(self, renderer):
        """Lay the figure out at its first draw, measuring with this draw's renderer, then draw.

        Inside this draw each axis's ticks and tick-label boxes are worked out once per state of the axis
        (:func:`_ticks_once`): matplotlib recomputes them up to six times per axis while laying out and drawing.
        """
        with _ticks_once(self, renderer):
            if not self._settled and self.get_visible():
                self.settle(renderer)
            super().draw(renderer)


@contextlib.contextmanager
def _ticks_once(fig: Figure, renderer) -> Iterator[None]:
    """Within the block, each axis of ``fig`` updates its ticks and measures their labels once per state.

    matplotlib's ``Axis.get_tightbbox`` and ``Axis.draw`` each update the ticks (locator, formatter, tick
    positions and texts) and measure the tick labels, and again for the axis label's position: four to six
    times per axis per saved figure, with the same result while the axis's view limits, its axes' place in
    pixels and its locator and formatter are unchanged. Here the last result is kept with that state and reused
    while the state is the same; any change (the layout moving the axes, new limits) computes afresh, so the
    image is the same byte for byte (tests/test_chartkit_layout.py). The per-axis methods are instance
    attributes, removed when the block ends. With a matplotlib that lacks these methods nothing is changed.
    """
    axes = [axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)]
    if not all(hasattr(a, "_update_ticks") and hasattr(a, "_get_ticklabel_bboxes") for a in axes):
        yield
        return

    def tickers(axis):
        return (tuple(axis.get_view_interval()), id(axis.get_major_locator()), id(axis.get_major_formatter()),
                id(axis.get_minor_locator()), id(axis.get_minor_formatter()))

    def tick_state(axis):
        # Which ticks an axis has depends on its limits, locators and formatters and, through an automatic
        # locator's number of bins, on its length (``get_tick_space``) - not on where the axes stand: the ticks
        # worked out to measure the layout serve the draw after it unless the axis changed length enough.
        return (*tickers(axis), axis.get_tick_space())

    for axis in axes:
        update, measure = axis._update_ticks, axis._get_ticklabel_bboxes
        memo = {}

        def update_once(_update=update, _memo=memo, _axis=axis):
            key = tick_state(_axis)
            if _memo.get("ticks_key") != key:
                _memo["ticks"], _memo["ticks_key"] = _update(), key
            return _memo["ticks"]

        def measure_once(ticks, renderer_, _measure=measure, _memo=memo, _axis=axis):
            # The boxes are in pixels: they move with the axes.
            key = (tickers(_axis), _axis.axes.bbox.bounds, id(renderer_), tuple(map(id, ticks)))
            if _memo.get("boxes_key") != key:
                _memo["boxes"], _memo["boxes_key"] = _measure(ticks, renderer_), key
            return _memo["boxes"]

        axis._update_ticks, axis._get_ticklabel_bboxes = update_once, measure_once
    try:
        yield
    finally:
        for axis in axes:
            for name in ("_update_ticks", "_get_ticklabel_bboxes"):
                axis.__dict__.pop(name, None)


def house_figure(height_in: float = 3.6, width_in: float = A4_TEXT_WIDTH_IN) -> HouseFigure:
    """A new Figure (not registered with pyplot) at A4 text width with constrained layout, laid out once, at
    its first draw (:class:`HouseFigure`). Axes start at matplotlib's default subplot position: a chart that
    fixes its ticks before the layout (:func:`trim_ticks_to_bounds`) takes them from there."""
    return HouseFigure(figsize=(width_in, height_in), layout="constrained")


# ---------------------------------------------------------------------------------------------- helpers


def wrap(text: str, width: int, max_lines: int = 2) -> str:
    """``text`` wrapped at ``width`` characters on at most ``max_lines`` lines, the last cut with "…" if needed."""
    lines = textwrap.wrap(str(text), width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(width - 1, 1)].rstrip() + "…"
    return "\n".join(lines)


def clip(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters, ending in "…" when cut."""
    text = str(text)
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


#: Month 0 of the x axis of monthly charts: x positions count months from here.
EPOCH_MONTH = pd.Period("1970-01", "M")


def to_period(v) -> pd.Period:
    """A month from a Period, Timestamp, date or 'YYYY-MM' string; anything else raises UsageError."""
    if isinstance(v, pd.Period):
        return v.asfreq("M")
    try:
        return pd.Period(v, "M")
    except (ValueError, TypeError) as exc:
        raise UsageError(f"Cannot read {v!r} as a month; give a pandas Period or 'YYYY-MM'.") from exc


def month_x(p: pd.Period) -> int:
    """Months since Jan 1970: an evenly spaced x position for a month."""
    return (p - EPOCH_MONTH).n


def monthly_series(s, what: str) -> pd.Series:
    """A float Series indexed by monthly Periods, from a Series or a one-column frame.

    The index may be Periods, Timestamps or 'YYYY-MM' text; values are coerced to numbers (NaN when not a
    number). ``what`` names the argument in the UsageError raised for any other input.
    """
    if isinstance(s, pd.DataFrame):
        if s.shape[1] != 1:
            raise UsageError(f"{what}: expected a Series indexed by month, got a frame with columns {list(s.columns)}.")
        s = s.iloc[:, 0]
    if not isinstance(s, pd.Series):
        raise UsageError(f"{what}: expected a pandas Series indexed by month, got {type(s).__name__}.")
    idx = s.index
    if isinstance(idx, pd.DatetimeIndex):
        idx = idx.to_period("M")
    elif not isinstance(idx, pd.PeriodIndex):
        idx = pd.PeriodIndex([to_period(v) for v in idx])
    return pd.Series(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float), index=idx.asfreq("M"))


def set_month_axis(ax, first: int, last: int, max_ticks: int = 12) -> None:
    """Month ticks on a step of 1/2/3/6/12 months, aligned to the calendar; the year shown at each January."""
    span = last - first + 1
    step = next((s for s in (1, 2, 3, 6, 12, 24) if span / s <= max_ticks), 24)
    ticks = [x for x in range(first, last + 1) if (EPOCH_MONTH + x).month % step == 1 % step]
    if not ticks:
        ticks = [first]
    shown = set(ticks)

    def label(x, _pos=None):
        xi = int(round(x))
        if xi not in shown:
            return ""
        p = EPOCH_MONTH + xi
        return f"{p:%b}\n{p:%Y}" if (p.month == 1 or xi == ticks[0]) else f"{p:%b}"

    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.set_xlim(first - 0.6, last + 0.6)


def period_tick_label(x: int, frequency: str | None) -> str:
    """The x-tick label of a due month ``x`` (months since Jan 1970) for a KPI of this frequency, on two lines.

    Monthly: ``Oct\\n2026``; quarterly: the quarter's months and year, ``Jul–Sep\\n2026`` (``Nov–Jan\\n2025–26``
    when it spans a new year: UK public bodies count financial quarters, so never "Q1"); annual: ``year to\\nMar
    2026``. Raises KeyError for a frequency outside the data contract.
    """
    p = EPOCH_MONTH + int(x)
    step = step_of(frequency)
    if step == 1:
        return f"{p:%b}\n{p:%Y}"
    if step == 3:
        first = p - 2
        if first.year == p.year:
            return f"{first:%b}–{p:%b}\n{p:%Y}"
        return f"{first:%b}–{p:%b}\n{first:%Y}–{p:%y}"
    return f"year to\n{p:%b %Y}"


def set_period_axis(ax, due_x: list[int], frequency: str | None, first: int, last: int, max_ticks: int = 8) -> None:
    """Ticks at a KPI's due months, labelled by the period each value covers (:func:`period_tick_label`).

    ``due_x`` are the due months (months since Jan 1970) the chart shows; ``first``..``last`` the months the x
    axis must span (a trajectory may run beyond the values). When there are more than ``max_ticks`` due months
    (8 two-line labels such as ``Oct–Dec 2024`` fit the A4 width), every second (third, …) is labelled, counting
    back from the latest so the latest period is always labelled; every due month keeps a minor tick. The axis
    runs from a little before ``first`` to a little after ``last`` (0.4 of a period, at least 0.6 month).
    Raises KeyError for a frequency outside the data contract.
    """
    step = step_of(frequency)
    every = sorted({int(v) for v in due_x})
    ticks = every
    if len(ticks) > max_ticks:
        k = -(-len(ticks) // max_ticks)
        ticks = ticks[::-1][::k][::-1]
        ax.xaxis.set_minor_locator(FixedLocator(every))
    labels = {t: period_tick_label(t, frequency) for t in ticks}

    def label(x, _pos=None):
        return labels.get(int(round(x)), "")

    ax.xaxis.set_major_locator(FixedLocator(ticks or [first]))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    pad = max(0.6, 0.4 * step)
    ax.set_xlim(first - pad, last + pad)


# ---------------------------------------------------------------------------------------------- natural bounds


def minus(text: str) -> str:
    """A number's text with a true minus sign in place of a hyphen: ``−8.9``, ``−£1,630`` (from ``£-1,630``)."""
    if text.startswith("-"):
        return "−" + text[1:]
    return "−£" + text[2:] if text.startswith("£-") else text


def bounded(values, unit: str | None) -> tuple[list, list[tuple[int, float, float]]]:
    """``values`` truncated to the unit's natural bounds, and which were truncated.

    Returns ``(shown, cut)``: ``shown`` the values as :func:`cinb.formatting.within_bounds` returns them (None and
    NaN kept), ``cut`` a list of ``(position, computed value, shown value)`` for each value that moved.
    """
    shown, cut = [], []
    for i, v in enumerate(values):
        w = within_bounds(v, unit)
        shown.append(w)
        if v is not None and not pd.isna(v) and float(w) != float(v):
            cut.append((i, float(v), float(w)))
    return shown, cut


def bounds_phrase(bound: float, unit: str | None) -> str:
    """``below zero`` or ``above 100%``: where a computed value lies outside the unit's bound ``bound``."""
    lo, hi = NATURAL_BOUNDS.get(unit, (None, None))
    if lo is not None and bound == lo:
        return "below zero" if lo == 0 else f"below {value_text(lo, unit)}"
    return f"above {value_text(hi, unit)}"


def trim_ticks_to_bounds(ax, unit: str | None) -> None:
    """Drop y ticks beyond the unit's natural bounds (no ``−500`` hours), when the axis runs past a bound.

    Called after the y limits are set; the axis keeps its limits (a little room beyond a bound keeps a limit
    line drawn at the bound off the axis spine) and its tick formatter. Nothing changes when the axis stays
    within the bounds or the unit has none.
    """
    lo_b, hi_b = NATURAL_BOUNDS.get(unit, (None, None))
    y0, y1 = ax.get_ylim()
    if not ((lo_b is not None and y0 < lo_b) or (hi_b is not None and y1 > hi_b)):
        return
    eps = 1e-9 * max(abs(y0), abs(y1), 1.0)
    ticks = [t for t in ax.get_yticks() if y0 - eps <= t <= y1 + eps
             and (lo_b is None or t >= lo_b - eps) and (hi_b is None or t <= hi_b + eps)]
    ax.set_yticks(ticks)
    ax.set_ylim(y0, y1)


def right_labels(ax, items: list[tuple[float, str]], fig_height_in: float) -> None:
    """Label horizontal lines in the right margin, nudged apart so they never overlap.

    ``items`` are (y in data units, text). Labels keep their order and sit as close to their line as the
    spacing allows; a short leader joins a nudged label to its line.
    """
    if not items:
        return
    lo, hi = ax.get_ylim()
    # Axes height is not known before layout; the figure height minus ticks, legend and margins is close.
    axes_h_pt = max(fig_height_in - 1.25, 1.0) * 72
    gap = 1.3 * 8 / axes_h_pt  # labels are 8 pt; 1.3 line heights apart
    wanted = sorted(((y - lo) / (hi - lo), text) for y, text in items)
    ys = [w[0] for w in wanted]
    for i in range(1, len(ys)):
        ys[i] = max(ys[i], ys[i - 1] + gap)
    overflow = ys[-1] - 1.02
    if overflow > 0:
        ys = [y - overflow for y in ys]
    for i in range(len(ys) - 2, -1, -1):
        ys[i] = min(ys[i], ys[i + 1] - gap)
    trans = ax.get_yaxis_transform()  # x in axes fraction, y in data
    for (want, text), y in zip(wanted, ys):
        y_data = lo + y * (hi - lo)
        y_line = lo + want * (hi - lo)
        ax.annotate(
            text, xy=(1.0, y_line), xycoords=trans, xytext=(1.015, y_data), textcoords=trans,
            va="center", ha="left", fontsize=8, color=INK, annotation_clip=False,
            arrowprops=dict(arrowstyle="-", color="#9E9E9E", lw=0.6, shrinkA=0, shrinkB=0)
            if abs(y - want) > gap * 0.3 else None,
        )


def balanced_columns(n: int, max_cols: int) -> int:
    """Legend columns so that rows come out evenly filled (9 entries -> 3 x 3, not 4 + 4 + 1)."""
    if n <= max_cols:
        return max(n, 1)
    rows = math.ceil(n / max_cols)
    return math.ceil(n / rows)
