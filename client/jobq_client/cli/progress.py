"""A progress bar on stderr: redrawn in place on a terminal, a line now and then elsewhere (a CI log)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR = 30  # characters of the bar itself
LINE_EVERY_S = 2.0  # off a terminal: at most one line this often, and the last


class Progress:
    """How far `total` things have got, drawn on `stream` as `update(done, total)` is called."""

    def __init__(self, stream: TextIO, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.what, self.clock = stream, what, clock
        self.tty = stream.isatty()
        self.started = clock()
        self._last_line: float | None = None
        self._drawn = False

    def update(self, done: int, total: int) -> None:
        """`done` of `total` are done."""
        now = self.clock()
        text = self._text(done, total, now)
        if self.tty:
            self.stream.write(f"\r{text}")
            self._drawn = True
        elif done >= total or self._last_line is None or now - self._last_line >= LINE_EVERY_S:
            self.stream.write(f"{text}\n")
            self._last_line = now
        self.stream.flush()

    def end(self) -> None:
        """Leave the bar's line: what is printed next starts on its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _text(self, done: int, total: int, now: float) -> str:
        share = done / total if total else 1.0
        rate = done / elapsed if (elapsed := now - self.started) > 0 else 0.0
        counts = f"{done}/{total} {self.what} {share:4.0%}  {rate:,.0f}/s"
        if not self.tty:
            return counts
        filled = round(BAR * share)
        return f"[{'#' * filled}{'.' * (BAR - filled)}] {counts}"
