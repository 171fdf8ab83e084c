"""Charts in one house style (colour-blind-safe, readable at A4 width), returned as accessible Chart objects.

Every function builds a :class:`matplotlib.figure.Figure` directly, never through pyplot: no backend is
selected or changed, nothing is registered with the inline backend (so no duplicate PNG appears in a
notebook) and nothing stays open. Each returns a :class:`cinb.display.Chart` carrying the image, a generated
alt text and the data behind the chart.

Palette: Okabe, M. and Ito, K. (2008) "Color Universal Design (CUD) – How to make figures and presentations
that are friendly to colorblind people", https://jfly.uni-koeln.de/color/ — distinguishable under the common
colour-vision deficiencies. Statistical process control colours follow NHS England "Making Data Count":
blue for special-cause improvement, orange for concern, purple for neutral; every point type also has its
own marker shape, so colour never carries meaning alone.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Iterable, Iterator

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from cinb.display import RATING_STYLES, Chart, Table
from cinb.errors import UsageError

__all__ = [
    "OKABE_ITO",
    "POINT_STYLES",
    "HOUSE_RC",
    "A4_TEXT_WIDTH_IN",
    "house_style",
    "house_figure",
    "xmr_chart",
    "rating_heatmap",
    "timeline",
    "commitment_chart",
    "credits_chart",
    "score_bar",
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
_INK = "#1A1A1A"  # text: near-black, 17:1 on white
_GREY = "#595959"  # secondary text and process limits: 7:1 on white

#: The printable width of an A4 page with ~2 cm margins: charts are drawn at the size they are printed.
A4_TEXT_WIDTH_IN = 17 / 2.54

#: point_type -> (legend label, colour, marker, marker size in points)
# Shapes carry the meaning without colour and do not suggest "high" or "low" (an improvement is a low value
# when lower is better): a star for improvement, a cross for concern, a square for neutral.
POINT_STYLES: dict[str, tuple[str, str, str, float]] = {
    "special_cause_improvement": ("Special cause: improvement", OKABE_ITO["blue"], "*", 12.0),
    "special_cause_concern": ("Special cause: concern", OKABE_ITO["orange"], "X", 9.0),
    "special_cause_neutral_high": ("Special cause: neutral", OKABE_ITO["reddish_purple"], "s", 7.0),
    "special_cause_neutral_low": ("Special cause: neutral", OKABE_ITO["reddish_purple"], "s", 7.0),
}
_POINT_WORDS = {
    "common_cause": "Common cause",
    "special_cause_improvement": "Special cause – improvement",
    "special_cause_concern": "Special cause – concern",
    "special_cause_neutral_high": "Special cause – neutral (high)",
    "special_cause_neutral_low": "Special cause – neutral (low)",
}

#: rcParams of the house style. Sizes are true points at A4 text width (8 pt is the smallest text).
HOUSE_RC = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: same glyphs on every machine, ✓ ✗ ◐ included
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "text.color": _INK,
    "axes.labelcolor": _INK,
    "axes.edgecolor": "#4D4D4D",
    "xtick.color": "#4D4D4D",
    "ytick.color": "#4D4D4D",
    "xtick.labelcolor": _INK,
    "ytick.labelcolor": _INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#E0E0E0",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.prop_cycle": matplotlib.cycler(
        color=[OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple",
                                      "sky_blue", "yellow", "black")]
    ),
    "legend.frameon": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "svg.fonttype": "path",  # text as outlines: the SVG needs no font and fetches nothing
    "svg.hashsalt": "cinb",  # stable element ids, so identical data gives identical SVG
    "text.parse_math": False,  # a supplier's "$" must print as "$", not start TeX maths
    "lines.solid_capstyle": "butt",
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


def house_figure(height_in: float = 3.6, width_in: float = A4_TEXT_WIDTH_IN) -> Figure:
    """A new Figure (not registered with pyplot) at A4 text width with constrained layout."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


# ---------------------------------------------------------------------------------------------- helpers


def _unit_text(unit: str | None) -> str:
    return {"GBP": "£", None: "", "": ""}.get(unit, str(unit))


def _fmt(v, unit: str | None = None, decimals: int | None = None) -> str:
    """A number as text in the unit's usual precision (GBP whole pounds, counts whole if whole)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "not available"
    v = float(v)
    if unit == "GBP":
        return f"£{v:,.0f}"
    # One decimal everywhere (means and limits are rarely whole), so numbers in a sentence line up.
    return f"{v:,.{1 if decimals is None else decimals}f}"


def _wrap(text: str, width: int, max_lines: int = 2) -> str:
    lines = textwrap.wrap(str(text), width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(width - 1, 1)].rstrip() + "…"
    return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _month_label(p: pd.Period) -> str:
    return p.strftime("%b %Y")


_EPOCH_MONTH = pd.Period("1970-01", "M")


def _to_period(v) -> pd.Period:
    """A month from a Period, Timestamp, date or 'YYYY-MM' string."""
    if isinstance(v, pd.Period):
        return v.asfreq("M")
    try:
        return pd.Period(v, "M")
    except (ValueError, TypeError) as exc:
        raise UsageError(f"Cannot read {v!r} as a month; give a pandas Period or 'YYYY-MM'.") from exc


def _month_x(p: pd.Period) -> int:
    """Months since Jan 1970: an evenly spaced x position for a month."""
    return (p - _EPOCH_MONTH).n


def _monthly_series(s, what: str) -> pd.Series:
    """A Series indexed by monthly Periods (from a Series or a frame's first numeric column)."""
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
        idx = pd.PeriodIndex([_to_period(v) for v in idx])
    return pd.Series(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float), index=idx.asfreq("M"))


def _set_month_axis(ax, first: int, last: int, max_ticks: int = 12) -> None:
    """Month ticks on a step of 1/2/3/6/12 months, aligned to the calendar; the year shown at each January."""
    span = last - first + 1
    step = next((s for s in (1, 2, 3, 6, 12, 24) if span / s <= max_ticks), 24)
    ticks = [x for x in range(first, last + 1) if (_EPOCH_MONTH + x).month % step == 1 % step]
    if not ticks:
        ticks = [first]
    shown = set(ticks)

    def label(x, _pos=None):
        xi = int(round(x))
        if xi not in shown:
            return ""
        p = _EPOCH_MONTH + xi
        return f"{p:%b}\n{p:%Y}" if (p.month == 1 or xi == ticks[0]) else f"{p:%b}"

    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.set_xlim(first - 0.6, last + 0.6)


def _right_labels(ax, items: list[tuple[float, str]], fig_height_in: float) -> None:
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
            va="center", ha="left", fontsize=8, color=_INK, annotation_clip=False,
            arrowprops=dict(arrowstyle="-", color="#9E9E9E", lw=0.6, shrinkA=0, shrinkB=0)
            if abs(y - want) > gap * 0.3 else None,
        )


def _balanced_columns(n: int, max_cols: int) -> int:
    """Legend columns so that rows come out evenly filled (9 entries -> 3 x 3, not 4 + 4 + 1)."""
    if n <= max_cols:
        return max(n, 1)
    rows = math.ceil(n / max_cols)
    return math.ceil(n / rows)


def _point_counts(types: pd.Series) -> dict[str, int]:
    return {t: int((types == t).sum()) for t in POINT_STYLES}


def _signals_sentence(counts: dict[str, int]) -> str:
    improvement = counts["special_cause_improvement"]
    concern = counts["special_cause_concern"]
    neutral = counts["special_cause_neutral_high"] + counts["special_cause_neutral_low"]
    parts = []
    for n, what in ((improvement, "special-cause improvement"), (concern, "special-cause concern"),
                    (neutral, "neutral special cause")):
        if n:
            parts.append(f"{n} point{'s' if n != 1 else ''} of {what}")
    return ", ".join(parts) if parts else "no special-cause points"


# ---------------------------------------------------------------------------------------------- XmR chart


def _prepare_points(points: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """Complete missing months, return (frame, x positions, is_monthly)."""
    need = {"value", "mean", "lpl", "upl"}
    missing = need - set(points.columns)
    if missing:
        raise UsageError(
            f"xmr_chart needs the points frame of cinb.spc.xmr(...) with columns {sorted(need)}; "
            f"missing {sorted(missing)}."
        )
    pts = points.copy()
    for col, default in (("group", 0), ("rule", None), ("point_type", None)):
        if col not in pts.columns:
            pts[col] = default
    idx = pts.index
    if isinstance(idx, pd.DatetimeIndex):
        pts.index = idx = idx.to_period("M")
    if isinstance(idx, pd.PeriodIndex):
        pts.index = idx.asfreq("M")
        pts = pts[~pts.index.duplicated(keep="last")].sort_index()
        if len(pts):
            # A month with no row at all must show as a gap, not be bridged by the line.
            full = pd.period_range(pts.index.min(), pts.index.max(), freq="M")
            pts = pts.reindex(full)
        x = np.array([_month_x(p) for p in pts.index], dtype=float)
        monthly = True
    else:
        x = np.asarray(pts.index, dtype=float)
        monthly = False
    pts["value"] = pd.to_numeric(pts["value"], errors="coerce").astype(float)
    for c in ("mean", "lpl", "upl"):
        pts[c] = pd.to_numeric(pts[c], errors="coerce").astype(float)
    pts["group"] = pts["group"].ffill().bfill()
    if pts["group"].isna().all():
        pts["group"] = 0
    return pts, x, monthly


def _limit_runs(pts: pd.DataFrame, x: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """(x start, x end, mean, lpl, upl) for each run of constant limits; a new run starts at a rebase."""
    lim = pts[["mean", "lpl", "upl"]].groupby(pts["group"].to_numpy(), sort=False).ffill()
    runs: list[list[float]] = []
    prev_key = None
    for i, (m, lo, hi) in enumerate(lim.itertuples(index=False, name=None)):
        g = pts["group"].iloc[i]
        if pd.isna(m):
            prev_key = None
            continue
        key = (g, m, lo, hi)
        if key == prev_key:
            runs[-1][1] = x[i]
        else:
            runs.append([x[i], x[i], m, lo, hi])
        prev_key = key
    return [tuple(r) for r in runs]


def xmr_chart(
    points: pd.DataFrame,
    *,
    title: str,
    unit: str,
    direction: str,
    sla: float | None = None,
    target: float | None = None,
    trajectory: pd.Series | None = None,
    annotations: Iterable[tuple[object, str]] = (),
    kpi_name: str | None = None,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """XmR (individuals) chart of one KPI with limits, SLA, target, CI trajectory and special causes.

    Parameters
    ----------
    points : DataFrame
        ``cinb.spc.xmr(...).points``: columns value, mean, lpl, upl, group, rule, point_type, indexed by a
        monthly PeriodIndex (missing months are drawn as gaps) or a RangeIndex.
    title : str
        Chart title (caption of the figure).
    unit : str
        The KPI's unit (``%``, ``hours``, ``days``, ``minutes``, ``count``, ``score``, ``GBP``).
    direction : {"higher", "lower"}
        Which way is better; stated on the y axis.
    sla, target : float, optional
        Drawn as labelled horizontal lines.
    trajectory : Series, optional
        The CI commitment's expected value per month (index of Periods), drawn dotted.
    annotations : iterable of (month, label)
        Rebases and initiative deliveries, drawn as vertical markers with text.
    kpi_name : str, optional
        The KPI's name in the alt text (defaults to ``title``).
    caption : str, optional
        Note under the title.
    format : {"svg", "png"}

    Returns
    -------
    Chart
    """
    if direction not in ("higher", "lower"):
        raise UsageError(f"xmr_chart direction must be 'higher' or 'lower', got {direction!r}.")
    pts, x, monthly = _prepare_points(points)
    name = kpi_name or title
    values = pts["value"].to_numpy()
    types = pts["point_type"].where(pts["value"].notna())
    runs = _limit_runs(pts, x)
    traj = _monthly_series(trajectory, "trajectory").dropna() if trajectory is not None else None
    if traj is not None and not monthly:
        raise UsageError("xmr_chart: a trajectory needs points indexed by month (a PeriodIndex).")
    ann = [(_to_period(p) if monthly else p, str(label)) for p, label in annotations]

    height = 3.9
    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.plot(x, values, color=_INK, lw=1.2, marker="o", ms=3.2, zorder=3, label="Monthly value" if monthly
                else "Value")
        for i, (x0, x1, m, lo, hi) in enumerate(runs):
            xs = [x0 - 0.5, x1 + 0.5]
            ax.plot(xs, [m, m], color="#4D4D4D", lw=1.3, zorder=2, label="Mean" if i == 0 else None)
            for j, lim in enumerate((lo, hi)):
                if not pd.isna(lim):
                    ax.plot(xs, [lim, lim], color=_GREY, lw=1.0, ls=(0, (5, 3)), zorder=2,
                            label="Process limits" if (i == 0 and j == 0) else None)
        by_label: dict[str, list[str]] = {}
        for t, (label, *_rest) in POINT_STYLES.items():
            by_label.setdefault(label, []).append(t)
        for label, kinds in by_label.items():
            _, colour, marker, size = POINT_STYLES[kinds[0]]
            mask = types.isin(kinds).to_numpy()
            if mask.any():
                ax.plot(x[mask], values[mask], ls="none", marker=marker, ms=size, mfc=colour, mec=_INK,
                        mew=0.7, zorder=4, label=label)
        if traj is not None and len(traj):
            ax.plot([_month_x(p) for p in traj.index], traj.to_numpy(), color=OKABE_ITO["sky_blue"], lw=2.0,
                    ls=(0, (1, 1.5)), zorder=2.5, label="CI trajectory")
        if sla is not None and not pd.isna(sla):
            ax.axhline(sla, color=OKABE_ITO["vermillion"], lw=1.4, ls=(0, (8, 2, 1, 2)), zorder=1.5, label="SLA")
        if target is not None and not pd.isna(target):
            ax.axhline(target, color=OKABE_ITO["bluish_green"], lw=1.4, ls="-", zorder=1.5, label="Target")

        ys = [v for v in [*values, *[r[k] for r in runs for k in (2, 3, 4)], sla, target,
                          *(traj.to_numpy() if traj is not None else [])]
              if v is not None and not pd.isna(v)]
        if ys:
            lo, hi = min(ys), max(ys)
            pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
            ax.set_ylim(lo - pad, hi + pad * (2.2 if ann else 1.0))  # headroom for annotation text
        if monthly and len(x):
            first, last = int(np.nanmin(x)), int(np.nanmax(x))
            if traj is not None and len(traj):
                first = min(first, _month_x(traj.index.min()))
                last = max(last, _month_x(traj.index.max()))
            _set_month_axis(ax, first, last)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("Point")
        x_lo, x_hi = ax.get_xlim()
        for k, (p, label) in enumerate(ann):
            # The line sits on the boundary before the month: the change applies from that month on.
            xa = _month_x(p) - 0.5 if monthly else float(p)
            ax.axvline(xa, color="#7A7A7A", lw=0.9, ls=(0, (2, 2)), zorder=1)
            # Text runs away from the nearer edge so it never spills into the right-hand labels.
            right_half = (xa - x_lo) / (x_hi - x_lo) > 0.55
            ax.annotate(_clip(label, 38), xy=(xa, 1.0), xycoords=ax.get_xaxis_transform(),
                        xytext=(-3 if right_half else 3, -3 - 11 * (k % 2)), textcoords="offset points",
                        ha="right" if right_half else "left", va="top", fontsize=8, color=_INK,
                        bbox=dict(boxstyle="square,pad=0.15", fc="white", ec="none", alpha=0.85))
        unit_txt = _unit_text(unit)
        ax.set_ylabel(f"{_wrap(name, 40, 1)} ({unit_txt})\n{direction} is better")
        labels = []
        if runs:
            _, _, m, lo_l, hi_l = runs[-1]
            labels.append((m, f"Mean {_fmt(m, unit)}"))
            if not pd.isna(hi_l):
                labels.append((hi_l, f"Upper limit {_fmt(hi_l, unit)}"))
            if not pd.isna(lo_l):
                labels.append((lo_l, f"Lower limit {_fmt(lo_l, unit)}"))
        if sla is not None and not pd.isna(sla):
            labels.append((sla, f"SLA {_fmt(sla, unit)}"))
        if target is not None and not pd.isna(target):
            labels.append((target, f"Target {_fmt(target, unit)}"))
        _right_labels(ax, labels, height)
        n_entries = len(ax.get_legend_handles_labels()[1])
        fig.legend(loc="outside lower center", ncols=_balanced_columns(n_entries, 4), handlelength=2.6,
                   columnspacing=1.4)

        alt = _xmr_alt(pts, runs, name, unit, direction, sla, target, monthly)
        data = _xmr_data(pts, monthly, ann)
        return Chart(fig, title=title, alt=alt, data=data, caption=caption, format=format)


def _xmr_alt(pts, runs, name, unit, direction, sla, target, monthly) -> str:
    unit_txt = _unit_text(unit)
    observed = pts[pts["value"].notna()]
    if not len(observed):
        return f"XmR chart of {name} ({unit_txt}): no values reported."
    if monthly:
        span = f"from {_month_label(pts.index[0])} to {_month_label(pts.index[-1])}"
    else:
        span = f"over {len(pts)} points"
    text = f"XmR chart of {name} ({unit_txt}) {span}"
    if runs:
        _, _, m, lo, hi = runs[-1]
        since = ""
        if len({r[2:] for r in runs}) > 1 and monthly:
            first_of_last = pts.index[np.argmax(pts["group"].to_numpy() == pts["group"].iloc[-1])]
            since = f" since the rebase in {_month_label(first_of_last)}"
        lims = f", process limits {_fmt(lo, unit)} to {_fmt(hi, unit)}" if not (pd.isna(lo) or pd.isna(hi)) else ""
        text += f": mean {_fmt(m, unit)}{lims}{since}"
    text += f"; {_signals_sentence(_point_counts(pts['point_type'].where(pts['value'].notna())))}"
    n_missing = int(pts["value"].isna().sum())
    if n_missing:
        text += f"; {n_missing} {'month' if monthly else 'point'}{'s' if n_missing != 1 else ''} without a value"
    last_value = pts["value"].iloc[-1]
    if pd.isna(last_value):
        when = f" ({_month_label(pts.index[-1])})" if monthly else ""
        last_seen = observed.index[-1]
        seen = f" ({_month_label(last_seen)})" if monthly else f" (point {last_seen})"
        text += f"; latest value{when} not reported, last reported {_fmt(observed['value'].iloc[-1], unit)}{seen}"
    else:
        text += f"; latest value {_fmt(last_value, unit)}"
    against = [f"{w} {_fmt(v, unit)}" for w, v in (("target", target), ("SLA", sla))
               if v is not None and not pd.isna(v)]
    if against and not pd.isna(last_value):
        text += " against " + " and ".join(against)
    return text + f". {direction.capitalize()} is better."


def _xmr_data(pts: pd.DataFrame, monthly: bool, ann: list[tuple[object, str]]) -> Table:
    frame = pd.DataFrame(
        {
            "Month" if monthly else "Point": [_month_label(p) for p in pts.index] if monthly else list(pts.index),
            "Value": pts["value"].to_numpy(),
            "Mean": pts["mean"].to_numpy(),
            "Lower limit": pts["lpl"].to_numpy(),
            "Upper limit": pts["upl"].to_numpy(),
            "Point type": [
                "Not reported" if pd.isna(v) else _POINT_WORDS.get(t, "–" if t is None or pd.isna(t) else str(t))
                for v, t in zip(pts["value"], pts["point_type"])
            ],
        }
    )
    rules = pts["rule"]
    if rules.notna().any():
        frame["Signal rule"] = [None if r is None or pd.isna(r) or r == "" else str(r) for r in rules]
    if pts["group"].nunique() > 1:
        frame.insert(1, "Segment", pts["group"].astype(str).to_numpy())
    if ann:
        events: dict[object, list[str]] = {}
        for p, label in ann:
            events.setdefault(p, []).append(label)
        frame["Event"] = ["; ".join(events.get(p, [])) or None for p in pts.index]
    return Table(frame, caption="Monthly values, limits and point types", row_header=frame.columns[0])


# ---------------------------------------------------------------------------------------------- heat map


def rating_heatmap(ratings: pd.DataFrame, *, title: str, caption: str | None = None, format: str = "svg") -> Chart:
    """Contracts × KPIs grid of statutory ratings: each cell coloured AND labelled with symbol and word.

    Parameters
    ----------
    ratings : DataFrame
        Index: contracts (labels shown as rows); columns: KPIs; values: rating words ("Good",
        "Approaching target", "Requires improvement", "Inadequate", "Other") or missing where a contract
        has no such KPI.
    title : str
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart
    """
    if not isinstance(ratings, pd.DataFrame):
        raise UsageError(f"rating_heatmap needs a DataFrame of rating words, got {type(ratings).__name__}.")
    lookup = {k.lower(): k for k in RATING_STYLES}
    words = ratings.map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v))
                        else lookup.get(str(v).strip().lower(), f"?{v}"))
    bad = sorted({w[1:] for w in words.to_numpy().ravel() if isinstance(w, str) and w.startswith("?")})
    if bad:
        raise UsageError(f"rating_heatmap: {bad} are not rating words; use one of {list(RATING_STYLES)}.")
    n_rows, n_cols = words.shape
    # Row labels wrap onto two lines so the grid keeps most of the page width for its cells.
    row_labels = [_wrap(r, 20, 2) for r in ratings.index.astype(str)]
    col_labels = [_wrap(c, 18, 2) for c in ratings.columns.astype(str)]
    label_w = 0.25 + 0.068 * max((len(line) for r in row_labels for line in r.split("\n")), default=4)
    cell_w = (A4_TEXT_WIDTH_IN - label_w - 0.9) / max(n_cols, 1)
    cell_h = 0.36
    header_h = 0.25 + 0.05 * max((len(line) for c in col_labels for line in c.split("\n")), default=4)
    height = n_rows * cell_h + header_h + 0.75
    two_line = cell_w < 1.0

    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.grid(False)
        for s in ax.spines.values():
            s.set_visible(False)
        for i in range(n_rows):
            for j in range(n_cols):
                w = words.iat[i, j]
                if not isinstance(w, str):  # missing: the contract has no such KPI
                    ax.add_patch(Rectangle((j, i), 1, 1, fc="white", ec="#BDBDBD", lw=0.6, hatch="////"))
                    ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=7, color=_GREY,
                            bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none"))
                    continue
                st = RATING_STYLES[w]
                ax.add_patch(Rectangle((j, i), 1, 1, fc=st.background, ec="white", lw=1.5))
                if two_line:
                    ax.text(j + 0.5, i + 0.5, st.symbol, ha="center", va="bottom", fontsize=8.5, color=st.color)
                    ax.text(j + 0.5, i + 0.53, st.short, ha="center", va="top", fontsize=6.5, color=st.color)
                else:
                    ax.text(j + 0.5, i + 0.5, f"{st.symbol} {st.short}", ha="center", va="center", fontsize=7.5,
                            color=st.color)
        ax.set_xlim(0, n_cols)
        ax.set_ylim(n_rows, 0)
        ax.set_yticks([i + 0.5 for i in range(n_rows)], row_labels)
        ax.set_xticks([j + 0.5 for j in range(n_cols)], col_labels)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        for lab in ax.get_xticklabels():
            lab.set_rotation(45)
            lab.set_ha("left")
            lab.set_rotation_mode("anchor")
            lab.set_fontsize(7.5)
        handles = [Patch(fc=s.background, ec="#9E9E9E", lw=0.5, label=f"{s.symbol} {w}") for w, s in
                   RATING_STYLES.items()]
        if words.isna().to_numpy().any():
            handles.append(Patch(fc="white", ec="#BDBDBD", hatch="////", label="n/a: no such KPI"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3))

        counts = {w: int((words == w).to_numpy().sum()) for w in RATING_STYLES}
        summary = ", ".join(f"{n} {w}" for w, n in counts.items() if n) or "no ratings"
        alt = (f"Heat map of statutory ratings for {n_rows} contract{'s' if n_rows != 1 else ''} and "
               f"{n_cols} KPI{'s' if n_cols != 1 else ''}: {summary}.")
        worst = [(str(r), int((words.loc[r] == "Inadequate").sum())) for r in words.index]
        worst = [f"{r} ({n})" for r, n in worst if n]
        if worst:
            alt += f" Inadequate ratings in {', '.join(worst[:6])}{' and more' if len(worst) > 6 else ''}."
        data_frame = words.copy()
        data_frame.index = ratings.index.astype(str)
        data_frame.index.name = ratings.index.name or "Contract"
        data_frame.columns = ratings.columns.astype(str)
        data = Table(data_frame, caption="Rating of each KPI by contract", rating_columns=list(data_frame.columns),
                     index=True)
        return Chart(fig, title=title, alt=alt, data=data, caption=caption, format=format)


# ---------------------------------------------------------------------------------------------- timeline


def timeline(
    events: pd.DataFrame,
    *,
    today,
    title: str,
    months: int = 18,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """Contract notice and end dates falling in the next ``months`` months, one row per contract.

    Parameters
    ----------
    events : DataFrame
        Columns contract_id, title, notice_date, end_date (dates; NaT allowed).
    today : date-like
        The review date: the window runs from here.
    title : str
    months : int
        Window length (default 18).
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart
    """
    need = {"contract_id", "title", "notice_date", "end_date"}
    if not isinstance(events, pd.DataFrame) or need - set(events.columns):
        got = list(events.columns) if isinstance(events, pd.DataFrame) else type(events).__name__
        raise UsageError(f"timeline needs a frame with columns {sorted(need)}; got {got}.")
    today = pd.Timestamp(today).normalize()
    horizon = today + pd.DateOffset(months=months)
    ev = events.copy()
    ev["notice_date"] = pd.to_datetime(ev["notice_date"], errors="coerce")
    ev["end_date"] = pd.to_datetime(ev["end_date"], errors="coerce")

    def in_window(d):
        return d.notna() & (d >= today) & (d <= horizon)

    ev["notice_in"] = in_window(ev["notice_date"])
    ev["end_in"] = in_window(ev["end_date"])
    # Notice already passed but the contract still runs: the most urgent case of all, so it is shown.
    ev["notice_passed"] = ev["notice_date"].notna() & (ev["notice_date"] < today) & (ev["end_date"] >= today)
    shown = ev[ev["notice_in"] | ev["end_in"] | (ev["notice_passed"] & ev["end_in"])].copy()
    shown["first"] = shown[["notice_date", "end_date"]].where(
        shown[["notice_in", "end_in"]].to_numpy() | shown[["notice_passed", "end_in"]].to_numpy()
    ).min(axis=1)
    shown = shown.sort_values(["first", "contract_id"], kind="stable").reset_index(drop=True)
    n = len(shown)
    height = max(2.2, 0.34 * n + 1.5)

    def xnum(d):
        return matplotlib.dates.date2num(pd.Timestamp(d).to_pydatetime())

    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.grid(axis="x", color="#E0E0E0", lw=0.6)
        ax.grid(axis="y", visible=False)
        ax.set_ylim(max(n, 1) - 0.5, -0.9)
        ax.axvline(xnum(today), color=_INK, lw=1.0)
        ax.annotate(f"Today {today.day} {today:%b %Y}", xy=(xnum(today), 1.0), xycoords=ax.get_xaxis_transform(),
                    xytext=(3, 0), textcoords="offset points", ha="left", va="top", fontsize=8)
        date_fmt = "{d.day} {d:%b %y}"
        for i, r in shown.iterrows():
            start = today if r["notice_passed"] else (r["notice_date"] if r["notice_in"] else None)
            end = r["end_date"] if r["end_in"] else None
            if start is not None:
                ax.plot([xnum(start), xnum(end if end is not None else horizon)], [i, i], color="#9E9E9E", lw=1.5,
                        zorder=1)
            if r["notice_in"]:
                ax.plot(xnum(r["notice_date"]), i, marker="D", ms=7, mfc=OKABE_ITO["vermillion"], mec=_INK, mew=0.6,
                        ls="none", zorder=3)
                # Left of the marker, unless that would run into the row labels: then above it.
                near_left = r["notice_date"] < today + pd.DateOffset(months=2)
                ax.annotate(date_fmt.format(d=r["notice_date"]), (xnum(r["notice_date"]), i),
                            xytext=(0, 6) if near_left else (-7, 0), textcoords="offset points",
                            ha="center" if near_left else "right", va="bottom" if near_left else "center",
                            fontsize=7.5)
            elif r["notice_passed"]:
                ax.plot(xnum(today), i, marker="<", ms=7, mfc=OKABE_ITO["vermillion"], mec=_INK, mew=0.6,
                        ls="none", zorder=3)
                ax.annotate(f"notice passed {date_fmt.format(d=r['notice_date'])}", (xnum(today), i), xytext=(8, 5),
                            textcoords="offset points", ha="left", va="bottom", fontsize=7.5)
            if end is not None:
                ax.plot(xnum(end), i, marker="s", ms=6.5, mfc=_INK, mec=_INK, ls="none", zorder=3)
                ax.annotate(date_fmt.format(d=end), (xnum(end), i), xytext=(7, 0), textcoords="offset points",
                            ha="left", va="center", fontsize=7.5)
            elif pd.notna(r["end_date"]) and r["end_date"] > horizon:
                # Ends after the window: an arrow at the window's edge says "continues", with the end date.
                ax.plot(xnum(horizon), i, marker=">", ms=6, mfc="#9E9E9E", mec="#9E9E9E", ls="none", zorder=3)
                ax.annotate(f"ends {date_fmt.format(d=r['end_date'])}", (xnum(horizon), i), xytext=(7, 0),
                            textcoords="offset points", ha="left", va="center", fontsize=7.5, color=_GREY)
        ax.set_yticks(range(n), [f"{_clip(c, 14)}  {_clip(t, 30)}" for c, t in
                                 zip(shown["contract_id"].astype(str), shown["title"].astype(str))])
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        # Room for the end-date labels beyond the window's last day.
        ax.set_xlim(xnum(today - pd.DateOffset(days=20)), xnum(horizon + pd.DateOffset(months=3)))
        ticks = pd.date_range(today.to_period("M").to_timestamp(), horizon, freq="3MS")
        ax.set_xticks([xnum(t) for t in ticks], [f"{t:%b}\n{t:%Y}" for t in ticks])
        if n == 0:
            ax.set_yticks([])
            ax.text(0.5, 0.5, f"No notice or end dates in the next {months} months.", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9)
        handles = [
            Line2D([], [], marker="D", ms=7, mfc=OKABE_ITO["vermillion"], mec=_INK, ls="none", label="Notice date"),
            Line2D([], [], marker="s", ms=6.5, mfc=_INK, mec=_INK, ls="none", label="Contract end"),
        ]
        if shown["notice_passed"].any():
            handles.append(Line2D([], [], marker="<", ms=7, mfc=OKABE_ITO["vermillion"], mec=_INK, ls="none",
                                  label="Notice date already passed"))
        if (shown["end_date"] > horizon).any():
            handles.append(Line2D([], [], marker=">", ms=6, mfc="#9E9E9E", mec="#9E9E9E", ls="none",
                                  label="Ends after the window"))
        fig.legend(handles=handles, loc="outside lower center", ncols=_balanced_columns(len(handles), 4))

        window = f"{today.day} {today:%b %Y} to {horizon.day} {horizon:%b %Y}"
        if n == 0:
            alt = f"Timeline of contract notice and end dates from {window}: none fall in this window."
        else:
            alt = f"Timeline of contract notice and end dates from {window}: {n} contract{'s' if n != 1 else ''}"
            notices = shown[shown["notice_in"]].sort_values("notice_date")
            if len(notices):
                nx = notices.iloc[0]
                alt += (f"; next notice date {nx['notice_date'].day} {nx['notice_date']:%b %Y} "
                        f"({nx['contract_id']} {nx['title']})")
            alt += f"; {int(shown['end_in'].sum())} end in the window"
            passed = int(shown["notice_passed"].sum())
            if passed:
                alt += f"; {passed} notice date{'s' if passed != 1 else ''} already passed"
            alt += "."
        data = pd.DataFrame({
            "Contract": shown["contract_id"].astype(str).to_numpy(),
            "Title": shown["title"].astype(str).to_numpy(),
            "Notice date": shown["notice_date"].to_numpy(),
            "Days to notice": (shown["notice_date"] - today).dt.days.to_numpy(),
            "End date": shown["end_date"].to_numpy(),
            "Days to end": (shown["end_date"] - today).dt.days.to_numpy(),
        })
        table = Table(data, caption="Notice and end dates in the window", row_header="Contract")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)


# ---------------------------------------------------------------------------------------------- commitments


def commitment_chart(
    actuals: pd.Series,
    trajectory: pd.Series,
    forecast: pd.Series | pd.DataFrame | None = None,
    *,
    title: str,
    unit: str,
    ci_target: float | None = None,
    due=None,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """A CI commitment: actual values against the committed trajectory, with a forecast to the due month.

    Parameters
    ----------
    actuals : Series
        Actual monthly values indexed by Period.
    trajectory : Series
        Expected value per month under the commitment (baseline to target), indexed by Period.
    forecast : Series or DataFrame, optional
        Forecast per month: a Series, or a frame with ``forecast`` (or ``value``) and optional ``lower`` and
        ``upper`` columns drawn as a band.
    title, unit : str
    ci_target : float, optional
        The committed level, drawn as a line and marked at ``due``.
    due : month-like, optional
        The month the commitment falls due.
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart
    """
    act = _monthly_series(actuals, "actuals")
    traj = _monthly_series(trajectory, "trajectory")
    fc, band = None, None
    if forecast is not None:
        if isinstance(forecast, pd.DataFrame):
            col = "forecast" if "forecast" in forecast.columns else "value" if "value" in forecast.columns else None
            if col is None:
                raise UsageError(f"commitment_chart: forecast frame needs a 'forecast' or 'value' column; "
                                 f"got {list(forecast.columns)}.")
            fc = _monthly_series(forecast[col], "forecast")
            if {"lower", "upper"} <= set(forecast.columns):
                band = (_monthly_series(forecast["lower"], "forecast lower"),
                        _monthly_series(forecast["upper"], "forecast upper"))
        else:
            fc = _monthly_series(forecast, "forecast")
    due_p = _to_period(due) if due is not None and not (isinstance(due, float) and pd.isna(due)) else None
    months = [p for s in (act, traj, fc) if s is not None for p in s.index]
    if due_p is not None:
        months.append(due_p)
    if not months:
        raise UsageError("commitment_chart: actuals, trajectory and forecast are all empty.")
    first, last = min(_month_x(p) for p in months), max(_month_x(p) for p in months)
    height = 3.5

    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        mx = lambda s: [_month_x(p) for p in s.index]  # noqa: E731
        if band is not None:
            lo, hi = band
            common = lo.index.intersection(hi.index)
            ax.fill_between(mx(lo.loc[common]), lo.loc[common].to_numpy(), hi.loc[common].to_numpy(),
                            color=OKABE_ITO["blue"], alpha=0.15, lw=0, label="Forecast range")
        if fc is not None and len(fc):
            ax.plot(mx(fc), fc.to_numpy(), color=OKABE_ITO["blue"], lw=1.4, ls=(0, (5, 2)), label="Forecast")
        if len(traj):
            ax.plot(mx(traj), traj.to_numpy(), color=OKABE_ITO["sky_blue"], lw=2.2, ls=(0, (1, 1.5)),
                    label="Committed trajectory")
        if len(act):
            full = act.reindex(pd.period_range(act.index.min(), act.index.max(), freq="M"))
            ax.plot(mx(full), full.to_numpy(), color=_INK, lw=1.3, marker="o", ms=3.2, label="Actual", zorder=3)
        labels = []
        if ci_target is not None and not pd.isna(ci_target):
            ax.axhline(ci_target, color=OKABE_ITO["bluish_green"], lw=1.3, zorder=1)
            labels.append((ci_target, f"CI target {_fmt(ci_target, unit)}"))
            if due_p is not None:
                ax.plot(_month_x(due_p), ci_target, marker="*", ms=12, mfc=OKABE_ITO["bluish_green"], mec=_INK,
                        mew=0.6, ls="none", zorder=4, label=f"Target due {_month_label(due_p)}")
        if due_p is not None:
            ax.axvline(_month_x(due_p), color="#7A7A7A", lw=0.9, ls=(0, (2, 2)), zorder=1)
        _set_month_axis(ax, first, last)
        ax.set_ylabel(f"{_wrap(title, 40, 1)} ({_unit_text(unit)})")
        _right_labels(ax, labels, height)
        fig.legend(loc="outside lower center", ncols=5)

        alt = f"Commitment chart of {title} ({_unit_text(unit)})"
        alt += f" from {_month_label(_EPOCH_MONTH + first)} to {_month_label(_EPOCH_MONTH + last)}"
        observed = act.dropna()
        if len(observed):
            p, v = observed.index[-1], observed.iloc[-1]
            alt += f": latest actual {_fmt(v, unit)} ({_month_label(p)})"
            if p in traj.index and not pd.isna(traj.loc[p]):
                alt += f" against a trajectory of {_fmt(traj.loc[p], unit)} for that month"
        else:
            alt += ": no actual values yet"
        if ci_target is not None and not pd.isna(ci_target):
            alt += f"; commitment {_fmt(ci_target, unit)}" + (f" by {_month_label(due_p)}" if due_p else "")
        if fc is not None and due_p is not None and due_p in fc.index and not pd.isna(fc.loc[due_p]):
            alt += f"; forecast {_fmt(fc.loc[due_p], unit)} at the due date"
        alt += "."
        idx = pd.period_range(_EPOCH_MONTH + first, _EPOCH_MONTH + last, freq="M")
        data = pd.DataFrame({"Month": [_month_label(p) for p in idx],
                             "Actual": act.reindex(idx).to_numpy(),
                             "Trajectory": traj.reindex(idx).to_numpy()})
        if fc is not None:
            data["Forecast"] = fc.reindex(idx).to_numpy()
        if band is not None:
            data["Forecast lower"] = band[0].reindex(idx).to_numpy()
            data["Forecast upper"] = band[1].reindex(idx).to_numpy()
        table = Table(data, caption="Actual, trajectory and forecast by month", row_header="Month")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)


# ---------------------------------------------------------------------------------------------- credits

_HATCHES = ["", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---"]


def _money_short(v: float) -> str:
    if abs(v) >= 1_000_000:
        return f"£{v / 1e6:.1f}m"
    if abs(v) >= 10_000:
        return f"£{v / 1e3:.0f}k"
    if abs(v) >= 1_000:
        return f"£{v / 1e3:.1f}k"
    return f"£{v:,.0f}"


def credits_chart(
    monthly: pd.Series | pd.DataFrame,
    cap_gbp: float | pd.Series | None = None,
    *,
    title: str,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """Service credits (£) per month as bars, stacked by KPI when given a frame, with the monthly cap.

    Parameters
    ----------
    monthly : Series or DataFrame
        Credits in £ indexed by Period; a frame stacks its columns (e.g. one per KPI, at most 8).
    cap_gbp : float or Series, optional
        The monthly cap in £ (a Series by month if the charge changed).
    title : str
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart
    """
    if isinstance(monthly, pd.Series):
        frame = _monthly_series(monthly, "monthly credits").to_frame("Credits")
    elif isinstance(monthly, pd.DataFrame):
        frame = pd.DataFrame({str(c): _monthly_series(monthly[c], f"credits column {c!r}") for c in monthly.columns})
    else:
        raise UsageError(f"credits_chart needs a Series or DataFrame indexed by month, got {type(monthly).__name__}.")
    if frame.shape[1] > len(_HATCHES):
        raise UsageError(f"credits_chart stacks at most {len(_HATCHES)} columns; got {frame.shape[1]}. "
                         "Group the smaller KPIs into 'Other' first.")
    if len(frame):
        frame = frame.reindex(pd.period_range(frame.index.min(), frame.index.max(), freq="M"))
    totals = frame.sum(axis=1, min_count=1)
    x = np.array([_month_x(p) for p in frame.index], dtype=float)
    height = 3.2
    stacked = frame.shape[1] > 1
    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        bottom = np.zeros(len(frame))
        colours = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple",
                                          "sky_blue", "yellow", "black")]
        for k, col in enumerate(frame.columns):
            vals = frame[col].fillna(0).to_numpy()
            ax.bar(x, vals, 0.75, bottom=bottom, color=colours[k], hatch=_HATCHES[k] if stacked else None,
                   edgecolor="white" if not stacked else _INK, lw=0.4 if stacked else 0, label=col)
            bottom += vals
        top = float(np.nanmax(totals.to_numpy())) if totals.notna().any() else 0.0
        labels = []
        cap_series = None
        if cap_gbp is not None:
            if isinstance(cap_gbp, pd.Series):
                cap_series = _monthly_series(cap_gbp, "cap_gbp").reindex(frame.index)
                ax.step(x, cap_series.to_numpy(), where="mid", color=OKABE_ITO["vermillion"], lw=1.4,
                        ls=(0, (6, 2)), label="Monthly cap")
                top = max(top, float(np.nanmax(cap_series.to_numpy())) if cap_series.notna().any() else 0)
            elif not pd.isna(cap_gbp):
                cap_series = pd.Series(float(cap_gbp), index=frame.index)
                ax.axhline(cap_gbp, color=OKABE_ITO["vermillion"], lw=1.4, ls=(0, (6, 2)), label="Monthly cap")
                labels.append((float(cap_gbp), f"Cap {_money_short(float(cap_gbp))}"))
                top = max(top, float(cap_gbp))
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
        if len(frame) <= 18:
            for xi, t in zip(x, totals.to_numpy()):
                # "£0" and "n/a" keep a month without credits apart from a month without data.
                shown = "n/a" if pd.isna(t) else _money_short(t)
                ax.annotate(shown, (xi, 0 if pd.isna(t) else t), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7.5, color=_INK if shown not in ("£0", "n/a") else _GREY,
                            bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.85))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"£{v:,.0f}"))
        ax.set_ylabel("Service credits (£)")
        if len(frame):
            _set_month_axis(ax, int(x.min()), int(x.max()))
        _right_labels(ax, labels, height)
        if stacked or cap_series is not None:
            fig.legend(loc="outside lower center", ncols=min(frame.shape[1] + 1, 5))

        total = float(totals.sum(skipna=True))
        months_with = int((totals > 0).sum())
        if len(frame):
            alt = (f"Bar chart of service credits per month from {_month_label(frame.index[0])} to "
                   f"{_month_label(frame.index[-1])}: total {_money_short(total)} ({_fmt(total, 'GBP')}), "
                   f"credits due in {months_with} of {len(frame)} months")
            if months_with:
                pk = totals.idxmax()
                alt += f"; largest {_fmt(totals.loc[pk], 'GBP')} in {_month_label(pk)}"
            if cap_series is not None:
                at_cap = int((totals >= cap_series - 0.005).sum())
                if isinstance(cap_gbp, int | float):
                    alt += f"; monthly cap {_fmt(cap_gbp, 'GBP')}"
                alt += f", reached in {at_cap} month{'s' if at_cap != 1 else ''}"
            alt += "."
        else:
            alt = "Bar chart of service credits per month: no months to show."
        data = pd.DataFrame({"Month": [_month_label(p) for p in frame.index]})
        fmts = {}
        for col in frame.columns:
            name = f"{col} (£)" if stacked else "Credits (£)"
            data[name] = frame[col].to_numpy()
            fmts[name] = "{:,.2f}"
        if stacked:
            data["Total (£)"] = totals.to_numpy()
            fmts["Total (£)"] = "{:,.2f}"
        if cap_series is not None:
            data["Cap (£)"] = cap_series.to_numpy()
            fmts["Cap (£)"] = "{:,.2f}"
        table = Table(data, caption="Service credits by month", number_formats=fmts, row_header="Month")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)


# ---------------------------------------------------------------------------------------------- score bars


def score_bar(
    scorecard: pd.Series | pd.DataFrame,
    *,
    title: str,
    label: str = "Weighted score",
    max_value: float | None = None,
    caption: str | None = None,
    format: str = "svg",
) -> Chart:
    """Ranked horizontal bars (best at the top), each labelled with its value.

    Parameters
    ----------
    scorecard : Series or DataFrame
        Scores indexed by name, or a frame with a ``score`` column (names from a ``label``, ``name`` or
        ``contract_id`` column, else the index).
    title : str
    label : str
        What the score is, for the axis and alt text.
    max_value : float, optional
        Right end of the axis (default 100 when every score is within 0–100).
    caption : str, optional
    format : {"svg", "png"}

    Returns
    -------
    Chart
    """
    if isinstance(scorecard, pd.DataFrame):
        if "score" not in scorecard.columns:
            raise UsageError(f"score_bar: the frame needs a 'score' column; got {list(scorecard.columns)}.")
        name_col = next((c for c in ("label", "name", "contract_id") if c in scorecard.columns), None)
        names = scorecard[name_col] if name_col else scorecard.index.to_series()
        s = pd.Series(pd.to_numeric(scorecard["score"], errors="coerce").to_numpy(dtype=float),
                      index=names.astype(str).to_numpy())
    elif isinstance(scorecard, pd.Series):
        s = pd.Series(pd.to_numeric(scorecard, errors="coerce").to_numpy(dtype=float),
                      index=scorecard.index.astype(str))
    else:
        raise UsageError(f"score_bar needs a Series or DataFrame, got {type(scorecard).__name__}.")
    scored = s.dropna().sort_values(ascending=False, kind="stable")
    unscored = [str(n) for n in s.index[s.isna()]]
    n = len(scored)
    height = max(1.8, 0.3 * n + 1.0)
    vmax = max_value or (100.0 if n and scored.min() >= 0 and scored.max() <= 100 else
                         (float(scored.max()) * 1.12 if n else 1.0))
    with house_style():
        fig = house_figure(height_in=height)
        ax = fig.add_subplot()
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color="#E0E0E0", lw=0.6)
        y = np.arange(n)
        ax.barh(y, scored.to_numpy(), 0.7, color=OKABE_ITO["blue"])
        for yi, v in zip(y, scored.to_numpy()):
            ax.annotate(_fmt(v, None), (v, yi), xytext=(3, 0), textcoords="offset points", ha="left", va="center",
                        fontsize=8)
        ax.set_yticks(y, [_clip(nm, 36) for nm in scored.index])
        ax.set_ylim(max(n, 1) - 0.5, -0.5)
        ax.set_xlim(min(0.0, float(scored.min()) if n else 0.0), vmax * 1.06)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(label)
        if n == 0:
            ax.text(0.5, 0.5, "No scores to show.", transform=ax.transAxes, ha="center", va="center")
        if n:
            alt = (f"Ranked bar chart of {label.lower()} for {n} item{'s' if n != 1 else ''}: highest "
                   f"{scored.index[0]} ({_fmt(scored.iloc[0])}), lowest {scored.index[-1]} ({_fmt(scored.iloc[-1])}), "
                   f"median {_fmt(float(scored.median()))}")
        else:
            alt = f"Ranked bar chart of {label.lower()}: no scores"
        if unscored:
            alt += f"; not scored: {', '.join(unscored[:5])}{' and more' if len(unscored) > 5 else ''}"
        alt += "."
        data = pd.DataFrame({"Rank": np.arange(1, n + 1), "Name": list(scored.index), label: scored.to_numpy()})
        table = Table(data, caption=f"{label} by rank", row_header="Name")
        return Chart(fig, title=title, alt=alt, data=table, caption=caption, format=format)
