"""Benchmark: the same N contract packs (HTML + PDF) rendered without cinb and with ``cinb batch``.

Run ``python benchmarks/bench_batch.py [--contracts N] [--jobs J] [--big 200] [--skip-baseline]``.

It writes a portfolio of N contracts (the sample portfolio's 12 contracts, replicated under new ids) as CSV into
a temporary folder, then renders each contract's pack, side by side in one run:

* **(a) without cinb**, the way a user would in a shell loop, one contract after another: the ``papermill`` CLI
  executes ``cinb/notebooks/contract_review.ipynb`` with the contract's parameters, ``jupyter nbconvert --to html
  --no-input`` turns the executed notebook into HTML, and the ``weasyprint`` CLI prints that HTML to PDF
  (``--baseline-pdf chromium``: headless Chromium's ``--print-to-pdf`` instead);
* **(b) with cinb**: ``cinb batch --kinds contract --format html,pdf --force`` over the same contracts, with cinb's
  default PDF backend (``auto``: Chromium when installed, else WeasyPrint; ``--pdf-backend`` to choose).

It prints seconds per pack for each, the ratio, and the peak memory of each run: the largest total memory of the
whole process tree (the command, its workers and their kernels), sampled from ``/proc`` every second, as PSS
(shared pages split between the processes sharing them: the memory really used) and as RSS (shared pages
counted in every process).
With ``--big M`` it also runs ``cinb batch`` on M contracts (default formats: HTML only, ``--big-format``) to
show that peak memory does not grow with the number of packs (it takes minutes).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shlex
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
    """Run ``cmd``; return wall seconds, exit code and the peak total RSS of its process tree."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    peak = [0, 0]
    done = threading.Event()

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
    return {"seconds": time.perf_counter() - started, "returncode": proc.returncode, "peak_bytes": peak[1],
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


def _cinb(ids, data, out, formats, jobs, pdf_backend=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "cinb.cli", "batch", "--period", PERIOD, "--data", str(data), "--out", str(out),
           "--kinds", "contract", "--format", ",".join(formats), "--force", "--contracts", *ids]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    if pdf_backend:
        cmd += ["--pdf-backend", pdf_backend]
    run = run_measured(cmd, env=env, cwd=ROOT)
    manifest_path = out / PERIOD / "manifest.json"
    run["manifest"] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return run


def _mean_timings(manifest: dict) -> dict:
    packs = [p for p in manifest.get("packs", []) if p.get("status") == "ok"]
    keys = ("kernel_start", "imports", "kernel_wait", "notebook", "html", "pdf", "total")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=20, help="contracts to render (default 20)")
    parser.add_argument("--format", default="html,pdf", help="formats for both runs (default html,pdf)")
    parser.add_argument("--jobs", type=int, default=None, help="cinb workers (default: one per core)")
    parser.add_argument("--big", type=int, default=0, metavar="M",
                        help="also run cinb batch on M contracts to compare peak memory (e.g. 200; minutes)")
    parser.add_argument("--big-format", default="html", help="formats of the --big run (default html)")
    parser.add_argument("--skip-baseline", action="store_true", help="only run cinb batch")
    parser.add_argument("--pdf-backend", choices=["auto", "chromium", "weasyprint"], default=None,
                        help="cinb's PDF backend (default: cinb's own default, auto)")
    parser.add_argument("--baseline-pdf", choices=["weasyprint", "chromium"], default="weasyprint",
                        help="what prints the PDF in the shell loop (default weasyprint)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tmp = Path(tempfile.mkdtemp(prefix="cinb-bench-"))
    print(f"cinb batch benchmark: {args.contracts} contract packs ({'+'.join(formats)}), {cores} cores, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    data = tmp / "data"
    ids = write_portfolio(data, args.contracts)
    rows = []
    steps: dict[str, float] = {}

    if not args.skip_baseline:
        script = tmp / "baseline.sh"
        script.write_text(baseline_script(ids, data, tmp / "baseline", formats, args.baseline_pdf))
        a = run_measured(["bash", str(script)])
        if a["returncode"] != 0:
            print(a["stderr"][-3000:], file=sys.stderr)
            print("the baseline loop failed", file=sys.stderr)
            return 1
        made = len(list((tmp / "baseline").glob("*.pdf" if "pdf" in formats else "*.html")))
        rows.append((f"(a) papermill + nbconvert + {args.baseline_pdf} loop", a, made))
        steps = _baseline_steps(tmp / "baseline" / "steps.log")
        print(f"(a) done in {a['seconds']:.1f} s", flush=True)

    b = _cinb(ids, data, tmp / "cinb", formats, args.jobs, args.pdf_backend)
    if b["returncode"] != 0:
        print(b["stderr"][-3000:], file=sys.stderr)
    built = sum(p.get("status") == "ok" for p in b["manifest"].get("packs", []))
    backend = b["manifest"].get("last_run", {}).get("pdf_backend", "?") if "pdf" in formats else "no PDF"
    rows.append((f"(b) cinb batch ({args.jobs or cores} workers, {backend})", b, built))
    print(f"(b) done in {b['seconds']:.1f} s", flush=True)

    print()
    print(f"{'':48}{'packs':>6}{'total s':>10}{'s / pack':>10}{'peak PSS':>12}{'peak RSS':>12}")
    for label, run, made in rows:
        per = run["seconds"] / max(1, made)
        print(f"{label:48}{made:>6}{run['seconds']:>10.1f}{per:>10.2f}{_mib(run['peak_bytes']):>12}"
              f"{_mib(run['peak_rss']):>12}")
    if len(rows) == 2:
        ratio = (rows[0][1]["seconds"] / max(1, rows[0][2])) / (rows[1][1]["seconds"] / max(1, rows[1][2]))
        print(f"speed-up of cinb batch over the shell loop: {ratio:.1f}x")
    if not args.skip_baseline and steps:
        print("shell loop, mean per pack: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
    t = _mean_timings(b["manifest"])
    if t:
        print("cinb, mean per pack (inside a worker): " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    own = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"largest single process seen (getrusage, children): {_mib(own)}")

    if args.big:
        big_formats = [f.strip() for f in args.big_format.split(",") if f.strip()]
        print(f"\npeak memory against the number of packs ({'+'.join(big_formats)}):", flush=True)
        for n in (args.contracts, args.big):
            folder = tmp / f"big-{n}"
            big_ids = write_portfolio(folder / "data", n)
            run = _cinb(big_ids, folder / "data", folder / "out", big_formats, args.jobs, args.pdf_backend)
            ok = sum(p.get("status") == "ok" for p in run["manifest"].get("packs", []))
            print(f"  N = {n:4}: {ok} packs in {run['seconds']:.0f} s ({run['seconds'] / max(1, ok):.2f} s/pack), "
                  f"peak PSS {_mib(run['peak_bytes'])}, peak RSS {_mib(run['peak_rss'])}", flush=True)
    if args.keep:
        print(f"\nfiles kept in {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
