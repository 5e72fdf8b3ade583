"""Subscribers and digests: validate a subscriber (languages as ISO 639-1 codes, a
region subtag dropped: zh-CN is zh), build each subscriber's digest for a period
(files first, then the digest row and its queued delivery in one transaction), and
send what is queued (claiming each delivery first). The window marks each row with
whether it counts (`select.counts`), for `select` shows a story only through news
the subscriber can see.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from relay import schedule
from relay.digest.deliver import (
    SmtpSender,
    build_message,
    format_date,
    new_message_id,
    one_line_name,
    unsubscribe_mailto,
    unsubscribe_url,
)
from relay.errors import DeliveryError, OutputError, RelayError, StoreError, UsageError
from relay.models import (
    Config,
    Delivery,
    Digest,
    StoryRow,
    Subscriber,
    TopicSection,
)
from relay.pipeline.in_force import feeds_in_force, in_force, public_feeds
from relay.pipeline.ports import Archive
from relay.pipeline.progress import OnProgress, Tally

if TYPE_CHECKING:
    from relay.digest.select import RankedWindow

# Selecting and rendering (relay.digest.select, .render, .atom: Jinja2, ftfy) are imported
# by the functions that build, so that `relay digest send` does not load them to deliver
# what is queued.

T = TypeVar("T")
log = logging.getLogger("relay")


DELIVERY_RETRY = timedelta(minutes=15)
CLAIM_STALE_AFTER = timedelta(minutes=10)  # a claim older than this is a dead sender's
MAX_DELIVERY_ATTEMPTS = 8


# -- digests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestResult:
    email: str
    period: str
    status: str               # built | exists | empty | failed | skipped (...)
    stories: int = 0
    path: str | None = None   # the .html written (built)
    error: str | None = None  # why it failed
    left_out: int = 0         # stories left out to keep the message under its size cap


def _safe_name(email: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]", "_", email)


def build_digests(config: Config, store: Archive, now: datetime, period: str | None = None,
                  email: str | None = None, on_progress: OnProgress | None = None
                  ) -> list[DigestResult]:
    """Each subscriber's digest for the period (see the module's docstring); `on_progress`
    hears of each subscriber done (the digest's stories, or that it failed)."""
    tz = config.settings.timezone
    freq_of_period = None
    if period is not None:
        try:
            freq_of_period = schedule.parse_period(period)
        except ValueError as exc:
            raise UsageError(str(exc), field="period") from None
    unreadable: list[tuple[str, str]] = []
    subscribers = store.subscribers(unreadable=unreadable)
    if email is not None:
        subscribers = [s for s in subscribers if s.email == email.strip()]
        if not subscribers:
            raise UsageError(f"no active subscriber {email!r}",
                             field="subscriber")
    results = []
    max_age = timedelta(days=config.settings.digest.max_age_days)
    window = _Window(config, store)
    failing = {(f.address, f.stage) for f in store.digest_failures()}
    tally = Tally("build", len(subscribers) + (len(unreadable) if email is None else 0),
                  "digests", on_progress)
    for address, error in unreadable if email is None else ():
        log.warning("digest build failed address=%r error=%r", address, error)
        store.record_digest_failure(address, "build", period or "", error, now)
        results.append(DigestResult(address, period or "", "failed", error=error))
        tally.step(failed=True)
    for sub in _stepped(subscribers, results, tally):
        if freq_of_period is not None and sub.frequency is not freq_of_period:
            if email is not None:
                raise UsageError(f"{sub.email} gets {sub.frequency.value} digests, "
                                 f"not {freq_of_period.value} ones", field="period")
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
        try:
            made = _make(config, store, sub, p, since, until, now,
                         config.settings.digests_dir / p, window)
        except StoreError:
            raise                      # the archive fails everyone: not this subscriber's
        except Exception as exc:  # noqa: BLE001 - one subscriber's digest harms only itself
            error = _describe(exc)
            log.warning("digest build failed address=%r period=%s error=%r", sub.email, p,
                        error)
            log.debug("digest build traceback address=%r", sub.email, exc_info=True)
            store.record_digest_failure(sub.email, "build", p, error, now)
            results.append(DigestResult(sub.email, p, "failed", error=error))
            continue
        if (sub.email, "build") in failing:
            store.clear_digest_failure(sub.email, "build")
        if made is None:
            results.append(DigestResult(sub.email, p, "empty"))
            continue
        digest, message_id, paths = made
        # Files first (rewritten identically on a retry), then one transaction for the
        # digest row and its queued delivery: a crash in between queues nothing.
        digest_id = store.add_digest(
            subscriber_id=sub.id, address=sub.email, period=p, now=now, since=since, until=until,
            subject=digest.subject, paths=paths, story_ids=digest.story_ids,
            message_id=message_id)
        status = "built" if digest_id is not None else "exists"
        results.append(DigestResult(sub.email, p, status, len(digest.story_ids), paths["html"],
                                    left_out=digest.left_out))
    try:
        publish_topic_feeds(config, store, now)
    except OSError as exc:    # the digests above are queued; only the Atom feeds are not
        raise _output_error(exc, config.settings.digests_dir / "feeds") from exc
    return results


def _stepped(units: Sequence[T], results: list[Any], tally: Tally) -> Iterator[T]:
    """`units` one by one, each counted in `tally` once its loop body is done (whatever
    `continue` it took): the results it added say its items (stories, or a mail sent)
    and whether it failed."""
    for unit in units:
        before = len(results)
        yield unit
        made = results[before:]
        tally.step(sum(getattr(r, "stories", r.status == "sent") for r in made),
                   failed=any(r.status in ("failed", "retry") for r in made))


def _output_error(exc: OSError, folder: Path) -> OutputError:
    return OutputError(f"cannot write in {folder}: {exc.strerror or exc}",
                       hint="make settings.digests_dir a folder relay can write (and free "
                            "disk space), then run the command again")


def _describe(exc: BaseException) -> str:
    """One line naming an unexpected failure: its type and message."""
    text = " ".join(str(exc).split())
    if isinstance(exc, RelayError):
        return exc.message
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Window:
    """The archive rows of one digest window, read once for every subscriber who shares
    the window (most do) and indexed by topic, so a subscriber's rows are a lookup."""

    def __init__(self, config: Config, store: Archive) -> None:
        self.config, self.store = config, store
        self.feeds = feeds_in_force(config, store)     # need-to-know as configured now
        self.cache: dict[tuple[datetime, datetime], tuple[
            dict[str, set[int]], dict[int, list[StoryRow]]]] = {}
        self.ranked: dict[tuple[datetime, datetime], RankedWindow] = {}
        self.trends: dict[datetime, dict[str, list[int]]] = {}

    def sections(self, since: datetime, until: datetime, sub: Subscriber
                 ) -> tuple[TopicSection, ...]:
        from relay.digest.select import select, select_ranked
        per_topic = self.config.settings.digest.max_per_topic
        self.rows(since, until, ())           # reads and ranks the window once
        fast = select_ranked(self.ranked[(since, until)], sub, self.config.topics, per_topic)
        sections = fast if fast is not None else select(
            self.rows(since, until, sub.topics), sub, self.config.topics, per_topic)
        if until not in self.trends:
            self.trends[until] = self.store.weekly_topic_counts(
                until, feeds=public_feeds(self.feeds))
        counts = self.trends[until]
        return tuple(replace(s, trend=tuple(counts.get(s.topic.id, [0] * 8)))
                     for s in sections)

    def rows(self, since: datetime, until: datetime, topics: Sequence[str]
             ) -> list[StoryRow]:
        from relay.digest.select import counts, rank_window
        key = (since, until)
        if key not in self.cache:
            max_age = timedelta(days=self.config.settings.digest.max_age_days)
            topics = [t.id for t in self.config.topics]
            all_rows = in_force(self.store.story_rows(since, until, until - max_age, topics),
                                self.feeds, topics)
            by_story: dict[int, list[StoryRow]] = defaultdict(list)
            by_topic: dict[str, set[int]] = defaultdict(set)
            for row in all_rows:
                by_story[row.story_id].append(row)
                # `select` shows a story only to a subscriber who sees an item that counts.
                row.counts = counts(row, since, until, until - max_age)
                if row.counts:
                    for topic in row.tags:
                        by_topic[topic].add(row.story_id)
            self.cache[key] = (by_topic, by_story)
            self.ranked[key] = rank_window(by_story, by_topic)
        by_topic, by_story = self.cache[key]
        story_ids = set().union(*(by_topic.get(t, set()) for t in topics))
        return [row for sid in story_ids for row in by_story[sid]]


def _make(config: Config, store: Archive, sub: Subscriber, period: str, since: datetime,
          until: datetime, now: datetime, folder: Path, window: _Window | None = None,
          ) -> tuple[Digest, str, dict[str, str]] | None:
    """Select, render and write one digest's .html, .txt and .eml; None when empty."""
    from relay.digest.render import Names, render, subject
    tz = config.settings.timezone
    sub = replace(sub, name=one_line_name(sub.name))
    sections = (window or _Window(config, store)).sections(since, until, sub)
    if not sections and not config.settings.digest.send_empty:
        return None
    settings = config.settings
    limit = settings.digest.max_message_bytes
    digest = Digest(subscriber=sub, period=period, since=since, until=until, sections=sections,
                    size_limit=limit)
    digest = replace(digest, subject=subject(digest, tz))
    sender = settings.smtp.sender
    https = (unsubscribe_url(settings.base_url, settings.secret, sub.email)
             if settings.base_url else None)
    mailto = unsubscribe_mailto(sender, settings.secret, sub.email)
    names = Names(feeds={f.id: f.names for f in config.feeds if f.names},
                  missions=config.missions)
    message_id = new_message_id(sender)
    total = len(digest.story_ids)
    while True:
        html, text = render(digest, tz, https or mailto, config.topics, names)
        eml = build_message(
            sender=sender, to_address=sub.email, to_name=sub.name, subject=digest.subject,
            text=text, html=html, message_id=message_id, date=format_date(now),
            list_id=f"{period.lower()}.digests.{sender.rpartition('@')[2]}",
            unsubscribe_https=https, unsubscribe_mailto=mailto)
        kept = len(digest.story_ids)
        if len(eml) <= limit:
            break
        if kept == 0:
            raise DeliveryError(
                f"the digest is {len(eml)} bytes without any story, over "
                f"settings.digest.max_message_bytes ({limit})", address=sub.email,
                temporary=False)
        # Leave out the least important stories: about as many as the excess, at least one.
        keep = min(kept - 1, kept * limit // len(eml))
        digest = replace(digest, sections=_keep_most_important(digest.sections, keep),
                         left_out=total - keep)
    if digest.left_out:
        log.warning("digest trimmed address=%r period=%s left_out=%d limit=%d", sub.email,
                    period, digest.left_out, limit)
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / _safe_name(sub.email)
    paths = {"html": f"{base}.html", "text": f"{base}.txt", "eml": f"{base}.eml"}
    Path(paths["html"]).write_text(html, encoding="utf-8")
    Path(paths["text"]).write_text(text, encoding="utf-8")
    Path(paths["eml"]).write_bytes(eml)
    return digest, message_id, paths


def _keep_most_important(sections: Sequence[TopicSection], keep: int
                         ) -> tuple[TopicSection, ...]:
    """The sections with `keep` stories in all: the lowest-ranked story of the longest
    section goes first (so every topic keeps its best), and is counted in its `more`."""
    stories = [list(sec.stories) for sec in sections]
    more = [sec.more for sec in sections]
    while sum(map(len, stories)) > keep:
        longest = max(range(len(stories)), key=lambda i: (len(stories[i]), i))
        stories[longest].pop()
        more[longest] += 1
    return tuple(replace(sec, stories=tuple(kept), more=n)
                 for sec, kept, n in zip(sections, stories, more, strict=True))


def publish_topic_feeds(config: Config, store: Archive, now: datetime) -> list[str]:
    """Write digests/feeds/<topic>.xml for every topic: its stories of the last
    max_age_days with a public item that counts, public sources only (as configured
    now); the feed of a topic no longer configured is withdrawn. Returns the paths
    written."""
    from relay.digest.atom import topic_feed
    from relay.digest.select import counts
    folder = config.settings.digests_dir / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    max_age = timedelta(days=config.settings.digest.max_age_days)
    base_id = f"tag:{config.settings.smtp.sender.rpartition('@')[2]},2026:relay"
    feeds = feeds_in_force(config, store)
    topic_ids = [t.id for t in config.topics]
    written = []
    for topic in config.topics:
        rows = in_force(store.story_rows(now - max_age, now, now - max_age, [topic.id]),
                        feeds, topic_ids)
        # News through a public item: a restricted one joining an old story does not
        # bring the story's old public items back into the public feed.
        news = {r.story_id for r in rows
                if topic.id in r.tags and not r.audience
                and counts(r, now - max_age, now, now - max_age)}
        rows = [r for r in rows if r.story_id in news]
        path = folder / f"{topic.id}.xml"
        tmp = path.with_suffix(".xml.tmp")
        tmp.write_bytes(topic_feed(topic, rows, now, base_id))
        tmp.replace(path)
        written.append(str(path))
    for stale in folder.glob("*.xml"):
        if stale.stem not in topic_ids:
            stale.unlink(missing_ok=True)
    return written


def preview_digest(config: Config, store: Archive, now: datetime, email: str) -> str | None:
    """Write what the subscriber's next digest would be under digests/preview/, queueing
    and recording nothing; the .html path, or None when there is nothing to show."""
    sub = next((s for s in store.subscribers() if s.email == email.strip()), None)
    if sub is None:
        raise UsageError(f"no active subscriber {email!r}", field="subscriber")
    max_age = timedelta(days=config.settings.digest.max_age_days)
    period = schedule.period_of(now, sub.frequency, config.settings.timezone)
    try:
        made = _make(config, store, sub, period, sub.last_digest_at or (now - max_age), now,
                     now, config.settings.digests_dir / "preview")
    except StoreError:
        raise
    except OSError as exc:    # the preview folder: the system's failure, not the row's
        raise _output_error(exc, config.settings.digests_dir / "preview") from exc
    except Exception as exc:  # noqa: BLE001 - a stored row relay refuses today
        raise UsageError(f"the digest of {sub.email!r} cannot be built: {_describe(exc)}",
                         field="digest",
                         ) from exc
    return made[2]["html"] if made else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class SendResult:
    address: str
    status: str              # sent | retry | failed
    error: str | None = None


def send_pending(config: Config, store: Archive, now: datetime,
                 should_stop: Callable[[], bool] = lambda: False,
                 retry_now: bool = False, on_progress: OnProgress | None = None
                 ) -> list[SendResult]:
    """Send the due deliveries (all queued ones with `retry_now`), each claimed first so
    that two senders (the daemon and a manual `relay digest send`) never send one twice;
    `on_progress` hears of each delivery done (sent, or not)."""
    pending = store.due_deliveries(now, ignore_retry_time=retry_now)
    results: list[SendResult] = []
    tally = Tally("send", len(pending), "deliveries", on_progress)
    if not pending:
        return results
    smtp = config.settings.smtp
    host = socket.gethostname()
    owner = f"{host}:{os.getpid()}"
    for other in store.claim_owners():   # a sender on this host that was killed
        other_host, _, pid = other.rpartition(":")
        if other_host == host and pid.isdigit() and not _alive(int(pid)):
            store.release_claims(other)
    failing = {(f.address, f.stage) for f in store.digest_failures()}
    with SmtpSender(smtp.url, smtp.timeout, smtp.allow_plaintext_auth) as sender:
        for d in _stepped(pending, results, tally):
            if should_stop():
                break
            if not store.claim_delivery(d.id, now, owner, CLAIM_STALE_AFTER):
                continue  # another sender has it
            try:
                message = Path(d.eml_path).read_bytes()
            except OSError as exc:
                error = f"message file missing: {exc}"
                store.mark_failed(d.id, error, None)
                store.record_digest_failure(d.address, "send", d.period, error, now)
                results.append(SendResult(d.address, "failed", str(exc)))
                continue
            try:
                sender.send(smtp.sender, d.address, message)
            except DeliveryError as exc:
                retry = exc.temporary and d.attempts + 1 < MAX_DELIVERY_ATTEMPTS
                next_try = now + DELIVERY_RETRY * (2 ** d.attempts) if retry else None
                _failed(store, d, exc.message, next_try, now, results)
                continue
            except Exception as exc:  # noqa: BLE001 - one delivery harms only itself
                # Unforeseen: whether the server took it is unknown, so it is never retried
                # (a copy sent twice is worse than one marked failed for the operator).
                log.debug("delivery traceback address=%r", d.address, exc_info=True)
                _failed(store, d, _describe(exc), None, now, results)
                continue
            store.mark_sent(d.id, now)
            if (d.address, "send") in failing:
                store.clear_digest_failure(d.address, "send")
            results.append(SendResult(d.address, "sent"))
    return results


def deliveries_waiting(store: Archive, now: datetime) -> tuple[int, datetime | None]:
    """Queued deliveries that wait for a retry: how many, and when the first is due."""
    return store.waiting_deliveries(now)


def _failed(store: Archive, d: Delivery, error: str, next_try: datetime | None, now: datetime,
            results: list[SendResult]) -> None:
    """A failed attempt: queued again at `next_try` (or failed for good), recorded for its
    subscriber."""
    store.mark_failed(d.id, error, next_try)
    retry = next_try is not None
    store.record_digest_failure(d.address, "send", d.period,
                                error + (" (will retry)" if retry else ""), now)
    results.append(SendResult(d.address, "retry" if retry else "failed", error))
    log.warning("delivery address=%r error=%r retry=%s", d.address, error, retry)
