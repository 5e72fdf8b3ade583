"""Progress of a long use case, told as it goes: a value the use case hands to the
`on_progress` callback its driver gave it (the CLI draws it on a terminal, the daemon
and tests give none).

- `Progress` says what is being done (`stage`: collect, retag, build, send, import),
  how many units are done of how many (`done`/`total`, `unit` names them: feeds, items,
  digests, deliveries), the items it produced so far and the units that failed.
- A use case reports once before its first unit (done 0) and after each unit; the
  last report has done == total unless the run was stopped.
- Reporting never changes what a use case does: a callback that raises is the
  driver's bug and is not caught here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int
    unit: str
    items: int = 0
    errors: int = 0


OnProgress = Callable[[Progress], None]


def silent(progress: Progress) -> None:
    """The default callback: nobody is watching."""


class Tally:
    """Counts for one run, reported after each unit through `on_progress`."""

    def __init__(self, stage: str, total: int, unit: str, on_progress: OnProgress | None
                 ) -> None:
        self.stage, self.total, self.unit = stage, total, unit
        self.report = on_progress or silent
        self.done = self.items = self.errors = 0
        self.report(self._now())

    def step(self, items: int = 0, failed: bool = False, units: int = 1) -> None:
        self.done += units
        self.items += items
        self.errors += failed
        self.report(self._now())

    def _now(self) -> Progress:
        return Progress(self.stage, self.done, self.total, self.unit, self.items, self.errors)
