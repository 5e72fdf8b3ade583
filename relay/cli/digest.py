"""`relay digest`: build, preview and send the subscribers' digests."""

from __future__ import annotations

import sys
from zoneinfo import ZoneInfo

import click

from relay import pipeline
from relay.cli import _render as render
from relay.cli._base import Ctx, now, pass_ctx
from relay.errors import EXIT_FAILURES


@click.group()
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
    with c.open() as (config, store), render.ProgressLine(c, as_json) as progress:
        results = pipeline.build_digests(config, store, now(), period, email,
                                         on_progress=progress)
    if as_json:
        render.echo_json(results)
    for r in results if not as_json else ():
        detail = (f"{render.n(r.stories, 'story')} -> {r.path}" if r.status == "built" else
                  f"failed (build): {r.error}" if r.status == "failed" else r.status)
        if r.left_out:
            detail += (f" ({render.n(r.left_out, 'story')} left out: over "
                       "settings.digest.max_message_bytes)")
        click.echo(" ".join(filter(None, (pipeline.shown_address(r.email), r.period))) + f": {detail}")
    failed = sum(r.status == "failed" for r in results)
    click.echo(f"{render.n(sum(r.status == 'built' for r in results), 'digest')} queued"
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
        path = pipeline.preview_digest(config, store, now(), email)
    if as_json:
        render.echo_json({"subscriber": email.strip(), "path": path})
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
    at = now()
    with c.open() as (config, store):
        with render.ProgressLine(c, as_json) as progress:
            results = pipeline.send_pending(config, store, at, retry_now=retry_now,
                                            on_progress=progress)
        waiting, first = pipeline.deliveries_waiting(store, at)
        tz = config.settings.timezone
    if as_json:
        render.echo_json({"deliveries": results, "waiting": waiting, "first_retry_at": first})
    for r in results if not as_json else ():
        click.echo(f"{pipeline.shown_address(r.address)}: {r.status}"
                   + (f" ({r.error})" if r.error else ""))
    click.echo(f"{sum(r.status == 'sent' for r in results)} sent, "
               f"{sum(r.status != 'sent' for r in results)} not sent", err=True)
    if waiting and first is not None:
        click.echo(f"{render.n(waiting, 'delivery')} wait for a retry, the first at "
                   f"{first.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} "
                   "(--retry-now sends them now)", err=True)
    if any(r.status != "sent" for r in results):
        sys.exit(EXIT_FAILURES)
