"""The package's architecture: layers kept, no import cycle, modules of a readable size, documented, self-contained.

The layering is declared once, in pyproject.toml's ``[tool.importlinter]``, and checked by import-linter
(``lint-imports``); the cycle, size and docstring checks below are independent of that tool.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cinb"
MAX_LINES = 800


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module) -> set[str]:
    """cinb modules imported anywhere in ``tree`` (module level or inside functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1:
                found |= {mod.split(".")[0]} if mod else {a.name for a in node.names}
            elif mod == "cinb":
                found |= {a.name for a in node.names}
            elif mod.startswith("cinb."):
                found.add(mod.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cinb.")}
    return found


def test_the_layer_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), "import-linter is part of the [test] extra: pip install -e '.[test]'"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_module_has_a_layer():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    placed = {name.strip().removeprefix("cinb.") for layer in layers for name in re.split(r"[:|]", layer)}
    modules = set(_modules()) - {"__init__", "__main__"}
    assert modules - placed == set(), "add these modules to a layer in pyproject.toml"
    assert placed - modules == set(), "these layer entries name no module"


def test_no_import_cycle_even_through_function_level_imports():
    trees = _modules()
    graph = {name: _imports(tree) & set(trees) - {name} for name, tree in trees.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if a != "__init__" and reaches(b, a)})
    assert cycles == []


def test_no_module_is_over_800_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_public_function_class_and_method_has_a_docstring():
    missing = []
    for name, tree in _modules().items():
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                if not ast.get_docstring(node):
                    missing.append(f"{name}.{node.name}")
                if isinstance(node, ast.ClassDef):
                    missing += [f"{name}.{node.name}.{m.name}" for m in node.body
                                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                                and not m.name.startswith("_") and not ast.get_docstring(m)]
    assert missing == []


@pytest.mark.parametrize("pattern", ["DOMAIN.md", "../shared", "shared/seed"])
def test_nothing_cites_a_document_outside_the_repository(pattern):
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    citing = []
    for rel in tracked.stdout.splitlines():
        path = ROOT / rel
        if rel == "tests/test_architecture.py" or path.suffix not in {".py", ".md", ".ipynb", ".yml", ".toml", ".j2",
                                                                      ".css", ".txt", ".cfg"}:
            continue
        if path.is_file() and pattern in path.read_text(encoding="utf-8", errors="replace"):
            citing.append(rel)
    assert citing == []


def test_the_docs_the_readme_links_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert {"docs/data-contract.md", "docs/method.md"} <= set(links)
    assert [link for link in links if not (ROOT / link).is_file()] == []
