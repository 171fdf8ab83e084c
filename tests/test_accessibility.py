"""Accessibility of the HTML packs, checked in a real browser: axe-core in headless Chromium, WCAG 2.2 AA."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cinb.render import render_html

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path):
    # By path, so that the helpers work whatever pytest's import mode and whether tests/ is a package.
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


axe = _load("cinb_axe_check", HERE / "a11y" / "axe_check.py")
UNAVAILABLE = axe.unavailable_reason()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"browser accessibility check: {UNAVAILABLE}"),
]


def assert_accessible(html_path) -> None:
    """Fail with a readable list when axe finds any WCAG 2.0/2.1/2.2 A or AA violation on the page."""
    violations = axe.axe_violations(html_path)
    assert violations == [], f"{len(violations)} axe violation(s) in {html_path}:\n" + axe.format_violations(
        violations)


def test_synthetic_pack_has_no_wcag_aa_violations(tmp_path):
    synthetic_notebook = _load("cinb_test_render", HERE / "test_render.py").synthetic_notebook
    html = render_html(synthetic_notebook(), title="Contract C001 — Service desk review",
                       subtitle="Example Supplier Ltd · December 2024", marking="OFFICIAL",
                       meta={"contract_id": "C001"})
    path = tmp_path / "review.html"
    path.write_text(html, encoding="utf-8")
    assert_accessible(path)
    assert path.read_text(encoding="utf-8") == html  # axe ran on a copy


def test_the_check_can_fail(tmp_path):
    # A control: an image without alt text, grey-on-white text and no language must each be reported.
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>Bad</title></head><body><main><h1>Bad page</h1>"
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        '<p style="color:#bbbbbb;background:#ffffff">too faint to read</p></main></body></html>',
        encoding="utf-8",
    )
    found = {v["id"] for v in axe.axe_violations(bad)}
    assert {"image-alt", "color-contrast", "html-has-lang"} <= found, found


def _display_components_notebook():
    """A pack built from the real display components, as the notebooks build theirs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nbformat
    import numpy as np
    import pandas as pd
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from cinb import display

    months = pd.period_range("2024-01", periods=12, freq="M").astype(str)
    values = 90 + np.linspace(0, 2, 12)
    fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
    ax.plot(range(12), values, marker="o")
    ax.set_title("First-time fix rate (%)")
    ax.set_xlabel("Month")
    ax.set_ylabel("%")
    chart = display.Chart(fig, title="First-time fix rate, last 12 months", data=pd.DataFrame(
        {"Month": months, "First-time fix (%)": values}),
        alt="Line chart: first-time fix rate rose steadily from 90% in January to 92% in December.")
    scorecard = display.Table(pd.DataFrame({
        "KPI": ["Availability", "Resolution time", "Satisfaction", "Backlog", "Security patching", "Calls"],
        "Latest": [99.2, 7.5, 4.1, 120, None, 88.0],
        "Rating": ["Good", "Approaching target", "Requires improvement", "Inadequate", "Other", None],
    }), caption="KPI scorecard, December 2024", rating_columns=["Rating"], row_header="KPI")

    def html(*objs):
        return new_output("display_data", data={"text/html": "".join(o.to_html() for o in objs),
                                                "text/plain": "<display>"})

    cells = [
        new_code_cell("contract_id = 'C001'", metadata={"tags": ["parameters"]}),
        new_code_cell("show(...)", outputs=[html(display.KeyFacts({"Contract": "C001", "Supplier": "Example Ltd",
                                                                   "Period": "December 2024"}))]),
        new_code_cell("show(...)", outputs=[html(display.Heading("Executive summary"), display.Paragraphs(
            ["Four of six KPIs met their SLA.", "One KPI is inadequate."]),
            *[display.Callout(f"A {k} message.", kind=k) for k in display.CALLOUT_KINDS])]),
        new_markdown_cell("## KPI scorecard\n\nRatings on the statutory scale."),
        new_code_cell("show(scorecard)", outputs=[html(scorecard)]),
        new_code_cell("show(chart)", outputs=[html(display.Heading("First-time fix rate", level=3), chart)]),
    ]
    return nbformat.from_dict(new_notebook(cells=cells))


def test_pack_of_display_components_has_no_wcag_aa_violations(tmp_path):
    html = render_html(_display_components_notebook(), title="Contract C001 — Service desk review",
                       subtitle="Example Ltd · December 2024", marking="OFFICIAL")
    path = tmp_path / "components.html"
    path.write_text(html, encoding="utf-8")
    assert_accessible(path)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["NB-SD-001/review.html", "supplier/NB-SD-001/review.html", "portfolio/review.html",
                                 "suppliers/Meridian-Service-Desk-Ltd/scorecard.html"])
def test_real_packs_have_no_wcag_aa_violations(rendered, key):
    # The packs of the sample portfolio, as `cinb batch` writes them (see the `rendered` fixture).
    assert_accessible(rendered["root"] / key)
