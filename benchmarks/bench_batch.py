"""Benchmark: the same N contract packs rendered without cinb and with ``cinb batch``, like for like.

Run ``python benchmarks/bench_batch.py`` (a few minutes on 2 cores; sizes are options, see ``--help``).

It writes a portfolio of N contracts (the sample portfolio's contracts, replicated under new ids) as CSV into a
temporary folder, then, side by side in one run, for HTML + PDF and for HTML only (``--modes``):

* **(a) without cinb**, the shell loop a user would write, one contract after another: the ``papermill`` CLI
  executes ``cinb/notebooks/contract_review.ipynb`` with the contract's parameters, ``jupyter nbconvert --to html
  --no-input`` turns the executed notebook into HTML and, for PDF, **the same printer cinb uses** prints it
  (headless Chromium's ``--print-to-pdf``, or the ``weasyprint`` CLI; ``--baseline-pdf`` to choose another);
* **(b) with cinb**: ``cinb batch --kinds contract --format … --force`` over the same contracts, once before the
  loop and once after it (``--cinb-repeats``): the machine's speed may drift during the minutes the loop takes,
  and the two runs show by how much; the median run counts (the spread of the ratio is printed).

For each it prints seconds per pack, the ratio (a)/(b), each stage's mean time per pack (the loop's papermill /
nbconvert / printer steps; inside cinb's workers: kernel, notebook, HTML, PDF) and the peak memory of the whole
process tree (the command, its workers, kernels and browsers), sampled from ``/proc`` every second as PSS (shared
pages split between the processes sharing them: the memory really used) and RSS (shared pages counted in every
process). Then:

* ``cinb run`` of one contract pack (HTML), timed from the command line, twice, with where its time went;
* the notebook time per pack on a 3-contract and on a 1,002-contract portfolio (``--scaling-contracts``): each pack
  reads only its own contract from the batch's snapshot, so the two should be within 15 %;
* an estimate of a 1,000-contract month (``--estimate``): loading, checking, planning and snapshotting 1,002
  contracts, measured, plus 1,000 contract packs at the throughput just measured;
* with ``--big M``: peak memory of ``cinb batch`` at N and at M packs (flat if memory does not grow with the
  batch; it takes minutes).

The machine's load average is printed at the start and the end: on a busy machine absolute times stretch, the
ratios (measured side by side) much less.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "cinb" / "data" / "sample"
PERIOD = "2026-10"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Reading PSS makes the kernel walk every page table of the tree: ~0.1 s of CPU per sample once Chromium runs.
# Sampled every 0.2 s that took ~20 % of a core from the run being measured (free for the one-core shell loop,
# taken from cinb's two busy cores); once a second it costs ~2 %. Peak memory is a plateau, not a spike.
SAMPLE_SECONDS = 1.0


def write_portfolio(folder: Path, n: int) -> list[str]:
    """The sample portfolio's contracts replicated under new ids until there are ``n``; returns the ids."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {}
    for name in ("contracts", "kpis", "measurements", "initiatives"):
        with open(SAMPLE / f"{name}.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        tables[name] = (list(rows[0].keys()) if rows else [], rows)
    base = [r["contract_id"] for r in tables["contracts"][1]]
    ids: list[tuple[str, str]] = []
    copy = 0
    while len(ids) < n:
        for cid in base:
            if len(ids) == n:
                break
            ids.append((cid, cid if copy == 0 else f"{cid}-R{copy:03d}"))
        copy += 1
    for name, (header, rows) in tables.items():
        by_id: dict[str, list[dict]] = {}
        for r in rows:
            by_id.setdefault(r["contract_id"], []).append(r)
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            for old, new in ids:
                for r in by_id.get(old, []):
                    r = dict(r, contract_id=new)
                    if name == "contracts" and new != old:
                        r["title"] = f"{r['title']} ({new})"
                        if r.get("procurement_id"):
                            r["procurement_id"] = f"{r['procurement_id']}-{new[-4:]}"
                    writer.writerow(r)
    return [new for _, new in ids]


def _pss(pid: int) -> int:
    # Proportional set size: shared pages (a forked kernel shares its zygote's) are split between sharers, so
    # the sum over a process tree is the memory the tree really holds.
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_memory(root: int) -> tuple[int, int]:
    """(resident bytes, proportional bytes) of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/statm", "rb") as fh:
                rss[pid] = int(fh.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)
    total, pss, stack, seen = 0, 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        pss += _pss(pid)
        stack.extend(children.get(pid, []))
    return total, pss


def run_measured(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run ``cmd``; return wall seconds, exit code and the peak total RSS of its process tree.

    The time runs until the command exits, as a shell's ``time`` reports it: helper processes it leaves ending
    (a fork server finishing its own exit) may hold its output open a little longer and are not waited for.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    peak = [0, 0]
    done = threading.Event()
    ended: list[float] = []

    def exited():
        proc.wait()
        ended.append(time.perf_counter())

    watcher = threading.Thread(target=exited, daemon=True)
    watcher.start()

    def sample():
        while not done.is_set():
            rss, pss = _tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    watcher.join()
    return {"seconds": ended[0] - started, "returncode": proc.returncode, "peak_bytes": peak[1],
            "peak_rss": peak[0], "stdout": out, "stderr": err}


def baseline_script(ids: list[str], data: Path, out: Path, formats: list[str], pdf: str = "weasyprint") -> str:
    """The shell loop a user would write without cinb."""
    nb = ROOT / "cinb" / "notebooks" / "contract_review.ipynb"
    bindir = Path(sys.executable).parent
    papermill, nbconvert, weasyprint = (shlex.quote(str(bindir / b)) for b in ("papermill", "jupyter", "weasyprint"))
    chromium = shlex.quote(os.environ.get("CINB_CHROMIUM", "/usr/bin/chromium"))
    lines = ["set -e", f"mkdir -p {shlex.quote(str(out))}", f"cd {shlex.quote(str(out))}"]
    lines.append("for c in " + " ".join(shlex.quote(i) for i in ids) + "; do")
    # Each step's start time goes to steps.log (not part of what a user would type; it splits the total).
    lines.append("  echo \"papermill $(date +%s.%N)\" >> steps.log")
    lines.append(f"  {papermill} {shlex.quote(str(nb))} \"$c.ipynb\" -p contract_id \"$c\" -p period {PERIOD} "
                 f"-p data {shlex.quote(str(data))} --log-level WARNING")
    lines.append("  echo \"nbconvert $(date +%s.%N)\" >> steps.log")
    lines.append(f"  {nbconvert} nbconvert --to html --no-input \"$c.ipynb\" --output \"$c\" --log-level WARN")
    if "pdf" in formats:
        lines.append(f"  echo \"{pdf} $(date +%s.%N)\" >> steps.log")
        if pdf == "chromium":
            lines.append(f"  {chromium} --headless --no-sandbox --disable-gpu --no-pdf-header-footer "
                         "--print-to-pdf=\"$c.pdf\" \"$c.html\" 2>/dev/null")
        else:
            lines.append(f"  {weasyprint} \"$c.html\" \"$c.pdf\" 2>/dev/null")
    lines.append("  echo \"end $(date +%s.%N)\" >> steps.log")
    lines.append("done")
    return "\n".join(lines) + "\n"


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _cinb(ids, data, out, formats, jobs, pdf_backend=None, command="batch"):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if command == "run":
        cmd = [sys.executable, "-m", "cinb.cli", "run", ids[0], "--period", PERIOD, "--data", str(data), "--out",
               str(out), "--format", ",".join(formats)]
    else:
        cmd = [sys.executable, "-m", "cinb.cli", "batch", "--period", PERIOD, "--data", str(data), "--out",
               str(out), "--kinds", "contract", "--format", ",".join(formats), "--force", "--contracts", *ids]
        if jobs:
            cmd += ["--jobs", str(jobs)]
    if pdf_backend and "pdf" in formats:
        cmd += ["--pdf-backend", pdf_backend]
    run = run_measured(cmd, env=env, cwd=ROOT)
    manifest_path = out / PERIOD / "manifest.json"
    run["manifest"] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return run


def _mean_timings(manifest: dict) -> dict:
    packs = [p for p in manifest.get("packs", []) if p.get("status") == "ok"]
    keys = ("kernel_start", "kernel_wait", "notebook", "html", "pdf", "total")
    out = {}
    for k in keys:
        values = [p["timings"][k] for p in packs if p.get("timings", {}).get(k) is not None]
        if values:
            out[k] = sum(values) / len(values)
    return out


def _baseline_steps(log: Path) -> dict[str, float]:
    """Mean seconds of each step of the shell loop, from the start times it logged."""
    try:
        marks = [line.split() for line in log.read_text().splitlines() if line.strip()]
    except OSError:
        return {}
    totals: dict[str, list[float]] = {}
    for (name, t0), (_, t1) in zip(marks, marks[1:]):
        if name != "end":
            totals.setdefault(name, []).append(float(t1) - float(t0))
    return {k: sum(v) / len(v) for k, v in totals.items()}


def _printer(requested: str | None) -> str:
    """The PDF printer cinb will use for ``--pdf-backend`` ``requested`` (``auto``: Chromium when installed)."""
    sys.path.insert(0, str(ROOT))
    from cinb.render import resolve_backend

    return resolve_backend(requested or "auto")


def _compare(label: str, formats: list[str], ids, data: Path, tmp: Path, args, printer: str) -> dict:
    """(a) the shell loop and (b) cinb batch on the same packs; prints and returns the figures."""
    out = {"label": label}
    baseline_pdf = args.baseline_pdf or printer
    # cinb runs before and after the loop: a machine whose speed drifts during the minutes the loop takes moves
    # both sides, and the spread of cinb's runs shows by how much.
    repeats = max(1, args.cinb_repeats)
    runs = [_cinb(ids, data, tmp / f"cinb-{label}-0", formats, args.jobs, printer)] if repeats > 1 else []
    if runs:
        print(f"  (b) cinb batch done in {runs[0]['seconds']:.1f} s", flush=True)
    if not args.skip_baseline:
        folder = tmp / f"loop-{label}"
        script = tmp / f"loop-{label}.sh"
        script.write_text(baseline_script(ids, data, folder, formats, baseline_pdf))
        a = run_measured(["bash", str(script)])
        if a["returncode"] != 0:
            print(a["stderr"][-3000:], file=sys.stderr)
            raise SystemExit("the shell loop failed")
        a["made"] = len(list(folder.glob("*.pdf" if "pdf" in formats else "*.html")))
        a["steps"] = _baseline_steps(folder / "steps.log")
        out["loop"] = a
        print(f"  (a) shell loop done in {a['seconds']:.1f} s", flush=True)
    while len(runs) < repeats:
        runs.append(_cinb(ids, data, tmp / f"cinb-{label}-{len(runs)}", formats, args.jobs, printer))
        print(f"  (b) cinb batch done in {runs[-1]['seconds']:.1f} s", flush=True)
    for run in runs:
        if run["returncode"] != 0:
            print(run["stderr"][-3000:], file=sys.stderr)
        run["made"] = sum(p.get("status") == "ok" for p in run["manifest"].get("packs", []))
    # The median time stands for cinb (of two runs, their mean), its peak memory the highest of the runs.
    b = dict(runs[-1], seconds=statistics.median(r["seconds"] for r in runs),
             made=min(r["made"] for r in runs))
    b["peak_bytes"] = max(r["peak_bytes"] for r in runs)
    b["peak_rss"] = max(r["peak_rss"] for r in runs)
    out["cinb"] = b
    if len(runs) > 1:
        print("  (b) runs: " + ", ".join(f"{r['seconds']:.1f} s" for r in runs) + " (their median counts, and the "
              "highest peak memory)", flush=True)
    loop_name = "papermill + nbconvert" + (f" + {baseline_pdf}" if "pdf" in formats else "") + " loop"
    print(f"\n  {'':44}{'packs':>6}{'total s':>9}{'s / pack':>10}{'peak PSS':>11}{'peak RSS':>11}")
    rows = ([(f"(a) {loop_name}", out["loop"])] if "loop" in out else []) + [
        (f"(b) cinb batch, {args.jobs or CORES} workers" + (f", {printer}" if "pdf" in formats else ""), b)]
    for name, run in rows:
        per = run["seconds"] / max(1, run["made"])
        print(f"  {name:44}{run['made']:>6}{run['seconds']:>9.1f}{per:>10.2f}{_mib(run['peak_bytes']):>11}"
              f"{_mib(run['peak_rss']):>11}")
    if "loop" in out and b["made"]:
        a = out["loop"]
        loop_rate = a["seconds"] / max(1, a["made"])
        out["ratio"] = loop_rate / (b["seconds"] / b["made"])
        spread = ""
        if len(runs) > 1:
            ratios = sorted(loop_rate / (r["seconds"] / r["made"]) for r in runs if r["made"])
            spread = f" (runs: {ratios[0]:.1f}x to {ratios[-1]:.1f}x)"
        print(f"  like-for-like speed-up, {label}: {out['ratio']:.1f}x{spread} (target: at least 6x on 2 cores)")
        print("  (a) mean per pack: " + ", ".join(f"{k} {v:.2f} s" for k, v in a["steps"].items()))
    t = _mean_timings(b["manifest"])
    if t:
        print("  (b) mean per pack inside a worker (they overlap across workers and with the next pack's kernel): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    run_info = b["manifest"].get("last_run", {})
    if run_info.get("snapshot_seconds") is not None:
        print(f"  (b) data snapshot written once for the batch in {run_info['snapshot_seconds']:.2f} s")
    out["timings"] = t
    return out


def _time_run(data: Path, ids, tmp: Path, repeats: int) -> list[dict]:
    """``cinb run`` of one contract pack (HTML), from the command line, ``repeats`` times."""
    runs = []
    for i in range(repeats):
        r = _cinb(ids[:1], data, tmp / f"run-{i}", ["html"], None, command="run")
        packs = r["manifest"].get("packs", [])
        r["timings"] = packs[0].get("timings", {}) if packs else {}
        runs.append(r)
        split = ", ".join(f"{k} {v:.2f} s" for k, v in r["timings"].items() if k != "publish")
        print(f"  cinb run {ids[0]} --format html: {r['seconds']:.2f} s wall (target under 4 s); inside: {split}",
              flush=True)
    return runs


def _scaling(tmp: Path, n_big: int, jobs) -> dict:
    """Notebook time per contract pack on a 3-contract portfolio and on an ``n_big``-contract one."""
    result = {}
    for n in (3, n_big):
        folder = tmp / f"scale-{n}"
        ids = write_portfolio(folder / "data", n)
        r = _cinb(ids[:3], folder / "data", folder / "out", ["html"], jobs)
        t = _mean_timings(r["manifest"])
        result[n] = t.get("notebook")
        print(f"  {n:5} contracts in the portfolio, 3 packs: notebook {t.get('notebook', float('nan')):.2f} s a "
              f"pack (batch {r['seconds']:.1f} s)", flush=True)
    if result.get(3) and result.get(n_big):
        print(f"  notebook time, {n_big} against 3 contracts: {result[n_big] / result[3]:.2f}x (target: within "
              "1.15x)")
    return result


def _estimate(tmp: Path, n: int, per_pack: float | None) -> None:
    """A month of ``n`` contracts: measured load + plan + snapshot, plus ``n`` packs at ``per_pack`` s each."""
    import subprocess as sp

    data = tmp / f"estimate-{n}"
    write_portfolio(data, n)
    code = ("import time, tempfile; t=time.perf_counter(); from cinb.load import load_portfolio; "
            "from cinb.batch import plan; from cinb.snapshot import write_snapshot; "
            f"p=load_portfolio({str(data)!r}); a=time.perf_counter(); "
            "s=plan(p, '2026-10', {}, None, formats=('html','pdf'), pdf_backend='chromium'); b=time.perf_counter(); "
            "write_snapshot(p, tempfile.mkdtemp()); c=time.perf_counter(); "
            "print(a-t, b-a, c-b, len(s))")
    out = sp.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                 env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return
    load, planned, snap, packs = out.stdout.split()
    load, planned, snap = float(load), float(planned), float(snap)
    print(f"  {n} contracts: load and check {load:.1f} s, plan {packs} packs (fingerprints) {planned:.1f} s, "
          f"snapshot {snap:.1f} s", flush=True)
    if per_pack:
        total = load + planned + snap + n * per_pack
        print(f"  estimate for {n} contract packs (HTML + PDF) at {per_pack:.2f} s a pack: {total / 60:.0f} min "
              "(the portfolio pack and the supplier scorecards come on top)")


CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=10, help="contract packs per comparison (default 10)")
    parser.add_argument("--modes", default="html+pdf,html",
                        help="what to compare: html+pdf, html or both (default html+pdf,html)")
    parser.add_argument("--jobs", type=int, default=None, help="cinb workers (default: one per core)")
    parser.add_argument("--pdf-backend", choices=["auto", "chromium", "weasyprint"], default=None,
                        help="cinb's PDF printer (default: cinb's own default, auto)")
    parser.add_argument("--baseline-pdf", choices=["weasyprint", "chromium"], default=None,
                        help="the shell loop's PDF printer (default: the same as cinb's)")
    parser.add_argument("--skip-baseline", action="store_true", help="only run cinb")
    parser.add_argument("--cinb-repeats", type=int, default=2,
                        help="cinb batch runs per comparison, the first before the loop and the rest after it; "
                             "the median counts (default 2)")
    parser.add_argument("--run-repeats", type=int, default=2, help="times to time `cinb run` (default 2; 0: skip)")
    parser.add_argument("--scaling-contracts", type=int, default=1002,
                        help="large portfolio of the notebook-time comparison (default 1002; 0: skip)")
    parser.add_argument("--estimate", type=int, default=1000,
                        help="contracts of the month estimate (default 1000; 0: skip)")
    parser.add_argument("--big", type=int, default=0, metavar="M",
                        help="also run cinb batch on M contracts to compare peak memory (e.g. 200; minutes)")
    parser.add_argument("--big-format", default="html,pdf", help="formats of the --big runs (default html,pdf)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    args = parser.parse_args(argv)
    printer = _printer(args.pdf_backend)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="cinb-bench-"))
    print(f"cinb batch benchmark: {args.contracts} contract packs, {CORES} cores, PDF printer {printer}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    data = tmp / "data"
    ids = write_portfolio(data, args.contracts)
    results = {}
    for mode in modes:
        formats = [f for f in ("html", "pdf") if f in mode.split("+")]
        print(f"\n{mode.upper()}: {args.contracts} contract packs", flush=True)
        results[mode] = _compare(mode, formats, ids, data, tmp, args, printer)

    if args.run_repeats:
        print("\ncinb run, one pack:", flush=True)
        _time_run(data, ids, tmp, args.run_repeats)
    if args.scaling_contracts:
        print("\nnotebook time per pack against the size of the portfolio (HTML):", flush=True)
        _scaling(tmp, args.scaling_contracts, args.jobs)
    if args.estimate:
        print(f"\na month of {args.estimate} contracts:", flush=True)
        both = results.get("html+pdf", {}).get("cinb")
        per = both["seconds"] / both["made"] if both and both.get("made") else None
        _estimate(tmp, args.estimate, per)

    if args.big:
        big_formats = [f.strip() for f in args.big_format.split(",") if f.strip()]
        print(f"\npeak memory against the number of packs ({'+'.join(big_formats)}, "
              f"{args.jobs or CORES} workers):", flush=True)
        for n in (min(20, args.big), args.big):
            folder = tmp / f"big-{n}"
            big_ids = write_portfolio(folder / "data", n)
            run = _cinb(big_ids, folder / "data", folder / "out", big_formats, args.jobs, printer)
            ok = sum(p.get("status") == "ok" for p in run["manifest"].get("packs", []))
            print(f"  N = {n:4}: {ok} packs in {run['seconds']:.0f} s ({run['seconds'] / max(1, ok):.2f} s/pack), "
                  f"peak PSS {_mib(run['peak_bytes'])}, peak RSS {_mib(run['peak_rss'])}", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    if args.keep:
        print(f"files kept in {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
