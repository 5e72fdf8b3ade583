"""Submit a mission report: its front matter checked, the file put into the inbox of
its reports feed, where the next collect of that feed reads it."""

from __future__ import annotations

from pathlib import Path

from relay.collect.reports import submit_report as file_report
from relay.errors import CollectError, UsageError
from relay.models import Config, FeedKind


def submit_report(config: Config, feed_id: str, file: Path) -> Path:
    """The path the report was filed under in the feed's inbox."""
    feed = config.feed(feed_id)
    if feed is None or feed.kind is not FeedKind.REPORTS or feed.path is None:
        raise UsageError(f"{feed_id!r} is not a reports feed", where=str(config.path),
                         hint="a feed with kind: reports and path: reports/inbox/...")
    if not file.is_file():
        raise UsageError("no such file", where=str(file))
    try:
        return file_report(file, feed.path, {t.id for t in config.topics})
    except CollectError as exc:
        raise UsageError(exc.message, where=str(file), hint=exc.hint) from exc
