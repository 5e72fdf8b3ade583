"""The commands that fill the archive: `relay collect`, `retag`, and `submit` (a mission
report into its feed's inbox, for the next collect)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from relay import pipeline
from relay.cli import _render as render
from relay.cli._base import Ctx, now, pass_ctx
from relay.errors import EXIT_FAILURES


@click.command()
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
    with c.open() as (config, store), render.ProgressLine(c, as_json) as progress:
        reports = pipeline.collect(config, store, now(), feed_ids, everything,
                                   on_progress=progress)
    if as_json:
        render.echo_json([{"feed": r.feed_id, "ok": r.ok, "fetched": r.fetched, "new": r.new,
                "duplicates": r.duplicates, "not_modified": r.not_modified, "error": r.error,
                "stage": r.stage, "partial": r.partial, "skipped": r.skipped,
                "trimmed": r.trimmed, "over_cap": r.over_cap, "moved_to": r.moved_to,
                "disabled": r.disabled, "interrupted": r.interrupted} for r in reports])
    else:
        for r in reports:
            state = (f"error ({r.stage}): {r.error}" if r.error else
                     "not modified" if r.not_modified else
                     f"{r.new} new, {r.duplicates} duplicate")
            if r.partial and not r.error:
                state += f"; partial: {r.partial}"
            left = render.left_out(r.skipped, r.trimmed, r.over_cap)
            if left:
                state += f"; {left}"
            click.echo(f"{r.feed_id}: {state}")
            if r.moved_to:
                click.echo(f"  moved permanently to {r.moved_to}: update its url in "
                           f"{config.path}")
            if r.disabled:
                click.echo(f"  disabled: {r.disabled}")
        new = sum(r.new for r in reports)
        failed = sum(not r.ok for r in reports)
        broken = sum(bool(r.ok and r.partial) for r in reports)
        click.echo(f"{render.n(len(reports), 'feed')}, {render.n(new, 'new item')}, {failed} failed"
                   + (f", {broken} partial" if broken else ""), err=True)
    if any(not r.ok for r in reports):
        sys.exit(EXIT_FAILURES)


@click.command()
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
    with c.open(create=False) as (config, store), render.ProgressLine(c, as_json) as progress:
        items, changed = pipeline.retag(config, store, on_progress=progress)
    if as_json:
        render.echo_json({"items": items, "changed": changed,
               "seconds": round(time.monotonic() - started, 1)})
        return
    click.echo(f"retagged {render.n(items, 'item')} in {time.monotonic() - started:.1f}s: "
               f"{changed} changed")


@click.command()
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
