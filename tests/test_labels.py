"""cinb.labels: one mapping per form for ratings, SPC point types, rules, assurance and commitment status."""

from __future__ import annotations

from cinb import labels as L
from cinb.commitments import STATUSES
from cinb.spc import ASSURANCES, POINT_TYPES, RULES


def test_every_code_the_analysis_returns_has_a_word_in_every_form():
    assert set(L.POINT_TABLE) == set(POINT_TYPES)
    assert set(L.POINT_SENTENCE) == set(L.POINT_SCORECARD) == {*POINT_TYPES, None}
    assert set(L.POINT_LEGEND) == set(POINT_TYPES) - {"common_cause"}
    assert set(L.RULE_SENTENCE) == set(RULES)
    assert set(L.ASSURANCE_SENTENCE) == set(L.ASSURANCE_SCORECARD) == {*ASSURANCES, None}
    assert set(L.COMMITMENT_STATUS_SCORECARD) == {*STATUSES, None}
    assert set(L.RATING_RAG) == set(L.RATING_SYMBOL) == set(L.RATING_DISPLAY) == set(L.RATINGS)


def test_the_modules_that_print_these_words_take_them_from_labels():
    from cinb import commentary, display, ratings, sections
    from cinb.charts import POINT_STYLES

    assert commentary.POINT_WORDS is L.POINT_SENTENCE and commentary.RULE_WORDS is L.RULE_SENTENCE
    assert commentary.ASSURANCE_WORDS is L.ASSURANCE_SENTENCE
    assert sections.VARIATION_LABEL is L.POINT_SCORECARD and sections.ASSURANCE_LABEL is L.ASSURANCE_SCORECARD
    assert sections.STATUS_LABEL is L.COMMITMENT_STATUS_SCORECARD
    assert ratings.RATINGS is L.RATINGS and ratings.RAG is L.RATING_RAG and ratings.SYMBOL is L.RATING_SYMBOL
    assert {w: (s.symbol, s.short) for w, s in display.RATING_STYLES.items()} == L.RATING_DISPLAY
    assert {t: style[0] for t, style in POINT_STYLES.items()} == L.POINT_LEGEND


def test_scorecard_cells_carry_a_symbol_so_colour_is_not_needed():
    for form in (L.POINT_SCORECARD, L.ASSURANCE_SCORECARD, L.COMMITMENT_STATUS_SCORECARD):
        assert all(" " in text and len(text.split(" ", 1)[0]) == 1 for text in form.values())
