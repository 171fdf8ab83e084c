"""The ``cinb`` command line: a thin layer over load_portfolio, build_pack and run_batch.

Exit codes: 0 success; 1 invalid data or some packs failed; 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import CinbError, UsageError

def _period_arg(text: str) -> str:
    try:
        from .periods import parse_month  # pandas: imported once the command's kernel is on its way

        return parse_month(text)
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
    p.add_argument("--as-of", dest="as_of", metavar="BATCH_OR_TIMESTAMP",
                   help="with --data STORE_URL (a cinb store): build from the data as it stood after this batch id, "
                        "or at this ISO time (e.g. 2026-11-01T12:00, UTC); recorded in the pack and the manifest")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="give up on a pack after this long (default 600)")
    _add_derived(p)
    _add_pdf_backend(p)
    _add_brand(p)


def _add_derived(p: argparse.ArgumentParser) -> None:
    # Figures derived from records (cinb derive; cinb.reconcile), checked with the other parameters.
    p.add_argument("--rate-on", dest="rate_on", choices=["reported", "derived"],
                   help="which figures the ratings use: reported (default: the supplier's, the contract's basis) or "
                        "derived (the figures computed from the records, where a KPI and month has one)")
    p.add_argument("--reconcile-tolerance", dest="reconcile_tolerance", metavar="UNIT=AMOUNT,...",
                   help="how far a derived figure may be from the reported one before the month is flagged, e.g. "
                        "\"%%=1,hours=10%%\" (default: 0.5 points for %%, 1 for counts, 0.1 for scores, 5%% of the "
                        "value for times, 1%% for £)")
    p.add_argument("--definitions", metavar="FILE.yml",
                   help="the KPI definitions file the derived figures were computed with (default: derive.yml "
                        "beside the data); its KPIs count as defined and the appendix prints their definitions")


def _add_brand(p: argparse.ArgumentParser) -> None:
    # The authority's branding (cinb.branding); checked with the other parameters, before anything runs.
    p.add_argument("--brand-name", metavar="TEXT", help="the authority's name on the cover, page headers and index")
    p.add_argument("--brand-logo", metavar="FILE", help="a local PNG, JPEG, GIF, WebP or SVG logo (embedded)")
    p.add_argument("--brand-accent", metavar="#RRGGBB",
                   help="accent colour for rules, borders, cover band and links (4.5:1 contrast on white)")
    p.add_argument("--brand-footer", metavar="TEXT", help="a line at the foot of every PDF page (200 characters)")


def _add_template(p: argparse.ArgumentParser, *, kinds: bool) -> None:
    more = ("; KIND=PATH (contract, portfolio or supplier) for another kind of pack; repeatable" if kinds
            else " (or contract=PATH)")
    p.add_argument("--template", dest="templates", action="append", metavar="[KIND=]PATH" if kinds else "PATH",
                   help="a report template to run instead of the shipped contract notebook: any notebook with a "
                        f"cell tagged parameters (see cinb templates){more}")


def _add_pdf_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pdf-backend", choices=["auto", "chromium", "weasyprint"],
                   help="what prints the PDF (default auto: Chromium when installed, several times faster, "
                        "else WeasyPrint)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``cinb`` command (``cli_data`` adds validate, supplier-return and ingest;
    ``cli_templates`` adds templates)."""
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
    _add_brand(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="render one contract's review pack",
                       description="Render one contract's review pack for one month (in a fresh kernel), and "
                                   "record it in the month's manifest and index.")
    p.add_argument("contract_id", metavar="CONTRACT_ID")
    p.add_argument("--period", required=True, type=_period_arg, metavar="YYYY-MM")
    _add_common(p)
    p.add_argument("--config", type=Path, metavar="FILE.yml",
                   help="a batch definition whose parameters apply (layered like for cinb batch)")
    _add_template(p, kinds=False)
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
    _add_template(p, kinds=True)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("cpn", help="export Contract Performance Notice ratings (Procurement Act 2023 s.71)",
                       description="One row per contract and statutory KPI with its rating over the period (csv), "
                                   "or one OCDS 1.1 release per contract (ocds: a release package, UK extension).")
    p.add_argument("--from", dest="start", required=True, type=_period_arg, metavar="YYYY-MM")
    p.add_argument("--to", dest="end", required=True, type=_period_arg, metavar="YYYY-MM")
    p.add_argument("--data", metavar="PATH")
    p.add_argument("--out", required=True, type=Path, metavar="FILE.csv|FILE.json")
    p.add_argument("--format", dest="cpn_format", choices=("csv", "ocds"), default="csv",
                   help="csv (default) or ocds: an OCDS 1.1 release package in JSON")
    p.add_argument("--ocid-prefix", metavar="ocds-xxxxxx",
                   help="with --format ocds: the publisher's OCID prefix, for procurement identifiers that are not "
                        "OCIDs already (a Find a Tender procurement identifier is one)")
    p.set_defaults(func=cmd_cpn)

    try:
        from . import cli_data
    except ImportError:  # pragma: no cover - the data commands ship with the package
        cli_data = None
    if cli_data is not None:
        cli_data.register(sub)
    from . import cli_templates

    cli_templates.register(sub)
    return parser


def _parameters(args) -> dict:
    """The command-line layer of the parameters: each option given (``None`` = not given)."""
    given = {name: getattr(args, name, None)
             for name in ("data", "as_of", "formats", "audience", "marking", "timeout", "jobs", "pdf_backend",
                          "brand_name", "brand_logo", "brand_accent", "brand_footer", "rate_on",
                          "reconcile_tolerance", "definitions")}
    return {**given, "_given_by": "the command line"}


def cmd_run(args) -> int:
    """``cinb run``: one contract's pack (:func:`cinb.api.run_pack`); prints the files written."""
    from .kernels import discard_prestarted, prestart

    prestart()  # the pack's kernel starts and imports while the rest of cinb is imported and the data load
    try:
        from .api import run_pack
        from .notebook_templates import template_options

        result = run_pack(args.contract_id, args.period, out=args.out, config=args.config,
                          templates=template_options(args.templates), **_parameters(args))
    finally:
        discard_prestarted()  # not taken: the run stopped before its pack (a usage error)
    period_dir = Path(args.out) / args.period
    if result.status != "ok":
        where = f"; diagnostics in {period_dir / result.failure}" if result.failure else ""
        print(f"cinb: the pack for {args.contract_id} failed: {result.error}{where}", file=sys.stderr)
        return 1
    for kind, path in result.files.items():
        print(period_dir / path)
    return 0


def cmd_batch(args) -> int:
    """``cinb batch``: a month's packs (:func:`cinb.api.run_month`); prints the summary and any failure."""
    from .api import report_failures, run_month
    from .batchfile import parse_kinds
    from .notebook_templates import template_options

    batch = run_month(args.period, contracts=args.contracts, kinds=parse_kinds(args.kinds) if args.kinds else None,
                      out=args.out, force=args.force, scheduler=args.scheduler, config=args.config,
                      templates=template_options(args.templates), **_parameters(args))
    return report_failures(batch)


def cmd_demo(args) -> int:
    """``cinb demo``: every pack of the sample portfolio's latest month (:func:`cinb.api.demo`)."""
    from .api import demo, report_failures

    params = _parameters(args)
    params.pop("data", None)
    return report_failures(demo(out=args.out, force=bool(args.force), **params))


def cmd_cpn(args) -> int:
    """``cinb cpn``: Contract Performance Notice ratings as CSV (:func:`cinb.cpn.cpn_rows`) or as an OCDS release
    package (:func:`cinb.ocds.cpn_release_package`); exit 1 when a notice cannot be published as it stands."""
    import pandas as pd

    from .cpn import cpn_rows, write_cpn_csv
    from .errors import format_problem
    from .formatting import agree, plural

    if args.start > args.end:
        raise UsageError(f"--from {args.start} is after --to {args.end}")
    if args.ocid_prefix and args.cpn_format != "ocds":
        raise UsageError("--ocid-prefix goes with --format ocds")
    from .load import load_portfolio

    p = load_portfolio(args.data)
    ocds = args.cpn_format == "ocds"
    rows, problems = cpn_rows(p.contracts, p.kpis, p.measurements, args.start, args.end, detail=ocds)
    written = True
    if ocds:
        from .ocds import cpn_release_package, write_release_package

        package, more = cpn_release_package(rows, ocid_prefix=args.ocid_prefix)
        problems = pd.concat([problems, more], ignore_index=True) if len(more) else problems
        written = bool(package["releases"])
        if written:
            write_release_package(package, args.out)
            print(f"{plural(len(package['releases']), 'release')} ({plural(len(rows), 'KPI rating')}) written to {args.out}")
    else:
        from .cpn import CPN_STATEMENT

        write_cpn_csv(rows, args.out)
        print(f"{len(rows)} KPI ratings written to {args.out}")
        # reg. 39(4)(e): the CSV is one row per KPI; the statement belongs to each notice as a whole.
        print(f"Statement to publish with each notice (reg. 39(4)(e)): {CPN_STATEMENT}")
    for _, problem in problems.iterrows():
        print(f"  {problem.get('severity', 'error')}: " + format_problem(problem), file=sys.stderr)
    errors = int((problems.get("severity") == "error").sum()) if len(problems) else 0
    if not written:
        print(f"cinb: no release to write, so {args.out} was not written (a release package needs one release)"
              + ("; see the errors above" if errors else "; no contract has a statutory KPI in the period"),
              file=sys.stderr)
        return 1
    if errors:
        print(f"cinb: {plural(errors, 'problem')} {agree(errors, 'stops', 'stop')} the Contract Performance Notices "
              "being published as they stand "
              "(errors above); fix them before publishing the notices", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 invalid data or failed pack, 2 usage)."""
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
                # cinb validate lists a portfolio's problems in full; a records file's are counted in the message.
                hint = "" if args.command == "derive" else "; run `cinb validate --problems-csv FILE` for the full table"
                print(f"  … and {len(problems) - 50} more listed{hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cinb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``cinb validate | head``): nothing more to say to it
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit; let it go nowhere
        except OSError:
            pass
        return 141  # 128 + SIGPIPE, as a shell tool killed by the broken pipe reports it
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
