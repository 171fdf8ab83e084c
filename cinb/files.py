"""Files that appear only complete: atomic writes (temp file in the folder, fsync, rename) and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty temporary file beside ``path`` to be written; on success it replaces ``path`` at once.

    The temporary file (``.<name>.<random>.tmp`` in the same folder, which must exist) is flushed to disk
    (fsync), given the usual permissions (``0o666`` less the umask, not ``mkstemp``'s ``0o600``) and renamed onto
    ``path`` when the ``with`` block ends normally: a reader sees the old file or the new one, never a half-written
    one. If the block raises, the temporary file is removed, ``path`` is left as it was and the error propagates.

    Raises
    ------
    OSError
        When the temporary file cannot be created (e.g. the folder is missing) or renamed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # Created with os.open so that the umask gives the usual permissions (and no thread ever changes the umask).
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file appears only complete (temp file in the folder, then rename).

    The folder is created if missing. A reader sees the old file or the new one, never a half-written one; on
    any error the temp file is removed and the old file (if any) is left as it was (see :func:`atomic_target`).

    Raises
    ------
    OSError
        When the folder or file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8 (no newline translation)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks, as 64 lowercase hex digits.

    Raises
    ------
    OSError
        When the file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
