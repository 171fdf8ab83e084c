"""Settings files in YAML with text kept as written: ``0451`` stays ``"0451"``, not the octal number 297.

YAML 1.1 (what PyYAML reads) turns unquoted ``0451`` into 297, ``0123`` into 83, ``yes`` into ``True``,
``2026-10-01`` into a date and ``1e3`` into 1000.0. For a setting whose value is text — an identifier, a period,
a marking, a path, an audience — that silently changes what the user wrote, and a batch could render contract
``297`` instead of ``0451``. So cinb reads its settings files in two steps: PyYAML composes the document
(``yaml.SafeLoader``: no tags, no objects), then every setting that is not in the caller's set of typed
settings takes the scalars' source text, exactly as written. Typed settings (numbers, booleans) are constructed
the usual way.

An empty value followed on its line by ``#`` and text with no space between (``accent: #1D70B8``, which YAML
reads as a comment) is refused with "quote it", naming the setting, the file and the line; an ordinary comment
(``data:  # the sample``) is not. A number setting written so that YAML 1.1 reads it in another base
(``window_months: 012`` is 10) is refused too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import UsageError

_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")


def read_settings(path: str | Path, *, typed: Iterable[str] = (), what: str | None = None) -> dict[str, Any]:
    """Read a YAML mapping of settings; text settings keep their source text, ``typed`` ones are constructed.

    Parameters
    ----------
    path : path
        The YAML file (UTF-8).
    typed : iterable of str
        Settings whose values are numbers or booleans (``window_months``, ``force`` …): read as YAML types.
        Every other setting's scalars are strings as written (``0451`` → ``"0451"``); lists and mappings
        keep that rule for each scalar inside them; ``null``/``~``/empty stays ``None``.
    what : str, optional
        How the file is named in messages (default: its path), e.g. ``"--config october.yml"``.

    Returns
    -------
    dict
        Setting name (text) → value; ``{}`` for an empty file.

    Raises
    ------
    UsageError
        The file cannot be read or is not YAML, its top level is not a mapping, or an empty value came from a
        ``#`` read as a comment — each naming the file (and the setting and line where there is one).
    """
    path = Path(path)
    where = what or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not valid YAML: it is not UTF-8 text ({exc}); save it as UTF-8") from None
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it ({exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        # Built once by the safe constructor: a tag such as !!python/object is refused here and nothing is made
        # from it. The composed nodes then give each scalar's source text.
        if root is not None:
            _construct(root)
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: not valid YAML ({exc})") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        kind = {yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}.get(type(root), "something else")
        raise UsageError(f"{where}: expected a mapping of setting: value, found {kind}")
    typed = set(typed)
    lines = text.splitlines()
    out: dict[str, Any] = {}
    seen: dict[int, Any] = {}  # an alias is the same object, never a copy: a "billion laughs" file stays small
    for key_node, value_node in root.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(_construct(key_node))
        if key in typed:
            _plain_number(value_node, key, where)
            out[key] = _construct(value_node)
        else:
            out[key] = _as_written(value_node, key, where, lines, seen)
    return out


def _plain_number(node: yaml.Node, key: str, where: str) -> None:
    """Refuse a whole number YAML 1.1 would read in another base (``012`` is 10, ``0x1F``, ``1:30`` is 90)."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _INT and not _DECIMAL.fullmatch(node.value.strip()):
        raise UsageError(f"{where}, line {node.start_mark.line + 1}: {key}: {node.value} is not a plain whole number "
                         f"(YAML would read it as {_construct(node)}); write it in decimal digits without a leading "
                         "zero")


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _as_written(node: yaml.Node, key: str, where: str, lines: list[str], seen: dict[int, Any]) -> Any:
    """The node's scalars as their source text (``None`` for a null), keeping lists and mappings.

    A node reached again through an alias gives the object already built (``seen``), so aliases cost nothing.
    """
    if id(node) in seen:
        return seen[id(node)]
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        seen[id(node)] = items
        items.extend(_as_written(item, key, where, lines, seen) for item in node.value)
        return items
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        seen[id(node)] = mapping
        for k, v in node.value:
            mapping[str(_as_written(k, key, where, lines, seen))] = _as_written(v, key, where, lines, seen)
        return mapping
    if node.tag == _NULL:
        line = lines[node.start_mark.line] if node.start_mark.line < len(lines) else ""
        after = line.split(":", 1)[-1].lstrip()
        if node.value == "" and after.startswith("#") and after[1:2] not in ("", " ", "\t"):
            comment = after[1:].strip()
            raise UsageError(f"{where}, line {node.start_mark.line + 1}: {key} is empty because YAML reads what "
                             f"follows # as a comment; quote it: {key}: \"#{comment}\"")
        return None
    return node.value
