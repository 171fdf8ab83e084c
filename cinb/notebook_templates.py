"""Report templates: the pack notebooks shipped with cinb, and a user's own notebook run in their place.

A report template is a Jupyter notebook with a cell tagged ``parameters`` (papermill's convention). Each kind of
pack runs one: the shipped ones live in the package (``cinb/notebooks/``, or ``$CINB_NOTEBOOKS``), and a user's
own notebook replaces the shipped one of its kind with ``cinb run --template PATH``, ``cinb batch --template
KIND=PATH``, ``templates:`` in a batch definition or ``templates=`` in :mod:`cinb.api`. It gets the same
parameters, kernel isolation, incremental rebuilds, HTML/PDF rendering, index and manifest as a shipped one.

Before any kernel starts, :func:`check_template` reads the template's parameters cell without running it (with
:mod:`ast`) and compares the names it declares with the parameters cinb passes to that kind of pack: a template
declaring a name cinb does not pass (a misspelling, most often), or not declaring the subject and the period, is
refused with one message naming the file and the parameter. :func:`shipped_templates` lists the shipped
notebooks with their parameters (``cinb templates``) and :func:`copy_template` writes a starting copy of one
(``cinb templates copy``).
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .config import notebook_dir
from .errors import UsageError
from .files import atomic_write_bytes
from .hints import did_you_mean
from .pack import KINDS
from .packdata import with_cell_ids

#: The shipped notebooks by name: one per kind of pack, and ``explore`` for analysts in JupyterLab.
SHIPPED: dict[str, str] = {**{kind: notebook for kind, (notebook, _) in KINDS.items()}, "explore": "explore.ipynb"}

#: The parameters a template of each kind must declare: its subject and the month.
REQUIRED: dict[str, tuple[str, ...]] = {"contract": ("contract_id", "period"), "portfolio": ("period",),
                                        "supplier": ("supplier", "period")}

#: The tag of the cell papermill injects the parameters after.
PARAMETERS_TAG = "parameters"

_KIND_PREFIX = re.compile(r"[A-Za-z][A-Za-z_-]*")


@dataclass(frozen=True)
class Parameter:
    """One parameter declared in a parameters cell: ``name: type = default  # help``.

    ``type`` is the annotation's text (``None`` without one; a quoted annotation such as ``"Optional[str]"``
    without its quotes), ``default`` the source text of the value, ``help`` the comment at the end of the line.
    """

    name: str
    type: str | None
    default: str | None
    help: str = ""


@dataclass(frozen=True)
class Template:
    """A shipped template: its ``name`` (``contract``, ``portfolio``, ``supplier``, ``explore``), file, title and
    parameters; ``kind`` is the kind of pack it renders (``None`` for ``explore``, which cinb does not run)."""

    name: str
    path: Path
    kind: str | None
    title: str
    parameters: list[Parameter] = field(default_factory=list)


def _read(path: Path, where: str):
    """The notebook at ``path`` (nbformat 4), or a UsageError saying why it is not one."""
    import nbformat

    if not path.exists():
        raise UsageError(f"{where}: no such file")
    if path.is_dir():
        raise UsageError(f"{where}: is a folder; give the path of a notebook (.ipynb)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    advice = "save it from JupyterLab, or start from `cinb templates copy contract FILE.ipynb`"
    try:
        raw = json.loads(text)
    except ValueError:
        raise UsageError(f"{where}: not a Jupyter notebook (.ipynb): the file is not JSON; {advice}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise UsageError(f"{where}: not a Jupyter notebook (.ipynb): JSON without a list of cells; {advice}")
    try:
        nb = with_cell_ids(text)  # cinb.packdata: cells without ids get one, quietly
        if not all(isinstance(c, Mapping) and "source" in c for c in nb.cells):
            raise ValueError("a cell has no source")
    except Exception as exc:  # an unknown nbformat version, a malformed cell …
        detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{where}: not a Jupyter notebook (.ipynb) ({detail}); {advice}") from None
    return nb


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def parameters_cell(nb, where: str = "the notebook"):
    """The first cell tagged ``parameters`` (the one papermill injects after), or a UsageError naming ``where``."""
    for cell in nb.cells:
        tags = (cell.get("metadata") or {}).get("tags") or []
        if PARAMETERS_TAG in tags:
            if cell.get("cell_type") != "code":
                raise UsageError(f"{where}: the cell tagged {PARAMETERS_TAG!r} is a {cell.get('cell_type')} cell; "
                                 "tag the code cell that assigns the parameters")
            return cell
    raise UsageError(f"{where}: no cell is tagged {PARAMETERS_TAG!r}; cinb injects a pack's parameters after that "
                     "cell, so tag the code cell that assigns them (JupyterLab: the property inspector, cell tags) "
                     "or start from `cinb templates copy contract FILE.ipynb`")


def parse_parameters(source: str, where: str = "the parameters cell") -> list[Parameter]:
    """The parameters assigned in a parameters cell's ``source``, in order (without running it).

    Plain and annotated assignments to a name (``name = value``, ``name: type = value``) are parameters, with the
    comment ending the line as their help; other statements (imports, expressions) are ignored, and so are
    IPython magics and shell lines (``%…``, ``!…``).

    Raises
    ------
    UsageError
        When the cell is not valid Python, naming ``where`` and the line.
    """
    lines = source.splitlines()
    cleaned = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
    try:
        tree = ast.parse(cleaned)
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        shown = f": {text[:80]}" if text else ""
        raise UsageError(f"{where}: its parameters cell is not valid Python (line {exc.lineno}: {exc.msg}{shown}); "
                         "fix the cell in JupyterLab") from None
    comments: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(cleaned).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):  # pragma: no cover - ast accepted the text
        pass
    found: list[Parameter] = []
    for node in tree.body:
        annotation = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names, annotation, value = [node.target.id], node.annotation, node.value
        elif isinstance(node, ast.Assign):
            names = [n.id for target in node.targets
                     for n in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target])
                     if isinstance(n, ast.Name)]
            value = node.value
        else:
            continue
        if annotation is None:
            type_text = None
        elif isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            type_text = annotation.value
        else:
            type_text = ast.get_source_segment(cleaned, annotation)
        default = ast.get_source_segment(cleaned, value) if value is not None else None
        for name in names:
            found.append(Parameter(name, type_text, default, comments.get(node.end_lineno or node.lineno, "")))
    return found


def read_parameters(path: str | os.PathLike) -> list[Parameter]:
    """The parameters declared in the notebook at ``path`` (see :func:`parse_parameters`).

    Raises
    ------
    UsageError
        The file does not exist, is not a notebook, has no cell tagged ``parameters``, or that cell is not valid
        Python; the message starts with ``template PATH:``.
    """
    path = Path(path)
    where = f"template {path}"
    nb = _read(path, where)
    return parse_parameters(_source(parameters_cell(nb, where)), where)


def check_template(path: str | os.PathLike, kind: str, passed: Iterable[str]) -> list[Parameter]:
    """Check that the notebook at ``path`` can render packs of ``kind``; return its declared parameters.

    Parameters
    ----------
    path : path
        The template (a notebook with a cell tagged ``parameters``).
    kind : str
        ``contract``, ``portfolio`` or ``supplier``.
    passed : iterable of str
        The names cinb passes to a pack of that kind (:meth:`cinb.pack.PackSpec.notebook_parameters`).

    Raises
    ------
    UsageError
        One message naming the template and every problem: it cannot be read as a notebook, has no parameters
        cell or one that is not valid Python, declares a parameter that cinb does not pass (with the closest
        name cinb passes), or does not declare one every pack of the kind needs (:data:`REQUIRED`). Names
        starting with ``_`` are the template's own and not checked.
    """
    if kind not in REQUIRED:
        raise UsageError(f"template {path}: unknown pack kind {kind!r}; kinds: {', '.join(REQUIRED)}")
    parameters = read_parameters(path)
    declared = [p.name for p in parameters]
    passed = sorted(set(passed))
    problems = []
    for name in dict.fromkeys(n for n in declared if not n.startswith("_") and n not in passed):
        hint = did_you_mean(name, passed)
        problems.append(f"declares {name!r}, which cinb does not pass to a {kind} pack"
                        + (f" ({hint})" if hint else ""))
    missing = [name for name in REQUIRED[kind] if name not in declared]
    if missing:
        problems.append(f"does not declare {', '.join(repr(m) for m in missing)}, which every {kind} pack needs")
    if problems:
        raise UsageError(f"template {path}: its parameters cell " + "; it ".join(problems)
                         + f". A {kind} pack's parameters are {', '.join(passed)} "
                         f"(`cinb templates` shows them with their meaning)")
    return parameters


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def shipped_templates(folder: str | os.PathLike | None = None) -> list[Template]:
    """The shipped templates found in ``folder`` (default :func:`cinb.config.notebook_dir`), in :data:`SHIPPED`
    order, each with its title (the first markdown heading) and its parameters."""
    folder = notebook_dir() if folder is None else Path(folder)
    found = []
    for name, filename in SHIPPED.items():
        path = folder / filename
        if not path.is_file():
            continue
        where = f"template {path}"
        nb = _read(path, where)
        found.append(Template(name=name, path=path, kind=name if name in KINDS else None, title=_title(nb),
                              parameters=parse_parameters(_source(parameters_cell(nb, where)), where)))
    return found


def shipped_template(name: str, folder: str | os.PathLike | None = None) -> Path:
    """The path of the shipped template ``name``: ``contract``, ``portfolio``, ``supplier``, ``explore`` or a file
    name of :data:`SHIPPED` (with or without ``.ipynb``). Raises UsageError with the closest names otherwise."""
    folder = notebook_dir() if folder is None else Path(folder)
    text = str(name).strip()
    by_file = {filename: filename for filename in SHIPPED.values()}
    by_file.update({filename.removesuffix(".ipynb"): filename for filename in SHIPPED.values()})
    filename = SHIPPED.get(text.lower()) or by_file.get(text)
    if filename is None:
        known = [*SHIPPED, *SHIPPED.values()]
        hint = did_you_mean(text, known)
        raise UsageError(f"no shipped template {text!r}" + (f"; {hint}" if hint else "")
                         + f" (names: {', '.join(SHIPPED)}, or a file name: {', '.join(SHIPPED.values())})")
    path = folder / filename
    if not path.is_file():
        raise UsageError(f"the shipped template {filename} is missing from {folder}; reinstall cinb, or unset "
                         "CINB_NOTEBOOKS to use the templates installed with it")
    return path


def copy_template(name: str, dest: str | os.PathLike, *, force: bool = False,
                  folder: str | os.PathLike | None = None) -> Path:
    """Write a copy of the shipped template ``name`` (see :func:`shipped_template`) to ``dest``; return its path.

    ``dest`` is a folder (the copy keeps the shipped file name) or a file name ending in ``.ipynb``; missing
    folders are created. The copy is byte for byte the shipped notebook, written atomically.

    Raises
    ------
    UsageError
        Unknown ``name``; ``dest`` does not end in ``.ipynb``; the file exists and ``force`` is false.
    """
    source = shipped_template(name, folder)
    looks_like_folder = os.fspath(dest).endswith(("/", os.sep))  # before Path() drops the trailing slash
    dest = Path(dest)
    looks_like_folder = looks_like_folder or dest.is_dir()
    target = dest / source.name if looks_like_folder else dest
    if target.suffix != ".ipynb":
        raise UsageError(f"{target}: a notebook's file name ends in .ipynb (JupyterLab and papermill expect it); "
                         f"for example {target.with_suffix('.ipynb') if target.suffix else str(target) + '.ipynb'}")
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name or the folder to copy into")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; choose another name, or add --force to overwrite it")
    try:
        atomic_write_bytes(target, source.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}; choose a writable folder") from None
    return target


def template_mapping(value: Any, *, where: str = "templates",
                     base: str | os.PathLike | None = None) -> dict[str, Path]:
    """Templates by pack kind, from a path (a contract template) or a mapping of kind to path.

    ``base`` is the folder relative paths are resolved against (a batch definition's folder); without it they
    stay relative (to the current folder). The files themselves are checked by :func:`check_template`.

    Raises
    ------
    UsageError
        A kind that is not ``contract``, ``portfolio`` or ``supplier`` (with the closest one), or a value that is
        not a path; the message starts with ``where``.
    """
    if value is None:
        return {}
    if isinstance(value, (str, os.PathLike)):
        value = {"contract": value}
    if not isinstance(value, Mapping):
        raise UsageError(f"{where} must be a notebook's path or a mapping of kind: path "
                         f"(kinds: {', '.join(REQUIRED)}), not a {type(value).__name__}")
    out: dict[str, Path] = {}
    for kind, path in value.items():
        name = str(kind).strip().lower()
        if name not in REQUIRED:
            hint = did_you_mean(str(kind), list(REQUIRED))
            raise UsageError(f"{where}: unknown pack kind {str(kind)!r}" + (f"; {hint}" if hint else "")
                             + f" (kinds: {', '.join(REQUIRED)})")
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise UsageError(f"{where}: {name} must be the path of a notebook (.ipynb), not {path!r}")
        path = Path(path).expanduser()
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        out[name] = path
    return out


def template_options(values: Iterable[str] | None) -> dict[str, str] | None:
    """The ``--template`` options of the command line as a mapping of kind to path (``None`` when none given).

    Each value is ``PATH`` (a contract template) or ``KIND=PATH``.

    Raises
    ------
    UsageError
        An unknown kind, an empty path, or two templates for the same kind.
    """
    out: dict[str, str] = {}
    for text in values or []:
        kind, sep, rest = str(text).partition("=")
        if sep and _KIND_PREFIX.fullmatch(kind.strip()):
            kind = kind.strip().lower()
            if kind not in REQUIRED:
                hint = did_you_mean(kind, list(REQUIRED))
                raise UsageError(f"--template {text}: unknown pack kind {kind!r}" + (f"; {hint}" if hint else "")
                                 + f" (--template takes PATH or KIND=PATH, KIND one of {', '.join(REQUIRED)})")
            path = rest
        else:
            kind, path = "contract", str(text)
        if not path.strip():
            raise UsageError(f"--template {text}: give the path of a notebook (.ipynb)")
        if kind in out:
            raise UsageError(f"--template: two templates for {kind} packs ({out[kind]} and {path}); give one")
        out[kind] = path
    return out or None

