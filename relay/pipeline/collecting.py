"""Collecting: pick the due (or named) feeds, fetch them all at once, read them
(feeds, listing pages, report inboxes, article pages for full text), ingest, and
record each feed's health. One failing feed is a report row, never the end of the run:
any exception while fetching, parsing or storing one feed (in this process or a worker)
becomes that feed's error, with its stage (`fetch`, `parse`, `store`); the log names the
feed, and -v shows the traceback. A failure of the archive itself (`store.ARCHIVE_ERRORS`:
disk full, locked, read-only) is no feed's: it ends the run at once, what was committed
stays, and no later feed fails with it. One bad entry is skipped and counted (`skipped`), the
rest of its feed kept; entries over `settings.limits` are cut (`trimmed`) or not taken
(`over_cap`), and counted: the feed's row keeps the last run's counts.
A feed document read only in part (broken, see collect.feeds.salvage) stores what it
gave and is recorded as fetched, with `partial` saying why and no validators kept (the
next fetch reads it whole); it is not a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from relay import dedup, schedule
from relay.collect.feeds import read_feed, read_feed_document
from relay.collect.fetch import FetchRequest, Limits, fetch_all, read_file
from relay.collect.fulltext import MAX_PAGES_PER_FEED, as_content, extract_article
from relay.collect.pages import parse_page
from relay.collect.reports import archive_report, read_reports, reject_report
from relay.errors import CollectError, FetchError, ParseError, RelayError, UsageError
from relay.models import (
    Config,
    Document,
    Entry,
    FeedKind,
    FeedReport,
    FeedSpec,
    Fetched,
)
from relay.pipeline import workers
from relay.pipeline.ingesting import (
    Ingester,
    Outcome,
    Stored,
    key_links,
    sign_window,
    taxonomy_for,
)
from relay.pipeline.ports import Archive
from relay.pipeline.progress import OnProgress, Tally
from relay.records import ARCHIVE_ERRORS
from relay.text import html_to_text

log = logging.getLogger("relay")


def named_feeds(config: Config, feed_ids: Sequence[str]) -> list[FeedSpec]:
    """The configured feeds of these ids, in the configuration's order; an id that is
    not configured is the error."""
    unknown = [f for f in feed_ids if config.feed(f) is None]
    if unknown:
        raise UsageError(f"unknown feed id {unknown[0]!r}", where=str(config.path),
                         field="feed")
    return [f for f in config.feeds if f.id in feed_ids]


def feeds_to_collect(config: Config, store: Archive, now: datetime, feed_ids: Sequence[str] = (),
                     everything: bool = False, due_only: bool = False) -> list[FeedSpec]:
    """Named feeds (even disabled ones: that is how a source is tried; with `due_only`,
    those that are due), else the enabled feeds that are due (or all of them), less those
    the archive disabled (410 Gone)."""
    if feed_ids:
        return [f for f in named_feeds(config, feed_ids) if (
            not due_only or schedule.is_due(store.feed_state(f.id).next_fetch_at, now))]
    disabled = store.disabled_feeds()
    feeds = [f for f in config.feeds if f.enabled and f.id not in disabled]
    if everything:
        return feeds
    return [f for f in feeds if schedule.is_due(store.feed_state(f.id).next_fetch_at, now)]


def schedule_feeds(config: Config, store: Archive, now: datetime) -> dict[str, datetime]:
    """The archive's feeds synced with the configuration, and when each enabled feed is
    first due (its next fetch as recorded, never before now): the daemon's schedule."""
    store.sync_feeds(config.feeds)
    return {f.id: max(store.feed_state(f.id).next_fetch_at or now, now)
            for f in config.feeds if f.enabled}


def limits_for(config: Config) -> Limits:
    f = config.settings.fetch
    return Limits(concurrency=f.concurrency, per_host=f.per_host, host_delay=f.host_delay,
                  total_timeout=f.timeout, read_timeout=min(20.0, f.timeout),
                  connect_timeout=min(10.0, f.timeout), max_bytes=f.max_bytes)


def collect(config: Config, store: Archive, now: datetime, feed_ids: Sequence[str] = (),
            everything: bool = False, limits: Limits | None = None,
            should_stop: Callable[[], bool] = lambda: False,
            due_only: bool = False,
            on_progress: OnProgress | None = None) -> list[FeedReport]:
    """One tick: fetch and ingest the due (or named, or all) feeds. `due_only`: of the
    named feeds only those that are due (the daemon's job for one feed); when none is,
    nothing is done. `on_progress` hears of each feed done (its new items, whether it
    failed)."""
    if due_only and not feeds_to_collect(config, store, now, feed_ids, due_only=True):
        return []
    store.sync_feeds(config.feeds)
    sign_window(store, now)
    key_links(store)
    feeds = feeds_to_collect(config, store, now, feed_ids, everything, due_only)
    reports = {f.id: FeedReport(f.id) for f in feeds}
    tally = Tally("collect", len(feeds), "feeds", on_progress)
    http = [f for f in feeds if f.url and f.kind is not FeedKind.REPORTS]
    requests = []
    for f in http:
        state = store.feed_state(f.id)
        requests.append(FetchRequest(f.id, f.url or "", state.etag, state.last_modified,
                                     f.allow_private))
    limits = limits or limits_for(config)
    results: dict[str, Fetched | CollectError] = dict(
        zip([f.id for f in http],
            fetch_all(requests, limits, config.settings.user_agent, should_stop), strict=True))
    caps = config.settings.limits
    ingester = Ingester(store, taxonomy_for(config), now, workers.resolve(config.settings.workers),
                        should_stop, caps)
    try:
        for feed in feeds:
            if should_stop():
                break
            report = reports[feed.id]
            stage = "fetch"
            try:
                fetched = _document(feed, results.get(feed.id), limits)
                stage = "parse"
                if fetched is not None and fetched.not_modified:
                    report.not_modified = True
                if fetched is not None and not fetched.not_modified and not feed.fulltext:
                    # A document to parse: a worker process may do it.
                    parse = (partial(_page_entries, fetched, feed.selectors)
                             if feed.kind is FeedKind.PAGE
                             else partial(read_feed, fetched, feed.lang, caps.max_entries))
                    ingester.add_document(feed, parse, len(fetched.body), _counted(
                        _after_ingest(store, feed, report, fetched, [], now, should_stop),
                        report, tally))
                    continue
                entries, fetched, ttl, partial_errors, broken = entries_for(feed, fetched,
                                                                            limits)
                if feed.fulltext and entries:
                    entries = _with_full_text(feed, entries, store, limits, config, should_stop)
            except (workers.NestedRun, *ARCHIVE_ERRORS):
                # no run at all (a worker imported the script again), or a failure of the
                # archive, which every later feed would meet too: the run ends with it
                raise
            except Exception as exc:    # this feed alone: recorded with its stage
                _record_failure(store, feed, report, exc, now, stage)
                tally.step(failed=True)
                continue
            ingester.add(feed, entries, _counted(
                _after_ingest(store, feed, report, fetched, partial_errors, now, should_stop,
                              broken), report, tally), ttl)
        ingester.finish()
    finally:
        ingester.close()        # on an error or a stop: drop the workers' queued jobs
        workers.shutdown()      # a daemon keeps no idle workers between runs
    if any(r.new for r in reports.values()):
        store.prune_bands(now - timedelta(days=dedup.STORY_WINDOW_DAYS))
    return [reports[f.id] for f in feeds]


def _document(feed: FeedSpec, result: Fetched | CollectError | None,
              limits: Limits) -> Fetched | None:
    """A feed's fetched (or read) document; None for a reports inbox."""
    if feed.kind is FeedKind.REPORTS:
        return None
    if isinstance(result, CollectError):
        raise result
    if result is None:
        assert feed.path is not None
        return replace(read_file(feed.id, feed.path, limits.max_bytes), base_url=feed.base_url)
    return result


def _page_entries(fetched: Fetched, selectors: dict[str, str]) -> Document:
    return Document(parse_page(fetched, selectors))


def _after_ingest(store: Archive, feed: FeedSpec, report: FeedReport, fetched: Fetched | None,
                  partial: list[CollectError], now: datetime,
                  should_stop: Callable[[], bool], broken: str | None = None) -> Stored:
    """What follows a feed's committed ingest: its health row (with why its document was
    read only in part, if it was: `broken`, or the parse's own word), its report files."""

    def stored(outcome: Outcome) -> None:
        report.skipped, report.trimmed = outcome.skipped, outcome.trimmed
        report.over_cap = outcome.over_cap
        if outcome.error is not None:
            _record_failure(store, feed, report, outcome.error, now, outcome.stage or "store")
            return
        report.fetched = len(outcome.entries)
        report.new, report.duplicates = outcome.new, outcome.duplicates
        report.partial = outcome.partial or broken
        if should_stop():
            # Stopped between items: what was stored stays, but the feed is not marked
            # fetched (no validators, no next time), so the next tick reads it whole.
            report.interrupted = True
            return
        try:
            # A publisher's <ttl> or max-age may lengthen the interval, never shorten it.
            ttl = outcome.ttl
            wait = max(feed.interval, min(max(ttl or 0, fetched.max_age or 0 if fetched else 0),
                                          86400))
            moved = fetched.moved_to if fetched else None
            if moved:
                report.moved_to = moved
            # A partial document's validators are not kept: the next fetch reads it whole
            # again, not a 304 that would hide the entries it lacked.
            whole = fetched is not None and report.partial is None
            store.record_fetch_ok(
                feed.id, now, schedule.next_fetch_after_success(now, wait),
                fetched.etag if whole and fetched else None,
                fetched.last_modified if whole and fetched else None,
                fetched.status if fetched else None, moved, report.partial,
                # not modified: what the document was read with last time still holds
                None if report.not_modified else _counts(report))
            if report.partial:
                log.warning("partial feed=%s reason=%r", feed.id, report.partial)
            log.info("collected feed=%s new=%d duplicates=%d not_modified=%s", feed.id,
                     report.new, report.duplicates, report.not_modified)
            if feed.kind is FeedKind.REPORTS and feed.path is not None:
                _file_reports(feed.path, outcome.entries, partial, now)
            if partial:
                first = partial[0]    # its file named first: the feed's line may be cut
                named = f"{Path(first.url).name}: {first.message} (moved to rejected/)"
                raise type(first)(named, feed_id=feed.id, url=first.url) if len(
                    partial) == 1 else CollectError(
                    f"{len(partial)} files unreadable (moved to rejected/), first: {named}",
                    feed_id=feed.id)
        except CollectError as exc:
            _record_failure(store, feed, report, exc, now, _stage(exc, "parse"))
        except ARCHIVE_ERRORS:
            raise                   # the archive's, not this feed's: the run ends
        except Exception as exc:    # recording or filing this feed's reports: it alone
            _record_failure(store, feed, report, exc, now, "store")

    return stored


def _counted(stored: Stored, report: FeedReport, tally: Tally) -> Stored:
    """`stored`, then the feed counted as done (with its new items, or as failed)."""

    def done(outcome: Outcome) -> None:
        stored(outcome)
        tally.step(report.new, failed=report.error is not None)

    return done


def _counts(report: FeedReport) -> tuple[int, int, int]:
    return report.skipped, report.trimmed, report.over_cap


def _stage(exc: Exception, otherwise: str) -> str:
    """Where a feed failed: a fetch error at the fetch, a parse error at the parse,
    anything else where it happened (`otherwise`)."""
    if isinstance(exc, FetchError):
        return "fetch"
    return "parse" if isinstance(exc, ParseError) else otherwise


def _record_failure(store: Archive, feed: FeedSpec, report: FeedReport, exc: Exception,
                    now: datetime, stage: str) -> None:
    """One feed's failure, whatever it was, recorded as its error with its stage: the
    run goes on. Relay's own errors say what happened; anything else is named by its
    type, and -v shows its traceback (a worker's comes as text)."""
    report.stage = stage = _stage(exc, stage)
    if isinstance(exc, RelayError):
        report.error = str(exc.message) + (f" ({exc.hint})" if exc.hint else "")
    else:
        report.error = f"{type(exc).__name__}: {exc}"
    status = getattr(exc, "status", None)
    retry_after = getattr(exc, "retry_after", None)
    failures = store.feed_state(feed.id).error_count + 1
    next_at = schedule.next_fetch_after_failure(now, feed.interval, failures)
    if retry_after is not None:   # 429/503: the server said when (RFC 9110)
        next_at = max(next_at, now + timedelta(seconds=min(retry_after, 7 * 86400)))
    disabled = None
    if status == 410:
        disabled = "410 Gone: the publisher removed this feed"
        report.disabled = disabled
    store.record_fetch_error(feed.id, now, next_at, report.error, status, disabled, stage,
                             _counts(report))
    log.warning("failed feed=%s stage=%s error=%r", feed.id, stage, report.error)
    trace = getattr(exc, "trace", None)
    if trace:
        log.info("feed=%s stage=%s traceback (in the process that read it):\n%s", feed.id,
                 stage, trace.rstrip())
    elif not isinstance(exc, RelayError):
        log.info("feed=%s stage=%s traceback:", feed.id, stage, exc_info=exc)


def _with_full_text(feed: FeedSpec, entries: list[Entry], store: Archive, limits: Limits,
                    config: Config, should_stop: Callable[[], bool]) -> list[Entry]:
    """The entries, the new ones (at most MAX_PAGES_PER_FEED) with their article's text
    in place of the feed's summary where the page gave more."""
    known = store.known_guids(feed.id, [e.guid for e in entries])
    new = [e for e in entries if e.guid not in known and e.url.startswith("http")]
    new = new[:MAX_PAGES_PER_FEED]
    if not new:
        return entries
    pages = fetch_all([FetchRequest(feed.id, e.url, allow_private=feed.allow_private)
                       for e in new], limits, config.settings.user_agent, should_stop)
    better: dict[str, Entry] = {}
    for entry, page in zip(new, pages, strict=True):
        if isinstance(page, CollectError):
            log.info("fulltext feed=%s url=%s error=%r", feed.id, entry.url, page.message)
            continue
        text = extract_article(page)
        if text and len(text) > len(html_to_text(entry.content_html)):
            better[entry.guid] = replace(entry, content_html=as_content(text))
    return [better.get(e.guid, e) for e in entries]


def _file_reports(inbox: Path, entries: Sequence[Entry], errors: Sequence[CollectError],
                  now: datetime) -> None:
    """After the archive committed them: stored reports to archive/, unreadable ones to
    rejected/ with their reason. A crash before this leaves them in the inbox, where the
    next read finds them again (and the guid makes the stored ones duplicates)."""
    by_name = {p.name: p for p in inbox.iterdir() if p.is_file()}
    for entry in entries:
        path = by_name.get(entry.guid.rpartition("#")[0])
        if path is not None:
            archive_report(path, inbox, now)
    for error in errors:
        path = Path(error.url)
        if path.exists() and path.parent == inbox:
            reject_report(path, inbox, error.message)


def entries_for(
    feed: FeedSpec, result: Fetched | CollectError | None, limits: Limits
) -> tuple[list[Entry], Fetched | None, int | None, list[CollectError], str | None]:
    """The entries of one source, its fetch answer, its <ttl>, errors that spared the
    rest of the source (unreadable report files), and why its document was read only
    in part (a broken feed document: see collect.feeds.salvage)."""
    if feed.kind is FeedKind.REPORTS:
        if feed.path is None:
            raise CollectError("a reports feed needs path: (a folder)", feed_id=feed.id)
        batch = read_reports(feed.id, feed.path)
        return batch.entries, None, None, list(batch.errors), None
    fetched = _document(feed, result, limits)
    assert fetched is not None
    if fetched.not_modified:
        return [], fetched, None, [], None
    try:
        if feed.kind is FeedKind.PAGE:
            return parse_page(fetched, feed.selectors), fetched, None, [], None
        entries, ttl, broken = read_feed_document(fetched, feed.lang)
    except CollectError:
        raise
    except Exception as exc:   # a defect this document alone meets: the feed fails, alone
        log.info("feed=%s cannot be read", feed.id, exc_info=exc)
        raise ParseError(f"cannot read the document ({type(exc).__name__}: {exc})",
                         feed_id=feed.id, url=fetched.url) from exc
    return entries, fetched, ttl, [], broken
