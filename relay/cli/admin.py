"""Running relay: `relay check` (the configuration), `run` (the daemon), `migrate` (the
archive's schema) and `demo` (the whole pipeline offline)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from relay import pipeline
from relay.cli._base import Ctx, pass_ctx
from relay.cli._render import echo_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_ctx
def check(c: Ctx, as_json: bool) -> None:
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
    if as_json:     # the SMTP server without its user and password, as the text shows it
        echo_json({"path": str(config.path), "ok": True, "feeds": len(config.feeds),
                   "enabled": sum(f.enabled for f in config.feeds), "kinds": kinds,
                   "topics": [t.id for t in config.topics],
                   "topics_from": "built-in" if config.topics_builtin else "feeds.yaml",
                   "timezone": s.timezone, "database": str(c.database(config)),
                   "digests_dir": str(s.digests_dir), "smtp": s.smtp.url.split("@")[-1],
                   "sender": s.smtp.sender})
        return
    click.echo(f"{config.path}: OK")
    click.echo(f"  feeds: {len(config.feeds)} ({sum(f.enabled for f in config.feeds)} enabled; "
               + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")
    origin = "built-in" if config.topics_builtin else "feeds.yaml"
    click.echo(f"  topics: {len(config.topics)} ({origin}): "
               + ", ".join(t.id for t in config.topics))
    click.echo(f"  timezone: {s.timezone}; database: {c.database(config)}; "
               f"digests: {s.digests_dir}")
    click.echo(f"  smtp: {s.smtp.url.split('@')[-1]} from {s.smtp.sender}")


@click.command()
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_ctx
def migrate(c: Ctx, as_json: bool) -> None:
    """Upgrade the archive's schema to this relay's version.

    Every command that writes does it by itself; the commands that only read open the
    archive read-only and ask for this instead of writing.

    \b
    Example:
      relay migrate
    """
    with c.open(create=False) as (_config, store):
        database = store.path
    if as_json:
        echo_json({"database": str(database), "schema_version": pipeline.schema_version()})
        return
    click.echo(f"{database}: schema version {pipeline.schema_version()}, up to date")


@click.command()
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
