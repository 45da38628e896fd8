"""Progress of ``startle run``: a live status line on a terminal, plain lines in CI and in logs.

Both kinds take the same calls, from any worker thread:

* ``phase(number, name, phase)``  scenario ``number`` of N entered a lifecycle phase
* ``done(number, result)``        it finished (``result.summary_line()`` is printed)
* ``close()``                     the run is over (the live line is cleared)

:func:`progress_for` picks the live kind only when the stream is a terminal and ``CI`` is unset.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

COLOURS = {"pass": "\033[32m", "fail": "\033[31m", "error": "\033[33m", "skip": "\033[36m"}
RESET, CLEAR_LINE = "\033[0m", "\r\033[K"


class PlainProgress:
    """One line per phase and per result, prefixed with the run's elapsed seconds: greppable logs."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.started = total, stream, time.monotonic()
        self.lock = threading.Lock()

    def write(self, number: int, text: str) -> None:
        with self.lock:
            elapsed = time.monotonic() - self.started
            print(f"{elapsed:7.1f}s [{number}/{self.total}] {text}", file=self.stream, flush=True)

    def phase(self, number: int, name: str, phase: str) -> None:
        self.write(number, f"{name}: {phase}")

    def done(self, number: int, result: Any) -> None:
        self.write(number, result.summary_line())

    def close(self) -> None:
        pass


class TerminalProgress(PlainProgress):
    """Results scroll above one live line: ``[12/59] 3 running · 11 pass 1 fail · name: phase, ...``."""

    def __init__(self, total: int, stream: TextIO) -> None:
        super().__init__(total, stream)
        self.running: dict[int, tuple[str, str]] = {}
        self.counts: dict[str, int] = {}

    def status_line(self) -> str:
        finished = sum(self.counts.values())
        counts = " ".join(f"{n} {s}" for s, n in self.counts.items() if n)
        now = ", ".join(f"{name}: {phase}" for name, phase in self.running.values())
        line = f"[{finished}/{self.total}] {time.monotonic() - self.started:.0f}s · {counts or 'starting'} · {now}"
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):  # not a real terminal (tests, some IDE consoles)
            width = 120
        return line[: max(width - 1, 20)]

    def redraw(self, above: str | None = None) -> None:
        self.stream.write(CLEAR_LINE)
        if above is not None:
            self.stream.write(above + "\n")
        self.stream.write(self.status_line())
        self.stream.flush()

    def phase(self, number: int, name: str, phase: str) -> None:
        with self.lock:
            self.running[number] = (name, phase)
            self.redraw()

    def done(self, number: int, result: Any) -> None:
        with self.lock:
            self.running.pop(number, None)
            self.counts[result.status] = self.counts.get(result.status, 0) + 1
            colour = COLOURS.get(result.status, "")
            self.redraw(f"{colour}{result.status.upper():5}{RESET} {result.summary_line()}")

    def close(self) -> None:
        with self.lock:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()


def progress_for(total: int, stream: TextIO = sys.stdout) -> PlainProgress:
    """Live progress on an interactive terminal; plain lines when ``CI`` is set or output is piped."""
    live = stream.isatty() and not os.environ.get("CI")
    return (TerminalProgress if live else PlainProgress)(total, stream)
