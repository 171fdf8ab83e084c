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
