"""The commands that read the archive: `relay search`, `show`, `export` and `sql`."""

from __future__ import annotations

import base64
import csv
import io
import json
import sys
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from relay import pipeline
from relay.cli import _render as render
from relay.cli._base import Ctx, now, pass_ctx
from relay.errors import UsageError
from relay.models import EARLIEST, LATEST, StoryView, kept_date


def _date(value: str | None, tz: str, option: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError:
        days = value[:-1] if value.endswith("d") else ""
        if not (days.isascii() and days.isdigit()):
            raise UsageError(f"{option} {value!r} is not a date like 2026-11-01 or 7d") from None
        today = now()    # any number of days back: no item is older than EARLIEST
        return today - timedelta(days=min(int(days), (today - EARLIEST).days))
    local = day if day.tzinfo else day.replace(tzinfo=ZoneInfo(tz))
    # A date outside the range relay keeps (0001-01-01, 9999-12-31) asks for what its edge
    # of the range does: no item is dated beyond it.
    return kept_date(local) or (EARLIEST if local.year <= EARLIEST.year else LATEST)


@click.command()
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
    fmt = render.output_format(as_json, fmt)
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
    if fmt == "json":
        render.echo_json([{k: getattr(h, k) for k in SEARCH_FIELDS}
               | {"summary": h.summary, "snippet": h.snippet} for h in hits])
    elif fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(SEARCH_FIELDS)
        for h in hits:
            w.writerow([" ".join(h.topics) if k == "topics" else render.cell(getattr(h, k))
                        for k in SEARCH_FIELDS])
        click.echo(out.getvalue(), nl=False)
    else:
        if not hits:
            click.echo("no items found", err=True)
            return
        click.echo(render.table([[str(h.id), render.published(h, tz, short=True), h.feed_id,
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


@click.command()
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
        render.echo_json(view)
        return
    tz = config.settings.timezone
    if isinstance(view, StoryView):
        click.echo(f"story {view.id}: {render.n(len(view.items), 'item')}; topics: "
                   + (", ".join(view.topics) or "-"))
        click.echo(render.table([[str(h.id), render.published(h, tz, short=True), h.feed_id, h.lang,
                            " ".join(h.title.split())[:60]] for h in view.items],
                          ["id", "published", "feed", "lang", "title"]))
        return
    click.echo(f"{view.title}\n{view.url}")
    click.echo(f"feed: {view.feed_name} ({view.feed_id}), mission: {view.mission or '-'}, "
               f"lang: {view.lang}, published: {render.published(view, tz)}, "
               f"story: {view.story_id}")
    for t in view.tags:
        click.echo(f"topic {t.topic} (score {t.score:g}): {', '.join(t.terms)}")
    click.echo("")
    click.echo(view.text)


@click.command()
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


@click.command("sql")
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
        result = pipeline.run_sql(config, store, query, dict(params))
        if fmt == "table":
            rows = [["" if v is None else str(_sql_cell(v)) for v in row] for row in result.rows]
            if result.columns:
                click.echo(render.table(rows, result.columns))
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
