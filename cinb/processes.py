"""Whether a process is there: the one check the month lock and the kernel zygote's clients share."""

from __future__ import annotations

import os

__all__ = ["exists", "running"]


def exists(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie, or another user's process, counts: ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux: ``/proc``; elsewhere :func:`exists` only)."""
    if not exists(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
