"""One writer per month folder: a lock file so that two batches (or a batch and ``cinb run``) cannot interleave.

The lock is ``<out>/<period>/.cinb.lock``, held with ``flock`` for as long as the batch runs and holding the
owner's pid, host, command and start time. The operating system releases an ``flock`` when its process dies, so
the lock of a crashed or killed batch is taken over by the next one; a live holder is named in the error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
from pathlib import Path

from .errors import PackError, UsageError
from .processes import exists

LOCK_NAME = ".cinb.lock"


class LockedError(UsageError):
    """Another cinb process is writing the same month folder."""


class PeriodLock:
    """Exclusive lock on one month's output folder; use as a context manager.

    Examples
    --------
    >>> with PeriodLock(Path("reports/2026-10"), command="cinb batch"):   # doctest: +SKIP
    ...     ...  # build packs, write the manifest
    """

    def __init__(self, folder: Path, *, command: str = "cinb"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command
        self._fd: int | None = None
        self.took_over: dict | None = None  # what a stale lock said, when one was taken over

    def acquire(self) -> "PeriodLock":
        """Take the lock or raise :class:`LockedError` naming the lock file and the process holding it."""
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(self.folder, exc) from None
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _unwritable(self.folder, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise LockedError(self._message(holder)) from None
            # The file may have been removed and re-created by a releasing holder between our open and our
            # flock: then we hold a lock on a file nobody else will see. Check and start again if so.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            previous = _read(fd)
            if previous.get("pid"):
                self.took_over = previous  # its owner died without releasing (flock released by the OS)
            info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                    "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "argv": sys.argv[:]}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
            self._fd = fd
            return self
        raise LockedError(f"could not lock {self.path}: it keeps being replaced; is another cinb running?")

    def _message(self, holder: dict) -> str:
        pid = holder.get("pid")
        who = f"process {pid}" if pid else "another process"
        if holder.get("host") and holder.get("host") != socket.gethostname():
            who += f" on {holder['host']}"
        elif pid and not exists(int(pid)):
            who += " (which seems to have ended; its lock is still held by a child process)"
        since = f", started {holder['started']}" if holder.get("started") else ""
        what = f" ({holder['command']})" if holder.get("command") else ""
        return (f"{self.folder} is being written by {who}{what}{since}: the lock {self.path} is held. Wait for it "
                f"to finish, or stop it; a lock left by a process that has ended is taken over automatically.")

    def release(self) -> None:
        """Release the lock (the file is emptied and removed, so nothing stale is left behind)."""
        import fcntl

        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> "PeriodLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _unwritable(folder: Path, exc: OSError) -> PackError:
    return PackError(f"cannot write to the output folder {folder}: {exc.strerror or exc}; choose (--out) a folder "
                     "you can write to")


def _read(fd: int) -> dict:
    try:
        raw = os.pread(fd, 65536, 0).decode("utf-8", errors="replace").strip()
        return json.loads(raw) if raw else {}
    except (OSError, ValueError):
        return {}


def read_lock(folder: Path) -> dict:
    """What the lock file of ``folder`` says (empty when there is none)."""
    try:
        return json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
