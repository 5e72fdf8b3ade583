"""The use cases: the only place that composes stages and talks to the store. The
drivers (cli, daemon, demo) call these and nothing below them; each use case is one
function, found by its name in the module of its area:

- collecting: `collect` (the due, named or all feeds; `due_only` for the daemon's
  job of one feed), `schedule_feeds` (when the daemon first fetches each feed).
  One failing feed is a report row, never the end of the run.
- ingesting: `ingest` (entries -> normalized, tagged, deduplicated items, one
  transaction per feed batch), `retag` (the edited taxonomy over the whole archive).
- reports: `submit_report` (a mission report into its feed's inbox).
- subscribers: `subscribe` (add, or change what is given), `unsubscribe` (a link's
  token checked), `import_subscribers` (CSV), `list_subscribers`, `make_subscriber`.
- searching: `search` (query, filters, snippets); sql: `run_sql` (`relay sql`).
- archive: `open_archive`, `status`, `show_item`, `show_story`, `export_items`,
  `schema_version`.
- digests: `build_digests` (select, render, write, queue; a period built once),
  `preview_digest`, `send_pending` (over one SMTP connection, each delivery claimed),
  `deliveries_waiting`, `publish_topic_feeds`.
- health: `feed_health`, `check_feeds`, `add_feed` (with `probe_url`), `health_report`,
  `send_health_mail`.
- opml: `import_opml` (a feed reader's list into feeds.yaml), `export_opml`.
- metrics: `prometheus_metrics` (`relay status --format prometheus`).
- progress: `Progress`, what a long use case tells its `on_progress` after each unit.
`now` is a parameter everywhere; the drivers read the clock. The archive is typed as
`ports.Archive` (what the pipeline needs of a store).

Importing this package imports none of them: each name is looked up in its module
when first asked for (`pipeline.collect`, `from relay.pipeline import collect`), so a
driver that runs one use case loads that use case's modules only (a command's start-up
is its own imports, not the whole pipeline's; see benchmarks/startup.py). `_HOMES` says
where each name lives; the imports under TYPE_CHECKING say the same to mypy, and
tests/test_layers.py keeps the two equal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relay.digest.deliver import shown_address
    from relay.pipeline.archive import (
        EXPORT_FIELDS,
        export_items,
        open_archive,
        schema_version,
        show_item,
        show_story,
        status,
        stored_time,
    )
    from relay.pipeline.collecting import collect, feeds_to_collect, limits_for, schedule_feeds
    from relay.pipeline.digests import (
        DigestResult,
        SendResult,
        build_digests,
        deliveries_waiting,
        preview_digest,
        send_pending,
    )
    from relay.pipeline.health import (
        FeedCheck,
        NewFeed,
        add_feed,
        check_feeds,
        feed_health,
        health_report,
        probe_url,
        probe_urls,
        send_health_mail,
        slug,
    )
    from relay.pipeline.ingesting import ingest, prepare, retag, taxonomy_for
    from relay.pipeline.metrics import prometheus_metrics
    from relay.pipeline.opml import OpmlExport, OpmlImport, export_opml, import_opml
    from relay.pipeline.progress import Progress
    from relay.pipeline.reports import submit_report
    from relay.pipeline.searching import search
    from relay.pipeline.sql import run_sql
    from relay.pipeline.subscribers import (
        ImportReport,
        import_subscribers,
        list_subscribers,
        make_subscriber,
        subscribe,
        unsubscribe,
    )
    from relay.schedule import period_of
    from relay.tokens import warm_up

# Each name of the use-case layer and the module that defines it.
_HOMES: dict[str, str] = {
    "shown_address": "relay.digest.deliver",
    "EXPORT_FIELDS": "relay.pipeline.archive",
    "export_items": "relay.pipeline.archive",
    "open_archive": "relay.pipeline.archive",
    "schema_version": "relay.pipeline.archive",
    "show_item": "relay.pipeline.archive",
    "show_story": "relay.pipeline.archive",
    "status": "relay.pipeline.archive",
    "stored_time": "relay.pipeline.archive",
    "collect": "relay.pipeline.collecting",
    "feeds_to_collect": "relay.pipeline.collecting",
    "limits_for": "relay.pipeline.collecting",
    "schedule_feeds": "relay.pipeline.collecting",
    "build_digests": "relay.pipeline.digests",
    "deliveries_waiting": "relay.pipeline.digests",
    "DigestResult": "relay.pipeline.digests",
    "preview_digest": "relay.pipeline.digests",
    "send_pending": "relay.pipeline.digests",
    "SendResult": "relay.pipeline.digests",
    "add_feed": "relay.pipeline.health",
    "check_feeds": "relay.pipeline.health",
    "feed_health": "relay.pipeline.health",
    "FeedCheck": "relay.pipeline.health",
    "health_report": "relay.pipeline.health",
    "NewFeed": "relay.pipeline.health",
    "probe_url": "relay.pipeline.health",
    "probe_urls": "relay.pipeline.health",
    "send_health_mail": "relay.pipeline.health",
    "slug": "relay.pipeline.health",
    "ingest": "relay.pipeline.ingesting",
    "prepare": "relay.pipeline.ingesting",
    "retag": "relay.pipeline.ingesting",
    "taxonomy_for": "relay.pipeline.ingesting",
    "prometheus_metrics": "relay.pipeline.metrics",
    "export_opml": "relay.pipeline.opml",
    "import_opml": "relay.pipeline.opml",
    "OpmlExport": "relay.pipeline.opml",
    "OpmlImport": "relay.pipeline.opml",
    "Progress": "relay.pipeline.progress",
    "submit_report": "relay.pipeline.reports",
    "search": "relay.pipeline.searching",
    "run_sql": "relay.pipeline.sql",
    "import_subscribers": "relay.pipeline.subscribers",
    "ImportReport": "relay.pipeline.subscribers",
    "list_subscribers": "relay.pipeline.subscribers",
    "make_subscriber": "relay.pipeline.subscribers",
    "subscribe": "relay.pipeline.subscribers",
    "unsubscribe": "relay.pipeline.subscribers",
    "period_of": "relay.schedule",
    "warm_up": "relay.tokens",
}

__all__ = [
    "NewFeed", "OpmlExport", "OpmlImport", "Progress", "export_opml", "import_opml",
    "probe_urls", "prometheus_metrics",
    "EXPORT_FIELDS", "DigestResult", "add_feed", "FeedCheck", "ImportReport", "SendResult",
    "build_digests", "check_feeds", "collect", "deliveries_waiting",
    "export_items", "feed_health", "feeds_to_collect", "health_report", "import_subscribers",
    "ingest", "limits_for", "list_subscribers", "make_subscriber", "open_archive",
    "period_of", "prepare", "preview_digest", "probe_url", "retag", "run_sql", "schedule_feeds",
    "schema_version", "search", "send_health_mail", "send_pending", "show_item", "show_story",
    "shown_address", "slug", "status", "stored_time", "submit_report", "subscribe",
    "taxonomy_for", "unsubscribe", "warm_up",
]


def __getattr__(name: str) -> Any:
    """A use case (or a submodule, `pipeline.digests`), imported when first asked for
    and kept, so the lookup runs once a name."""
    home = _HOMES.get(name)
    if home is None:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
