"""`relay status`: the archive, feeds, subscribers and deliveries at a glance (text,
JSON, or Prometheus metrics)."""

from __future__ import annotations

import click

from relay import pipeline
from relay.cli import _render as render
from relay.cli._base import Ctx, now, pass_ctx


@click.command()
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
    fmt = render.output_format(as_json, fmt)
    if fmt == "prometheus":
        with c.read() as (config, store):
            metrics = pipeline.prometheus_metrics(config, store, now())
        click.echo(metrics, nl=False)
        return
    with c.read() as (config, store):
        st = pipeline.status(config, store)
    if fmt == "json":
        render.echo_json(st)
        return
    tz = config.settings.timezone
    d = st.deliveries
    click.echo(f"database: {st.database}")
    click.echo(f"items: {st.items} in {st.stories} stories "
               f"({st.multi_source_stories} with several sources); "
               f"last collected {render.local(st.last_collected_at, tz)}")
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
            click.echo(f"  {pipeline.shown_address(g.address)} ({when}, {render.local(g.at, tz)}): {g.error}")
    if st.topics:
        click.echo("topics: " + ", ".join(f"{k} {v}" for k, v in st.topics.items()))
