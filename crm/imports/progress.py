"""How a running import reports how far it has got, and learns that it was cancelled.

The runner calls ``update`` as it reads, validates and writes each table, and
``cancelled`` between steps; the background task stores the figures on the run (the
wizard's progress bar polls them) and the command prints them. The runner never knows
which of the two is listening.
"""

from __future__ import annotations

from typing import Protocol

READ = "read"
VALIDATED = "validated"
WRITTEN = "written"
PHASES = (READ, VALIDATED, WRITTEN)


class Cancelled(Exception):
    """Raised by the runner when ``Progress.cancelled()`` says so; the run then keeps nothing."""


class Progress(Protocol):
    def update(self, table: str, phase: str, done: int, total: int) -> None:
        """``done`` of ``total`` rows of ``table`` have reached ``phase`` (one of PHASES)."""

    def cancelled(self) -> bool:
        """True once someone asked the run to stop."""


class NoProgress:
    """For callers that do not watch: tests, the dry run of a small file."""

    def update(self, table: str, phase: str, done: int, total: int) -> None:
        return None

    def cancelled(self) -> bool:
        return False
