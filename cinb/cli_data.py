"""The data commands of the ``cinb`` command line: ``validate``, ``supplier-return``, ``ingest`` and ``derive``.

``cinb template`` is the old name of ``cinb supplier-return``: it still works, hidden from the help, and says
so on stderr (report templates are ``cinb templates``: :mod:`cinb.cli_templates`).

``cinb.cli`` calls `register` with its subparsers and dispatches to ``args.func(args)``; each handler returns
an exit code (0 fine, 1 the data has errors) and raises `cinb.errors.UsageError` for usage problems (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DEFAULT_STORE
from .errors import PROBLEM_COLUMNS, DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd
# pandas is imported by the commands that use it: `cinb --help` and `cinb run` build this parser first.

#: Problems printed by ``cinb validate`` unless ``--limit`` says otherwise (all go to ``--problems-csv``).
DEFAULT_LIMIT = 200


def register(subparsers) -> None:
    """Add the ``validate``, ``supplier-return`` and ``ingest`` subcommands to ``subparsers``.

    ``subparsers`` is what ``argparse.ArgumentParser.add_subparsers`` returned; each subcommand sets
    ``func`` to its handler (`cmd_validate`, `cmd_supplier_return`, `cmd_ingest`). ``template``, the old name of
    ``supplier-return``, is added without help text, so that it is left out of ``cinb --help``.
    """
    p = subparsers.add_parser(
        "validate", help="check a portfolio against the data contract and list every problem",
        description="Load and validate a portfolio; print every problem (file, sheet, row, column, value, what is "
                    "wrong, what to do) and the row accounting. Exit status 1 if there is any error.")
    p.add_argument("--data", metavar="PATH",
                   help="a folder of CSV files, an .xlsx workbook or a database URL (default: the sample portfolio)")
    p.add_argument("--as-of", dest="as_of", metavar="BATCH",
                   help="for a store: the batch id or ISO timestamp to validate the data as it was then")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"print at most N problems (default {DEFAULT_LIMIT}; 0 = all)")
    p.add_argument("--problems-csv", type=Path, metavar="FILE", help="also write every problem to this CSV file")
    p.set_defaults(func=cmd_validate)

    description = ("Write an Excel return for one contract and one month, listing the KPIs due that month (a "
                   "quarterly or annual KPI only in the last month of its period): KPI names, units, direction, "
                   "SLA and target shown and locked; value and notes cells to fill in (and, for contracts with "
                   "version-2 KPIs, volume and complete).")
    for name, extra in (("supplier-return", {"help": "write a supplier's Excel KPI return for one contract and month"}),
                        ("template", {})):  # the old name: hidden (no help), and it says it is the old name
        p = subparsers.add_parser(name, description=description, **extra)
        required = name == "supplier-return"  # the old name says it is old first, then asks for what is missing
        p.add_argument("--contract", dest="contract_id", required=required, metavar="ID", help="the contract id")
        p.add_argument("--period", required=required, metavar="YYYY-MM", help="the month the return covers")
        p.add_argument("--out", type=Path, required=required, metavar="FILE.xlsx", help="the workbook to write")
        p.add_argument("--data", metavar="PATH", help="where the contract is defined (default: the sample portfolio)")
        p.set_defaults(func=cmd_supplier_return if name == "supplier-return" else cmd_template)

    p = subparsers.add_parser(
        "ingest", help="validate a return (or a portfolio) and append it to the store",
        description="Validate a filled return template, a folder of CSV files, a workbook or a database and "
                    "append it to an append-only store as one batch. Anything wrong: nothing is appended.")
    p.add_argument("file", metavar="FILE", help="a filled return (.xlsx), a folder of CSV files, a workbook or a URL")
    p.add_argument("--into", dest="store", metavar="STORE", default=None,
                   help=f"the store: a SQLite file or a database URL (default: {DEFAULT_STORE})")
    p.add_argument("--data", metavar="PATH",
                   help="definitions of contracts the store does not hold yet (copied into the store with the return)")
    p.set_defaults(func=cmd_ingest)

    p = subparsers.add_parser(
        "derive", help="compute KPIs from service-management records (tickets, an audit log)",
        description="Compute KPIs from a ticket export or an audit log, as defined in a YAML definitions file "
                    "(docs/derive.md), and write them as measurement rows with origin=derived, which cinb validate, "
                    "run and batch accept beside the supplier's rows. Prints the row accounting per KPI.",
        epilog="Exit status: 0 written; 1 a definition is wrong, names a column the records lack, or a timestamp "
               "does not parse (one located message each); 2 a usage error.")
    p.add_argument("records", metavar="RECORDS", help="the records: a CSV export or an Excel workbook (.xlsx)")
    p.add_argument("--definitions", required=True, type=Path, metavar="FILE.yml", help="the KPI definitions (YAML)")
    p.add_argument("--out", required=True, type=Path, metavar="MEASUREMENTS.csv", help="the measurements to write")
    p.add_argument("--as-of", dest="as_of", metavar="TIMESTAMP",
                   help="the time the records stand at (local UK time, e.g. 2026-10-15T09:00); default: the latest "
                        "timestamp in the records. Periods not over by then, or with outcomes not yet known, are "
                        "written with complete=no")
    p.add_argument("--sheet", metavar="NAME", help="with an Excel workbook: the sheet of records (default: the first)")
    p.set_defaults(func=cmd_derive)


def _print_table(problems: pd.DataFrame, limit: int, out=None) -> None:
    """Problems as a readable table: where, column, value, what is wrong, what to do."""
    import pandas as pd

    out = out or sys.stdout
    shown = problems if limit <= 0 else problems.head(limit)
    where = shown["source"].astype(object).fillna("").map(lambda s: Path(s).name if "://" not in s else s)
    where = where + shown["sheet"].astype(object).map(lambda s: f" [{s}]" if isinstance(s, str) and s else "")
    table = pd.DataFrame({
        "severity": shown["severity"].to_numpy(),
        "where": where.to_numpy(),
        "row": shown["row"].astype(object).map(lambda r: "" if pd.isna(r) else str(int(r))).to_numpy(),
        "column": shown["column"].astype(object).fillna("").to_numpy(),
        "value": shown["value"].astype(object).map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v))
                                                   else _clip(str(v), 24)).to_numpy(),
        "problem": (shown["problem"].astype(object).fillna("") + " — " + shown["fix"].astype(object).fillna(""))
        .to_numpy(),
    })
    with pd.option_context("display.max_colwidth", 120, "display.width", 250):
        print(table.to_string(index=False, justify="left"), file=out)
    if limit > 0 and len(problems) > limit:
        print(f"… and {len(problems) - limit} more (use --limit 0 or --problems-csv FILE to see them all)", file=out)


def _clip(text: str, n: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _print_accounting(acc: pd.DataFrame, out=None) -> None:
    out = out or sys.stdout
    print("Rows per table (read = used + superseded + rejected):", file=out)
    print(acc.to_string(index=False), file=out)


def cmd_validate(args: argparse.Namespace) -> int:
    """``cinb validate``: print problems and accounting; 1 when there is any error, else 0.

    ``args`` has ``data``, ``as_of``, ``limit`` and ``problems_csv``. Problems and the accounting go to
    stdout, the closing advice to stderr. Raises UsageError when the source cannot be read (exit 2).
    """
    import pandas as pd

    from .load import load_portfolio

    p = load_portfolio(args.data, strict=False, as_of=args.as_of)
    problems = pd.concat([x for x in (p.problems, p.warnings) if len(x)], ignore_index=True) \
        if len(p.problems) or len(p.warnings) else p.problems
    if args.problems_csv:
        write_problems_csv(problems, args.problems_csv)
    print(f"Data: {p.source}" + (f" (as of batch {p.as_of})" if p.as_of else ""))
    if len(problems):
        _print_table(problems, args.limit)
        print()
    _print_accounting(p.accounting)
    n_err, n_warn = len(p.problems), len(p.warnings)
    print(f"\n{n_err} error{'s' if n_err != 1 else ''}, {n_warn} warning{'s' if n_warn != 1 else ''}; "
          f"data hash {p.data_hash[:12]}")
    if n_err:
        print("The rows with errors are rejected: fix them and run cinb validate again.", file=sys.stderr)
        return 1
    return 0


def write_problems_csv(problems: pd.DataFrame, path: Path) -> Path:
    """Write a problems frame to ``path`` as CSV for a spreadsheet, atomically, formula-like text neutralised.

    The values come from the data, so a cell such as ``=1+1`` or ``@SUM(A1:A9)`` would run when the file is
    opened in Excel: every text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a
    leading single quote (as `cinb.cpn.write_cpn_csv` does). UTF-8 with a byte-order mark, so that Excel reads
    £ and accented names; the file appears only complete (temporary file, then rename).

    Raises
    ------
    UsageError
        The file cannot be written (read-only folder, a folder of that name, disk full).
    """
    from .cpn import _neutralise
    from .files import atomic_write_bytes

    path = Path(path)
    frame = problems.reindex(columns=PROBLEM_COLUMNS).astype(object)
    safe = frame.where(frame.notna(), None).map(_neutralise)
    text = safe.to_csv(index=False, lineterminator="\r\n")
    try:
        atomic_write_bytes(path, text.encode("utf-8-sig"))
    except OSError as exc:
        raise UsageError(f"cannot write --problems-csv {path}: {exc.strerror or exc}; choose a writable file "
                         "in an existing folder") from None
    return path


#: What ``cinb template`` (the old name of ``cinb supplier-return``) prints on stderr before it does its work.
RENAMED = "cinb: 'cinb template' is now 'cinb supplier-return' (report templates are 'cinb templates')"


def cmd_template(args: argparse.Namespace) -> int:
    """``cinb template``, the old name of ``cinb supplier-return``: says so on stderr, then does the same."""
    print(RENAMED, file=sys.stderr)
    missing = [option for option, value in (("--contract ID", args.contract_id), ("--period YYYY-MM", args.period),
                                            ("--out FILE.xlsx", args.out)) if value is None]
    if missing:
        raise UsageError(f"cinb supplier-return needs {', '.join(missing)}")
    return cmd_supplier_return(args)


def cmd_supplier_return(args: argparse.Namespace) -> int:
    """``cinb supplier-return``: write the Excel return for a contract and month; prints its path, returns 0.

    ``args`` has ``contract_id``, ``period`` (``YYYY-MM``), ``out`` and ``data``. Raises DataError when the
    portfolio has errors, UsageError for an unknown contract, a bad month or file name
    (`cinb.template.write_return_template`).
    """
    from .load import load_portfolio
    from .template import write_return_template

    portfolio = load_portfolio(args.data)
    path = write_return_template(portfolio, args.contract_id, args.period, args.out)
    print(path)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """``cinb ingest``: validate and append as one batch; on any error print the problems, append nothing.

    ``args`` has ``file``, ``store`` and ``data``. Returns 0 when the batch was appended (a summary and any
    warnings on stdout), 1 when the data has errors (problems and accounting on stderr). Raises UsageError
    when the file does not exist or the store cannot be used (`cinb.store.ingest`).
    """
    from .formatting import plural
    from .store import ingest

    src = args.file
    if "://" not in str(src) and not Path(src).exists():
        raise UsageError(f"no such file or folder: {src}")
    try:
        result = ingest(src, args.store, reference=args.data)
    except DataError as exc:
        print(f"cinb: {exc}", file=sys.stderr)
        _print_table(exc.problems, DEFAULT_LIMIT, out=sys.stderr)
        acc = getattr(exc, "accounting", None)
        if acc is not None:
            _print_accounting(acc, out=sys.stderr)
        return 1
    added = ", ".join(f"{n} {t}" for t, n in result.appended.items() if n)
    print(f"batch {result.batch_id} appended to {result.store} at {result.ingested_at}: {added}")
    for line in change_lines(result):
        print(line)
    if len(result.warnings):
        print(f"{plural(len(result.warnings), 'warning')}:")
        _print_table(result.warnings, 50)
    return 0


def cmd_derive(args: argparse.Namespace) -> int:
    """``cinb derive``: KPIs computed from records (:func:`cinb.derive.derive`), written as measurements.

    Prints where the rows went, how many periods are provisional, and the row accounting per KPI (read = used +
    excluded). Returns 0; a DataError (bad definitions or records) and a UsageError propagate to ``cinb.cli.main``
    (exit 1 and 2).
    """
    from .derive import derive, write_measurements

    result = derive(args.records, args.definitions, as_of=args.as_of, sheet=args.sheet)
    write_measurements(result.measurements, args.out)
    m = result.measurements
    provisional = int((~m["complete"]).sum())
    print(f"{len(m)} measurement rows for {m[['contract_id', 'kpi_id']].drop_duplicates().shape[0]} KPIs written to "
          f"{args.out} (origin=derived, as of {result.as_of:%Y-%m-%d %H:%M}); {provisional} provisional "
          f"(complete=no)")
    print("Rows per KPI (read = used + excluded):")
    print(result.accounting.to_string(index=False))
    for warning in result.warnings:
        print(f"warning: {args.definitions}: {warning}", file=sys.stderr)
    return 0


#: How ``cinb ingest`` words each status of `cinb.store.CHANGE_STATUSES`.
_STATUS_WORDS = {"changed": "changed", "new": "new", "unchanged": "unchanged (not stored again)",
                 "kept": "kept (empty value cell: the stored value stays)"}


def change_lines(result, limit: int = 20) -> list[str]:
    """The ingest summary: per table, how many rows were changed, new, unchanged and kept, then each change.

    ``result`` is a `cinb.store.IngestResult`; at most ``limit`` changed or kept measurements are listed one by one
    (``NB-SD-001 FTF 2026-10: 71.5 → 72 (revision 2)``). Returns the lines (no trailing newlines).
    """
    lines = []
    for table, counts in result.counts().items():
        lines.append(f"{table}: " + (", ".join(f"{counts[s]} {_STATUS_WORDS[s]}" for s in _STATUS_WORDS
                                               if counts[s] or s in ("changed", "new", "unchanged"))))
    ch = result.changes
    shown = ch[(ch["table"] != "measurements") & (ch["status"] == "changed")]
    for _, r in shown.head(limit).iterrows():
        lines.append(f"  changed: {r['table']} {r['item']}: {r['changed']}")
    m = ch[(ch["table"] == "measurements") & ch["status"].isin(["changed", "kept"])]
    for _, r in m.head(limit).iterrows():
        if r["status"] == "kept":
            lines.append(f"  kept: {r['contract_id']} {r['item']}: {_number(r['old_value'])} stays")
            continue
        what = _number(r["old_value"]) + " → " + _number(r["new_value"]) if "value" in str(r["changed"] or "") \
            else f"{r['changed'] or 'a later revision'} restated"
        lines.append(f"  changed: {r['contract_id']} {r['item']}: {what} (revision {r['revision']})")
    if len(m) > limit:
        lines.append(f"  … and {len(m) - limit} more")
    return lines


def _number(x) -> str:
    import pandas as pd

    return "not reported" if x is None or (isinstance(x, float) and pd.isna(x)) else f"{float(x):.12g}"
