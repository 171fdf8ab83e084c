"""Close matches for "did you mean …?": the known values that look like a mistyped one.

Used by every message that names an unknown value (a contract id, a supplier, a column, a unit, a key of a
batch definition) so that they all suggest the same way. Pure functions of text; no pandas.
"""

from __future__ import annotations

import difflib


def close_matches(value: str, candidates, n: int = 3) -> list[str]:
    """Up to ``n`` candidates that look like ``value`` (same text ignoring case first, then similar text).

    Parameters
    ----------
    value : str
        The value that was not found (converted with ``str``).
    candidates : iterable
        The known values (converted with ``str``; duplicates are ignored).
    n : int
        The most matches returned.

    Returns
    -------
    list of str
        Candidates equal ignoring case, or containing / contained in ``value`` (3 characters or more), then
        those similar by difflib ratio (at least 0.6 and within 0.08 of the best); empty when none is close.
    """
    cands = [c for c in dict.fromkeys(str(c) for c in candidates)]
    value = str(value)
    same_case = [c for c in cands if c.lower() == value.lower() and c != value]
    if len(value) >= 3:  # one contains the other: 'Kestrel' for 'Kestrel Cloud Ltd', 'AVAILABILITY' for 'AVAIL'
        same_case += [c for c in cands if c != value and len(c) >= 3
                      and (value.lower() in c.lower() or c.lower() in value.lower())]
    lowered = {c.lower(): c for c in cands}
    scored = sorted(((difflib.SequenceMatcher(None, value.lower(), c).ratio(), c) for c in lowered), reverse=True)
    best = scored[0][0] if scored else 0
    # Only the near-best: one clear candidate is more useful than three loose ones.
    similar = [lowered[c] for r, c in scored[:n] if r >= 0.6 and r >= best - 0.08]
    return list(dict.fromkeys(same_case + similar))[:n]


def did_you_mean(value: str, candidates) -> str:
    """``"did you mean 'X'?"`` (or ``'X' or 'Y'``) for the closest candidates, or ``""`` when nothing is close.

    Arguments as for `close_matches` (at most 3 matches); never raises for text candidates.
    """
    matches = close_matches(value, candidates)
    if not matches:
        return ""
    return "did you mean " + " or ".join(repr(m) for m in matches) + "?"
