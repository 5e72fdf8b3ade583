"""How the commands show results: local times, counted nouns, tables aligned by display
width, JSON of typed results (--json), and the progress line of a long run."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import unicodedata
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from click.core import ParameterSource

from relay import pipeline
from relay.cli._base import Ctx
from relay.errors import EXIT_BAD_INPUT, UsageError
from relay.models import ItemView, SearchHit, utc_text


def local(when: str | datetime | None, tz: str) -> str:
    dt = pipeline.stored_time(when) if isinstance(when, str) else when
    return dt.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if dt else "-"


def published(item: SearchHit | ItemView, tz: str, short: bool = False) -> str:
    """An item's publication date, or that the source gave none and when relay first saw it."""
    if item.published_at:
        return local(item.published_at, tz)
    seen = local(item.collected_at, tz)
    return f"unknown; seen {seen}" if short else f"unknown (first seen {seen})"


def n(count: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{count} {noun if count == 1 else plural}"


def _cols(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Columns aligned by display width (a Japanese character takes two columns)."""
    widths = [max(_cols(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c) + " " * (w - _cols(str(c)))
                         for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def _plain(value: Any) -> Any:
    """A typed result as JSON has it: a dataclass an object of its fields, a time
    2026-11-27T03:00:00Z (UTC, as the archive writes it); anything else as text."""
    if isinstance(value, datetime):
        return utc_text(value)
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else str(value)


def cell(value: Any) -> Any:
    return utc_text(value) if isinstance(value, datetime) else value


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))


def output_format(as_json: bool, fmt: str) -> str:
    """The format of a command that takes both --json and --format (its `fmt`
    parameter): --json is --format json, and given with another --format on the command
    line it is a usage error rather than one of the two silently."""
    if not as_json:
        return fmt
    if fmt != "json" and click.get_current_context().get_parameter_source(
            "fmt") is not ParameterSource.DEFAULT:
        raise UsageError(f"--json is --format json: give one of them, not --format {fmt} too")
    return "json"


def exit_if_bad(problems: list[str]) -> None:
    """The bad rows of an input that was otherwise applied (a CSV, an OPML file): one
    line each on stderr, and exit status 2 when there was one."""
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        sys.exit(EXIT_BAD_INPUT)


def left_out(skipped: int, trimmed: int, over_cap: int) -> str:
    """What a feed's last collect left out or cut, in words ("" when nothing)."""
    return ", ".join(text for count, text in (
        (skipped, f"{skipped} unreadable skipped"), (trimmed, f"{trimmed} trimmed"),
        (over_cap, f"{over_cap} over the cap")) if count)


class ProgressLine:
    """A long run's progress on stderr (`collect: 12/40 feeds, 85 new items, 1 failed`),
    one line redrawn in place at most ten times a second, when stderr is a terminal and
    neither --quiet nor --json was given; nothing at all otherwise. The line is erased at
    the end, so what the command prints after it is as without it, and before each log
    record written to the same terminal (a feed's warning starts a line of its own; the
    next update draws the progress again below it)."""

    WORDS = {"collect": "new items", "retag": "changed", "build": "stories", "send": "sent",
             "import": "added"}

    def __init__(self, c: Ctx, as_json: bool = False) -> None:
        self.stream = sys.stderr
        self.on = (not c.quiet and not as_json and self.stream.isatty()
                   and os.environ.get("TERM") != "dumb")
        self.shown = 0.0
        self.drawn = False
        self.handlers = [h for h in logging.getLogger().handlers
                         if isinstance(h, logging.StreamHandler) and h.stream is self.stream]

    def __call__(self, p: pipeline.Progress) -> None:
        clock = time.monotonic()
        if not self.on or (0 < p.done < p.total and clock - self.shown < 0.1):
            return
        self.shown = clock
        total = f"/{p.total}" if p.total else ""
        line = (f"{p.stage}: {p.done}{total} {p.unit}, {p.items} {self.WORDS.get(p.stage, 'items')}"
                f", {p.errors} failed")
        self.stream.write("\r" + line[:shutil.get_terminal_size().columns - 1] + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def _erase(self, _record: logging.LogRecord | None = None) -> bool:
        """Erase the line if it is drawn; as a logging filter, let the record through."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
        return True

    def __enter__(self) -> ProgressLine:
        if self.on:
            for handler in self.handlers:
                handler.addFilter(self._erase)
        return self

    def __exit__(self, *exc: object) -> None:
        for handler in self.handlers:
            handler.removeFilter(self._erase)
        self._erase()
