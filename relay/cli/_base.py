"""What every command shares: its context (the configuration and the archive it
opens), the clock, and the one place a RelayError becomes a line on stderr and an
exit code. Light to import: the package's root and `relay --help` load it, so the
configuration's and the archive's modules are imported when a command asks for them.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from relay import pipeline
from relay.errors import RelayError, UsageError

if TYPE_CHECKING:
    from relay.models import Config
    from relay.pipeline.ports import Archive


@dataclass
class Ctx:
    config_path: Path
    db: Path | None
    verbose: int
    left_out: int = 0         # feed entries left out for their errors (each said once)
    quiet: bool = False             # no progress display

    def config(self, strict: bool = False) -> Config:
        """The configuration; a wrong feed entry is said on stderr and left out, and the
        command ends with exit 2 (the other feeds run). `strict`: it is the error."""
        from relay.config import load_config
        config = load_config(self.config_path, env=os.environ, strict=strict)
        if not self.left_out:
            for exc in config.feed_errors:
                click.echo(f"Error: {exc}; this feed is left out until it is fixed", err=True)
            self.left_out = len(config.feed_errors)
        return config

    def database(self, config: Config) -> Path:
        return self.db or config.settings.database

    @contextmanager
    def open(self, create: bool = True, readonly: bool = False
             ) -> Iterator[tuple[Config, Archive]]:
        """The configuration and the archive; a command that only reads refuses to
        create an archive (a mistyped --db would otherwise show an empty one)."""
        config = self.config()
        path = self.database(config)
        if (readonly or not create) and not path.exists():
            raise UsageError("no archive here yet", where=str(path),
                             hint="check --db / settings.database, or run `relay collect` first")
        store = pipeline.open_archive(path, readonly=readonly)
        try:
            yield config, store
        finally:
            store.close()

    def read(self) -> AbstractContextManager[tuple[Config, Archive]]:
        """The configuration and the archive opened read-only (see Store): for the
        commands that only read, which work on a read-only archive and never upgrade it."""
        return self.open(create=False, readonly=True)


pass_ctx = click.make_pass_decorator(Ctx)


def now() -> datetime:
    return datetime.now(UTC)


# What the command line adds to a use case's error about one of its inputs (`field`):
# the use case speaks of topics or a subscriber, the command of its options and commands.
CLI_HINTS = {
    "topics": "--topics quantum,ai",
    "period": "--period 2026-W48 (a week) or --period 2026-11-27 (a day)",
    "feed": "`relay feeds` lists the configured feeds",
    "subscriber": "`relay subscribers` lists them",
    "digest": "`relay status` lists the subscribers whose digest failed",
}


def fail(exc: RelayError, verbose: int = 0) -> NoReturn:
    if exc.field in CLI_HINTS and not exc.hint:
        exc.hint = CLI_HINTS[exc.field]
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"Error: {exc}", err=True)
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


class RelayGroup(click.Group):
    """Turns a RelayError anywhere below into one line on stderr and its exit code (-v
    adds the traceback). A failure of the archive is one too: the store translates every
    error SQLite raises (store.translate), so none reaches a command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except RelayError as exc:
            fail(exc, getattr(ctx.obj, "verbose", 0))
        if isinstance(ctx.obj, Ctx) and ctx.obj.left_out:
            sys.exit(2)       # bad input: a feed entry was left out (see Ctx.config)
        return result
