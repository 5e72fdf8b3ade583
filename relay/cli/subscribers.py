"""`relay subscribe`, `unsubscribe` and `subscribers` (list, import a CSV file)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import click

from relay import pipeline
from relay.cli import _render as render
from relay.cli._base import CLI_HINTS, Ctx, now, pass_ctx
from relay.errors import UsageError


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(" ", ",").split(",") if v.strip()]


@click.command()
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
                config, store, email, now(), topics=given(topics), frequency=frequency,
                ui_lang=ui_lang, langs=given(langs), missions=given(missions),
                countries=given(countries), name=name, org=org, groups=given(groups))
        except UsageError as exc:
            if exc.message == pipeline.subscribers.NEW_NEEDS_TOPICS:
                raise UsageError("a new subscriber needs --topics",
                                 hint=CLI_HINTS["topics"]) from exc
            raise
    click.echo(f"{'subscribed' if created else 'updated'} {sub.email}: "
               f"{', '.join(sub.topics)} ({sub.frequency.value}, {sub.ui_lang})")


@click.command()
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


@click.group(invoke_without_command=True)
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
        render.echo_json([{k: getattr(s, k) for k in SUBSCRIBER_FIELDS} for s in subs])
        return
    tz = config.settings.timezone
    click.echo(render.table(
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
        report = pipeline.import_subscribers(config, store, file, now())
    if as_json:
        render.echo_json(report)
    for label, emails in (("added", report.added), ("updated", report.updated)):
        for email in emails if not as_json else ():
            click.echo(f"{label} {email}")
    click.echo(f"{len(report.added)} added, {len(report.updated)} updated, "
               f"{len(report.unchanged)} unchanged, {len(report.bad)} bad", err=True)
    render.exit_if_bad([f"{problem} ({file})" for problem in report.bad])
