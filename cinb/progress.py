"""Batch progress for people: a one-line bar on a terminal, one plain line per pack otherwise (logs, CI).

The bar shows packs done out of the total, how many were built, failed and skipped, the time elapsed and an
estimate of the time left; a failed pack is also printed above the bar as it happens, so it is never missed.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Callable, TextIO


def _clock(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Report a batch's progress.

    Parameters
    ----------
    total : int
        Packs in the batch.
    stream : text stream, default sys.stderr
        Where the bar or lines go.
    tty : bool, optional
        Draw a bar (True) or write lines (False); default: whether ``stream`` is a terminal.
    log : callable, optional
        Write each line through this function instead (then there is never a bar).
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, tty: bool | None = None,
                 log: Callable[[str], None] | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.log = log
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.tty = bool(tty if tty is not None else isatty()) and log is None
        self.counts = {"ok": 0, "failed": 0, "skipped": 0}
        self.started = time.perf_counter()
        self._first_build: float | None = None
        self._built_time = 0.0
        self._drawn = False

    @property
    def done(self) -> int:
        """Packs finished so far, whatever their status (built, failed or unchanged)."""
        return sum(self.counts.values())

    def estimate(self) -> float | None:
        """Seconds left, from the pace of the packs built so far (skipped packs cost nothing)."""
        built = self.counts["ok"] + self.counts["failed"]
        if not built or self._first_build is None:
            return None
        pace = (time.perf_counter() - self._first_build) / built
        return pace * (self.total - self.done)

    def start_building(self) -> None:
        """Call when the first pack is handed to a worker (the estimate counts from then)."""
        if self._first_build is None:
            self._first_build = time.perf_counter()

    def update(self, result) -> None:
        """Record one finished pack (a PackResult) and show it."""
        status = result.status if result.status in self.counts else "failed"
        self.counts[status] += 1
        if status != "skipped":
            self.start_building()
        if self.tty:
            if status == "failed":
                self._clear()
                self.stream.write(f"FAILED {result.key}: {result.error}\n")
            self._draw()
        else:
            elapsed = time.perf_counter() - self.started
            extra = f" — {result.error}" if result.error else ""
            took = "unchanged" if status == "skipped" else f"{result.seconds:.1f} s"
            self._line(f"[{self.done}/{self.total}] {status:7} {result.key} ({took}; {_clock(elapsed)} elapsed)"
                       f"{extra}")

    def tick(self) -> None:
        """Redraw the bar (elapsed time moves on even while no pack finishes)."""
        if self.tty:
            self._draw()

    def message(self, text: str) -> None:
        """Print a line without breaking the bar."""
        if self.tty:
            self._clear()
            self.stream.write(text + "\n")
            self._draw()
        else:
            self._line(text)

    def close(self) -> None:
        """Finish the bar's line."""
        if self.tty and self._drawn:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def bar_text(self, width: int = 100) -> str:
        """The bar as text, fitted to ``width`` characters."""
        elapsed = time.perf_counter() - self.started
        left = self.estimate()
        eta = f"~{_clock(left)} left" if left is not None and self.done < self.total else ""
        c = self.counts
        tail = (f" {self.done}/{self.total}  built {c['ok']}  failed {c['failed']}  skipped {c['skipped']}  "
                f"{_clock(elapsed)} elapsed  {eta}").rstrip()
        room = max(10, min(40, width - len(tail) - 3))
        filled = int(room * self.done / self.total) if self.total else room
        return ("[" + "#" * filled + "-" * (room - filled) + "]" + tail)[: max(20, width - 1)]

    def _draw(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + self.bar_text(width).ljust(width - 1))
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + " " * (width - 1) + "\r")

    def _line(self, text: str) -> None:
        if self.log is not None:
            self.log(text)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()
