"""The `relay` command line: the only place that prints and picks exit codes.

Every command reads the configuration (`--config`, `RELAY_CONFIG`, default
./feeds.yaml) and opens the archive (`--db`, `RELAY_DB`, default from the
configuration), calls one use case of `pipeline`, and reports: data to
stdout (`--json` where a table is printed), logs to stderr. A `RelayError`
is caught once, here: `Error: <what> (<where>)` and its hint on stderr (-v: the
traceback too), exit 2 for bad input, 1 for a run that finished with failures or a
failure of the archive (store.store_error). The commands that only read open the
archive read-only (`Ctx.read`).
"""

from __future__ import annotations

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click

from relay import __version__, pipeline
from relay.collect.reports import submit_report
from relay.config import load_config
from relay.daemon import Daemon, log_to_stderr
from relay.digest.deliver import shown_address, token_matches
from relay.errors import EXIT_FAILURES, CollectError, RelayError, UsageError
from relay.langs import primary
from relay.models import EARLIEST, LATEST, Config, FeedKind, kept_date
from relay.search import highlight, query_tokens, to_fts
from relay.store import MIGRATIONS, Store, from_ts, store_error
from relay.tokens import spans, tokenize


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
             ) -> Iterator[tuple[Config, Store]]:
        """The configuration and the archive; a command that only reads refuses to
        create an archive (a mistyped --db would otherwise show an empty one)."""
        config = self.config()
        path = self.database(config)
        if (readonly or not create) and not path.exists():
            raise UsageError("no archive here yet", where=str(path),
                             hint="check --db / settings.database, or run `relay collect` first")
        self.archive = path
        store = Store(path, readonly=readonly)
        try:
            yield config, store
        finally:
            store.close()

    def read(self) -> AbstractContextManager[tuple[Config, Store]]:
        """The configuration and the archive opened read-only (see Store): for the
        commands that only read, which work on a read-only archive and never upgrade it."""
        return self.open(create=False, readonly=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(exc: RelayError, verbose: int = 0) -> NoReturn:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"Error: {exc}", err=True)
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


class RelayGroup(click.Group):
    """Turns a RelayError anywhere below into one line on stderr and its exit code (-v
    adds the traceback); so is a failure of the archive's disk or file that SQLite met
    outside a statement (while reading rows), translated by store.store_error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except RelayError as exc:
            _fail(exc, getattr(ctx.obj, "verbose", 0))
        except Exception as exc:
            translated = store_error(exc, getattr(ctx.obj, "archive", None) or "the archive")
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


def _local(text: str | None, tz: str) -> str:
    dt = from_ts(text)
    return dt.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _published(row: dict[str, Any], tz: str, short: bool = False) -> str:
    """An item's publication date, or that the source gave none and when relay first saw it."""
    if row["published_at"]:
        return _local(row["published_at"], tz)
    seen = _local(row["collected_at"], tz)
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


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


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
    unknown = [f for f in feed_ids if config.feed(f) is None]
    if unknown:
        raise UsageError(f"unknown feed id {unknown[0]!r}", where=str(config.path))
    checks = pipeline.check_feeds(config, _now(), feed_ids)
    tz = config.settings.timezone
    if as_json:
        _json([{"feed": k.feed_id, "url": k.url, "ok": k.ok, "status": k.status,
                "entries": k.entries, "newest": k.newest.isoformat() if k.newest else None,
                "moved_to": k.moved_to, "error": k.error, "partial": k.partial}
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
        if not config.settings.admin_email:
            raise UsageError("settings.admin_email is not set", where=str(config.path))
        address = pipeline.send_health_mail(config, store, _now())
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
    config = c.config()
    feed = config.feed(feed_id)
    if feed is None or feed.kind is not FeedKind.REPORTS or feed.path is None:
        raise UsageError(f"{feed_id!r} is not a reports feed", where=str(config.path),
                         hint="a feed with kind: reports and path: reports/inbox/...")
    if not file.is_file():
        raise UsageError("no such file", where=str(file))
    try:
        target = submit_report(file, feed.path, {t.id for t in config.topics})
    except CollectError as exc:
        raise UsageError(exc.message, where=str(file), hint=exc.hint) from exc
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
    with c.open() as (config, store):
        old = next((s for s in store.subscribers(active_only=False)
                    if s.email == email.strip()), None)
        if old is None and topics is None:
            raise UsageError("a new subscriber needs --topics", hint="--topics quantum,ai")
        sub = pipeline.make_subscriber(
            config, email,
            _split(topics) if topics is not None else list(old.topics if old else ()),
            frequency=frequency or (old.frequency.value if old else "weekly"),
            ui_lang=ui_lang or (old.ui_lang if old else "ja"),
            langs=_split(langs) if langs is not None else list(old.langs if old else ()),
            missions=(_split(missions) if missions is not None
                      else list(old.missions if old else ())),
            name=name if name is not None else (old.name if old else ""),
            org=org if org is not None else (old.org if old else ""),
            groups=_split(groups) if groups is not None else list(old.groups if old else ()),
            countries=(_split(countries) if countries is not None
                       else list(old.countries if old else ())))
        created = store.upsert_subscriber(sub, _now())
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
        if token is not None:
            if not config.settings.secret:
                raise UsageError("settings.secret is not set: no token can be checked")
            if not token_matches(config.settings.secret, email, token):
                raise UsageError("the token does not match this address", where=email)
        if not store.deactivate_subscriber(email.strip()):
            raise UsageError(f"no active subscriber {email!r}")
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
        subs = store.subscribers()
    if as_json:
        _json([{"email": s.email, "name": s.name, "org": s.org, "topics": list(s.topics),
                "frequency": s.frequency.value, "ui_lang": s.ui_lang, "langs": list(s.langs),
                "missions": list(s.missions), "countries": list(s.countries),
                "groups": list(s.groups),
                "last_digest_at": s.last_digest_at.isoformat() if s.last_digest_at else None}
               for s in subs])
        return
    tz = config.settings.timezone
    click.echo(_table(
        [[s.email, " ".join(s.name.split()), ",".join(s.topics), s.frequency.value, s.ui_lang,
          s.last_digest_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
          if s.last_digest_at else "-"] for s in subs],
        ["email", "name", "topics", "frequency", "lang", "last digest"]))


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_ctx
def subscribers_import(c: Ctx, file: Path) -> None:
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
    for label, emails in (("added", report.added), ("updated", report.updated)):
        for email in emails:
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
@pass_ctx
def digest_build(c: Ctx, period: str | None, email: str | None) -> None:
    """Render each subscriber's digest for the period and queue its delivery.

    Building a period twice creates nothing new.

    \b
    Example:
      relay digest build --period 2026-W48
    """
    with c.open() as (config, store), ProgressLine(c) as progress:
        results = pipeline.build_digests(config, store, _now(), period, email,
                                         on_progress=progress)
    for r in results:
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
@pass_ctx
def digest_preview(c: Ctx, email: str) -> None:
    """Write the subscriber's next digest as it would be now, and print its path.

    Nothing is queued or recorded: the real digest is unaffected.

    \b
    Example:
      relay digest preview --subscriber desk@mext.example
    """
    with c.read() as (config, store):
        path = pipeline.preview_digest(config, store, _now(), email)
    if path is None:
        click.echo(f"nothing new on {email}'s topics", err=True)
        return
    click.echo(path)


@digest.command("send")
@click.option("--retry-now", is_flag=True,
              help="Also send deliveries that wait for a retry (after an SMTP outage).")
@pass_ctx
def digest_send(c: Ctx, retry_now: bool) -> None:
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
        with ProgressLine(c) as progress:
            results = pipeline.send_pending(config, store, now, retry_now=retry_now,
                                            on_progress=progress)
        waiting, first = store.waiting_deliveries(now)
        tz = config.settings.timezone
    for r in results:
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
@pass_ctx
def search(c: Ctx, query: str | None, topics: tuple[str, ...], feeds_: tuple[str, ...],
           missions: tuple[str, ...], langs: tuple[str, ...], countries: tuple[str, ...],
           story: int | None, since: str | None,
           until: str | None, limit: int, order: str, fmt: str) -> None:
    """Search the archive in every language (words, "phrases", OR, NOT, prefix*).

    \b
    Example:
      relay search 量子コンピュータ --since 2026-11-01
      relay search '"quantum computing" OR qubit' --topic quantum --format json
    """
    with c.read() as (config, store):
        tz = config.settings.timezone
        for t in topics:
            if config.topic(t) is None:
                raise UsageError(f"unknown topic {t!r}",
                                 hint=", ".join(x.id for x in config.topics))
        codes = []
        for lang in langs:
            code = primary(lang)               # pt_BR is pt
            if code is None:
                raise UsageError(f"--lang {lang!r} is not an ISO 639-1 language code "
                                 "(ja, en, zh, pt, zh-CN, ...)")
            codes.append(code)
        langs = tuple(dict.fromkeys(codes))
        # Without --lang, a word is stemmed as each language the archive holds items in.
        held = store.languages() if query and not langs else []
        match = to_fts(query, tokenize, langs, held) if query else None
        wanted = query_tokens(query, tokenize, langs, held) if query else set()
        rows = store.search(match, topics=topics, feeds=feeds_, missions=missions, langs=langs,
                            countries=countries, story=story,
                            since=_date(since, tz, "--since"), until=_date(until, tz, "--until"),
                            limit=limit, order=order)
    keys = ["id", "published_at", "feed_id", "mission", "lang", "topics", "title", "url",
            "story_id", "collected_at"]
    for r in rows:
        r["snippet"] = highlight(spans(r["summary"], r["lang"]), wanted) if wanted else ""
    if fmt == "json":
        _json([{k: r[k] for k in keys} | {"summary": r["summary"], "snippet": r["snippet"]}
               for r in rows])
    elif fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(keys)
        for r in rows:
            w.writerow([" ".join(r[k]) if k == "topics" else r[k] for k in keys])
        click.echo(out.getvalue(), nl=False)
    else:
        if not rows:
            click.echo("no items found", err=True)
            return
        click.echo(_table([[str(r["id"]), _published(r, tz, short=True), r["feed_id"],
                            ",".join(r["topics"]), " ".join(r["title"].split())[:60]]
                           for r in rows],
                          ["id", "published", "feed", "topics", "title"]))
        if wanted:
            click.echo("")
            for r in rows:
                if r["snippet"]:
                    click.echo(f"{r['id']}: {r['snippet']}")


@main.command()
@pass_ctx
def retag(c: Ctx) -> None:
    """Apply the (edited) taxonomy to the whole archive again.

    Uses the tokens the search index holds, so it does not re-read or re-tokenize
    anything; topics a report's author gave are kept.

    \b
    Example:
      relay retag
    """
    started = time.monotonic()
    with c.open(create=False) as (config, store), ProgressLine(c) as progress:
        items, changed = pipeline.retag(config, store, on_progress=progress)
    click.echo(f"retagged {_n(items, 'item')} in {time.monotonic() - started:.1f}s: "
               f"{changed} changed")


@main.command()
@click.argument("item_id", type=int)
@pass_ctx
def show(c: Ctx, item_id: int) -> None:
    """Show one item with its topics and the terms that matched.

    \b
    Example:
      relay show 42
    """
    with c.read() as (config, store):
        row = store.item(item_id)
    if row is None:
        raise UsageError(f"no item {item_id}")
    tz = config.settings.timezone
    click.echo(f"{row['title']}\n{row['url']}")
    click.echo(f"feed: {row['feed_name']} ({row['feed_id']}), mission: {row['mission'] or '-'}, "
               f"lang: {row['lang']}, published: {_published(row, tz)}, "
               f"story: {row['story_id']}")
    for t in row["tags"]:
        click.echo(f"topic {t['topic']} (score {t['score']:g}): {', '.join(t['terms'])}")
    click.echo("")
    click.echo(row["text"])


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
    keys = ["id", "feed", "mission", "country", "url", "title", "summary", "lang",
            "published_at", "collected_at", "topics", "story_id"]
    with c.read() as (_config, store):
        writer = csv.writer(sys.stdout) if fmt == "csv" else None
        if writer:
            writer.writerow(keys)
        for row in store.export_rows():
            if writer:
                writer.writerow([" ".join(row[k]) if k == "topics" else row[k] for k in keys])
            else:
                sys.stdout.write(json.dumps({k: row[k] for k in keys}, ensure_ascii=False) + "\n")


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
        store.sync_feeds(config.feeds)
        counts = store.counts()
        database = str(store.path)
    if as_json:
        _json({"database": database} | counts)
        return
    tz = config.settings.timezone
    d = counts["deliveries"]
    click.echo(f"database: {database}")
    click.echo(f"items: {counts['items']} in {counts['stories']} stories "
               f"({counts['multi_source_stories']} with several sources); "
               f"last collected {_local(counts['last_collected_at'], tz)}")
    click.echo(f"feeds: {counts['feeds']} ({counts['failing_feeds']} failing"
               + (f", {counts['partial_feeds']} partial" if counts["partial_feeds"] else "")
               + ")")
    for f in counts["failing"][:10]:
        click.echo(f"  {f['feed']}: {f['stage'] or 'error'}: "
                   + " ".join(str(f["error"]).split())[:70])
    click.echo(f"subscribers: {counts['subscribers']}; digests: {counts['digests']}; "
               f"deliveries: {d['queued']} queued, {d['sent']} sent, {d['failed']} failed")
    if counts["digest_failures"]:
        click.echo(f"digest failures: {len(counts['digest_failures'])}")
        for f in counts["digest_failures"]:
            when = " ".join(filter(None, (f["stage"], f["period"])))
            click.echo(f"  {shown_address(f['address'])} ({when}, {_local(f['at'], tz)}): "
                       f"{f['error']}")
    if counts["topics"]:
        click.echo("topics: " + ", ".join(f"{k} {v}" for k, v in counts["topics"].items()))


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
    click.echo(f"{database}: schema version {len(MIGRATIONS)}, up to date")


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
