"""Adversarial inputs for every loader: each gets a located message or a documented, tested acceptance.

The corpus (tests/adversarial/corpus.py) spoils a small clean portfolio in one way per case and writes it at
test time as a CSV folder, an Excel workbook or a SQLite database. For every case:

* loading never raises anything but a `CinbError` (no traceback reaches a user);
* the row accounting balances (read = used + superseded + rejected) and no row vanishes unreported;
* a bad input gives a `DataError` whose problems frame names the source file (and sheet), the table, the
  spreadsheet row, the column and the value; an accepted one loads under ``strict=True`` and reads as documented.

A sample of the cases also goes through ``python -m cinb.cli validate`` in a subprocess (exit 0 or 1, never a
traceback). Further sections: inputs refused as usage errors, one million rows, the parameters YAML files, the
command line's own arguments, and faults in the output folder (read-only, disk full).
"""

from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinb.errors import CinbError, DataError, UsageError
from cinb.load import load_portfolio

ROOT = Path(__file__).resolve().parent.parent
from adversarial import corpus  # noqa: E402  (tests/ is on sys.path: conftest.py)
from adversarial import packs  # noqa: E402

CASES = {c.name: c for c in corpus.CASES}

def _load(data, strict):
    """load_portfolio, turning anything but a CinbError into a test failure that names the traceback."""
    try:
        return load_portfolio(str(data), strict=strict, today=corpus.TODAY)
    except CinbError:
        raise
    except Exception as exc:  # noqa: BLE001 - the point of the test
        import traceback

        pytest.fail(f"the loader crashed instead of reporting a located problem:\n{traceback.format_exc()}")
        raise AssertionError from exc


def _balanced(accounting: pd.DataFrame) -> None:
    a = accounting.set_index("table")
    assert (a["read"] == a["used"] + a["superseded"] + a["rejected"]).all(), accounting
    assert (a[["read", "used", "superseded", "rejected"]] >= 0).all().all(), accounting


def _source_ok(problem, kind: str, data, table: str) -> bool:
    """The problem's source points at the real file (and sheet) the case wrote, not anything the data says."""
    source = str(problem["source"])
    if kind == "csv":
        return Path(source).parent == Path(data) or Path(source) == Path(data)
    if kind == "xlsx":
        sheet = problem["sheet"]
        return source == str(data) and (pd.isna(sheet) or str(sheet).lower() == table)
    return source.startswith("sqlite:///")


def _matches(problem, want) -> bool:
    if problem["table"] != want.table:
        return False
    row = problem["row"]
    if want.row is None:
        if not pd.isna(row):
            return False
    elif want.row != "any" and (pd.isna(row) or int(row) != want.row):
        return False
    if want.column is not None and problem["column"] != want.column:
        return False
    if want.value is not None:
        if pd.isna(problem["value"]):
            return False
        shown = str(problem["value"])
        # A long value may be shown shortened ("999…  (400 characters)"): its start must be the value's.
        if shown != want.value and not (len(want.value) > 60 and shown.startswith(want.value[:40])):
            return False
    if want.words is not None:
        text = f"{problem['problem']} {problem['fix']}".lower()
        if want.words.lower() not in text:
            return False
    return True


def _show(problems: pd.DataFrame) -> str:
    cols = ["severity", "source", "sheet", "table", "row", "column", "value", "problem"]
    shown = problems[cols].copy()
    shown["value"] = shown["value"].astype(str).str.slice(0, 40)
    shown["source"] = shown["source"].astype(str).str.slice(-40)
    return shown.head(12).to_string()


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case(name, tmp_path):
    case = CASES[name]
    data = case.build(tmp_path)
    lenient = _load(data, strict=False)
    _balanced(lenient.accounting)
    read = lenient.accounting.set_index("table")["read"]
    for table, n in case.read.items():
        assert read[table] == n, (table, read[table], n)
    # No row vanishes: a table read short of what the builder wrote has a table-level problem saying why
    # (for that table, or for the whole source when the file cannot be opened at all).
    every = pd.concat([lenient.problems, lenient.warnings], ignore_index=True)
    table_level = every[every["row"].isna() | (every["row"] == 1)]
    for table, n in corpus._BASE_READ.items():
        if read[table] != n and table not in case.read:
            why = table_level[(table_level["table"] == table) | (table_level["source"].astype(str) == str(data))]
            assert len(why), f"{table}: {n} rows written, {read[table]} read, and no table-level problem"

    located = [w for w in case.expect if isinstance(w, corpus.Located)]
    if located:
        with pytest.raises(DataError) as info:
            _load(data, strict=True)
        problems = info.value.problems
        assert len(problems) and (problems["severity"] == "error").all()
        for want in located:
            hits = [p for _, p in problems.iterrows() if _matches(p, want)]
            assert hits, f"expected {want}, got:\n{_show(problems)}"
            assert any(_source_ok(p, case.kind, data, want.table) for p in hits), \
                f"the problem does not name the file it is in:\n{_show(pd.DataFrame(hits))}"
        assert str(info.value)  # one readable sentence, e.g. for the CLI
        # strict=False reports the same errors and leaves out exactly the rejected rows
        assert len(lenient.problems) == len(problems)
        acc = getattr(info.value, "accounting", None)
        if acc is not None:
            _balanced(acc)
    for want in case.expect:
        if isinstance(want, corpus.Accepted):
            p = _load(data, strict=True)
            assert len(p.problems) == 0
            _balanced(p.accounting)
            if want.check is not None:
                assert want.check(p) is not False
            if want.warning:
                text = " ".join(p.warnings["problem"].astype(str)).lower()
                assert want.warning.lower() in text, p.warnings[["table", "row", "problem"]]


def test_corpus_covers_what_the_issue_lists():
    names = " ".join(CASES)
    for kind in ("empty", "header_only", "utf16", "latin1_pound", "bom", "mixed_line_endings", "enormous",
                 "duplicated_header", "formula", "merged_cells", "hidden_sheets", "serial_dates",
                 "text_in_numeric", "nonfinite", "future_period", "before_contract_start", "dotdot", "slash",
                 "space", "lookalike", "sql_missing_table", "sql_extra_columns"):
        assert kind in names, kind
    assert {c.kind for c in CASES.values()} == {"csv", "xlsx", "sql"}


# ---------------------------------------------------------------------------------------------------------
# Inputs refused before any row is read


@pytest.mark.parametrize("name", list(corpus.USAGE_CASES))
def test_unusable_sources_are_usage_errors(name, tmp_path, capsys):
    build, words = corpus.USAGE_CASES[name]
    data = build(tmp_path)
    with pytest.raises(UsageError) as info:
        _load(data, strict=True)
    assert words.lower() in str(info.value).lower()
    from cinb.cli import main

    assert main(["validate", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("cinb: ")


@pytest.mark.parametrize("data", ["a\x00b", "x" * 5000, ("y" * 200 + "/") * 30, "sqlite:////no/such/dir/x.db"],
                         ids=["nul", "name_too_long", "path_too_long", "sqlite_folder_missing"])
def test_impossible_paths_are_usage_errors(data, capsys):
    from cinb.cli import main

    with pytest.raises(UsageError):
        _load(data, strict=True)
    try:
        code = main(["validate", "--data", data])
    except Exception:  # noqa: BLE001
        import traceback

        pytest.fail(f"cinb validate crashed:\n{traceback.format_exc()}")
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_validate_does_not_create_a_database_that_does_not_exist(tmp_path, capsys):
    from cinb.cli import main

    target = tmp_path / "typo.db"
    code = main(["validate", "--data", f"sqlite:///{target}"])
    assert code in (1, 2)
    assert not target.exists(), "reading a portfolio must not create an empty database as a side effect"


def test_database_password_never_printed(capsys):
    """A connection failure names the server but hides the password (nothing listens on port 1 of loopback)."""
    from cinb.cli import main

    url = "postgresql://cinb_user:S3cret-Pa55@127.0.0.1:1/portfolio"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed: the PostgreSQL URL cannot be tried")
    with pytest.raises(UsageError) as info:
        _load(url, strict=True)
    assert "S3cret-Pa55" not in str(info.value)
    assert main(["validate", "--data", url]) == 2
    out = capsys.readouterr()
    assert "S3cret-Pa55" not in out.err + out.out and "127.0.0.1" in out.err


# ---------------------------------------------------------------------------------------------------------
# One million rows


def _million(folder: Path) -> dict:
    """500 contracts x 20 KPIs x 100 months = 1,000,000 measurement rows, with one bad value and one restatement."""
    nc, nk, nm = 500, 20, 100
    folder.mkdir(parents=True, exist_ok=True)
    cids = np.char.add("C", np.char.zfill(np.arange(nc).astype(str), 4))
    kids = np.char.add("K", np.char.zfill(np.arange(nk).astype(str), 2))
    months = np.array([f"{2016 + m // 12}-{m % 12 + 1:02d}" for m in range(nm)])
    with open(folder / "contracts.csv", "w", encoding="utf-8") as f:
        f.write("contract_id,title,authority,supplier,start_date,end_date,annual_value_gbp\n")
        f.writelines(f"{c},Contract {c},LB Testham,Supplier {i % 50},2016-01-01,2030-12-31,120000\n"
                     for i, c in enumerate(cids))
    with open(folder / "kpis.csv", "w", encoding="utf-8") as f:
        f.write("contract_id,kpi_id,name,unit,direction,sla,target\n")
        f.writelines(f"{c},{k},KPI {k},%,higher,90,95\n" for c in cids for k in kids)
    n = nc * nk * nm
    c = np.repeat(cids, nk * nm).astype(object)
    k = np.tile(np.repeat(kids, nm), nc).astype(object)
    m = np.tile(months, nc * nk).astype(object)
    v = np.round(np.random.default_rng(7).uniform(80, 100, n), 1).astype(str).astype(object)
    rev = np.full(n, "1", dtype=object)
    bad_index = 499_999  # spreadsheet row 500,001
    v[bad_index] = "ninety"
    c[-1], k[-1], m[-1], rev[-1] = c[0], k[0], m[0], "2"  # the last row restates the first month
    lines = c + "," + k + "," + m + "," + v + "," + rev
    with open(folder / "measurements.csv", "w", encoding="utf-8") as f:
        f.write("contract_id,kpi_id,period,value,revision\n")
        f.write("\n".join(lines.tolist()))
        f.write("\n")
    return {"rows": n, "bad_row": bad_index + 2, "restated": (str(c[0]), str(k[0]), str(m[0]))}


@pytest.mark.slow
def test_one_million_rows_load_with_every_row_accounted_for(tmp_path):
    started = time.perf_counter()
    info = _million(tmp_path / "big")
    p = _load(tmp_path / "big", strict=False)
    seconds = time.perf_counter() - started
    acc = p.accounting.set_index("table")
    assert acc.loc["measurements"].to_dict() == {"read": 1_000_000, "used": 999_998, "superseded": 1, "rejected": 1}
    _balanced(p.accounting)
    bad = p.problems
    assert len(bad) == 1
    assert (bad.loc[0, "table"], int(bad.loc[0, "row"]), bad.loc[0, "column"], bad.loc[0, "value"]) == \
        ("measurements", info["bad_row"], "value", "ninety")
    cid, kid, month = info["restated"]
    first = p.measurements[(p.measurements["contract_id"] == cid) & (p.measurements["kpi_id"] == kid)
                           & (p.measurements["period"] == pd.Period(month, freq="M"))]
    assert first["revision"].tolist() == [2] and int(first["row"].iloc[0]) == 1_000_001
    assert seconds < 60, f"generating and loading one million rows took {seconds:.1f} s"
    print(f"\none million rows generated and loaded in {seconds:.1f} s")


# ---------------------------------------------------------------------------------------------------------
# The command line on a sample of the corpus, as a user runs it


CLI_CASES = [name for name, c in CASES.items() if c.cli]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Run ``python -m cinb.cli validate --data PATH`` for every sampled case, two at a time."""
    root = tmp_path_factory.mktemp("cli-corpus")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run(name):
        folder = root / name
        folder.mkdir()
        data = CASES[name].build(folder)
        proc = subprocess.run([sys.executable, "-m", "cinb.cli", "validate", "--data", str(data)], cwd=folder,
                              env=env, capture_output=True, text=True, timeout=180)
        return name, proc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, CLI_CASES))


@pytest.mark.slow
@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_validate_reports_without_traceback(name, cli_runs):
    proc = cli_runs[name]
    case = CASES[name]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    bad = any(isinstance(w, corpus.Located) for w in case.expect)
    assert proc.returncode == (1 if bad else 0), (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "read = used + superseded + rejected" in proc.stdout
    for want in case.expect:
        if isinstance(want, corpus.Located) and want.value and want.value.isprintable() and len(want.value) < 20:
            assert want.value in proc.stdout, proc.stdout[-2000:]


# ---------------------------------------------------------------------------------------------------------
# Parameters YAML


def _params_folder(tmp_path: Path, text: str | bytes) -> Path:
    folder = tmp_path / "parameters"
    folder.mkdir(exist_ok=True)
    path = folder / "local.yml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return folder


@pytest.mark.parametrize("text, words", [
    ("marking: !!python/object/apply:os.system ['touch {flag}']\n", "not valid YAML"),
    ("marking: !!python/object/new:subprocess.Popen [['touch', '{flag}']]\n", "not valid YAML"),
    ("jobs: !!python/name:os.system\n", "not valid YAML"),
    ("- marking\n- OFFICIAL\n", "mapping"),
    ("marking: [unclosed\n", "not valid YAML"),
    ("secret_option: 1\n", "unknown parameter"),
    (b"marking: OFFICIAL \xa3\n", "not valid YAML"),
    ("audience: everyone\n", "audience"),
    ("formats: [html, exe]\n", "format"),
    ("window_months: 'twelve'\n", "window_months"),
    ("window_months: -3\n", "window_months"),
    ("ratchet_share: .nan\n", "ratchet_share"),
    ("timeout: .inf\n", "timeout"),
    ("jobs: 0\n", "jobs"),
    ("marking: {nested: mapping}\n", "marking"),
    ("marking: 'x'\nwindow_months: true\n", "window_months"),
    ("pdf_backend: prince\n", "pdf_backend"),
], ids=["apply_os_system", "new_popen", "python_name", "list", "broken", "unknown", "latin1", "audience",
        "formats", "months_text", "months_negative", "share_nan", "timeout_inf", "jobs_zero", "marking_mapping",
        "months_bool", "pdf_backend"])
def test_bad_parameter_files_are_usage_errors_and_run_nothing(text, words, tmp_path):
    from cinb.config import merge_parameters

    flag = tmp_path / "pwned"
    if isinstance(text, str):
        text = text.replace("{flag}", str(flag))
    folder = _params_folder(tmp_path, text)
    with pytest.raises(UsageError) as info:
        merge_parameters({}, folder=folder)
    assert words.lower() in str(info.value).lower(), str(info.value)
    assert "local.yml" in str(info.value) or words in ("audience", "format")
    assert not flag.exists()


def test_alias_bomb_in_parameters_is_refused_quickly(tmp_path):
    """A 'billion laughs' file: aliases make a value of 9**9 items; it must be refused, never expanded."""
    from cinb.config import merge_parameters

    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    text = "marking: &m " + "[" + ", ".join(["*a9"] * 9) + "]\n"
    # Anchors must be defined before use: put them under a key that is then refused as unknown or as a bad type.
    body = "\n".join(lines) + "\n" + text
    folder = _params_folder(tmp_path, body)
    started = time.perf_counter()
    with pytest.raises(UsageError):
        merge_parameters({}, folder=folder)
    assert time.perf_counter() - started < 5

    folder = _params_folder(tmp_path, "marking: &x [a, b]\n")
    with pytest.raises(UsageError) as info:
        merge_parameters({}, folder=folder)
    assert "marking" in str(info.value)


def test_good_parameter_files_layer_under_the_command_line(tmp_path):
    from cinb.config import merge_parameters

    folder = _params_folder(tmp_path, "marking: OFFICIAL-SENSITIVE\nwindow_months: 6\nformats: html\n")
    merged = merge_parameters({"marking": "OFFICIAL", "jobs": 2}, folder=folder)
    assert merged["marking"] == "OFFICIAL" and merged["window_months"] == 6 and merged["formats"] == ["html"]
    assert merged["jobs"] == 2 and merged["_parameter_files"] == [str(folder / "local.yml")]


# ---------------------------------------------------------------------------------------------------------
# The command line's own arguments


@pytest.mark.parametrize("argv, code", [
    (["run", "../../etc/passwd", "--period", "2026-10"], 2),
    (["run", "NB-SD-001/../../x", "--period", "2026-10"], 2),
    (["run", "NB-SD-001", "--period", "2026-10/../../x"], 2),
    (["run", "NB-SD-001", "--period", "2026-13"], 2),
    (["run", "NB-SD-001", "--period", "2026-10", "--format", "html,exe"], 2),
    (["run", "NB-SD-001", "--period", "2026-10", "--audience", "everyone"], 2),
    (["batch", "--period", "2026-10", "--jobs", "0"], 2),
    (["batch", "--period", "2026-10", "--jobs", "-1"], 2),
    (["batch", "--period", "2026-10", "--contracts", "NB-SD-001", "../../x"], 2),
    (["cpn", "--from", "2026-10", "--to", "2026-01", "--out", "x.csv"], 2),
    (["supplier-return", "--contract", "../x", "--period", "2026-10", "--out", "x.xlsx"], 2),
    (["supplier-return", "--contract", "NB-SD-001", "--period", "2026-10", "--out", "x.exe"], 2),
    (["template", "--contract", "NB-SD-001", "--period", "2026-10", "--out", "x.exe"], 2),  # the old name
    (["validate", "--data", ""], (1, 2)),  # an empty path: no tables found here, or refused outright
    (["no-such-command"], 2),
], ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_hostile_arguments_exit_cleanly(argv, code, tmp_path, monkeypatch, capsys):
    from cinb.cli import main

    monkeypatch.chdir(tmp_path)  # an empty folder: "--data ''" reads it and finds no tables
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse refuses malformed options itself, with exit status 2
        got = exc.code
    except Exception:  # noqa: BLE001
        import traceback

        pytest.fail(f"cinb {' '.join(argv)} crashed:\n{traceback.format_exc()}")
    err = capsys.readouterr().err
    assert got in (code if isinstance(code, tuple) else (code,)), err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.html")) and not (tmp_path.parent / "x").exists()


# ---------------------------------------------------------------------------------------------------------
# Faults in the output folder: no traceback, no partial file under a published name


@pytest.fixture
def no_kernel(monkeypatch):
    """build_pack with a canned notebook instead of a kernel (the faults are in the writing, not the running)."""
    import cinb.pack

    state = {"marker": "v1"}
    monkeypatch.setattr(cinb.pack, "execute", lambda *a, **k: packs.canned_notebook(state["marker"]))
    return state


def _read_only_filesystem(monkeypatch, root: Path):
    """Make every write under ``root`` fail as on a read-only mount (root ignores chmod, so patch the calls)."""
    import builtins
    import tempfile

    root = str(root.resolve())

    def inside(path) -> bool:
        try:
            return os.path.abspath(os.fspath(path)).startswith(root)
        except TypeError:
            return False

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    real_open, real_os_open, real_mkdir, real_mkstemp = builtins.open, os.open, os.mkdir, tempfile.mkstemp

    def fake_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+") and inside(file):
            refuse(file)
        return real_open(file, mode, *a, **k)

    def fake_os_open(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            refuse(path)
        return real_os_open(path, flags, *a, **k)

    def fake_mkdir(path, *a, **k):
        if inside(path):
            refuse(path)
        return real_mkdir(path, *a, **k)

    def fake_mkstemp(*a, dir=None, **k):
        if dir is not None and inside(dir):
            refuse(dir)
        return real_mkstemp(*a, dir=dir, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(tempfile, "mkstemp", fake_mkstemp)


def _run_cli(argv, capsys):
    from cinb.cli import main

    try:
        code = main(argv)
    except Exception:  # noqa: BLE001
        import traceback

        pytest.fail(f"cinb {' '.join(map(str, argv))} crashed:\n{traceback.format_exc()}")
    return code, capsys.readouterr()


def test_run_into_read_only_output_folder_exits_1_with_a_message(tmp_path, no_kernel, monkeypatch, capsys):
    out = tmp_path / "reports"
    out.mkdir()
    _read_only_filesystem(monkeypatch, out)
    code, captured = _run_cli(["run", "NB-SD-001", "--period", "2026-10", "--out", str(out), "--format", "html"],
                              capsys)
    assert code == 1, captured.err
    assert "Traceback" not in captured.err
    assert "read-only" in captured.err.lower() or "cannot write" in captured.err.lower(), captured.err
    monkeypatch.undo()
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_run_into_a_file_instead_of_a_folder_exits_1_with_a_message(tmp_path, no_kernel, capsys):
    out = tmp_path / "reports"
    out.write_text("not a folder")
    code, captured = _run_cli(["run", "NB-SD-001", "--period", "2026-10", "--out", str(out), "--format", "html"],
                              capsys)
    assert code == 1, captured.err
    assert "Traceback" not in captured.err and str(out) in captured.err
    assert out.read_text() == "not a folder"


def _published(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")} \
        if folder.is_dir() else {}


@pytest.mark.parametrize("fail_at", [1, 2, 3], ids=["first_file", "second_file", "third_file"])
def test_disk_full_leaves_nothing_half_published(fail_at, tmp_path, no_kernel, monkeypatch):
    """ENOSPC at the n-th file of a pack: no file, temporary or partial, appears under a published name."""
    from cinb.pack import PackSpec, build_pack

    spec = PackSpec("contract", "NB-SD-001", "2026-10", {"audience": "supplier"})
    folder = spec.out_dir(tmp_path)
    calls = {"n": 0}
    real_fsync = os.fsync

    def full_disk(fd):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    result = build_pack(spec, tmp_path, formats=("html", "pdf"))
    monkeypatch.undo()
    assert result.status == "failed" and "space" in (result.error or "").lower(), result
    assert _published(folder) == {}, sorted(_published(folder))
    assert not [p for p in folder.rglob(".*.tmp")] if folder.exists() else True


@pytest.mark.parametrize("fail_at", [1, 2, 3], ids=["first_file", "second_file", "third_file"])
def test_disk_full_on_a_rerun_never_mixes_old_and_new_files(fail_at, tmp_path, no_kernel, monkeypatch):
    """A rerun that fails part-way leaves the earlier pack whole, or withdraws it whole: never a mix of files
    from two runs under the published names (the manifest could then match neither)."""
    from cinb.pack import PackSpec, build_pack

    spec = PackSpec("contract", "NB-SD-001", "2026-10", {"audience": "supplier"})
    first = build_pack(spec, tmp_path, formats=("html", "pdf"))
    assert first.status == "ok", first.error
    before = _published(spec.out_dir(tmp_path))
    assert set(before) == {"review.html", "review.pdf", "pack.json"}
    no_kernel["marker"] = "v2"
    calls = {"n": 0}
    real_fsync = os.fsync

    def full_disk(fd):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    second = build_pack(spec, tmp_path, formats=("html", "pdf"))
    monkeypatch.undo()
    assert second.status == "failed" and "space" in (second.error or "").lower()
    after = _published(spec.out_dir(tmp_path))
    assert after in (before, {}), "a failed rerun mixed new files into the published pack"
