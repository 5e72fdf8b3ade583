"""The `relay` command line: the only place that prints and picks exit codes.

Every command reads the configuration (`--config`, `RELAY_CONFIG`, default
./feeds.yaml) and opens the archive (`--db`, `RELAY_DB`, default from the
configuration), calls one use case of `pipeline`, and reports: data to
stdout (`--json` where a table is printed), logs to stderr. A `RelayError`
is caught once, here: `Error: <what> (<where>)` and its hint on stderr (-v: the
traceback too), exit 2 for bad input, 1 for a run that finished with failures or a
failure of the archive (pipeline.archive_error). The commands that only read open the
archive read-only (`Ctx.read`). A use case names a bad input in its own words
(`RelayError.field`); the command adds its option's (CLI_HINTS).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import os
import shutil
import sys
import time
import traceback
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click

from relay import __version__, pipeline
from relay.config import load_config
from relay.errors import EXIT_FAILURES, RelayError, UsageError
from relay.models import (
    EARLIEST,
    LATEST,
    Config,
    ItemView,
    SearchHit,
    StoryView,
    kept_date,
    utc_text,
)
from relay.pipeline import shown_address
from relay.pipeline.ports import Archive
from relay.pipeline.sql import run_sql as sql_query


@dataclass
class Ctx:
    config_path: Path
    db: Path | None
    verbose: int
    left_out: int = 0         # feed entries left out for their errors (each said once)
    archive: Path | None = None     # the archive a command opened (named by store errors)
    quiet: bool = False             # no progress display

    def config(self, strict: bool = False) -> Config:
        """The configuration; a wrong feed entry is said on stderr and left out, and the
        command ends with exit 2 (the other feeds run). `strict`: it is the error."""
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
        self.archive = path
        store = pipeline.open_archive(path, readonly=readonly)
        try:
            yield config, store
        finally:
            store.close()

    def read(self) -> AbstractContextManager[tuple[Config, Archive]]:
        """The configuration and the archive opened read-only (see Store): for the
        commands that only read, which work on a read-only archive and never upgrade it."""
        return self.open(create=False, readonly=True)


def _now() -> datetime:
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


def _fail(exc: RelayError, verbose: int = 0) -> NoReturn:
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
    adds the traceback); so is a failure of the archive's disk or file that SQLite met
    outside a statement (while reading rows), translated by pipeline.archive_error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except RelayError as exc:
            _fail(exc, getattr(ctx.obj, "verbose", 0))
        except Exception as exc:
            translated = pipeline.archive_error(
                exc, getattr(ctx.obj, "archive", None) or "the archive")
            if translated is None:
                raise
            translated.__cause__ = exc
            _fail(translated, getattr(ctx.obj, "verbose", 0))
        if isinstance(ctx.obj, Ctx) and ctx.obj.left_out:
            sys.exit(2)       # bad input: a feed entry was left out (see Ctx.config)
        return result


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(" ", ",").split(",") if v.strip()]


def _date(value: str | None, tz: str, option: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError:
        days = value[:-1] if value.endswith("d") else ""
        if not (days.isascii() and days.isdigit()):
            raise UsageError(f"{option} {value!r} is not a date like 2026-11-01 or 7d") from None
        now = _now()    # any number of days back: no item is older than EARLIEST
        return now - timedelta(days=min(int(days), (now - EARLIEST).days))
    local = day if day.tzinfo else day.replace(tzinfo=ZoneInfo(tz))
    # A date outside the range relay keeps (0001-01-01, 9999-12-31) asks for what its edge
    # of the range does: no item is dated beyond it.
    return kept_date(local) or (EARLIEST if local.year <= EARLIEST.year else LATEST)


def _local(when: str | datetime | None, tz: str) -> str:
    dt = pipeline.stored_time(when) if isinstance(when, str) else when
    return dt.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _published(item: SearchHit | ItemView, tz: str, short: bool = False) -> str:
    """An item's publication date, or that the source gave none and when relay first saw it."""
    if item.published_at:
        return _local(item.published_at, tz)
    seen = _local(item.collected_at, tz)
    return f"unknown; seen {seen}" if short else f"unknown (first seen {seen})"


def _n(count: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{count} {noun if count == 1 else plural}"


def _cols(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[list[str]], headers: list[str]) -> str:
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


def _cell(value: Any) -> Any:
    return utc_text(value) if isinstance(value, datetime) else value


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))


@click.group(cls=RelayGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


pass_ctx = click.make_pass_decorator(Ctx)


class ProgressLine:
    """A long run's progress on stderr (`collect: 12/40 feeds, 85 new items, 1 failed`),
    one line redrawn in place at most ten times a second, when stderr is a terminal and
    neither --quiet nor --json was given; nothing at all otherwise. The line is erased at
    the end, so what the command prints after it is as without it."""

    WORDS = {"collect": "new items", "retag": "changed", "build": "stories", "send": "sent",
             "import": "added"}

    def __init__(self, c: Ctx, as_json: bool = False) -> None:
        self.stream = sys.stderr
        self.on = (not c.quiet and not as_json and self.stream.isatty()
                   and os.environ.get("TERM") != "dumb")
        self.shown = 0.0
        self.drawn = False

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

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


@main.command()
@pass_ctx
def check(c: Ctx) -> None:
    """Validate feeds.yaml and print a summary.

    \b
    Example:
      relay --config feeds.yaml check
    """
    config = c.config(strict=True)
    s = config.settings
    kinds: dict[str, int] = {}
    for f in config.feeds:
        kinds[f.kind.value] = kinds.get(f.kind.value, 0) + 1
    click.echo(f"{config.path}: OK")
    click.echo(f"  feeds: {len(config.feeds)} ({sum(f.enabled for f in config.feeds)} enabled; "
               + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")
    origin = "built-in" if config.topics_builtin else "feeds.yaml"
    click.echo(f"  topics: {len(config.topics)} ({origin}): "
               + ", ".join(t.id for t in config.topics))
    click.echo(f"  timezone: {s.timezone}; database: {c.database(config)}; "
               f"digests: {s.digests_dir}")
    click.echo(f"  smtp: {s.smtp.url.split('@')[-1]} from {s.smtp.sender}")


@main.command()
@click.argument("feed_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Fetch every enabled feed, due or not.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@pass_ctx
def collect(c: Ctx, feed_ids: tuple[str, ...], everything: bool, as_json: bool) -> None:
    """Fetch the due (or named, or all) feeds once and archive new items.

    Exit status 1 when any feed failed (the others are collected).

    \b
    Example:
      relay collect            # the feeds that are due
      relay collect nsf-news   # one feed, due or not
    """
    with c.open() as (config, store), ProgressLine(c, as_json) as progress:
        reports = pipeline.collect(config, store, _now(), feed_ids, everything,
                                   on_progress=progress)
    if as_json:
        _json([{"feed": r.feed_id, "ok": r.ok, "fetched": r.fetched, "new": r.new,
                "duplicates": r.duplicates, "not_modified": r.not_modified, "error": r.error,
                "stage": r.stage, "partial": r.partial, "skipped": r.skipped,
                "trimmed": r.trimmed, "over_cap": r.over_cap} | r.extra for r in reports])
    else:
        for r in reports:
            state = (f"error ({r.stage}): {r.error}" if r.error else
                     "not modified" if r.not_modified else
                     f"{r.new} new, {r.duplicates} duplicate")
            if r.partial and not r.error:
                state += f"; partial: {r.partial}"
            left = _left_out(r.skipped, r.trimmed, r.over_cap)
            if left:
                state += f"; {left}"
            click.echo(f"{r.feed_id}: {state}")
            if r.extra.get("moved_to"):
                click.echo(f"  moved permanently to {r.extra['moved_to']}: update its url in "
                           f"{config.path}")
            if r.extra.get("disabled"):
                click.echo(f"  disabled: {r.extra['disabled']}")
        new = sum(r.new for r in reports)
        failed = sum(not r.ok for r in reports)
        broken = sum(bool(r.ok and r.partial) for r in reports)
        click.echo(f"{_n(len(reports), 'feed')}, {_n(new, 'new item')}, {failed} failed"
                   + (f", {broken} partial" if broken else ""), err=True)
    if any(not r.ok for r in reports):
        sys.exit(EXIT_FAILURES)


@main.command()
@pass_ctx
def run(c: Ctx) -> None:
    """Run the daemon: collect on each feed's interval, build and send digests on schedule.

    Stops cleanly on SIGTERM or Ctrl-C. Only one daemon may use a database.

    \b
    Example:
      relay --config feeds.yaml run
    """
    config = c.config()
    if c.verbose == 0:
        logging.getLogger().setLevel(logging.INFO)
    if c.verbose < 2:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    from relay.daemon import Daemon  # a driver the command starts

    Daemon(config, c.database(config), reload=c.config).run_forever()


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="A list of objects keyed by column names.")
@click.pass_context
def feeds(ctx: click.Context, as_json: bool) -> None:
    """List the feeds with their health: items in the last 7 and 30 days, last success,
    errors, next fetch, and a state (ok, an error, moved, disabled, silent, off).

    \b
    Example:
      relay feeds --json
      relay feeds check
      relay feeds add https://www.nsf.gov/rss/rss_www_news.xml --country US
    """
    if ctx.invoked_subcommand is not None:
        return
    c: Ctx = ctx.obj
    with c.read() as (config, store):
        rows = pipeline.feed_health(config, store, _now())
    if as_json:
        _json(rows)
        return
    tz = config.settings.timezone

    def state(r: dict[str, Any]) -> str:
        left = _left_out(r["skipped"], r["trimmed"], r["over_cap"])
        if r["disabled_reason"]:
            return f"disabled: {r['disabled_reason']}"
        if r["moved_to"]:
            return f"moved to {r['moved_to']}"
        if r["last_error"]:
            return f"{r['error_stage'] or 'error'}: {r['last_error']}"
        if r["partial"]:
            return f"partial: {r['partial']}" + (f"; {left}" if left else "")
        if left:
            return left
        return "silent" if r["silent"] else ("off" if not r["enabled"] else "ok")

    table = [[str(r["id"]), str(r["items_7d"]), str(r["items_30d"]),
              _local(r["last_ok_at"], tz), str(r["error_count"]), _local(r["next_fetch_at"], tz),
              " ".join(state(r).split())[:60]] for r in rows]
    click.echo(_table(table, ["feed", "7d", "30d", "last ok", "errors", "next fetch",
                              "state"]))


def _left_out(skipped: int, trimmed: int, over_cap: int) -> str:
    """What a feed's last collect left out or cut, in words ("" when nothing)."""
    return ", ".join(text for n, text in (
        (skipped, f"{skipped} unreadable skipped"), (trimmed, f"{trimmed} trimmed"),
        (over_cap, f"{over_cap} over the cap")) if n)


@feeds.command("check")
@click.argument("feed_ids", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One object per feed.")
@pass_ctx
def feeds_check(c: Ctx, feed_ids: tuple[str, ...], as_json: bool) -> None:
    """Fetch every feed (or the named ones) once and report, storing nothing.

    Exit status 1 when any feed failed.

    \b
    Example:
      relay feeds check
      relay feeds check nsf-news --json
    """
    config = c.config()
    checks = pipeline.check_feeds(config, _now(), feed_ids)
    tz = config.settings.timezone
    if as_json:
        _json([{"feed": k.feed_id} | {f: getattr(k, f) for f in (
            "url", "ok", "status", "entries", "newest", "moved_to", "error", "partial")}
            for k in checks])
    else:
        click.echo(_table(
            [[k.feed_id, "ok" if k.ok else "FAIL", str(k.entries),
              k.newest.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d") if k.newest else "-",
              " ".join((k.error or (f"partial: {k.partial}" if k.partial else "")
                        or (f"moved to {k.moved_to}" if k.moved_to else "")).split())[:70]]
             for k in checks], ["feed", "", "entries", "newest", "note"]))
    if any(not k.ok for k in checks):
        sys.exit(EXIT_FAILURES)


@feeds.command("add")
@click.argument("url")
@click.option("--id", "feed_id", help="The feed id (default: from the feed's title).")
@click.option("--name", help="Display name (default: the feed's title).")
@click.option("--mission", help="The mission whose area it covers (e.g. boston).")
@click.option("--country", help="ISO country code (e.g. US).")
@click.option("--interval", default="1h", show_default=True)
@click.option("--allow-private", is_flag=True, help="The feed is on an internal address.")
@pass_ctx
def feeds_add(c: Ctx, url: str, feed_id: str | None, name: str | None, mission: str | None,
              country: str | None, interval: str, allow_private: bool) -> None:
    """Find the feed at URL (a feed, or a page that links one), check it, and append it
    to feeds.yaml, keeping the file's comments and order.

    \b
    Example:
      relay feeds add https://www.jst.go.jp/ --country JP
    """
    config = c.config()
    made = pipeline.add_feed(config, url, _now(), os.environ, feed_id=feed_id, name=name,
                             allow_private=allow_private,
                             options={"mission": mission, "country": country,
                                      "interval": interval})
    click.echo(f"added {made.id}: {made.probe.url} ({made.checked}) to {config.path}")


@feeds.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--interval", default="1h", show_default=True,
              help="Each new feed's interval (unless the file gives relay's own).")
@click.option("--allow-private", is_flag=True, help="The feeds are on an internal address.")
@click.option("--json", "as_json", is_flag=True, help="What was added, skipped and bad.")
@pass_ctx
def feeds_import(c: Ctx, file: Path, interval: str, allow_private: bool, as_json: bool) -> None:
    """Add the feeds of an OPML file (a feed reader's export) to feeds.yaml, each found
    and checked as `relay feeds add` does, keeping the file's comments.

    A feed already configured is skipped; a folder named as a topic (its id or label)
    gives its feeds that topic, other folders are ignored. A bad outline is one line on
    stderr and the others are added; exit status 2 when one was bad.

    \b
    Example:
      relay feeds import feedly.opml
    """
    config = c.config()
    with ProgressLine(c, as_json) as progress:
        report = pipeline.import_opml(config, file, _now(), os.environ,
                                      allow_private=allow_private, interval=interval,
                                      on_progress=progress)
    if as_json:
        _json({"added": [m.entry for m in report.added], "skipped": report.skipped,
               "bad": report.bad, "folders_without_topic": report.folders})
    else:
        for m in report.added:
            click.echo(f"added {m.id}: {m.probe.url} ({m.checked})")
        for line in report.skipped:
            click.echo(f"skipped {line}", err=True)
        for folder in report.folders:
            click.echo(f"folder {folder!r} names no topic: ignored (its feeds are added, "
                       "tagged by the topics' terms)", err=True)
        click.echo(f"{len(report.added)} added to {config.path}, {len(report.skipped)} "
                   f"skipped, {len(report.bad)} bad", err=True)
    for line in report.bad:
        click.echo(f"Error: {line}", err=True)
    if report.bad:
        sys.exit(2)


@feeds.command("export")
@click.option("--opml", is_flag=True, default=True,
              help="OPML 2.0, for feed readers (the one format; the flag may be omitted).")
@pass_ctx
def feeds_export(c: Ctx, opml: bool) -> None:
    """Write the configured RSS/Atom feeds as OPML 2.0 to stdout, with their topics as
    folders and categories, and relay's own settings in its namespace so that
    `relay feeds import` gives the same feeds back. Page and reports feeds are left out
    (named on stderr).

    \b
    Example:
      relay feeds export --opml > relay-feeds.opml
    """
    config = c.config()
    export = pipeline.export_opml(config, _now())
    click.echo(export.text, nl=False)
    if export.left_out:
        click.echo(f"left out (not RSS/Atom feeds with a URL): {', '.join(export.left_out)}",
                   err=True)


@feeds.command("mail")
@pass_ctx
def feeds_mail(c: Ctx) -> None:
    """Send the feed-health report to settings.admin_email now (the daemon sends it weekly).

    \b
    Example:
      relay feeds mail
    """
    with c.read() as (config, store):
        address = pipeline.send_health_mail(config, store, _now())
    if address is None:
        raise UsageError("settings.admin_email is not set", where=str(config.path))
    click.echo(f"sent the feed-health report to {address}")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--feed", "feed_id", required=True, help="The reports feed (kind: reports).")
@pass_ctx
def submit(c: Ctx, file: Path, feed_id: str) -> None:
    """Check a mission report's front matter and put it into its feed's inbox.

    The front matter needs a title and a date; topics must be known topic ids.

    \b
    Example:
      relay submit report.md --feed boston-reports
    """
    target = pipeline.submit_report(c.config(), feed_id, file)
    click.echo(f"{file} -> {target} (collected on the next `relay collect {feed_id}`)")


@main.command()
@click.argument("email")
@click.option("--topics", help="Comma-separated topic ids, in your order (required when new).")
@click.option("--frequency", type=click.Choice(["weekly", "daily"]),
              help="How often a digest is built.  [default: weekly]")
@click.option("--ui-lang", type=click.Choice(["ja", "en"]),
              help="The digest's language.  [default: ja]")
@click.option("--langs", help="Only items in these languages: ISO 639-1 codes (e.g. ja,en,zh). "
              "Default: all.")
@click.option("--missions", help="Only items from these missions (e.g. boston). Default: all.")
@click.option("--countries", help="Only items of feeds of these countries (e.g. US,DE). "
              "Default: all.")
@click.option("--name", help="The subscriber's name.")
@click.option("--org", help="The subscriber's organization.")
@click.option("--groups", help="Need-to-know groups (e.g. government): feeds with an "
              "audience reach only subscribers in one of its groups.")
@pass_ctx
def subscribe(c: Ctx, email: str, topics: str | None, frequency: str | None,
              ui_lang: str | None, langs: str | None, missions: str | None, name: str | None,
              org: str | None, groups: str | None, countries: str | None) -> None:
    """Add a subscriber, or change one (options not given keep their values).

    \b
    Example:
      relay subscribe desk@mext.example --topics quantum,ai --ui-lang ja --name 科学技術室
      relay subscribe desk@mext.example --frequency daily
    """
    def given(value: str | None) -> list[str] | None:
        return _split(value) if value is not None else None

    with c.open() as (config, store):
        try:
            sub, created = pipeline.subscribe(
                config, store, email, _now(), topics=given(topics), frequency=frequency,
                ui_lang=ui_lang, langs=given(langs), missions=given(missions),
                countries=given(countries), name=name, org=org, groups=given(groups))
        except UsageError as exc:
            if exc.message == pipeline.subscribers.NEW_NEEDS_TOPICS:
                raise UsageError("a new subscriber needs --topics",
                                 hint=CLI_HINTS["topics"]) from exc
            raise
    click.echo(f"{'subscribed' if created else 'updated'} {sub.email}: "
               f"{', '.join(sub.topics)} ({sub.frequency.value}, {sub.ui_lang})")


@main.command()
@click.argument("email")
@click.option("--token", help="The token of an unsubscribe link: refused unless it is the "
              "one relay signed for this address (settings.secret).")
@pass_ctx
def unsubscribe(c: Ctx, email: str, token: str | None) -> None:
    """Stop sending digests to a subscriber (their history is kept).

    \b
    Example:
      relay unsubscribe desk@mext.example
      relay unsubscribe desk@mext.example --token 3q2-7wL...   # from an unsubscribe link
    """
    with c.open() as (config, store):
        pipeline.unsubscribe(config, store, email, token)
    click.echo(f"unsubscribed {email}")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="A list of objects.")
@click.pass_context
def subscribers(ctx: click.Context, as_json: bool) -> None:
    """List the active subscribers.

    \b
    Example:
      relay subscribers --json
      relay subscribers import desks.csv
    """
    if ctx.invoked_subcommand is not None:
        return
    c: Ctx = ctx.obj
    with c.read() as (config, store):
        subs = pipeline.list_subscribers(store)
    if as_json:
        _json([{k: getattr(s, k) for k in SUBSCRIBER_FIELDS} for s in subs])
        return
    tz = config.settings.timezone
    click.echo(_table(
        [[s.email, " ".join(s.name.split()), ",".join(s.topics), s.frequency.value, s.ui_lang,
          s.last_digest_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
          if s.last_digest_at else "-"] for s in subs],
        ["email", "name", "topics", "frequency", "lang", "last digest"]))


# A subscriber in `subscribers --json` (never the token of their unsubscribe links).
SUBSCRIBER_FIELDS = ("email", "name", "org", "topics", "frequency", "ui_lang", "langs",
                     "missions", "countries", "groups", "last_digest_at")


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="One object: added, updated, unchanged, bad.")
@pass_ctx
def subscribers_import(c: Ctx, file: Path, as_json: bool) -> None:
    """Add or update subscribers from a CSV file (idempotent).

    Columns: email,name,organization,topics,frequency,ui_lang,groups,langs (topics,
    groups and langs space-separated; langs are ISO 639-1 codes). A bad row changes nothing and is reported with its
    line; the others are applied. Exit status 2 when a row was bad.

    \b
    Example:
      relay subscribers import desks.csv
    """
    with c.open() as (config, store):
        report = pipeline.import_subscribers(config, store, file, _now())
    if as_json:
        _json(report)
    for label, emails in (("added", report.added), ("updated", report.updated)):
        for email in emails if not as_json else ():
            click.echo(f"{label} {email}")
    click.echo(f"{len(report.added)} added, {len(report.updated)} updated, "
               f"{len(report.unchanged)} unchanged, {len(report.bad)} bad", err=True)
    for problem in report.bad:
        click.echo(f"Error: {problem} ({file})", err=True)
    if report.bad:
        sys.exit(2)


@main.group()
def digest() -> None:
    """Build digests and send them.

    \b
    Example:
      relay digest build && relay digest send
    """


@digest.command("build")
@click.option("--period", help="2026-W48 (weekly) or 2026-11-27 (daily). Default: the current one.")
@click.option("--subscriber", "email", help="Only this subscriber.")
@click.option("--json", "as_json", is_flag=True, help="One object per subscriber.")
@pass_ctx
def digest_build(c: Ctx, period: str | None, email: str | None, as_json: bool) -> None:
    """Render each subscriber's digest for the period and queue its delivery.

    Building a period twice creates nothing new.

    \b
    Example:
      relay digest build --period 2026-W48
    """
    with c.open() as (config, store), ProgressLine(c, as_json) as progress:
        results = pipeline.build_digests(config, store, _now(), period, email,
                                         on_progress=progress)
    if as_json:
        _json(results)
    for r in results if not as_json else ():
        detail = (f"{_n(r.stories, 'story')} -> {r.path}" if r.status == "built" else
                  f"failed (build): {r.error}" if r.status == "failed" else r.status)
        if r.left_out:
            detail += (f" ({_n(r.left_out, 'story')} left out: over "
                       "settings.digest.max_message_bytes)")
        click.echo(" ".join(filter(None, (shown_address(r.email), r.period))) + f": {detail}")
    failed = sum(r.status == "failed" for r in results)
    click.echo(f"{_n(sum(r.status == 'built' for r in results), 'digest')} queued"
               + (f", {failed} failed (`relay status` lists them)" if failed else ""), err=True)
    if failed:
        sys.exit(EXIT_FAILURES)


@digest.command("preview")
@click.option("--subscriber", "email", required=True, help="The subscriber's address.")
@click.option("--json", "as_json", is_flag=True,
              help='One object: {"subscriber": ..., "path": ... or null}.')
@pass_ctx
def digest_preview(c: Ctx, email: str, as_json: bool) -> None:
    """Write the subscriber's next digest as it would be now, and print its path.

    Nothing is queued or recorded: the real digest is unaffected.

    \b
    Example:
      relay digest preview --subscriber desk@mext.example
    """
    with c.read() as (config, store):
        path = pipeline.preview_digest(config, store, _now(), email)
    if as_json:
        _json({"subscriber": email.strip(), "path": path})
        return
    if path is None:
        click.echo(f"nothing new on {email}'s topics", err=True)
        return
    click.echo(path)


@digest.command("send")
@click.option("--retry-now", is_flag=True,
              help="Also send deliveries that wait for a retry (after an SMTP outage).")
@click.option("--json", "as_json", is_flag=True,
              help="One object: deliveries (address, status, error), waiting, first_retry_at.")
@pass_ctx
def digest_send(c: Ctx, retry_now: bool, as_json: bool) -> None:
    """Deliver every queued digest over SMTP (settings.smtp.url or RELAY_SMTP_URL).

    Exit status 1 when a delivery failed (it stays queued for a retry, or is
    marked failed on a permanent SMTP error).

    \b
    Example:
      RELAY_SMTP_URL=smtp://127.0.0.1:1025 relay digest send
      relay digest send --retry-now      # the server is back: do not wait
    """
    now = _now()
    with c.open() as (config, store):
        with ProgressLine(c, as_json) as progress:
            results = pipeline.send_pending(config, store, now, retry_now=retry_now,
                                            on_progress=progress)
        waiting, first = pipeline.deliveries_waiting(store, now)
        tz = config.settings.timezone
    if as_json:
        _json({"deliveries": results, "waiting": waiting, "first_retry_at": first})
    for r in results if not as_json else ():
        click.echo(f"{shown_address(r.address)}: {r.status}" + (f" ({r.error})" if r.error else ""))
    click.echo(f"{sum(r.status == 'sent' for r in results)} sent, "
               f"{sum(r.status != 'sent' for r in results)} not sent", err=True)
    if waiting and first is not None:
        click.echo(f"{_n(waiting, 'delivery')} wait for a retry, the first at "
                   f"{first.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} "
                   "(--retry-now sends them now)", err=True)
    if any(r.status != "sent" for r in results):
        sys.exit(EXIT_FAILURES)


@main.command()
@click.argument("query", required=False)
@click.option("--topic", "topics", multiple=True, help="Only items on this topic (repeatable).")
@click.option("--feed", "feeds_", multiple=True, help="Only items of this feed (repeatable).")
@click.option("--mission", "missions", multiple=True,
              help="Only items of this mission (repeatable).")
@click.option("--lang", "langs", multiple=True, help="Only items in this language (repeatable).")
@click.option("--country", "countries", multiple=True,
              help="Only items of feeds of this country, e.g. US (repeatable).")
@click.option("--story", type=int, help="Only the items of this story (all its sources).")
@click.option("--since", help="Published on or after (2026-11-01, or 7d for the last 7 days).")
@click.option("--until", help="Published before (2026-11-30).")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--order", type=click.Choice(["rank", "date"]), default="rank", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@pass_ctx
def search(c: Ctx, query: str | None, topics: tuple[str, ...], feeds_: tuple[str, ...],
           missions: tuple[str, ...], langs: tuple[str, ...], countries: tuple[str, ...],
           story: int | None, since: str | None,
           until: str | None, limit: int, order: str, fmt: str, as_json: bool) -> None:
    """Search the archive in every language (words, "phrases", OR, NOT, prefix*).

    \b
    Example:
      relay search 量子コンピュータ --since 2026-11-01
      relay search '"quantum computing" OR qubit' --topic quantum --format json
    """
    with c.read() as (config, store):
        tz = config.settings.timezone
        try:
            hits = pipeline.search(
                config, store, query, topics=topics, feeds=feeds_, missions=missions,
                langs=langs, countries=countries, story=story,
                since=_date(since, tz, "--since"), until=_date(until, tz, "--until"),
                limit=limit, order=order)
        except UsageError as exc:
            if exc.field == "lang":
                raise UsageError(f"--lang {exc.message}", hint=exc.hint) from exc
            raise
    if fmt == "json" or as_json:
        _json([{k: getattr(h, k) for k in SEARCH_FIELDS}
               | {"summary": h.summary, "snippet": h.snippet} for h in hits])
    elif fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(SEARCH_FIELDS)
        for h in hits:
            w.writerow([" ".join(h.topics) if k == "topics" else _cell(getattr(h, k))
                        for k in SEARCH_FIELDS])
        click.echo(out.getvalue(), nl=False)
    else:
        if not hits:
            click.echo("no items found", err=True)
            return
        click.echo(_table([[str(h.id), _published(h, tz, short=True), h.feed_id,
                            ",".join(h.topics), " ".join(h.title.split())[:60]]
                           for h in hits],
                          ["id", "published", "feed", "topics", "title"]))
        if any(h.snippet for h in hits):
            click.echo("")
            for h in hits:
                if h.snippet:
                    click.echo(f"{h.id}: {h.snippet}")


# The fields of a search hit in `search --format json/csv`, in their order.
SEARCH_FIELDS = ("id", "published_at", "feed_id", "mission", "lang", "topics", "title", "url",
                 "story_id", "collected_at")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One object: items, changed, seconds.")
@pass_ctx
def retag(c: Ctx, as_json: bool) -> None:
    """Apply the (edited) taxonomy to the whole archive again.

    Uses the tokens the search index holds, so it does not re-read or re-tokenize
    anything; topics a report's author gave are kept.

    \b
    Example:
      relay retag
    """
    started = time.monotonic()
    with c.open(create=False) as (config, store), ProgressLine(c, as_json) as progress:
        items, changed = pipeline.retag(config, store, on_progress=progress)
    if as_json:
        _json({"items": items, "changed": changed,
               "seconds": round(time.monotonic() - started, 1)})
        return
    click.echo(f"retagged {_n(items, 'item')} in {time.monotonic() - started:.1f}s: "
               f"{changed} changed")


@main.command()
@click.argument("item_id", type=int, required=False)
@click.option("--story", "story_id", type=int, help="Show this story: each source's item.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_ctx
def show(c: Ctx, item_id: int | None, story_id: int | None, as_json: bool) -> None:
    """Show one item with its topics and the terms that matched, or one story.

    \b
    Example:
      relay show 42
      relay show --story 2 --json
    """
    if (item_id is None) == (story_id is None):
        raise UsageError("give an item id or --story ID (one of them)")
    with c.read() as (config, store):
        view = (pipeline.show_item(store, item_id) if item_id is not None
                else pipeline.show_story(store, story_id or 0))
    if as_json:
        _json(view)
        return
    tz = config.settings.timezone
    if isinstance(view, StoryView):
        click.echo(f"story {view.id}: {_n(len(view.items), 'item')}; topics: "
                   + (", ".join(view.topics) or "-"))
        click.echo(_table([[str(h.id), _published(h, tz, short=True), h.feed_id, h.lang,
                            " ".join(h.title.split())[:60]] for h in view.items],
                          ["id", "published", "feed", "lang", "title"]))
        return
    click.echo(f"{view.title}\n{view.url}")
    click.echo(f"feed: {view.feed_name} ({view.feed_id}), mission: {view.mission or '-'}, "
               f"lang: {view.lang}, published: {_published(view, tz)}, "
               f"story: {view.story_id}")
    for t in view.tags:
        click.echo(f"topic {t.topic} (score {t.score:g}): {', '.join(t.terms)}")
    click.echo("")
    click.echo(view.text)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@pass_ctx
def export(c: Ctx, fmt: str) -> None:
    """Write every archived item to stdout (one JSON object per line, or CSV).

    Fields: id, feed, mission, country, url, title, summary, lang, published_at
    (null when the source gave no date), collected_at (first seen), topics, story_id.

    \b
    Example:
      relay export --format jsonl > archive.jsonl
    """
    with c.read() as (_config, store):
        writer = csv.writer(sys.stdout) if fmt == "csv" else None
        if writer:
            writer.writerow(pipeline.EXPORT_FIELDS)
        for row in pipeline.export_items(store):
            if writer:
                writer.writerow([" ".join(v) if k == "topics" else v for k, v in row.items()])
            else:
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (--format json).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "prometheus"]),
              default="text", show_default=True,
              help="prometheus: metrics for the node exporter's textfile collector.")
@pass_ctx
def status(c: Ctx, as_json: bool, fmt: str) -> None:
    """Archive size, feed health, subscribers and deliveries at a glance.

    \b
    Example:
      relay status --json
      relay status --format prometheus > relay.prom.$$ && mv relay.prom.$$ relay.prom
    """
    if fmt == "prometheus":
        with c.read() as (config, store):
            metrics = pipeline.prometheus_metrics(config, store, _now())
        click.echo(metrics, nl=False)
        return
    as_json = as_json or fmt == "json"
    with c.read() as (config, store):
        st = pipeline.status(config, store)
    if as_json:
        _json(st)
        return
    tz = config.settings.timezone
    d = st.deliveries
    click.echo(f"database: {st.database}")
    click.echo(f"items: {st.items} in {st.stories} stories "
               f"({st.multi_source_stories} with several sources); "
               f"last collected {_local(st.last_collected_at, tz)}")
    click.echo(f"feeds: {st.feeds} ({st.failing_feeds} failing"
               + (f", {st.partial_feeds} partial" if st.partial_feeds else "")
               + ")")
    for f in st.failing[:10]:
        click.echo(f"  {f.feed}: {f.stage or 'error'}: " + " ".join(str(f.error).split())[:70])
    click.echo(f"subscribers: {st.subscribers}; digests: {st.digests}; "
               f"deliveries: {d['queued']} queued, {d['sent']} sent, {d['failed']} failed")
    if st.digest_failures:
        click.echo(f"digest failures: {len(st.digest_failures)}")
        for g in st.digest_failures:
            when = " ".join(filter(None, (g.stage, g.period)))
            click.echo(f"  {shown_address(g.address)} ({when}, {_local(g.at, tz)}): {g.error}")
    if st.topics:
        click.echo("topics: " + ", ".join(f"{k} {v}" for k, v in st.topics.items()))


@main.command()
@pass_ctx
def migrate(c: Ctx) -> None:
    """Upgrade the archive's schema to this relay's version.

    Every command that writes does it by itself; the commands that only read open the
    archive read-only and ask for this instead of writing.

    \b
    Example:
      relay migrate
    """
    with c.open(create=False) as (_config, store):
        database = store.path
    click.echo(f"{database}: schema version {pipeline.schema_version()}, up to date")


@main.command("sql")
@click.argument("query")
@click.option("--json", "fmt", flag_value="json", default=True,
              help="A JSON array of objects, one per row (the default).")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
@click.option("--table", "fmt", flag_value="table", help="Columns aligned as text.")
@click.option("-p", "--param", "params", type=(str, str), multiple=True,
              metavar="NAME VALUE", help="A value for :NAME in the query (repeatable).")
@pass_ctx
def sql(c: Ctx, query: str, fmt: str, params: tuple[tuple[str, str], ...]) -> None:
    """Run a read-only SQL query on the archive, like `sqlite-utils query`.

    Its stable views: archive_items (each item with its feed, audience, topics and
    story), archive_story_sources (each story's items), archive_deliveries. Other
    tables are relay's own and may change. A query that would write is refused.

    \b
    Example:
      relay sql "SELECT feed_id, COUNT(*) AS n FROM archive_items GROUP BY feed_id" --table
      relay sql "SELECT title FROM archive_items WHERE NOT restricted AND lang = :l" -p l ja
    """
    with c.read() as (config, store):
        result = sql_query(config, store, query, dict(params))
        if fmt == "table":
            rows = [["" if v is None else str(_sql_cell(v)) for v in row] for row in result.rows]
            if result.columns:
                click.echo(_table(rows, result.columns))
        elif fmt == "csv":
            writer = csv.writer(sys.stdout)
            writer.writerow(result.columns)
            writer.writerows([_sql_cell(v) for v in row] for row in result.rows)
        else:
            sys.stdout.write("[")
            for n, row in enumerate(result.rows):
                sys.stdout.write(",\n " if n else "")
                sys.stdout.write(json.dumps(
                    {k: _sql_cell(v, as_json=True) for k, v in zip(result.columns, row, strict=True)},
                    ensure_ascii=False))
            sys.stdout.write("]\n")


def _sql_cell(value: Any, as_json: bool = False) -> Any:
    """A value as `sqlite-utils query` writes it: a BLOB as base64 (in JSON, marked so)."""
    if not isinstance(value, bytes):
        return value
    encoded = base64.b64encode(value).decode("ascii")
    return {"$base64": True, "encoded": encoded} if as_json else encoded


@main.command()
@click.option("--dir", "workdir", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="Where storage/ and digests/ are written.")
def demo(workdir: Path) -> None:
    """Run the whole pipeline offline on the bundled sample.

    Serves sample feeds on 127.0.0.1, collects them into storage/demo.db, adds two
    subscribers, builds their digests and sends them to an SMTP server on
    127.0.0.1 that writes what it receives under digests/.

    \b
    Example:
      relay demo
    """
    from relay.demo.run import run_demo

    run_demo(workdir.resolve(), echo=click.echo)
