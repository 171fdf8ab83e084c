"""Compare the ``pack.json`` files of two report folders: are the packs' figures and sentences the same?

Used before and after a refactoring that must change no figure in any pack::

    cinb demo --out /tmp/before --format html          # on the old code
    cinb demo --out /tmp/after --format html           # on the new code
    python benchmarks/compare_packs.py /tmp/before /tmp/after

Keys that record when or with which code a pack was built (timestamps, the code version, the input hash that
includes the code, the PDF printer chosen, the kernel's interpreter and library versions) are ignored;
everything else must be equal. Prints one line per difference (its JSON path and both values) and exits 1 if
there is any, 0 if every pack matches.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Keys whose values depend on when or with what the pack was built, not on its figures.
IGNORED_KEYS = frozenset({"generated_at", "cinb_version", "code_version", "input_hash", "pdf_backend", "built_at",
                          "source", "kernel"})  # kernel: the interpreter and library versions that built the pack


def differences(a, b, path: str = "$") -> list[str]:
    """Every JSON path where ``a`` and ``b`` differ, ignoring :data:`IGNORED_KEYS` at any depth."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key in IGNORED_KEYS:
                continue
            if key not in a or key not in b:
                out.append(f"{path}.{key}: only in {'after' if key not in a else 'before'}")
                continue
            out.extend(differences(a[key], b[key], f"{path}.{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items before, {len(b)} after"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(differences(x, y, f"{path}[{i}]"))
        return out
    return [] if a == b else [f"{path}: {a!r} before, {b!r} after"]


def compare(before: Path, after: Path) -> tuple[int, list[str]]:
    """Compare every ``pack.json`` under ``before`` with the one at the same relative path under ``after``.

    Returns the number of packs compared and the list of differences (empty when all match).
    """
    found = sorted(p.relative_to(before) for p in before.rglob("pack.json"))
    problems: list[str] = []
    for rel in found:
        other = after / rel
        if not other.exists():
            problems.append(f"{rel}: missing after")
            continue
        old = json.loads((before / rel).read_text(encoding="utf-8"))
        new = json.loads(other.read_text(encoding="utf-8"))
        problems.extend(f"{rel}: {d}" for d in differences(old, new))
    extra = sorted(p.relative_to(after) for p in after.rglob("pack.json") if not (before / p.relative_to(after)).exists())
    problems.extend(f"{rel}: only after" for rel in extra)
    return len(found), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    n, problems = compare(args.before, args.after)
    for line in problems:
        print(line)
    print(f"{n} packs compared, {len(problems)} difference(s)")
    return 1 if problems or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
