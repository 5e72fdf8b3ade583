"""The use cases, each a list of steps over the stages. The only place that
composes stages and talks to the store.

- `collect`: pick the due (or named) feeds, fetch them all at once, parse,
  `ingest`, record each feed's health; one failing feed is a report row,
  never the end of the run.
- `ingest`: entries -> normalized, tagged, deduplicated items stored with
  their tags, story and index rows (one transaction per feed batch; an item
  is stored whole or not at all).
- `build_digests`: for each subscriber due in the period, select, render,
  write .html/.txt/.eml under digests/<period>/, then record the digest and
  queue its delivery in one transaction; a period already built is skipped.
- `send_pending`: hand every queued delivery to SMTP over one connection and
  mark each as the server accepts it; failures stay queued (4xx, network)
  or fail for good (5xx), with the server's words.
`now` is a parameter everywhere; the drivers (cli, daemon) read the clock.
"""

from relay.pipeline.collecting import collect, feeds_to_collect, limits_for
from relay.pipeline.digests import (
    DigestResult,
    ImportReport,
    SendResult,
    build_digests,
    import_subscribers,
    make_subscriber,
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
    send_health_mail,
    slug,
)
from relay.pipeline.ingesting import ingest, prepare, retag, taxonomy_for
from relay.pipeline.metrics import prometheus_metrics
from relay.pipeline.opml import OpmlExport, OpmlImport, export_opml, import_opml
from relay.pipeline.progress import Progress

__all__ = [
    "DigestResult", "FeedCheck", "prometheus_metrics", "OpmlExport", "OpmlImport", "export_opml", "import_opml", "NewFeed", "add_feed", "ImportReport", "SendResult", "import_subscribers", "preview_digest", "build_digests", "check_feeds", "collect",
    "feed_health", "feeds_to_collect", "health_report", "ingest", "limits_for",
    "make_subscriber", "prepare", "Progress", "probe_url", "retag", "send_health_mail", "send_pending",
    "slug", "taxonomy_for",
]
