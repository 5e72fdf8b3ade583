"""`relay feeds`: the feeds' health, and their administration (check, add, import and
export OPML, mail the health report)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from relay import pipeline
from relay.cli import _render as render
from relay.cli._base import Ctx, now, pass_ctx
from relay.errors import EXIT_FAILURES, UsageError


@click.group(invoke_without_command=True)
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
        rows = pipeline.feed_health(config, store, now())
    if as_json:
        render.echo_json(rows)
        return
    tz = config.settings.timezone

    def state(r: dict[str, Any]) -> str:
        left = render.left_out(r["skipped"], r["trimmed"], r["over_cap"])
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
              render.local(r["last_ok_at"], tz), str(r["error_count"]), render.local(r["next_fetch_at"], tz),
              " ".join(state(r).split())[:60]] for r in rows]
    click.echo(render.table(table, ["feed", "7d", "30d", "last ok", "errors", "next fetch",
                              "state"]))


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
    checks = pipeline.check_feeds(config, now(), feed_ids)
    tz = config.settings.timezone
    if as_json:
        render.echo_json([{"feed": k.feed_id} | {f: getattr(k, f) for f in (
            "url", "ok", "status", "entries", "newest", "moved_to", "error", "partial")}
            for k in checks])
    else:
        click.echo(render.table(
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
    made = pipeline.add_feed(config, url, now(), os.environ, feed_id=feed_id, name=name,
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
    with render.ProgressLine(c, as_json) as progress:
        report = pipeline.import_opml(config, file, now(), os.environ,
                                      allow_private=allow_private, interval=interval,
                                      on_progress=progress)
    if as_json:
        render.echo_json({"added": [m.entry for m in report.added], "skipped": report.skipped,
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
    render.exit_if_bad(list(report.bad))


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
    export = pipeline.export_opml(config, now())
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
        address = pipeline.send_health_mail(config, store, now())
    if address is None:
        raise UsageError("settings.admin_email is not set", where=str(config.path))
    click.echo(f"sent the feed-health report to {address}")
