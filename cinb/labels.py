"""The words for statutory ratings, SPC signals, assurance and CI commitment status: one place, one mapping per form.

A pack shows the same fact in several forms: a chart legend, a chart's data table, a sentence, a scorecard
cell with a symbol. The forms differ on purpose (a sentence needs lower case and an article-free phrase, a
scorecard cell a symbol so colour is not needed), so each form has its own mapping here and every module that
writes one of these words takes it from here. The keys are the codes the analysis returns:
``cinb.spc.POINT_TYPES``, ``cinb.spc.RULES``, ``cinb.spc.ASSURANCES``, ``cinb.commitments.STATUSES`` and the
statutory rating words (Procurement Act 2023 s.71 scale, :data:`RATINGS`).

Sources: the SPC vocabulary (special cause, common cause, assurance; improvement and concern icons) is NHS
England's "Making Data Count"; the rating words are those of a Contract Performance Notice.

This module sits at the bottom of the package and imports nothing from it.
"""

from __future__ import annotations

__all__ = [
    "RATINGS", "RATING_RAG", "RATING_SYMBOL", "RATING_DISPLAY",
    "POINT_LEGEND", "POINT_TABLE", "POINT_SENTENCE", "POINT_SCORECARD", "SIGNAL_COUNT_WORDS", "NO_SIGNAL_WORDS",
    "RULE_SENTENCE", "ASSURANCE_SENTENCE", "ASSURANCE_SCORECARD", "COMMITMENT_STATUS_SCORECARD",
]

# ------------------------------------------------------------------------------------------ statutory ratings

#: The statutory rating words, best first; "Other" is a KPI that could not be rated (no target, no data).
RATINGS = ("Good", "Approaching target", "Requires improvement", "Inadequate", "Other")

#: RAG colour of each rating (the ``rag`` column of rating frames). A colour is never shown without its word.
RATING_RAG = {
    "Good": "green",
    "Approaching target": "amber",
    "Requires improvement": "red",
    "Inadequate": "red",
    "Other": "grey",
}

#: Plain-text symbol of each rating: the ``symbol`` column of rating frames (and so of ``pack.json``), made of
#: characters every spreadsheet and terminal font has. Packs' HTML cells and the heat map use
#: :data:`RATING_DISPLAY` instead, whose symbols are drawn with the house font; both are kept because each is
#: already published in its own place.
RATING_SYMBOL = {
    "Good": "✓",
    "Approaching target": "~",
    "Requires improvement": "!",
    "Inadequate": "✗",
    "Other": "–",
}

#: rating -> (symbol, short word) as a pack's table cells and the portfolio heat map show it: the symbol next
#: to the full word in a table, next to the short word in a narrow heat-map cell.
RATING_DISPLAY = {
    "Good": ("✓", "Good"),
    "Approaching target": ("◐", "Approach"),
    "Requires improvement": ("!", "Req. imp"),
    "Inadequate": ("✗", "Inadeq."),
    "Other": ("○", "Other"),
}

# ------------------------------------------------------------------------------------ SPC point types (XmR)

#: Chart legend entry of each special-cause point type (neutral high and low share one entry and marker).
POINT_LEGEND = {
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_concern": "Special cause: concern",
    "special_cause_neutral_high": "Special cause: neutral",
    "special_cause_neutral_low": "Special cause: neutral",
}

#: The "Point type" column of an XmR chart's data table (a month without a value reads "Not reported").
POINT_TABLE = {
    "common_cause": "Common cause",
    "special_cause_improvement": "Special cause – improvement",
    "special_cause_concern": "Special cause – concern",
    "special_cause_neutral_high": "Special cause – neutral (high)",
    "special_cause_neutral_low": "Special cause – neutral (low)",
}

#: The latest point's variation in a sentence: "The latest point shows special-cause concern …"; None is a
#: KPI with no value at all.
POINT_SENTENCE = {
    "special_cause_improvement": "special-cause improvement",
    "special_cause_concern": "special-cause concern",
    "special_cause_neutral_high": "special-cause variation (high)",
    "special_cause_neutral_low": "special-cause variation (low)",
    "common_cause": "common-cause variation only",
    None: "no data",
}

#: The "Variation" cell of the KPI scorecard: a symbol (shape, so colour is not needed) and a word.
POINT_SCORECARD = {
    "special_cause_improvement": "▲ Improvement",
    "special_cause_concern": "▼ Concern",
    "special_cause_neutral_high": "↑ Unusually high",
    "special_cause_neutral_low": "↓ Unusually low",
    "common_cause": "● Common cause",
    None: "– No data",
}

#: Counted signals in an XmR chart's alt text: "2 points of special-cause concern" (neutral high and low are
#: counted together).
SIGNAL_COUNT_WORDS = {
    "improvement": "special-cause improvement",
    "concern": "special-cause concern",
    "neutral": "neutral special cause",
}
#: The alt text's count when no point is a special cause.
NO_SIGNAL_WORDS = "no special-cause points"

#: Why a point is a special cause, in a sentence ("… special-cause concern (a trend of 7 points)") and in the
#: "Signal" column of the portfolio's concerns table. The rules are NHS England Making Data Count's.
RULE_SENTENCE = {
    "outside_limits": "a point outside the process limits",
    "trend": "a trend of 7 points",
    "two_in_three": "2 of 3 points close to a limit",
    "run": "a run of 7 points on one side of the mean",
}

# ------------------------------------------------------------------------------------------------ assurance

#: Assurance in a sentence: "on current limits the process will consistently meet the target".
ASSURANCE_SENTENCE = {
    "consistent_pass": "will consistently meet the target",
    "consistent_fail": "will consistently miss the target",
    "inconsistent": "will hit and miss the target by chance",
    None: "cannot be assessed against a target",
}

#: The "Assurance" cell of the KPI scorecard: the letter of the Making Data Count icon (P, F, ?) and words.
ASSURANCE_SCORECARD = {
    "consistent_pass": "P Consistently passes",
    "consistent_fail": "F Consistently fails",
    "inconsistent": "? Hit and miss",
    None: "– Not assessable",
}

# ---------------------------------------------------------------------------------------- CI commitments

#: The status of a CI commitment in the scorecard and commitments tables: a symbol and the status word.
COMMITMENT_STATUS_SCORECARD = {
    "met": "✓ Met",
    "on track": "→ On track",
    "off track": "✗ Off track",
    "not yet due": "… Not yet due",
    "undefined": "? Undefined",
    None: "– None",
}
