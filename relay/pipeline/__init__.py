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
- searching: `search` (query, filters, snippets).
- archive: `open_archive`, `status`, `show_item`, `show_story`, `export_items`,
  `schema_version`, `archive_error` (SQLite's failures as relay errors).
- digests: `build_digests` (select, render, write, queue; a period built once),
  `preview_digest`, `send_pending` (over one SMTP connection, each delivery claimed),
  `deliveries_waiting`, `publish_topic_feeds`.
- health: `feed_health`, `check_feeds`, `add_feed` (with `probe_url`), `health_report`,
  `send_health_mail`.
`now` is a parameter everywhere; the drivers read the clock. The archive is typed as
`ports.Archive` (what the pipeline needs of a store).
"""

from relay.digest.deliver import shown_address
from relay.pipeline.archive import (
    EXPORT_FIELDS,
    archive_error,
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

__all__ = [
    "NewFeed", "OpmlExport", "OpmlImport", "Progress", "export_opml", "import_opml",
    "probe_urls", "prometheus_metrics",
    "EXPORT_FIELDS", "DigestResult", "add_feed", "FeedCheck", "ImportReport", "SendResult",
    "archive_error", "build_digests", "check_feeds", "collect", "deliveries_waiting",
    "export_items", "feed_health", "feeds_to_collect", "health_report", "import_subscribers",
    "ingest", "limits_for", "list_subscribers", "make_subscriber", "open_archive",
    "period_of", "prepare", "preview_digest", "probe_url", "retag", "schedule_feeds",
    "schema_version", "search", "send_health_mail", "send_pending", "show_item", "show_story",
    "shown_address", "slug", "status", "stored_time", "submit_report", "subscribe",
    "taxonomy_for", "unsubscribe", "warm_up",
]
