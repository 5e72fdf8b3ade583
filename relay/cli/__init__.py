"""The `relay` command line: the only place that prints and picks exit codes.

Every command reads the configuration (`--config`, `RELAY_CONFIG`, default
./feeds.yaml) and opens the archive (`--db`, `RELAY_DB`, default from the
configuration), calls one use case of `pipeline`, and reports: data to
stdout (`--json` where a table is printed), logs to stderr. A `RelayError`
is caught once, in `_base.RelayGroup`: `Error: <what> (<where>)` and its hint on stderr
(-v: the traceback too), exit 2 for bad input, 1 for a run that finished with failures
or a failure of the archive. The commands that only read open the archive read-only
(`Ctx.read`). A use case names a bad input in its own words (`RelayError.field`); the
command adds its option's (`_base.CLI_HINTS`).

The layout: this module is the `relay` group and its options; `_base` the context every
command shares; `_render` tables, times, --json and the progress line; then one module
per area of use cases, each command found by its name in COMMANDS. A command's module
is imported when the command runs (or its --help is asked for), so `relay --help` and
shell completion import none of them, nor the pipeline under them.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from relay import __version__
from relay.cli._base import Ctx, RelayGroup

# Each command of `relay`: the module of relay.cli that defines it (a function of the
# command's name), and the first sentence of its help, which `relay --help` and shell
# completion show without importing the module (tests/test_cli.py keeps it the same).
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("admin", "Validate feeds.yaml and print a summary."),
    "collect": ("collecting", "Fetch the due (or named, or all) feeds once and archive new "
                "items."),
    "demo": ("admin", "Run the whole pipeline offline on the bundled sample."),
    "digest": ("digest", "Build digests and send them."),
    "export": ("archive", "Write every archived item to stdout (one JSON object per line, "
               "or CSV)."),
    "feeds": ("feeds", "List the feeds with their health: items in the last 7 and 30 days, "
              "last success, errors, next fetch, and a state (ok, an error, moved, disabled, "
              "silent, off)."),
    "migrate": ("admin", "Upgrade the archive's schema to this relay's version."),
    "retag": ("collecting", "Apply the (edited) taxonomy to the whole archive again."),
    "run": ("admin", "Run the daemon: collect on each feed's interval, build and send digests "
            "on schedule."),
    "search": ("archive", 'Search the archive in every language (words, "phrases", OR, NOT, '
               "prefix*)."),
    "show": ("archive", "Show one item with its topics and the terms that matched, or one "
             "story."),
    "sql": ("archive", "Run a read-only SQL query on the archive, like `sqlite-utils query`."),
    "status": ("status", "Archive size, feed health, subscribers and deliveries at a glance."),
    "submit": ("collecting", "Check a mission report's front matter and put it into its "
               "feed's inbox."),
    "subscribe": ("subscribers", "Add a subscriber, or change one (options not given keep "
                  "their values)."),
    "subscribers": ("subscribers", "List the active subscribers."),
    "unsubscribe": ("subscribers", "Stop sending digests to a subscriber (their history is "
                    "kept)."),
}


class LazyGroup(RelayGroup):
    """A group whose commands are imported when one is resolved (click's lazy loading
    pattern): the names and summaries come from a table (`lazy`: name -> (module,
    summary)), so listing them, for --help or for shell completion, imports nothing."""

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]], **kwargs: Any
                 ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return self.commands.get(cmd_name)
        module = importlib.import_module(f"{__name__}.{self.lazy[cmd_name][0]}")
        command = getattr(module, cmd_name)
        assert isinstance(command, click.Command), cmd_name
        self.commands[cmd_name] = command
        return command

    def _summaries(self, ctx: click.Context, incomplete: str = "") -> list[click.Command]:
        """Each command as --help and completion list it: loaded ones as they are, the
        others as a stand-in that holds their summary."""
        return [self.commands.get(name) or click.Command(name, help=self.lazy[name][1])
                for name in self.list_commands(ctx) if name.startswith(incomplete)]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = [c for c in self._summaries(ctx) if not c.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(c.name or "") for c in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(c.name or "", c.get_short_help_str(limit))
                                    for c in commands])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        items = [CompletionItem(c.name, help=c.get_short_help_str())
                 for c in self._summaries(ctx, incomplete) if not c.hidden]
        # the group's own options (what click.Group adds after its commands)
        return items + click.Command.shell_complete(self, ctx, incomplete)


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              default=lambda: os.environ.get("RELAY_CONFIG", "feeds.yaml"),
              show_default="./feeds.yaml or $RELAY_CONFIG", help="The configuration file.")
@click.option("--db", type=click.Path(path_type=Path),
              default=lambda: os.environ.get("RELAY_DB") or None,
              help="The archive (SQLite). Default: settings.database, or $RELAY_DB.")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress display on a terminal (it is never shown elsewhere).")
@click.version_option(__version__, prog_name="relay")
@click.pass_context
def main(ctx: click.Context, config_path: Path, db: Path | None, verbose: int,
         quiet: bool) -> None:
    """relay: local information gathered abroad, tagged, deduplicated, archived and
    delivered as digests.

    \b
    Example:
      relay check && relay collect && relay digest build && relay digest send
    """
    from relay.daemon import log_to_stderr  # the daemon's log formats, every command's
    log_to_stderr(max(logging.WARNING - 10 * verbose, logging.DEBUG), os.environ)
    ctx.obj = Ctx(config_path, db, verbose, quiet=quiet)


__all__ = ["COMMANDS", "Ctx", "main"]
