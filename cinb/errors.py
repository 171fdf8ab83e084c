"""The one exception hierarchy of cinb: every error says what is wrong, where, and how to fix it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
# pandas is imported where it is used, not here: every cinb module imports this one, and a command that only
# starts a kernel or prints its help (`cinb run` starts the pack's kernel first) should not wait 0.3 s for pandas.

PROBLEM_COLUMNS = ["severity", "source", "sheet", "table", "row", "column", "value", "problem", "fix"]


class CinbError(Exception):
    """Base class of every error cinb raises on purpose.

    The CLI prints ``str(error)`` and exits with ``exit_code``; it never shows a traceback for these.
    """

    exit_code = 1


class UsageError(CinbError, ValueError):
    """The caller asked for something that cannot be done (unknown contract, malformed period, bad option).

    Also a :class:`ValueError`, so that code calling cinb's pure functions with a bad argument can catch it the
    usual Python way.
    """

    exit_code = 2


class DataError(CinbError):
    """The input data broke the data contract.

    Carries every problem found (not just the first) as ``problems``, a DataFrame with the columns
    ``severity, source, sheet, table, row, column, value, problem, fix``; ``row`` is the row number a
    spreadsheet user sees (header = row 1, first data row = row 2). ``accounting`` (rows read, used,
    superseded and rejected per table) and ``warnings`` (problems that did not stop the load) are the
    validator's, when it got that far; otherwise ``None`` and an empty frame.
    """

    exit_code = 1

    def __init__(self, problems: pd.DataFrame, summary: str | None = None, *,
                 accounting: pd.DataFrame | None = None, warnings: pd.DataFrame | None = None):
        import pandas as pd

        self.problems = problems.reindex(columns=PROBLEM_COLUMNS).reset_index(drop=True)
        self.accounting = accounting
        self.warnings = warnings if warnings is not None else pd.DataFrame(columns=PROBLEM_COLUMNS)
        n = len(self.problems)
        if summary is None:
            first = self.problems.iloc[0] if n else None
            summary = f"{n} problem{'s' if n != 1 else ''} in the input data"
            if first is not None:
                summary += ": " + format_problem(first)
                if n > 1:
                    summary += f" (and {n - 1} more)"
        super().__init__(summary)


class PackError(CinbError):
    """A review pack could not be produced (notebook raised, kernel died, timeout, render failed)."""

    exit_code = 1


class KernelError(PackError):
    """A kernel for a pack could not be started or warmed up (it exited, timed out, or its imports failed)."""


class ZygoteError(KernelError):
    """The fork server (zygote) of pre-imported kernels could not start or answer.

    Callers fall back to starting kernels the ordinary way; the user sees this only if that fails too.
    """


def format_problem(p) -> str:
    """One readable sentence for one problem row (a Series or mapping with PROBLEM_COLUMNS)."""
    import pandas as pd

    raw = p.get if hasattr(p, "get") else (lambda k, d=None: getattr(p, k, d))

    def get(key):
        value = raw(key)
        try:
            return None if value is None or pd.isna(value) else value
        except (TypeError, ValueError):  # list-like values are never "missing"
            return value

    where = str(get("source") or "input")
    sheet = get("sheet")
    if isinstance(sheet, str) and sheet:
        where += f", sheet {sheet}"
    row = get("row")
    if row is not None:
        where += f", row {int(row)}"
    col = get("column")
    if isinstance(col, str) and col:
        where += f", column {col}"
    value = get("value")
    shown = "" if value is None else f" value {str(value)!r}:"
    text = f"{where}:{shown} {get('problem')}"
    fix = get("fix")
    if isinstance(fix, str) and fix:
        text += f" — {fix}"
    return text
