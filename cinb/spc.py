"""Statistical process control as in NHS England's "Making Data Count": XmR charts and Anhøj run charts.

Every name of the SPC modules is importable from here, as it always was:

- :mod:`cinb.spc_xmr` — :func:`xmr` and :class:`XmrResult`: one XmR (individuals) chart, its limits,
  special-cause rules and assurance (NHS England "Making Data Count"), with the constants of the method;
- :mod:`cinb.spc_run` — :func:`run_chart` and :class:`RunChartResult`: a run chart judged by the Anhøj rules
  (Anhøj & Olesen 2014), with :func:`anhoej_longest_run_max` and :func:`anhoej_crossings_min`;
- :mod:`cinb.spc_many` — :func:`xmr_many`: one XmR chart per series of a long frame, one row each;
- :mod:`cinb.spc_checks` — the argument checking they share.

The words a pack prints for point types, rules and assurance are in :mod:`cinb.labels`.
"""

from __future__ import annotations

# The constants of the method (LIMIT_FACTOR, RULES, POINT_TYPES, ...) stay importable from here, outside __all__.
from cinb.spc_checks import MIN_FIX_AFTER  # noqa: F401
from cinb.spc_many import xmr_many
from cinb.spc_run import RunChartResult, anhoej_crossings_min, anhoej_longest_run_max, run_chart
from cinb.spc_xmr import (  # noqa: F401
    ASSURANCES,
    CLOSE_FRACTION,
    IMPROVEMENTS,
    LIMIT_FACTOR,
    POINT_TYPES,
    RULE_POINTS,
    RULES,
    SCREEN_FACTOR,
    SHORT_GROUP,
    TWO_IN_THREE_VARIANTS,
    XmrResult,
    xmr,
)

__all__ = [
    "xmr", "XmrResult", "run_chart", "RunChartResult", "xmr_many", "anhoej_longest_run_max", "anhoej_crossings_min",
]
