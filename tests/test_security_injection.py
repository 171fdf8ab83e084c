"""Injection: data reaches HTML only as text, parameters reach notebooks only as literals, YAML builds no objects,
spreadsheet exports run no formulas, and identifiers cannot lead a path out of the output folder.
"""

from __future__ import annotations

import ast
import csv
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinb.errors import CinbError, PackError, UsageError

from adversarial import packs as hostile  # noqa: E402  (tests/ is on sys.path: conftest.py)

SCRIPT = hostile.SCRIPT
IMG = hostile.IMG
PAYLOADS = [SCRIPT, IMG, "<svg onload=alert(1)>", "<a href=\"javascript:alert(1)\">x</a>",
            "</td></tr></table><script>alert(2)</script>", "<!--", "]]><script>alert(3)</script>",
            "<style>body{background:url(https://evil.example/x)}</style>", "' onmouseover='alert(4)"]


class Live(HTMLParser):
    """What a browser would treat as live in a page: scripts, event handlers, script URLs, frames, remote loads."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[str | None, str]] = []
        self.handlers: list[tuple[str, str]] = []
        self.script_urls: list[tuple[str, str]] = []
        self.embeds: list[str] = []
        self.remote: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._in_script: str | None = None  # the type of the script being read ("" when it has none)
        self._buf: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.handlers.append((tag, name))
            v = (value or "").strip().lower()
            if name in ("href", "src", "action", "formaction", "xlink:href", "data") and \
                    (v.startswith("javascript:") or v.startswith("vbscript:")):
                self.script_urls.append((tag, value))
            if name in ("src", "href", "data", "srcset", "poster") and tag != "a" and \
                    (v.startswith("http:") or v.startswith("https:") or v.startswith("//")):
                self.remote.append((tag, value))
        if tag in ("iframe", "frame", "object", "embed", "applet", "base", "form"):
            self.embeds.append(tag)
        if tag == "meta" and (dict(attrs).get("http-equiv") or "").lower() == "refresh":
            self.embeds.append("meta refresh")
        if tag == "script":
            self._in_script = dict(attrs).get("type") or ""
            self._buf = []
        if tag == "style":
            self._in_style = True
            self._buf = []

    def handle_endtag(self, tag):
        if tag == "script":
            self.scripts.append((self._in_script, "".join(self._buf)))
            self._in_script = None
        if tag == "style":
            self.styles.append("".join(self._buf))
            self._in_style = False

    def handle_data(self, data):
        if self._in_script is not None or self._in_style:
            self._buf.append(data)
        else:
            self.text.append(data)


def live(html: str) -> Live:
    p = Live()
    p.feed(html)
    p.close()
    return p


def assert_inert(html: str, where: str) -> Live:
    p = live(html)
    executable = [t for t, _ in p.scripts if t.strip().lower() != "application/json"]
    assert executable == [], f"{where}: live <script> {executable}"
    for t, body in p.scripts:  # data blocks must stay whole JSON: text cannot break out of them
        json.loads(body)
    assert p.handlers == [], f"{where}: event handler attributes {p.handlers[:5]}"
    assert p.script_urls == [], f"{where}: script URLs {p.script_urls[:5]}"
    assert p.embeds == [], f"{where}: frames/objects {p.embeds[:5]}"
    assert p.remote == [], f"{where}: remote resources {p.remote[:5]}"
    for css in p.styles:
        low = css.lower()
        assert "@import" not in low and "url(http" not in low and "url(//" not in low and "expression(" not in low, \
            f"{where}: CSS loads or runs something"
    return p


# ---------------------------------------------------------------------------------------------------------
# Display objects


@pytest.mark.parametrize("payload", PAYLOADS)
def test_display_objects_escape_every_text(payload):
    from cinb.display import Callout, Chart, Heading, KeyFacts, Paragraphs, Table, format_value, rating_cell

    df = pd.DataFrame({payload: [payload, "Good"], "Rating": [payload, "Good"], "n": [1.5, 2.0]})
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    pieces = [
        Table(df, caption=payload, rating_columns=["Rating"], row_header=payload).to_html(),
        Table(df.set_index(payload), caption="x", index=True).to_html(),
        Callout(payload, "warning").to_html(),
        Heading(payload, 3).to_html(),
        Paragraphs([payload, payload]).to_html(),
        KeyFacts({payload: payload, "Value": payload}).to_html(),
        rating_cell(payload),
        format_value(payload),
        format_value(payload, "{}"),
        Chart(svg, title=payload, alt=payload, data=df, caption=payload).to_html(),
    ]
    for html in pieces:
        p = assert_inert(html, "display")
        assert payload in "".join(p.text) or payload in html.replace("&quot;", '"'), html[:300]


def test_heading_ids_are_slugs_not_markup():
    from cinb.display import Heading

    h = Heading('x" onclick="alert(1)', 2).to_html()
    assert 'onclick="' not in h and live(h).handlers == []


# ---------------------------------------------------------------------------------------------------------
# A real pack from a portfolio with markup in its text


@pytest.fixture(scope="module")
def packs():
    return hostile.built_ok()


@pytest.mark.slow
@pytest.mark.parametrize("audience", ["internal", "supplier"])
def test_pack_html_has_no_live_markup_from_data(packs, audience):
    html = (packs[audience] / "review.html").read_text(encoding="utf-8")
    p = assert_inert(html, f"{audience} pack")
    text = " ".join("".join(p.text).split())
    # The hostile text is shown as written (escaped), not dropped: the reader sees what the supplier wrote.
    assert "Meridian <script>alert(1)</script> Ltd" in text
    assert 'Service desk "><img src=x onerror=alert(1)> support' in text
    assert "First-time fix <script>alert(1)</script>" in text
    assert "OFFICIAL <script>alert(1)</script>" in text  # the marking parameter too


@pytest.mark.slow
def test_executed_notebook_outputs_are_inert(packs):
    """The internal pack keeps its executed notebook; its HTML outputs are escaped as well (JupyterLab shows them)."""
    import nbformat

    nb = nbformat.read(str(packs["internal"] / "review.ipynb"), as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert outputs
    for o in outputs:
        html = o.get("data", {}).get("text/html")
        if html:
            assert_inert(html if isinstance(html, str) else "".join(html), "notebook output")
    notes = "".join(str(c.source) for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    _literal_assignments(notes)


@pytest.mark.slow
def test_pack_pdf_shows_the_text_without_running_it(packs):
    from pypdf import PdfReader

    text = " ".join(" ".join(page.extract_text() for page in PdfReader(str(packs["supplier"] / "review.pdf")).pages)
                    .split())
    assert "alert(1)" in text  # shown as text on the page
    reader = PdfReader(str(packs["supplier"] / "review.pdf"))
    root = reader.trailer["/Root"]
    assert "/OpenAction" not in root and "/AA" not in root and "/JavaScript" not in str(root.get("/Names", {}))


# ---------------------------------------------------------------------------------------------------------
# Parameters reach notebooks only as literals


def _literal_assignments(source: str) -> dict:
    """Parse the injected-parameters cell: it must be nothing but ``name = literal`` lines."""
    tree = ast.parse(source)
    values = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign), ast.dump(node)[:200]
        assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        values[node.targets[0].id] = ast.literal_eval(node.value)  # raises on anything but a literal
    return values


_INJECTIONS = {
    "contract_id": 'x"); import os; os.system("touch {flag}"); ("',
    "period": '2026-10"\nimport os\nos.system("touch {flag}")\n#',
    "marking": "'''; __import__('os').system('touch {flag}'); '''",
    "data": '\\"; __import__("os").system("touch {flag}") #',
    "audience": '"""+__import__("os").system("touch {flag}")+"""',
}


def test_papermill_injects_hostile_values_as_literals(tmp_path):
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from cinb.config import notebook_dir

    nb = load_notebook_node(str(notebook_dir() / "contract_review.ipynb"))
    params = {k: v.replace("{flag}", str(tmp_path / k)) for k, v in _INJECTIONS.items()}
    out = parameterize_notebook(nb, params)
    cell = next(c for c in out.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert _literal_assignments(cell.source) == params


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(_INJECTIONS)), st.text(max_size=60), min_size=1))
def test_any_text_parameter_becomes_the_same_literal(params):
    import copy

    from papermill.parameterize import parameterize_notebook

    out = parameterize_notebook(copy.deepcopy(_review_notebook()), params)
    cell = next(c for c in out.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert _literal_assignments(cell.source) == params


_NB_CACHE: list = []


def _review_notebook():
    if not _NB_CACHE:
        from papermill.iorw import load_notebook_node

        from cinb.config import notebook_dir

        _NB_CACHE.append(load_notebook_node(str(notebook_dir() / "contract_review.ipynb")))
    return _NB_CACHE[0]


@pytest.mark.slow
def test_hostile_parameters_do_not_execute_in_the_kernel(tmp_path):
    """Run the real notebook in a real kernel with the hostile values: it fails cleanly and nothing runs."""
    from cinb.config import notebook_dir
    from cinb.execute import execute

    params = {k: v.replace("{flag}", str(tmp_path / f"pwned-{k}")) for k, v in _INJECTIONS.items()}
    with pytest.raises(PackError) as info:
        execute(notebook_dir() / "contract_review.ipynb", params, timeout=300)
    assert list(tmp_path.iterdir()) == [], "a parameter value was executed as code"
    nb = getattr(info.value, "notebook", None)
    if nb is not None:
        cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        assert _literal_assignments(cell.source) == params


def test_cli_refuses_an_unknown_contract_id_before_running_anything(tmp_path, capsys):
    from cinb.cli import main

    flag = tmp_path / "pwned"
    code = main(["run", _INJECTIONS["contract_id"].replace("{flag}", str(flag)), "--period", "2026-10",
                 "--out", str(tmp_path / "out"), "--format", "html"])
    assert code == 2 and not flag.exists() and not (tmp_path / "out").exists()
    assert "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# YAML builds no objects


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {flag}']",
    "!!python/object/apply:subprocess.call [['touch', '{flag}']]",
    "!!python/object/new:type ['X', [], {}]",
    "!!python/name:os.system",
    "!!python/module:os",
])
def test_yaml_tags_are_refused_and_run_nothing(tag, tmp_path, monkeypatch, capsys):
    from cinb.cli import main
    from cinb.config import load_parameter_files

    flag = tmp_path / "pwned"
    folder = tmp_path / "parameters"
    folder.mkdir()
    (folder / "local.yml").write_text(f"marking: {tag.replace('{flag}', str(flag))}\n", encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_parameter_files(folder)
    assert "local.yml" in str(info.value)
    monkeypatch.setenv("CINB_PARAMETERS", str(folder))
    assert main(["run", "NB-SD-001", "--period", "2026-10", "--out", str(tmp_path / "out")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not flag.exists() and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------
# Spreadsheet exports run no formulas


FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1:A2)", "=HYPERLINK(\"http://evil.example\",\"x\")",
            "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0"]


def _formula_like(cell: str) -> bool:
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r")


def test_cpn_csv_neutralises_formula_text(tmp_path):
    from cinb.cpn import CPN_COLUMNS, write_cpn_csv

    rows = pd.DataFrame([{c: f for c in CPN_COLUMNS} for f in FORMULAS])
    rows["period_start"] = "2025-04"
    path = write_cpn_csv(rows, tmp_path / "cpn.csv")
    with open(path, newline="", encoding="utf-8-sig") as f:
        cells = [c for row in list(csv.reader(f))[1:] for c in row]
    assert cells and not [c for c in cells if _formula_like(c)]
    assert "'=1+1" in cells  # kept readable, only made inert


def _formula_portfolio(folder: Path) -> Path:
    """The sample portfolio with formula text in the fields that reach the exports."""
    import shutil

    from cinb.load import sample_dir

    folder.mkdir(parents=True)
    for p in sample_dir().glob("*.csv"):
        shutil.copy(p, folder / p.name)
    c = pd.read_csv(folder / "contracts.csv", dtype=str, keep_default_na=False)
    first = c["contract_id"] == "NB-SD-001"
    c.loc[first, "supplier"] = "=HYPERLINK(\"http://evil.example\",\"Meridian\")"
    c.loc[first, "title"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    c.loc[first, "authority"] = "+44 20 7946 0000"
    c.loc[first, "procurement_id"] = "-2+3"
    c.to_csv(folder / "contracts.csv", index=False)
    k = pd.read_csv(folder / "kpis.csv", dtype=str, keep_default_na=False)
    k.loc[(k["contract_id"] == "NB-SD-001") & (k["kpi_id"] == "FTF"), "name"] = "=1+1"
    k.to_csv(folder / "kpis.csv", index=False)
    return folder


def test_cli_cpn_export_neutralises_formula_text_from_data(tmp_path, capsys):
    from cinb.cli import main

    data = _formula_portfolio(tmp_path / "data")
    out = tmp_path / "cpn.csv"
    assert main(["cpn", "--from", "2025-11", "--to", "2026-10", "--data", str(data), "--out", str(out)]) in (0, 1)
    with open(out, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    mine = [r for r in rows if r["contract_id"] == "NB-SD-001"]
    assert mine, "the contract with formula text is in the notice"
    assert not [(k, v) for r in rows for k, v in r.items() if v and _formula_like(v)]
    assert mine[0]["supplier_name"] == "'=HYPERLINK(\"http://evil.example\",\"Meridian\")"


def test_validate_problems_csv_neutralises_formula_text(tmp_path, capsys):
    """``cinb validate --problems-csv`` writes values from the data into a file people open in Excel."""
    from cinb.cli import main

    data = _formula_portfolio(tmp_path / "data")
    m = pd.read_csv(data / "measurements.csv", dtype=str, keep_default_na=False)
    m.loc[3, "value"] = "=1+1"
    m.loc[4, "value"] = "@SUM(A1:A9)"
    m.to_csv(data / "measurements.csv", index=False)
    out = tmp_path / "problems.csv"
    assert main(["validate", "--data", str(data), "--problems-csv", str(out)]) == 1
    with open(out, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert any(r["value"].endswith("=1+1") for r in rows)
    assert not [(k, v) for r in rows for k, v in r.items() if v and _formula_like(v)], \
        [(k, v) for r in rows for k, v in r.items() if v and _formula_like(v)][:5]


def test_supplier_return_template_writes_text_never_formulas(tmp_path):
    import zipfile

    import openpyxl

    from cinb.load import load_portfolio
    from cinb.template import write_return_template

    p = load_portfolio(str(_formula_portfolio(tmp_path / "data")))
    path = write_return_template(p, "NB-SD-001", "2026-10", tmp_path / "return.xlsx")
    wb = openpyxl.load_workbook(path)
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    assert "=1+1" in texts and any(t.startswith("=HYPERLINK") for t in texts)  # shown as typed, as text
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name


# ---------------------------------------------------------------------------------------------------------
# Identifiers in paths cannot leave the output folder


@pytest.mark.parametrize("kind, subject, period", [
    ("contract", "../../escape", "2026-10"),
    ("contract", "/etc", "2026-10"),
    ("contract", "..", "2026-10"),
    ("contract", "NB-SD-001", "../../escape"),
    ("contract", "NB-SD-001", "/tmp"),
    ("contract", "NB-SD-001", ".."),
])
def test_pack_folder_never_leaves_the_output_root(kind, subject, period, tmp_path):
    from cinb.pack import PackSpec

    root = tmp_path / "a" / "reports"
    root.mkdir(parents=True)
    with pytest.raises(CinbError):
        PackSpec(kind, subject, period, {}).out_dir(root)


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "..", "a/../../b", "\\..\\..\\x", "x\x00y"])
def test_supplier_scorecard_folders_are_slugs_inside_the_root(name, tmp_path):
    from cinb.pack import PackSpec

    root = tmp_path / "reports"
    path = PackSpec("supplier", name, "2026-10", {}).out_dir(root)
    assert (root / "2026-10").resolve() in path.parents


def test_a_failed_pack_keeps_its_diagnostics_inside_the_output_root(tmp_path):
    """build_pack with a hostile subject fails, and its error file stays under the output folder."""
    from cinb.pack import PackSpec, build_pack

    root = tmp_path / "a" / "b" / "reports"
    root.mkdir(parents=True)
    result = build_pack(PackSpec("contract", "../../../../escape", "2026-10", {}), root, formats=("html",))
    assert result.status == "failed"
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents]
    assert outside == [], outside


@pytest.mark.parametrize("bad", ["../C-1", "..", "C-1\n", "C/1", "C\\1", "C 1", ".C1", "\u0421-1", "C-1\u200b",
                                 "C" * 65])
def test_identifier_pattern_admits_no_path_characters(bad):
    """Ids become folder names; the contract's pattern (checked by validation, see the corpus) has no room for
    separators, dots first, spaces or look-alike letters."""
    import re

    from cinb.schema import ID_PATTERN

    assert re.fullmatch(ID_PATTERN, bad) is None
    assert re.fullmatch(ID_PATTERN, "NB-SD-001.v2_x") is not None
