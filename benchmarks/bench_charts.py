"""CPU time of one contract pack's charts: build and save every chart the contract notebook draws.

The notebook's chart-bearing sections are called as the notebook calls them (``sections.at_a_glance``,
``kpi_details``, ``commitments``, ``credits`` on ``for_audience(contract_review(...))``); each makes its
matplotlib figures and saves them to SVG (``cinb.display.Chart``). The review itself is computed once, outside
the timing. Each contract is timed ``--repeat`` times in one process after one warm-up round (fonts and caches
loaded, as in a kernel that has drawn once); the median and the first (cold) round are printed, in CPU seconds
(``time.process_time``), with the fastest round (least disturbed on a shared machine). The speed-up is
the ratio of medians. The time inside the chart builders alone (``xmr_chart``, ``glance_chart``,
``commitment_chart``, ``credits_chart``: building and saving, without the sections' tables and prose) is
printed too. As in a pack's kernel, the imported modules and the loaded portfolio are frozen out of the cyclic
garbage collector's sight (:func:`gc.freeze`) before the timing, in both renderings.

    python benchmarks/bench_charts.py                                  # NB-SD-001 and NB-CLOUD-006, and the old rendering
    python benchmarks/bench_charts.py NB-APP-007 --repeat 5
    python benchmarks/bench_charts.py --baseline-ref /tmp/chartbase    # the same, measured on an older checkout

By default the same charts are also drawn the way cinb drew them before (``--old-rendering``: SVG text as
paths, a constrained-layout figure laid out again at every draw), in a process of their own, and printed side by
side: same charts, same data, only the rendering differs (``--no-compare`` skips it).

``--baseline-ref PATH`` runs this script again in a subprocess with ``PYTHONPATH=PATH`` (a clone of an older
commit, e.g. ``git clone -q . /tmp/chartbase && git -C /tmp/chartbase checkout -q 03a873b``), so that ``cinb``
is imported from there, and prints both side by side with the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SECTIONS = ("at_a_glance", "kpi_details", "commitments", "credits")


def _charts_of(blocks) -> list:
    """The Chart objects among a section's blocks (a Block holds its parts in ``parts`` or ``items``)."""
    from cinb.display import Chart

    found, todo = [], list(blocks)
    while todo:
        b = todo.pop()
        if isinstance(b, Chart):
            found.append(b)
            continue
        for attr in ("parts", "items", "blocks", "children"):
            inner = getattr(b, attr, None)
            if isinstance(inner, list | tuple):
                todo.extend(inner)
    return found


def measure(contract_ids: list[str], period: str, repeat: int) -> dict:
    """{contract_id: {"cold": s, "median": s, "runs": [...], "charts": n, "svg_bytes": n, "per_section": {...}}}."""
    import cinb
    from cinb import contract_review, load_portfolio, sections
    from cinb.audience import for_audience

    import cinb.charts
    import cinb.charts_glance

    # The chart builders, timed where the sections call them: "chart" time is building + saving the charts
    # only, without the sections' tables, paragraphs and analysis.
    spent = [0.0]

    def timed(fn):
        def wrapper(*args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - t0
        return wrapper

    for module, name in ((cinb.charts, "xmr_chart"), (cinb.charts, "commitment_chart"),
                         (cinb.charts, "credits_chart"), (cinb.charts_glance, "glance_chart")):
        setattr(module, name, timed(getattr(module, name)))
    portfolio = load_portfolio(None)
    # As in a pack's kernel (forked from the zygote, or warmed by cinb.kernels.warm_up): what is imported and
    # loaded so far is frozen out of the cyclic collector's sight, so a collection walks the charts' own objects.
    import gc

    gc.collect()
    gc.freeze()
    out = {"cinb": os.path.dirname(cinb.__file__)}
    for cid in contract_ids:
        review = for_audience(contract_review(portfolio, cid, period))
        runs, chart_runs, per_section, charts, size = [], [], {}, 0, 0
        for k in range(repeat + 1):
            total, spent[0] = 0.0, 0.0
            for name in SECTIONS:
                t0 = time.process_time()
                blocks = getattr(sections, name)(review)
                dt = time.process_time() - t0
                total += dt
                per_section.setdefault(name, []).append(dt)
                if k == 0:
                    found = _charts_of(blocks)
                    charts += len(found)
                    size += sum(len(c.image) for c in found)
            runs.append(total)
            chart_runs.append(spent[0])
        out[cid] = {"cold": runs[0], "median": statistics.median(runs[1:]), "min": min(runs[1:]), "runs": runs,
                    "chart_median": statistics.median(chart_runs[1:]), "chart_min": min(chart_runs[1:]),
                    "charts": charts,
                    "svg_bytes": size,
                    "per_section": {n: statistics.median(v[1:]) for n, v in per_section.items()}}
    return out


def old_rendering() -> None:
    """Draw this checkout's charts as cinb drew them before issue 16: SVG text as paths (``svg.fonttype:
    path``) and a plain constrained-layout figure, laid out at every draw (``savefig`` draws twice). The same
    charts, the same data: only the rendering differs, so the ratio is the rendering's cost alone."""
    import matplotlib
    from matplotlib.figure import Figure

    import cinb.charts
    import cinb.charts_glance
    import cinb.charts_xmr
    import cinb.chartkit

    class PlainFigure(Figure):
        def settle(self, renderer=None):
            engine = self.get_layout_engine()
            if engine is not None:
                engine.execute(self)
            return self

    def plain_figure(height_in=3.6, width_in=cinb.chartkit.A4_TEXT_WIDTH_IN):
        return PlainFigure(figsize=(width_in, height_in), layout="constrained")

    for module in (cinb.chartkit, cinb.charts, cinb.charts_glance, cinb.charts_xmr):
        if hasattr(module, "house_figure"):
            module.house_figure = plain_figure
    cinb.chartkit.HOUSE_RC["svg.fonttype"] = "path"
    original = matplotlib.rc_context

    def rc_context(rc=None, fname=None):
        if rc and rc.get("svg.fonttype") == "none":
            rc = dict(rc, **{"svg.fonttype": "path"})
        return original(rc, fname)

    matplotlib.rc_context = rc_context  # cinb.display saves SVG with text as text inside an rc_context


def _print(results: dict, baseline: dict | None) -> None:
    print(f"cinb from {results['cinb']}" + (f"; baseline from {baseline['cinb']}" if baseline else ""))
    head = f"{'contract':14} {'charts':>6} {'cold s':>7} {'median s':>9} {'min s':>6} {'SVG kB':>7}"
    if baseline:
        head += f"   {'base cold':>9} {'base median':>11} {'base min':>8} {'base kB':>8} {'speed-up':>8}"
    print(head)
    for cid, r in results.items():
        if cid == "cinb":
            continue
        line = (f"{cid:14} {r['charts']:>6} {r['cold']:>7.2f} {r['median']:>9.2f} {r['min']:>6.2f} "
                f"{r['svg_bytes'] / 1000:>7.0f}")
        if baseline and cid in baseline:
            b = baseline[cid]
            line += (f"   {b['cold']:>9.2f} {b['median']:>11.2f} {b['min']:>8.2f} {b['svg_bytes'] / 1000:>8.0f} "
                     f"{b['median'] / r['median']:>7.2f}x")
        print(line)
        chart = f"chart builders alone (median / min s): {r['chart_median']:.2f} / {r['chart_min']:.2f}"
        if baseline and cid in baseline:
            b = baseline[cid]
            chart += (f"  | baseline {b['chart_median']:.2f} / {b['chart_min']:.2f}  "
                      f"speed-up {b['chart_median'] / r['chart_median']:.2f}x")
        print(f"{'':14} {chart}")
        parts = ", ".join(f"{n} {v:.2f}" for n, v in r["per_section"].items())
        if baseline and cid in baseline:
            parts += "  | baseline: " + ", ".join(f"{n} {v:.2f}" for n, v in baseline[cid]["per_section"].items())
        print(f"{'':14} median by section (s): {parts}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("contracts", nargs="*", default=["NB-SD-001", "NB-CLOUD-006"])
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds after the warm-up round (default 3)")
    ap.add_argument("--baseline-ref", metavar="PATH",
                    help="a checkout of an older commit: measure it too (subprocess, PYTHONPATH=PATH)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON only")
    ap.add_argument("--old-rendering", action="store_true",
                    help="draw with the rendering cinb used before: text as paths, layout at every draw")
    ap.add_argument("--no-compare", action="store_true",
                    help="only this checkout's rendering (default: also the old rendering, side by side)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be 1 or more")
    if args.old_rendering:
        old_rendering()
    baseline = None
    if not (args.baseline_ref or args.old_rendering or args.no_compare or args.json):
        # Like for like: the same charts of the same review, drawn the old way in a process of their own.
        cmd = [sys.executable, os.path.abspath(__file__), *args.contracts, "--period", args.period,
               "--repeat", str(args.repeat), "--json", "--old-rendering"]
        done = subprocess.run(cmd, env=dict(os.environ, MPLBACKEND="Agg"), capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"The old-rendering run failed:\n{done.stderr[-2000:]}")
        baseline = json.loads(done.stdout.strip().splitlines()[-1])
        baseline["cinb"] += " (old rendering: text as paths, constrained layout at every draw)"
    if args.baseline_ref:
        if not os.path.isdir(os.path.join(args.baseline_ref, "cinb")):
            ap.error(f"--baseline-ref {args.baseline_ref}: no cinb package there; give a clone of the repository.")
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.baseline_ref), MPLBACKEND="Agg")
        cmd = [sys.executable, os.path.abspath(__file__), *args.contracts, "--period", args.period,
               "--repeat", str(args.repeat), "--json"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=args.baseline_ref)
        if done.returncode != 0:
            sys.exit(f"The baseline run failed:\n{done.stderr[-2000:]}")
        baseline = json.loads(done.stdout.strip().splitlines()[-1])
    results = measure(args.contracts, args.period, args.repeat)
    if args.json:
        print(json.dumps(results))
    else:
        _print(results, baseline)


if __name__ == "__main__":
    main()
