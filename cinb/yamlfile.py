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
(``data:  # the sample``) is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import UsageError

_NULL = "tag:yaml.org,2002:null"


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
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read it ({exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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
    for key_node, value_node in root.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(_construct(key_node))
        if key in typed:
            out[key] = _construct(value_node)
        else:
            out[key] = _as_written(value_node, key, where, lines)
    return out


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _as_written(node: yaml.Node, key: str, where: str, lines: list[str]) -> Any:
    """The node's scalars as their source text (``None`` for a null), keeping lists and mappings."""
    if isinstance(node, yaml.SequenceNode):
        return [_as_written(item, key, where, lines) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        return {str(_as_written(k, key, where, lines)): _as_written(v, key, where, lines) for k, v in node.value}
    if node.tag == _NULL:
        line = lines[node.start_mark.line] if node.start_mark.line < len(lines) else ""
        after = line.split(":", 1)[-1].lstrip()
        if node.value == "" and after.startswith("#") and after[1:2] not in ("", " ", "\t"):
            comment = after[1:].strip()
            raise UsageError(f"{where}, line {node.start_mark.line + 1}: {key} is empty because YAML reads what "
                             f"follows # as a comment; quote it: {key}: \"#{comment}\"")
        return None
    return node.value
