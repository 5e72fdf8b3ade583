"""Subscribers and digests: validate a subscriber (languages as ISO 639-1 codes, a
region subtag dropped: zh-CN is zh), build each subscriber's digest for a period
(files first, then the digest row and its queued delivery in one transaction), and
send what is queued (claiming each delivery first). The window marks each row with
whether it counts (`select.counts`), for `select` shows a story only through news
the subscriber can see.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import secrets
import socket
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from relay import schedule
from relay.digest.atom import topic_feed
from relay.digest.deliver import (
    SmtpSender,
    build_message,
    format_date,
    new_message_id,
    unsubscribe_mailto,
    unsubscribe_url,
)
from relay.digest.render import Names, render, subject
from relay.digest.select import RankedWindow, counts, rank_window, select, select_ranked
from relay.errors import DeliveryError, UsageError
from relay.langs import primary
from relay.models import (
    UI_LANGS,
    Config,
    Digest,
    Frequency,
    Subscriber,
    TopicSection,
)
from relay.pipeline.in_force import feeds_in_force, in_force, public_feeds
from relay.store import Store

log = logging.getLogger("relay")


DELIVERY_RETRY = timedelta(minutes=15)
CLAIM_STALE_AFTER = timedelta(minutes=10)  # a claim older than this is a dead sender's
MAX_DELIVERY_ATTEMPTS = 8


_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def make_subscriber(config: Config, email: str, topics: Sequence[str], *,
                    frequency: str = "weekly", ui_lang: str = "ja", langs: Sequence[str] = (),
                    missions: Sequence[str] = (), name: str = "", org: str = "",
                    groups: Sequence[str] = (), countries: Sequence[str] = ()) -> Subscriber:
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
    codes = []
    for lang in langs:
        code = primary(lang)          # zh-CN, pt_BR: the region is dropped
        if code is None:
            raise UsageError(f"{lang.strip()!r} is not an ISO 639-1 language code",
                             hint="two letters, e.g. ja, en, zh, ko, de, fr, ru, pt (or zh-CN)")
        codes.append(code)
    langs = list(dict.fromkeys(codes))
    for label, value in (("name", name), ("organization", org)):
        if any(ch in value for ch in "\r\n\t") or len(value) > 200:
            raise UsageError(f"the {label} must be one line of at most 200 characters")
    if ui_lang not in UI_LANGS:
        raise UsageError(f"digest language must be one of {', '.join(UI_LANGS)}, "
                         f"not {ui_lang!r}")
    for group in groups:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", group):
            raise UsageError(f"{group!r} is not a lower-case group slug")
    try:
        freq = Frequency(frequency)
    except ValueError:
        raise UsageError(f"frequency must be weekly or daily, not {frequency!r}") from None
    return Subscriber(email=email, topics=tuple(dict.fromkeys(topics)), frequency=freq,
                      ui_lang=ui_lang, langs=tuple(langs), missions=tuple(missions),
                      name=name, org=org, groups=tuple(dict.fromkeys(groups)),
                      countries=tuple(dict.fromkeys(c.upper() for c in countries)),
                      token=secrets.token_urlsafe(18))


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)       # "line N: what is wrong"


IMPORT_COLUMNS = ("email", "name", "organization", "topics", "frequency", "ui_lang", "groups",
                  "langs")


def import_subscribers(config: Config, store: Store, path: Path, now: datetime) -> ImportReport:
    """Add or update the subscribers of a CSV file (columns IMPORT_COLUMNS; topics,
    groups and langs space-separated). Idempotent; a bad row changes nothing and is
    reported with its line; the good rows are applied."""
    report = ImportReport()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the file: {exc}", where=str(path)) from exc
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:          # a header field over csv's 128 KB limit
        raise UsageError(f"cannot read the header: {exc}", where=f"{path}:1") from exc
    missing = [c for c in ("email", "topics") if c not in header]
    if missing:
        raise UsageError(f"the header lacks {', '.join(missing)}", where=f"{path}:1",
                         hint="columns: " + ",".join(IMPORT_COLUMNS))
    existing = {s.email: s for s in store.subscribers(active_only=False)}
    seen: dict[str, int] = {}
    for row in _records(reader, report):
        line = reader.line_num
        address = (row.get("email") or "").strip().lower()
        if address in seen:
            report.bad.append(f"line {line}: {address} is already on line {seen[address]}")
            continue
        seen[address] = line
        unknown = [k for k in row if k not in IMPORT_COLUMNS]
        if unknown and unknown != [None]:
            report.bad.append(f"line {line}: unknown column {unknown[0]!r}")
            continue
        try:
            sub = make_subscriber(
                config, row.get("email") or "", (row.get("topics") or "").split(),
                frequency=(row.get("frequency") or "weekly").strip(),
                ui_lang=(row.get("ui_lang") or "ja").strip(),
                name=(row.get("name") or "").strip(), org=(row.get("organization") or "").strip(),
                groups=(row.get("groups") or "").split(),
                langs=(row.get("langs") or "").replace(",", " ").lower().split())
        except UsageError as exc:
            report.bad.append(f"line {line}: {exc.message}")
            continue
        old = existing.get(sub.email)
        if old is not None:   # a column the file does not have keeps its value
            given = set(reader.fieldnames or ())
            sub = replace(
                sub,
                name=sub.name if "name" in given else old.name,
                org=sub.org if "organization" in given else old.org,
                frequency=sub.frequency if "frequency" in given else old.frequency,
                ui_lang=sub.ui_lang if "ui_lang" in given else old.ui_lang,
                groups=sub.groups if "groups" in given else old.groups,
                langs=sub.langs if "langs" in given else old.langs)
        same = old is not None and old.active and (
            old.topics, old.frequency, old.ui_lang, old.name, old.org, old.groups, old.langs) == (
            sub.topics, sub.frequency, sub.ui_lang, sub.name, sub.org, sub.groups, sub.langs)
        if same:
            report.unchanged.append(sub.email)
            continue
        if old is not None:   # keep what the file does not say
            sub = replace(sub, missions=old.missions, countries=old.countries)
        created = store.upsert_subscriber(sub, now)
        (report.added if created else report.updated).append(sub.email)
        existing[sub.email] = sub
    return report


def _records(reader: csv.DictReader[str], report: ImportReport) -> Iterator[dict[str, Any]]:
    """The rows of the file until one csv cannot read (a field over its 128 KB limit):
    that one is reported with its line, and the lines after it are not read."""
    try:
        yield from reader
    except csv.Error as exc:
        report.bad.append(f"line {reader.line_num + 1}: {exc}; the lines after it were not read")


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
    window = _Window(config, store)
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
        made = _make(config, store, sub, p, since, until, now, config.settings.digests_dir / p,
                     window)
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
        results.append(DigestResult(sub.email, p, status, len(digest.story_ids), paths["html"]))
    publish_topic_feeds(config, store, now)
    return results


class _Window:
    """The archive rows of one digest window, read once for every subscriber who shares
    the window (most do) and indexed by topic, so a subscriber's rows are a lookup."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self.feeds = feeds_in_force(config, store)     # need-to-know as configured now
        self.cache: dict[tuple[datetime, datetime], tuple[
            dict[str, set[int]], dict[int, list[dict[str, Any]]]]] = {}
        self.ranked: dict[tuple[datetime, datetime], RankedWindow] = {}
        self.trends: dict[datetime, dict[str, list[int]]] = {}

    def sections(self, since: datetime, until: datetime, sub: Subscriber
                 ) -> tuple[TopicSection, ...]:
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
             ) -> list[dict[str, Any]]:
        key = (since, until)
        if key not in self.cache:
            max_age = timedelta(days=self.config.settings.digest.max_age_days)
            topics = [t.id for t in self.config.topics]
            all_rows = in_force(self.store.story_rows(since, until, until - max_age, topics),
                                self.feeds, topics)
            by_story: dict[int, list[dict[str, Any]]] = defaultdict(list)
            by_topic: dict[str, set[int]] = defaultdict(set)
            for row in all_rows:
                by_story[row["story_id"]].append(row)
                # `select` shows a story only to a subscriber who sees an item that counts.
                row["counts"] = counts(row, since, until, until - max_age)
                if row["counts"]:
                    for topic in row["tags"]:
                        by_topic[topic].add(row["story_id"])
            self.cache[key] = (by_topic, by_story)
            self.ranked[key] = rank_window(by_story, by_topic)
        by_topic, by_story = self.cache[key]
        story_ids = set().union(*(by_topic.get(t, set()) for t in topics))
        return [row for sid in story_ids for row in by_story[sid]]


def _make(config: Config, store: Store, sub: Subscriber, period: str, since: datetime,
          until: datetime, now: datetime, folder: Path, window: _Window | None = None,
          ) -> tuple[Digest, str, dict[str, str]] | None:
    """Select, render and write one digest's .html, .txt and .eml; None when empty."""
    tz = config.settings.timezone
    sections = (window or _Window(config, store)).sections(since, until, sub)
    if not sections and not config.settings.digest.send_empty:
        return None
    digest = Digest(subscriber=sub, period=period, since=since, until=until, sections=sections)
    digest = replace(digest, subject=subject(digest, tz))
    settings = config.settings
    sender = settings.smtp.sender
    https = (unsubscribe_url(settings.base_url, settings.secret, sub.email)
             if settings.base_url else None)
    mailto = unsubscribe_mailto(sender, settings.secret, sub.email)
    unsubscribe = https or mailto
    html, text = render(digest, tz, unsubscribe, config.topics, Names(
        feeds={f.id: f.names for f in config.feeds if f.names}, missions=config.missions))
    message_id = new_message_id(sender)
    eml = build_message(
        sender=sender, to_address=sub.email, to_name=sub.name, subject=digest.subject,
        text=text, html=html, message_id=message_id, date=format_date(now),
        list_id=f"{period.lower()}.digests.{sender.rpartition('@')[2]}",
        unsubscribe_https=https, unsubscribe_mailto=mailto)
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / _safe_name(sub.email)
    paths = {"html": f"{base}.html", "text": f"{base}.txt", "eml": f"{base}.eml"}
    Path(paths["html"]).write_text(html, encoding="utf-8")
    Path(paths["text"]).write_text(text, encoding="utf-8")
    Path(paths["eml"]).write_bytes(eml)
    return digest, message_id, paths


def publish_topic_feeds(config: Config, store: Store, now: datetime) -> list[str]:
    """Write digests/feeds/<topic>.xml for every topic: its stories of the last
    max_age_days with a public item that counts, public sources only (as configured
    now); the feed of a topic no longer configured is withdrawn. Returns the paths
    written."""
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
        news = {r["story_id"] for r in rows
                if topic.id in r["tags"] and not r.get("audience")
                and counts(r, now - max_age, now, now - max_age)}
        rows = [r for r in rows if r["story_id"] in news]
        path = folder / f"{topic.id}.xml"
        tmp = path.with_suffix(".xml.tmp")
        tmp.write_bytes(topic_feed(topic, rows, now, base_id))
        tmp.replace(path)
        written.append(str(path))
    for stale in folder.glob("*.xml"):
        if stale.stem not in topic_ids:
            stale.unlink(missing_ok=True)
    return written


def preview_digest(config: Config, store: Store, now: datetime, email: str) -> str | None:
    """Write what the subscriber's next digest would be under digests/preview/, queueing
    and recording nothing; the .html path, or None when there is nothing to show."""
    sub = next((s for s in store.subscribers() if s.email == email.strip()), None)
    if sub is None:
        raise UsageError(f"no active subscriber {email!r}", hint="`relay subscribers` lists them")
    max_age = timedelta(days=config.settings.digest.max_age_days)
    period = schedule.period_of(now, sub.frequency, config.settings.timezone)
    made = _make(config, store, sub, period, sub.last_digest_at or (now - max_age), now, now,
                 config.settings.digests_dir / "preview")
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
    host = socket.gethostname()
    owner = f"{host}:{os.getpid()}"
    for other in store.claim_owners():   # a sender on this host that was killed
        other_host, _, pid = other.rpartition(":")
        if other_host == host and pid.isdigit() and not _alive(int(pid)):
            store.release_claims(other)
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
