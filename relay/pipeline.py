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

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from relay import dedup, schedule
from relay.collect.decode import decode
from relay.collect.feeds import discover_feed_links, feed_info, looks_like_html, parse_feed_document
from relay.collect.fetch import FetchRequest, Limits, fetch_all, read_file
from relay.collect.fulltext import MAX_PAGES_PER_FEED, as_content, extract_article
from relay.collect.pages import parse_page
from relay.collect.reports import archive_report, read_reports, reject_report
from relay.digest.deliver import SmtpSender, build_message, format_date, new_message_id
from relay.digest.render import render, subject
from relay.digest.select import select
from relay.errors import CollectError, DeliveryError, UsageError
from relay.models import (
    Config,
    Digest,
    Entry,
    FeedKind,
    FeedReport,
    FeedSpec,
    Fetched,
    Frequency,
    Item,
    Subscriber,
)
from relay.store import Store
from relay.tag import Taxonomy, compile_taxonomy, tag
from relay.text import canonical_url, content_hash, detect_lang, excerpt, fold, html_to_text
from relay.tokens import tokenize

log = logging.getLogger("relay")

DELIVERY_RETRY = timedelta(minutes=15)
CLAIM_STALE_AFTER = timedelta(minutes=10)  # a claim older than this is a dead sender's
MAX_DELIVERY_ATTEMPTS = 8
FUTURE_SLACK = timedelta(days=1)


_taxonomies: dict[str, Taxonomy] = {}


def taxonomy_for(config: Config) -> Taxonomy:
    """The compiled taxonomy of a configuration, compiled once per distinct topic list."""
    key = repr(config.topics)
    if key not in _taxonomies:
        _taxonomies[key] = compile_taxonomy(config.topics, tokenize)
    return _taxonomies[key]


# -- collect --------------------------------------------------------------------------------------


def feeds_to_collect(config: Config, store: Store, now: datetime, feed_ids: Sequence[str] = (),
                     everything: bool = False) -> list[FeedSpec]:
    """Named feeds (even disabled ones: that is how a source is tried), else the enabled
    feeds that are due (or all of them), less those the archive disabled (410 Gone)."""
    if feed_ids:
        unknown = [f for f in feed_ids if config.feed(f) is None]
        if unknown:
            raise UsageError(f"unknown feed id {unknown[0]!r}", where=str(config.path),
                             hint="`relay feeds` lists the configured feeds")
        return [f for f in config.feeds if f.id in feed_ids]
    disabled = store.disabled_feeds()
    feeds = [f for f in config.feeds if f.enabled and f.id not in disabled]
    if everything:
        return feeds
    return [f for f in feeds if schedule.is_due(store.feed_state(f.id).next_fetch_at, now)]


def limits_for(config: Config) -> Limits:
    f = config.settings.fetch
    return Limits(concurrency=f.concurrency, per_host=f.per_host, host_delay=f.host_delay,
                  total_timeout=f.timeout, read_timeout=min(20.0, f.timeout),
                  connect_timeout=min(10.0, f.timeout), max_bytes=f.max_bytes)


def collect(config: Config, store: Store, now: datetime, feed_ids: Sequence[str] = (),
            everything: bool = False, limits: Limits | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> list[FeedReport]:
    """One tick: fetch and ingest the due (or named, or all) feeds."""
    store.sync_feeds(config.feeds)
    feeds = feeds_to_collect(config, store, now, feed_ids, everything)
    reports = {f.id: FeedReport(f.id) for f in feeds}
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
    taxonomy = taxonomy_for(config)
    for feed in feeds:
        if should_stop():
            break
        report = reports[feed.id]
        try:
            entries, fetched, ttl, partial = _entries_for(feed, results.get(feed.id), limits)
            if fetched is not None and fetched.not_modified:
                report.not_modified = True
            report.fetched = len(entries)
            if feed.fulltext and entries:
                entries = _with_full_text(feed, entries, store, limits, config, should_stop)
            report.new, report.duplicates = ingest(feed, entries, store, taxonomy, now,
                                                  should_stop)
            if should_stop():
                # Stopped between items: what was stored stays, but the feed is not marked
                # fetched (no validators, no next time), so the next tick reads it whole.
                report.extra["interrupted"] = True
                break
            # A publisher's <ttl> or max-age may lengthen the interval, never shorten it.
            wait = max(feed.interval, min(max(ttl or 0, fetched.max_age or 0 if fetched else 0),
                                          86400))
            moved = fetched.moved_to if fetched else None
            if moved:
                report.extra["moved_to"] = moved
            store.record_fetch_ok(
                feed.id, now, schedule.next_fetch_after_success(now, wait),
                fetched.etag if fetched else None, fetched.last_modified if fetched else None,
                fetched.status if fetched else None, moved)
            log.info("collected feed=%s new=%d duplicates=%d not_modified=%s", feed.id,
                     report.new, report.duplicates, report.not_modified)
            if feed.kind is FeedKind.REPORTS and feed.path is not None:
                _file_reports(feed.path, entries, partial, now)
            if partial:
                raise partial[0] if len(partial) == 1 else CollectError(
                    f"{len(partial)} files unreadable, first: {partial[0]}", feed_id=feed.id)
        except CollectError as exc:
            report.error = str(exc.message) + (f" ({exc.hint})" if exc.hint else "")
            failures = store.feed_state(feed.id).error_count + 1
            next_at = schedule.next_fetch_after_failure(now, feed.interval, failures)
            if exc.retry_after is not None:   # 429/503: the server said when (RFC 9110)
                next_at = max(next_at, now + timedelta(seconds=min(exc.retry_after, 7 * 86400)))
            disabled = None
            if exc.status == 410:
                disabled = "410 Gone: the publisher removed this feed"
                report.extra["disabled"] = disabled
            store.record_fetch_error(feed.id, now, next_at, report.error, exc.status, disabled)
            log.warning("failed feed=%s error=%r", feed.id, report.error)
    return [reports[f.id] for f in feeds]


def _with_full_text(feed: FeedSpec, entries: list[Entry], store: Store, limits: Limits,
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


def _entries_for(
    feed: FeedSpec, result: Fetched | CollectError | None, limits: Limits
) -> tuple[list[Entry], Fetched | None, int | None, list[CollectError]]:
    """The entries of one source, its fetch answer, its <ttl>, and errors that spared
    the rest of the source (unreadable report files)."""
    if feed.kind is FeedKind.REPORTS:
        if feed.path is None:
            raise CollectError("a reports feed needs path: (a folder)", feed_id=feed.id)
        batch = read_reports(feed.id, feed.path)
        return batch.entries, None, None, list(batch.errors)
    if isinstance(result, CollectError):
        raise result
    fetched = result
    if fetched is None:
        assert feed.path is not None
        fetched = read_file(feed.id, feed.path, limits.max_bytes)
    if fetched.not_modified:
        return [], fetched, None, []
    if feed.kind is FeedKind.PAGE:
        return parse_page(fetched, feed.selectors), fetched, None, []
    entries, ttl = parse_feed_document(fetched, feed.lang)
    return entries, fetched, ttl, []


def feed_health(config: Config, store: Store, now: datetime) -> list[dict[str, Any]]:
    """The configured feeds with their health: the feeds table's columns, item counts for
    the last 7 and 30 days, `enabled`, and `silent` (see schedule.is_silent)."""
    store.sync_feeds(config.feeds)
    rows = {r["id"]: r for r in store.feed_rows(now)}
    out: list[dict[str, Any]] = []
    for feed in config.feeds:
        row = dict(rows[feed.id])
        row.pop("etag", None)
        row.pop("last_modified", None)
        row["items_7d"] = row["items_7d"] or 0
        row["items_30d"] = row["items_30d"] or 0
        row["enabled"] = feed.enabled and not row["disabled_reason"]
        row["silent"] = schedule.is_silent(store.recent_published(feed.id), now)
        out.append(row)
    return out


@dataclass
class FeedCheck:
    """What one fetch of one source showed, without storing anything."""

    feed_id: str
    url: str
    ok: bool
    status: int | None = None
    entries: int = 0
    newest: datetime | None = None
    moved_to: str | None = None
    error: str | None = None
    title: str = ""
    lang: str | None = None


def check_feeds(config: Config, now: datetime, feed_ids: Sequence[str] = ()) -> list[FeedCheck]:
    """Fetch every configured (or named) source once, unconditionally, parse it, and say
    how it is: nothing is stored and no validators are used or kept."""
    feeds = [f for f in config.feeds if not feed_ids or f.id in feed_ids]
    limits = limits_for(config)
    http = [f for f in feeds if f.url and f.kind is not FeedKind.REPORTS]
    answers = dict(zip([f.id for f in http], fetch_all(
        [FetchRequest(f.id, f.url or "", allow_private=f.allow_private) for f in http],
        limits, config.settings.user_agent), strict=True))
    out = []
    for feed in feeds:
        try:
            entries, fetched, _ttl, errors = _entries_for(feed, answers.get(feed.id), limits)
            newest = max((e.published_at for e in entries if e.published_at), default=None)
            error = str(errors[0]) if errors else None
            out.append(FeedCheck(feed.id, feed.location, error is None,
                                 fetched.status if fetched else None, len(entries), newest,
                                 fetched.moved_to if fetched else None, error))
        except CollectError as exc:
            out.append(FeedCheck(feed.id, feed.location, False, exc.status, error=exc.message
                                 + (f" ({exc.hint})" if exc.hint else "")))
    return out


def probe_url(config: Config, url: str, allow_private: bool = False) -> FeedCheck:
    """What `relay feeds add` needs to know of a URL: the feed it is, or the feed the page
    announces (<link rel="alternate">), checked by fetching and parsing it."""
    limits = limits_for(config)

    def get(target: str) -> Fetched:
        (answer,) = fetch_all([FetchRequest("new", target, allow_private=allow_private)],
                              limits, config.settings.user_agent)
        if isinstance(answer, CollectError):
            raise UsageError(f"cannot fetch it: {answer.message}", where=target,
                             hint=answer.hint)
        return answer

    fetched = get(url)
    if looks_like_html(fetched.body):
        text, _codec = decode(fetched.body, fetched.headers.get("content-type", ""))
        links = discover_feed_links(text, fetched.url)
        if not links:
            raise UsageError("the page is HTML and names no feed", where=url,
                             hint="add it as kind: page with CSS selectors instead")
        fetched = get(links[0])
    try:
        entries, _ttl = parse_feed_document(fetched)
    except CollectError as exc:
        raise UsageError(f"not a feed relay can read: {exc.message}", where=fetched.url) from exc
    info = feed_info(fetched)
    lang = (info["language"] or "").lower()[:2]
    if lang not in ("ja", "en", "de", "fr"):
        sample = " ".join(html_to_text(e.title) for e in entries[:10])
        lang = detect_lang(sample) if sample else ""
    newest = max((e.published_at for e in entries if e.published_at), default=None)
    return FeedCheck("new", fetched.moved_to or fetched.url, True, fetched.status, len(entries),
                     newest, fetched.moved_to, None, html_to_text(info["title"]), lang or None)


def slug(text: str) -> str:
    """A feed id from a title or host name: lower-case ASCII words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKD", text).lower())
    return "-".join(words)[:40].strip("-")


def health_report(config: Config, store: Store, now: datetime) -> tuple[str, str]:
    """(subject, text) of the operator's feed-health mail: failing, disabled, moved and
    silent feeds, so that no source dies unnoticed."""
    rows = feed_health(config, store, now)
    tz = config.settings.timezone
    groups = {
        "Failing (the last fetch failed)": [r for r in rows if r["error_count"]
                                            and not r["disabled_reason"]],
        "Disabled (410 Gone; change the url to enable)": [r for r in rows
                                                         if r["disabled_reason"]],
        "Moved (a permanent redirect; update feeds.yaml)": [r for r in rows if r["moved_to"]],
        "Silent (no item for three of their usual gaps)": [r for r in rows if r["silent"]],
    }
    sick = sum(len(v) for v in groups.values())
    lines = [f"relay feed health, {schedule.local_time(now, tz):%Y-%m-%d %H:%M} ({tz})",
             f"{len(rows)} feeds configured, {sum(bool(r['enabled']) for r in rows)} enabled,"
             f" {sick} need attention.", ""]
    for title, items in groups.items():
        if not items:
            continue
        lines += [f"{title}: {len(items)}"]
        for r in items:
            detail = (r["disabled_reason"] or (f"moved to {r['moved_to']}" if r["moved_to"]
                      and "Moved" in title else None) or r["last_error"]
                      or f"newest item {r['newest_item_at'] or '-'}")
            lines.append(f"  - {r['id']}: {' '.join(str(detail).split())[:160]}")
            lines.append(f"    {r['url']}")
        lines.append("")
    if not sick:
        lines.append("Every feed is well.")
    subject = f"relay feed health: {sick} of {len(rows)} feeds need attention"
    return subject, "\n".join(lines) + "\n"


def send_health_mail(config: Config, store: Store, now: datetime) -> str | None:
    """Mail the health report to settings.admin_email; the address, or None when unset."""
    admin = config.settings.admin_email
    if not admin:
        return None
    subject_line, text = health_report(config, store, now)
    smtp = config.settings.smtp
    html = "<pre>" + text.replace("&", "&amp;").replace("<", "&lt;") + "</pre>"
    message = build_message(sender=smtp.sender, to_address=admin, to_name="relay operator",
                            subject=subject_line, text=text, html=html,
                            message_id=new_message_id(smtp.sender), date=format_date(now),
                            list_id=f"health.{smtp.sender.rpartition('@')[2]}")
    with SmtpSender(smtp.url, smtp.timeout) as sender:
        sender.send(smtp.sender, admin, message)
    return admin


# -- ingest ---------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    item: Item
    features: set[str] = field(default_factory=set)


def prepare(entry: Entry, feed: FeedSpec, taxonomy: Taxonomy, now: datetime) -> _Prepared:
    """Normalize, tokenize once, tag: one entry -> one item ready for dedup and store."""
    title = " ".join(html_to_text(entry.title).split()) or "(untitled)"   # one line
    text = html_to_text(entry.content_html)
    # A declared en/de/fr is trusted unless the text is plainly Japanese; a declared ja
    # is checked too (Japanese sites carry English items).
    hint = entry.lang or feed.lang
    detected = detect_lang(f"{title}\n{text}", hint=hint)
    lang = hint if hint in ("en", "de", "fr") and detected != "ja" else detected
    title_tokens = tokenize(title, lang)
    text_tokens = tokenize(text, lang)
    own = [t for t in entry.topics if t in taxonomy.topic_ids]  # a report's front matter
    tags = tag(title_tokens, text_tokens, taxonomy, feed.topics, own)
    published = entry.published_at or now
    if published > now + FUTURE_SLACK:
        published = now   # publishers post future dates (SOURCES.md hazard 5)
    item = Item(
        feed_id=feed.id, guid=entry.guid, url=canonical_url(entry.url), title=title,
        summary=excerpt(text, 600), text=text, lang=lang, published_at=published,
        collected_at=now, content_hash=content_hash(title, text),
        index_title=" ".join(title_tokens), index_text=" ".join(text_tokens), tags=tags,
    )
    return _Prepared(item, dedup.features(title_tokens, text_tokens))


def ingest(feed: FeedSpec, entries: Sequence[Entry], store: Store, taxonomy: Taxonomy,
           now: datetime, should_stop: Callable[[], bool] = lambda: False) -> tuple[int, int]:
    """Store the new entries of one feed; returns (new, duplicates)."""
    seen_guids: set[str] = set()
    fresh: list[Entry] = []
    for e in entries:
        if e.guid not in seen_guids:
            seen_guids.add(e.guid)
            fresh.append(e)
    known = store.known_guids(feed.id, [e.guid for e in fresh])
    fresh = [e for e in fresh if e.guid not in known]
    duplicates = len(entries) - len(fresh)
    prepared = [prepare(e, feed, taxonomy, now) for e in fresh]
    sigs = dedup.signatures(p.features for p in prepared)
    new = 0
    window = now - timedelta(days=dedup.STORY_WINDOW_DAYS)
    with store.transaction():
        batch_hashes: set[str] = set()
        for p, sig in zip(prepared, sigs, strict=True):
            if should_stop():
                break
            item = p.item
            if item.content_hash in batch_hashes or _archived_copy(store, item) is not None:
                duplicates += 1
                continue
            batch_hashes.add(item.content_hash)
            band_keys = dedup.bands(sig) if sig is not None else []
            story = None
            if sig is not None:
                candidates = [(sid, dedup.Signature.from_bytes(blob))
                              for sid, blob in store.story_candidates(band_keys, window)]
                chosen = dedup.choose_story(sig, candidates)
                story = chosen[0] if chosen else None
            store.insert_item(item, sig.to_bytes() if sig is not None else None, band_keys, story)
            new += 1
    return new, duplicates


def _archived_copy(store: Store, item: Item) -> int | None:
    """An archived item that is this one: the same content; or the same canonical URL
    in another feed (the same article through two feeds, retitled or not); or the same
    URL and title in this feed.

    Within one feed the URL alone is not enough: aggregators link several different
    items to one listing page (corpus: the gov-online ministries feed).
    """
    found = store.item_with_hash(item.content_hash)
    if found is not None:
        return found
    title = fold(item.title)
    return next((i for i, t, feed in store.items_with_url(item.url)
                 if feed != item.feed_id or fold(t) == title), None)


def retag(config: Config, store: Store, batch: int = 2000) -> tuple[int, int]:
    """Apply the configured taxonomy to the whole archive again, from the tokens the index
    already holds (no re-tokenizing); topics a report's author gave are kept. Returns
    (items, items whose topics changed)."""
    taxonomy = taxonomy_for(config)
    feed_topics = {f.id: f.topics for f in config.feeds}
    items = changed = 0
    for rows in store.items_for_retag(batch):
        new_tags = {}
        for r in rows:
            tags = tag(r["title_tokens"].split(), r["body_tokens"].split(), taxonomy,
                       feed_topics.get(r["feed_id"], ()), r["report_topics"])
            if {t.topic for t in tags} != set(r["topics"]):
                changed += 1
            new_tags[r["id"]] = tags
        store.replace_tags(new_tags)
        items += len(rows)
    return items, changed


# -- subscribers ----------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def make_subscriber(config: Config, email: str, topics: Sequence[str], *,
                    frequency: str = "weekly", ui_lang: str = "ja", langs: Sequence[str] = (),
                    missions: Sequence[str] = (), name: str = "", org: str = "") -> Subscriber:
    """A validated subscriber (UsageError names what is wrong)."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise UsageError(f"{email!r} is not a valid e-mail address")
    if not topics:
        raise UsageError("a subscriber needs at least one topic", hint="--topics quantum,ai")
    known = [t.id for t in config.topics]
    for t in topics:
        if t not in known:
            raise UsageError(f"unknown topic {t!r}", where=str(config.path),
                             hint=f"known topics: {', '.join(known)}")
    for lang in langs:
        if lang not in ("ja", "en", "de", "fr"):
            raise UsageError(f"unknown language {lang!r}", hint="languages: ja, en, de, fr")
    for label, value in (("name", name), ("organization", org)):
        if any(ch in value for ch in "\r\n\t") or len(value) > 200:
            raise UsageError(f"the {label} must be one line of at most 200 characters")
    if ui_lang not in ("ja", "en"):
        raise UsageError(f"digest language must be ja or en, not {ui_lang!r}")
    try:
        freq = Frequency(frequency)
    except ValueError:
        raise UsageError(f"frequency must be weekly or daily, not {frequency!r}") from None
    return Subscriber(email=email, topics=tuple(dict.fromkeys(topics)), frequency=freq,
                      ui_lang=ui_lang, langs=tuple(langs), missions=tuple(missions),
                      name=name, org=org, token=secrets.token_urlsafe(18))


# -- digests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestResult:
    email: str
    period: str
    status: str               # built | exists | empty
    stories: int = 0
    path: str = ""


def _safe_name(email: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]", "_", email)


def build_digests(config: Config, store: Store, now: datetime, period: str | None = None,
                  email: str | None = None) -> list[DigestResult]:
    tz = config.settings.timezone
    freq_of_period = None
    if period is not None:
        try:
            freq_of_period = schedule.parse_period(period)
        except ValueError as exc:
            raise UsageError(str(exc), hint="--period 2026-W48 or --period 2026-11-27") from None
    subscribers = store.subscribers()
    if email is not None:
        subscribers = [s for s in subscribers if s.email == email.strip()]
        if not subscribers:
            raise UsageError(f"no active subscriber {email!r}",
                             hint="`relay subscribers` lists them")
    results = []
    max_age = timedelta(days=config.settings.digest.max_age_days)
    for sub in subscribers:
        if freq_of_period is not None and sub.frequency is not freq_of_period:
            if email is not None:
                raise UsageError(f"{sub.email} gets {sub.frequency.value} digests, "
                                 f"not {freq_of_period.value} ones",
                                 hint="--period 2026-W48 is a week, 2026-11-27 a day")
            results.append(DigestResult(sub.email, period or "", f"skipped ({sub.frequency.value})"))
            continue
        p = period or schedule.period_of(now, sub.frequency, tz)
        start, end = schedule.period_bounds(p, tz)
        if start > now:
            raise UsageError(f"period {p} has not begun yet")
        assert sub.id is not None
        if store.digest_exists(sub.id, p):
            results.append(DigestResult(sub.email, p, "exists"))
            continue
        if now < end:   # the current period: what arrived since the previous digest
            since, until = sub.last_digest_at or (now - max_age), now
        else:           # a past period, asked for by name: what arrived within it
            since, until = start, end
        rows = store.story_rows(since, until, until - max_age, sub.topics)
        sections = select(rows, sub, config.topics, config.settings.digest.max_per_topic)
        if not sections:
            results.append(DigestResult(sub.email, p, "empty"))
            continue
        digest = Digest(subscriber=sub, period=p, since=since, until=until, sections=sections)
        digest = replace(digest, subject=subject(digest, tz))
        sender = config.settings.smtp.sender
        unsubscribe = f"mailto:{sender}?subject=unsubscribe"
        html, text = render(digest, tz, unsubscribe, config.topics)
        message_id = new_message_id(sender)
        eml = build_message(
            sender=sender, to_address=sub.email, to_name=sub.name, subject=digest.subject,
            text=text, html=html, message_id=message_id, date=format_date(now),
            list_id=f"{p.lower()}.digests.{sender.rpartition('@')[2]}")
        folder = config.settings.digests_dir / p
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / _safe_name(sub.email)
        paths = {"html": f"{base}.html", "text": f"{base}.txt", "eml": f"{base}.eml"}
        # Files first (rewritten identically on a retry), then one transaction for the
        # digest row and its queued delivery: a crash in between queues nothing.
        Path(paths["html"]).write_text(html, encoding="utf-8")
        Path(paths["text"]).write_text(text, encoding="utf-8")
        Path(paths["eml"]).write_bytes(eml)
        digest_id = store.add_digest(
            subscriber_id=sub.id, address=sub.email, period=p, now=now, since=since, until=until,
            subject=digest.subject, paths=paths, story_ids=digest.story_ids,
            message_id=message_id)
        status = "built" if digest_id is not None else "exists"
        results.append(DigestResult(sub.email, p, status, len(digest.story_ids), paths["html"]))
    return results


@dataclass(frozen=True)
class SendResult:
    address: str
    status: str              # sent | retry | failed
    error: str = ""


def send_pending(config: Config, store: Store, now: datetime,
                 should_stop: Callable[[], bool] = lambda: False,
                 retry_now: bool = False) -> list[SendResult]:
    """Send the due deliveries (all queued ones with `retry_now`), each claimed first so
    that two senders (the daemon and a manual `relay digest send`) never send one twice."""
    pending = store.due_deliveries(now, ignore_retry_time=retry_now)
    results: list[SendResult] = []
    if not pending:
        return results
    smtp = config.settings.smtp
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with SmtpSender(smtp.url, smtp.timeout) as sender:
        for d in pending:
            if should_stop():
                break
            if not store.claim_delivery(d.id, now, owner, CLAIM_STALE_AFTER):
                continue  # another sender has it
            try:
                message = Path(d.eml_path).read_bytes()
            except OSError as exc:
                store.mark_failed(d.id, f"message file missing: {exc}", None)
                results.append(SendResult(d.address, "failed", str(exc)))
                continue
            try:
                sender.send(smtp.sender, d.address, message)
            except DeliveryError as exc:
                retry = exc.temporary and d.attempts + 1 < MAX_DELIVERY_ATTEMPTS
                next_try = now + DELIVERY_RETRY * (2 ** d.attempts) if retry else None
                store.mark_failed(d.id, exc.message, next_try)
                results.append(SendResult(d.address, "retry" if retry else "failed",
                                          exc.message))
                log.warning("delivery address=%s error=%r retry=%s", d.address, exc.message,
                            retry)
                continue
            store.mark_sent(d.id, now)
            results.append(SendResult(d.address, "sent"))
    return results
