"""The month's manifest: every pack's files, hashes, status, timings and error, kept in step with the files.

``<out>/<period>/manifest.json`` is rewritten (atomically) after every pack a batch finishes, so that an
interrupted batch still leaves a manifest that matches the files on disk; ``index.html`` is rewritten with it.
Paths in the manifest are relative to the month folder. Packs not built in a run keep their earlier entries.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterable

from . import __version__

MANIFEST_NAME = "manifest.json"
SCHEMA = "cinb.manifest/1"
_KIND_ORDER = {"portfolio": 0, "contract": 1, "supplier": 2}


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def read_manifest(period_dir: Path) -> dict[str, Any]:
    """The manifest of ``period_dir`` (an empty one when there is none or it cannot be read)."""
    path = Path(period_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("packs"), list):
            return data
    except (OSError, ValueError):
        pass
    return {"schema": SCHEMA, "period": Path(period_dir).name, "packs": []}


def entries_by_key(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest's pack entries by pack key."""
    return {p["key"]: p for p in manifest.get("packs", []) if isinstance(p, dict) and "key" in p}


def _sort_key(entry: dict[str, Any]):
    return (entry.get("audience") or "internal", _KIND_ORDER.get(entry.get("kind"), 9), str(entry.get("key")))


class Manifest:
    """The manifest of one month folder, updated one pack at a time (only by the holder of the folder's lock).

    Parameters
    ----------
    period_dir : Path
        ``<out>/<period>``.
    run : dict, optional
        Facts about the current run (command, settings, parameter files…), stored under ``"last_run"``.
    index : bool, default True
        Also rewrite ``index.html`` whenever the manifest is written.
    """

    def __init__(self, period_dir: Path, *, run: dict[str, Any] | None = None, index: bool = True):
        self.period_dir = Path(period_dir)
        self.data = read_manifest(self.period_dir)
        self.data["schema"] = SCHEMA
        self.data["period"] = self.period_dir.name
        self._entries = entries_by_key(self.data)
        self.run = dict(run or {})
        self.run.setdefault("started", _now())
        self.run.setdefault("summary", {"ok": 0, "failed": 0, "skipped": 0})
        self.index = index

    @property
    def path(self) -> Path:
        """The manifest file, ``<period_dir>/manifest.json`` (it may not exist yet)."""
        return self.period_dir / MANIFEST_NAME

    def previous(self, key: str) -> dict[str, Any] | None:
        """The entry recorded for ``key`` before this run (or updated in it)."""
        return self._entries.get(key)

    def record(self, results: Iterable, *, write: bool = True) -> None:
        """Replace the entries of these pack results (PackResult objects or dicts) and write the files.

        A supplier pack's entry is filtered by :func:`cinb.audience.entry_for_audience` (paths by file name).
        """
        from .audience import entry_for_audience

        for result in results:
            # A supplier pack's entry (and so its row of the index page) holds only what a supplier may see.
            entry = entry_for_audience(result.to_dict() if hasattr(result, "to_dict") else dict(result))
            entry["recorded"] = _now()
            self._entries[entry["key"]] = entry
            status = entry.get("status")
            if status in self.run["summary"]:
                self.run["summary"][status] += 1
        if write:
            self.write()

    def write(self) -> Path:
        """Write ``manifest.json`` (and ``index.html``) atomically."""
        from .files import atomic_write_bytes

        packs = sorted(self._entries.values(), key=_sort_key)
        self.run["updated"] = _now()
        self.data.update({
            "cinb_version": __version__,
            "updated": self.run["updated"],
            "summary": {s: sum(p.get("status") == s for p in packs) for s in ("ok", "failed", "skipped")},
            "last_run": self.run,
            "packs": packs,
        })
        from .errors import PackError
        from .pack import redact

        try:
            atomic_write_bytes(self.path, redact(json.dumps(self.data, indent=2, default=str)).encode("utf-8"))
            if self.index:
                from .index import write_index

                write_index(self.period_dir, self.data)
        except OSError as exc:
            raise PackError(f"cannot write the manifest or index in {self.period_dir}: {exc.strerror or exc}") from None
        return self.path


def verify_manifest(period_dir: Path) -> list[str]:
    """Check that the manifest of ``period_dir`` matches the files on disk; return the mismatches (none: ``[]``).

    Every pack the manifest lists as built or unchanged must have all its files, byte for byte (sha256); every
    published ``pack.json`` must belong to a pack the manifest lists; no staging or temporary file may be left.
    """
    from .files import sha256_file
    from .pack import STAGING_DIR

    period_dir = Path(period_dir)
    problems: list[str] = []
    entries = entries_by_key(read_manifest(period_dir))
    listed = set()
    for key, entry in entries.items():
        if entry.get("status") not in ("ok", "skipped"):
            continue
        for kind, rel in (entry.get("files") or {}).items():
            path = period_dir / rel
            listed.add(path.resolve())
            if not path.is_file():
                problems.append(f"{key}: {rel} is listed but missing")
            elif sha256_file(path) != (entry.get("hashes") or {}).get(kind):
                problems.append(f"{key}: {rel} does not match its recorded sha256")
    for path in period_dir.rglob("pack.json"):
        rel = path.relative_to(period_dir)
        if rel.parts[0] in ("_failed", STAGING_DIR):
            continue
        if path.resolve() not in listed:
            problems.append(f"{rel} is published but not in the manifest")
    leftovers = [p for p in period_dir.rglob("*.tmp")] + list((period_dir / STAGING_DIR).glob("*"))
    problems += [f"{p.relative_to(period_dir)} is left over from an unfinished write" for p in leftovers]
    return problems
