"""The ``cinb`` command line: a thin layer over load_portfolio, build_pack and run_batch.

Exit codes: 0 success; 1 invalid data or some packs failed; 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from . import __version__
from .errors import CinbError, UsageError

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def parse_period(text: str) -> str:
    """Check a ``YYYY-MM`` month; return it unchanged."""
    if not isinstance(text, str) or not PERIOD_RE.match(text.strip()):
        raise UsageError(f"period {text!r} is not a month in the form YYYY-MM (for example 2026-10)")
    return text.strip()


def _period_arg(text: str) -> str:
    try:
        return parse_period(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _formats_arg(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("html", "pdf")]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"--format takes html, pdf or html,pdf; got {text!r}")
    return formats


def _jobs_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a whole number of at least 1; got {text!r}")
    return n


def _add_common(p: argparse.ArgumentParser, *, out_default: str = "reports") -> None:
    p.add_argument("--data", metavar="PATH",
                   help="a folder of CSV files, an .xlsx workbook or a database URL (default: the sample portfolio)")
    p.add_argument("--format", dest="formats", type=_formats_arg, metavar="html,pdf",
                   help="output formats (default: html,pdf)")
    p.add_argument("--out", type=Path, default=Path(out_default), metavar="DIR",
                   help=f"output folder (default: {out_default}/)")
    p.add_argument("--audience", choices=["internal", "supplier"],
                   help="internal (default) or supplier: a supplier pack shows only that contract's data")
    p.add_argument("--marking", help="protective marking printed on every page (default: OFFICIAL)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="give up on a pack after this long (default 600)")
    _add_pdf_backend(p)


def _add_pdf_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pdf-backend", choices=["auto", "chromium", "weasyprint"],
                   help="what prints the PDF (default auto: Chromium when installed, several times faster, "
                        "else WeasyPrint)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cinb", description="Continuous-improvement review packs for IT supplier contracts.")
    parser.add_argument("--version", action="version", version=f"cinb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", help="render every pack of the sample portfolio's latest month into reports/",
                       description="Render every pack (contracts, portfolio, suppliers) of the sample portfolio's "
                                   "latest month.")
    p.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")
    p.add_argument("--jobs", type=_jobs_arg, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--format", dest="formats", type=_formats_arg, metavar="html,pdf")
    p.add_argument("--force", action="store_true", help="rebuild packs whose inputs have not changed")
    _add_pdf_backend(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="render one contract's review pack",
                       description="Render one contract's review pack for one month (in a fresh kernel), and "
                                   "record it in the month's manifest and index.")
    p.add_argument("contract_id", metavar="CONTRACT_ID")
    p.add_argument("--period", required=True, type=_period_arg, metavar="YYYY-MM")
    _add_common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("batch", help="render a whole month's packs in parallel",
                       description="Render every contract pack, the portfolio pack and the supplier scorecards "
                                   "of one month in a pool of fresh kernels. Packs whose inputs are unchanged "
                                   "since they were built are skipped (--force rebuilds them). Parameters are "
                                   "layered: package defaults < parameters/*.yml < --config FILE < options.",
                       epilog="Exit status: 0 every pack built or unchanged; 1 some pack failed (the others are "
                              "complete) or the data is invalid; 2 a usage error or the month folder is locked "
                              "by another batch.")
    p.add_argument("--period", type=_period_arg, metavar="YYYY-MM",
                   help="the month to report (required unless the --config file gives period:)")
    p.add_argument("--contracts", nargs="+", metavar="ID", help="only these contracts (default: all)")
    p.add_argument("--kinds", metavar="LIST",
                   help="which packs: some of contract,portfolio,supplier (default: all three)")
    p.add_argument("--jobs", type=_jobs_arg, metavar="N", help="worker processes (default: one per core)")
    _add_common(p)
    p.set_defaults(out=None)  # so that out: in a --config file applies when --out is not given
    p.add_argument("--force", action="store_true", default=None,
                   help="rebuild every pack, even those whose inputs are unchanged")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the packs on a Dask cluster (tcp://host:port) instead of local processes; "
                        "needs pip install 'cinb[dask]' and the same paths on every worker")
    p.add_argument("--config", type=Path, metavar="FILE.yml",
                   help="a batch definition (YAML): parameters and period/contracts/kinds/out/scheduler; "
                        "see parameters/README.md")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("cpn", help="export Contract Performance Notice ratings (Procurement Act 2023 s.71)",
                       description="One row per contract and statutory KPI with its rating over the period.")
    p.add_argument("--from", dest="start", required=True, type=_period_arg, metavar="YYYY-MM")
    p.add_argument("--to", dest="end", required=True, type=_period_arg, metavar="YYYY-MM")
    p.add_argument("--data", metavar="PATH")
    p.add_argument("--out", required=True, type=Path, metavar="FILE.csv")
    p.set_defaults(func=cmd_cpn)

    try:
        from . import cli_data
    except ImportError:  # pragma: no cover - the data commands ship with the package
        cli_data = None
    if cli_data is not None:
        cli_data.register(sub)
    return parser


def _load(data):
    from .load import load_portfolio

    return load_portfolio(data)


def _parameters(args) -> dict:
    from .config import merge_parameters
    from .render import resolve_backend

    cli = {
        "data": getattr(args, "data", None),
        "formats": getattr(args, "formats", None),
        "audience": getattr(args, "audience", None),
        "marking": getattr(args, "marking", None),
        "timeout": getattr(args, "timeout", None),
        "jobs": getattr(args, "jobs", None),
        "pdf_backend": getattr(args, "pdf_backend", None),
    }
    params = merge_parameters(cli)
    # Decided once, here: every worker then uses (and every pack records) the same backend.
    params["pdf_backend"] = resolve_backend(params["pdf_backend"])
    return params


def _notebook_parameters(params: dict) -> dict:
    """The subset of merged parameters that the notebooks take (the rest steer the batch)."""
    keep = ("data", "marking", "audience", "window_months", "ratchet_months", "ratchet_share", "_parameter_files")
    out = {k: params[k] for k in keep if k in params}
    if out.get("data") is not None:
        out["data"] = str(out["data"])
    return out


def _check_period_in_data(portfolio, period: str) -> None:
    periods = portfolio.measurements["period"]
    if len(periods) and str(periods.max()) < period:
        raise UsageError(f"period {period} is after the latest month in the data ({periods.max()}); "
                         "choose a month that has returns")


def cmd_run(args) -> int:
    from .batch import plan, recorded_settings
    from .lock import PeriodLock
    from .pack import build_pack, clean_staging

    params = _parameters(args)
    portfolio = _load(params["data"])
    portfolio.contract(args.contract_id)  # UsageError with "did you mean" for an unknown id
    _check_period_in_data(portfolio, args.period)
    nb_params = dict(_notebook_parameters(params), _settings=recorded_settings(params))
    spec = plan(portfolio, args.period, nb_params, [args.contract_id], kinds=("contract",),
                formats=tuple(params["formats"]), pdf_backend=params["pdf_backend"])[0]
    period_dir = Path(args.out) / args.period
    # The same lock as a batch: a run and a batch never write the same month at once.
    with PeriodLock(period_dir, command="cinb run"):
        clean_staging(period_dir)
        result = build_pack(spec, args.out, formats=tuple(params["formats"]), timeout=params["timeout"],
                            pdf_backend=params["pdf_backend"])
        clean_staging(period_dir)
        _merge_into_manifest(args.out, args.period, result,
                             run={"command": "run", "settings": recorded_settings(params),
                                  "parameter_files": params.get("_parameter_files", [])})
    if result.status != "ok":
        where = f"; diagnostics in {period_dir / result.failure}" if result.failure else ""
        print(f"cinb: the pack for {args.contract_id} failed: {result.error}{where}", file=sys.stderr)
        return 1
    for kind, path in result.files.items():
        print(period_dir / path)
    return 0


def _merge_into_manifest(out_root: Path, period: str, result, run: dict | None = None) -> None:
    """Record a single pack in the month's manifest and index, replacing any earlier entry for the same pack.

    The caller holds the month's lock (:class:`cinb.lock.PeriodLock`).
    """
    from .manifest import Manifest

    Manifest(Path(out_root) / period, run=run or {"command": "run"}).record([result])


def cmd_batch(args) -> int:
    from .batch import plan, recorded_settings, run_batch
    from .batchfile import KINDS, BatchDefinition, load_definition, parse_kinds

    definition = load_definition(args.config) if args.config else BatchDefinition()
    options = definition.options
    period = args.period or (parse_period(options["period"]) if options.get("period") else None)
    if period is None:
        raise UsageError("give the month to report: --period YYYY-MM (or period: in the --config file)")
    # Layers: defaults < parameters/*.yml < the --config file < the command line.
    layered = argparse.Namespace(**vars(args))
    for key, value in definition.parameters.items():
        if hasattr(args, key) and getattr(args, key) is None:
            setattr(layered, key, value)
    params = _parameters(layered)
    for key, value in definition.parameters.items():
        if not hasattr(args, key):  # no command-line option for it: the file's value stands
            params[key] = value
    if definition.path is not None:
        params["_parameter_files"] = [*params.get("_parameter_files", []), str(definition.path)]
    contracts = args.contracts or options.get("contracts")
    kinds = parse_kinds(args.kinds) if args.kinds else options.get("kinds", list(KINDS))
    out = Path(args.out or options.get("out") or "reports")
    scheduler = args.scheduler or options.get("scheduler")
    force = bool(args.force if args.force is not None else options.get("force", False))
    _prestart_pool(params, scheduler)

    portfolio = _load(params["data"])
    for cid in contracts or []:
        portfolio.contract(cid)
    _check_period_in_data(portfolio, period)
    nb_params = dict(_notebook_parameters(params), _settings=recorded_settings(params))
    formats = tuple(params["formats"])
    specs = plan(portfolio, period, nb_params, contracts, kinds, formats=formats, pdf_backend=params["pdf_backend"])
    batch = run_batch(specs, out, jobs=params["jobs"], formats=formats, timeout=params["timeout"],
                      pdf_backend=params["pdf_backend"], force=force, scheduler=scheduler,
                      run_info={"command": "batch", "settings": recorded_settings(params),
                                "parameter_files": params.get("_parameter_files", []), "kinds": list(kinds),
                                "contracts": list(contracts) if contracts else None})
    return _summarise(batch)


def _prestart_pool(params: dict, scheduler) -> None:
    """Start the local pool's fork server before the data is loaded (its imports overlap the loading)."""
    if scheduler:
        return
    from .pool import prestart

    prestart(params["pdf_backend"] if "pdf" in params["formats"] else None)


def _summarise(batch) -> int:
    """Print the run's summary table (and each failure with its reason); return the exit status."""
    from .batch import summary_lines

    failed = batch.failed
    for line in summary_lines(batch):
        print(line)
    for r in failed:
        where = f" [diagnostics: {batch.out_root / batch.period / r.failure}]" if r.failure else ""
        print(f"  FAILED {r.key}: {r.error}{where}", file=sys.stderr)
    return 1 if failed else 0


def cmd_demo(args) -> int:
    from .batch import plan, recorded_settings, run_batch

    params = _parameters(args)
    params["data"] = None
    _prestart_pool(params, None)
    portfolio = _load(None)
    period = str(portfolio.measurements["period"].max())
    print(f"cinb demo: sample portfolio, {len(portfolio.contracts)} contracts, period {period}", file=sys.stderr)
    nb_params = dict(_notebook_parameters(params), _settings=recorded_settings(params))
    formats = tuple(params["formats"])
    specs = plan(portfolio, period, nb_params, formats=formats, pdf_backend=params["pdf_backend"])
    batch = run_batch(specs, args.out, jobs=params["jobs"], formats=formats, timeout=params["timeout"],
                      pdf_backend=params["pdf_backend"], force=bool(args.force),
                      run_info={"command": "demo", "settings": recorded_settings(params),
                                "parameter_files": params.get("_parameter_files", [])})
    return _summarise(batch)


def cmd_cpn(args) -> int:
    from .cpn import cpn_rows, write_cpn_csv
    from .errors import format_problem

    if args.start > args.end:
        raise UsageError(f"--from {args.start} is after --to {args.end}")
    p = _load(args.data)
    rows, problems = cpn_rows(p.contracts, p.kpis, p.measurements, args.start, args.end)
    write_cpn_csv(rows, args.out)
    print(f"{len(rows)} KPI ratings written to {args.out}")
    for _, problem in problems.iterrows():
        print(f"  {problem.get('severity', 'error')}: " + format_problem(problem), file=sys.stderr)
    errors = int((problems.get("severity") == "error").sum()) if len(problems) else 0
    if errors:
        print(f"cinb: {errors} required Contract Performance Notice fields are missing (errors above); "
              "fix them before publishing the notices", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CinbError as exc:
        print(f"cinb: {exc}", file=sys.stderr)
        problems = getattr(exc, "problems", None)
        if problems is not None and len(problems) > 1:
            from .errors import format_problem

            for _, row in problems.head(50).iterrows():
                print("  " + format_problem(row), file=sys.stderr)
            if len(problems) > 50:
                print(f"  … and {len(problems) - 50} more; run `cinb validate` for the full table", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cinb: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # unwritable output folder, a file where a folder should be, disk full …
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"cinb: cannot read or write{where}: {exc.strerror or exc}; check the path exists, is a folder "
              "where one is expected, is writable and that the disk has space", file=sys.stderr)
        return 1
    except Exception as exc:  # a defect in cinb: one line for the user, the traceback only on request
        if os.environ.get("CINB_DEBUG"):
            raise
        print(f"cinb: internal error ({type(exc).__name__}: {exc}); this is a bug in cinb — please report it "
              "with the command you ran (set CINB_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
