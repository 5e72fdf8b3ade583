"""Feed health for the operator: the health table, `feeds check` (fetch once,
store nothing), `feeds add` (probe a URL for its feed; its language as collect takes
an item's: the declared one unless the titles plainly say another), and the health mail.
A feed's state is its error when its last fetch failed; else `partial` when its
last document was broken and read only in part (what it gave is stored).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from relay import schedule
from relay.collect.decode import decode
from relay.collect.feeds import discover_feed_links, feed_info, looks_like_html, parse_feed_document
from relay.collect.fetch import FetchRequest, fetch_all
from relay.config import append_feeds
from relay.digest.deliver import SmtpSender, build_message, format_date, new_message_id
from relay.errors import CollectError, UsageError
from relay.langs import primary
from relay.models import (
    Config,
    FeedKind,
    Fetched,
)
from relay.pipeline.collecting import entries_for, limits_for, named_feeds
from relay.pipeline.ports import Archive
from relay.text import detect_lang, html_to_text

log = logging.getLogger("relay")


def feed_health(config: Config, store: Archive, now: datetime) -> list[dict[str, Any]]:
    """The configured feeds with their health: the feeds table's columns, item counts for
    the last 7 and 30 days, `enabled`, and `silent` (see schedule.is_silent; never a feed
    that is not enabled)."""
    store.sync_feeds(config.feeds)
    rows = {r["id"]: r for r in store.feed_rows(now)}
    out: list[dict[str, Any]] = []
    for feed in config.feeds:
        row = dict(rows[feed.id])
        row.pop("etag", None)
        row.pop("last_modified", None)
        row["items_7d"] = row["items_7d"] or 0
        row["items_30d"] = row["items_30d"] or 0
        row["audience"] = list(feed.audience)     # the groups in force, a list (not JSON text)
        row["enabled"] = feed.enabled and not row["disabled_reason"]
        # A feed that is off (enabled: false, or a 410) has no items by design: not silent.
        row["silent"] = row["enabled"] and schedule.is_silent(store.recent_published(feed.id),
                                                              now)
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
    partial: str | None = None      # why the document could be read only in part
    site: str | None = None         # the publisher's site, as the feed links it


def check_feeds(config: Config, now: datetime, feed_ids: Sequence[str] = ()) -> list[FeedCheck]:
    """Fetch every configured (or named) source once, unconditionally, parse it, and say
    how it is: nothing is stored and no validators are used or kept."""
    feeds = named_feeds(config, feed_ids) if feed_ids else list(config.feeds)
    limits = limits_for(config)
    http = [f for f in feeds if f.url and f.kind is not FeedKind.REPORTS]
    answers = dict(zip([f.id for f in http], fetch_all(
        [FetchRequest(f.id, f.url or "", allow_private=f.allow_private) for f in http],
        limits, config.settings.user_agent), strict=True))
    out = []
    for feed in feeds:
        try:
            entries, fetched, _ttl, errors, broken = entries_for(feed, answers.get(feed.id),
                                                                 limits)
            newest = max((e.published_at for e in entries if e.published_at), default=None)
            error = str(errors[0]) if errors else None
            out.append(FeedCheck(feed.id, feed.location, error is None,
                                 fetched.status if fetched else None, len(entries), newest,
                                 fetched.moved_to if fetched else None, error,
                                 partial=broken))
        except CollectError as exc:
            out.append(FeedCheck(feed.id, feed.location, False, exc.status, error=exc.message
                                 + (f" ({exc.hint})" if exc.hint else "")))
        except Exception as exc:    # this source alone: the check of the others goes on
            log.info("feed=%s check", feed.id, exc_info=exc)
            out.append(FeedCheck(feed.id, feed.location, False,
                                 error=f"{type(exc).__name__}: {exc}"))
    return out


def probe_url(config: Config, url: str, allow_private: bool = False) -> FeedCheck:
    """What `relay feeds add` needs to know of a URL: the feed it is, or the feed the page
    announces (<link rel="alternate">), checked by fetching and parsing it."""
    (probe,) = probe_urls(config, [url], allow_private)
    if isinstance(probe, UsageError):
        raise probe
    return probe


def probe_urls(config: Config, urls: Sequence[str], allow_private: bool = False
               ) -> list[FeedCheck | UsageError]:
    """probe_url for many URLs, fetched at once (within settings.fetch's limits); each
    URL's answer, or the UsageError that says why it is no feed relay can add."""
    limits = limits_for(config)

    def get(targets: Sequence[str]) -> list[Fetched | UsageError]:
        answers = fetch_all([FetchRequest("new", t, allow_private=allow_private)
                             for t in targets], limits, config.settings.user_agent)
        return [UsageError(f"cannot fetch it: {a.message}", where=t, hint=a.hint)
                if isinstance(a, CollectError) else a for t, a in zip(targets, answers,
                                                                      strict=True)]

    out: list[FeedCheck | UsageError] = []
    for url, answer in zip(urls, get(urls), strict=True):
        try:
            if isinstance(answer, UsageError):
                raise answer
            if looks_like_html(answer.body):     # a page: the feed it announces
                text, _codec = decode(answer.body, answer.headers.get("content-type", ""))
                links = discover_feed_links(text, answer.url)
                if not links:
                    raise UsageError("the page is HTML and names no feed", where=url,
                                     hint="add it as kind: page with CSS selectors instead")
                (answer,) = get(links[:1])
                if isinstance(answer, UsageError):
                    raise answer
            out.append(_probed(answer))
        except UsageError as exc:
            out.append(exc)
    return out


def _probed(fetched: Fetched) -> FeedCheck:
    """What a fetched feed document says of itself: entries, newest, title, language,
    site; a document relay cannot read as a feed is a UsageError."""
    try:
        entries, _ttl = parse_feed_document(fetched)
    except CollectError as exc:
        raise UsageError(f"not a feed relay can read: {exc.message}", where=fetched.url) from exc
    info = feed_info(fetched)
    # The rule collect applies to each item: the declared language (by its first subtag,
    # zh-CN is zh) unless the titles plainly say another.
    declared = info["language"] or ""
    sample = " ".join(html_to_text(e.title) for e in entries[:10])
    lang = detect_lang(sample, hint=declared or None) if sample else primary(declared)
    newest = max((e.published_at for e in entries if e.published_at), default=None)
    site = info["link"] if re.match(r"^https?://[^\s/]+", info["link"]) else None
    return FeedCheck("new", fetched.moved_to or fetched.url, True, fetched.status, len(entries),
                     newest, fetched.moved_to, None, html_to_text(info["title"]), lang or None,
                     site=site)


@dataclass(frozen=True)
class NewFeed:
    """A feed entry for feeds.yaml made from a probe, and the comment that goes above it."""

    entry: dict[str, Any]
    comment: str
    probe: FeedCheck

    @property
    def id(self) -> str:
        return str(self.entry["id"])

    @property
    def checked(self) -> str:
        """What the probe found, in words: "12 entries, newest 2026-11-30"."""
        newest = self.probe.newest.date().isoformat() if self.probe.newest else "no dates"
        return f"{self.probe.entries} entries, newest {newest}"


def new_feed(probe: FeedCheck, url: str, how: str, now: datetime, *, feed_id: str | None = None,
             name: str | None = None, options: Mapping[str, Any] | None = None,
             site: str | None = None) -> NewFeed:
    """The feeds.yaml entry for a probed feed: its id (given, else from its title, else its
    host), name (given, else its title), URL, language as probed, the `options` given
    (mission, country, topics, interval, ...; empty ones left out) and the site (given,
    else the one the feed links). `how` says who added it, for the comment."""
    new_id = feed_id or slug(probe.title) or slug(url.split("//")[-1].split("/")[0])
    entry: dict[str, Any] = {"id": new_id, "name": name or probe.title or new_id,
                             "url": probe.url, "kind": "rss"}
    given = dict(options or {})
    for key in ("mission", "country", "lang", "topics"):
        value = given.pop(key, None) or (probe.lang if key == "lang" else None)
        if value:
            entry[key] = list(value) if key == "topics" else value
    if site or probe.site:
        entry["site"] = site or probe.site
    # Nothing said is left out; False only where it is not the default (enabled).
    entry.update({k: v for k, v in given.items()
                  if v is not None and v != "" and (v is not False or k == "enabled")})
    made = NewFeed(entry, "", probe)
    return replace(made, comment=f"{entry['name']}: added by {how} on {now:%Y-%m-%d} "
                                 f"({made.checked})")


def add_feed(config: Config, url: str, now: datetime, env: Mapping[str, str], *,
             feed_id: str | None = None, name: str | None = None,
             allow_private: bool = False, options: Mapping[str, Any] | None = None) -> NewFeed:
    """`relay feeds add`: find the feed at `url` (a feed, or a page that announces one),
    check it, and append it to the configuration's file keeping its comments."""
    probe = probe_url(config, url, allow_private)
    made = new_feed(probe, url, "`relay feeds add`", now, feed_id=feed_id, name=name,
                    options={**(options or {}), "allow_private": allow_private})
    append_feeds(config.path, [(made.entry, made.comment)], env=env)
    return made


def slug(text: str) -> str:
    """A feed id from a title or host name: lower-case ASCII words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKD", text).lower())
    return "-".join(words)[:40].strip("-")


def health_report(config: Config, store: Archive, now: datetime) -> tuple[str, str]:
    """(subject, text) of the operator's feed-health mail: failing, disabled, moved,
    partial (a broken document, read in part) and silent feeds, so that no source dies
    unnoticed."""
    rows = feed_health(config, store, now)
    tz = config.settings.timezone
    groups = {
        "Failing (the last fetch failed)": [r for r in rows if r["error_count"]
                                            and not r["disabled_reason"]],
        "Disabled (410 Gone; change the url to enable)": [r for r in rows
                                                         if r["disabled_reason"]],
        "Moved (a permanent redirect; update feeds.yaml)": [r for r in rows if r["moved_to"]],
        "Partial (a broken document: what it gave is stored)": [
            r for r in rows if r["partial"] and not r["error_count"]
            and not r["disabled_reason"]],
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
                      and "Moved" in title else None)
                      or (f"partial: {r['partial']}" if "Partial" in title else None)
                      or r["last_error"] or f"newest item {r['newest_item_at'] or '-'}")
            lines.append(f"  - {r['id']}: {' '.join(str(detail).split())[:160]}")
            lines.append(f"    {r['url']}")
        lines.append("")
    if not sick:
        lines.append("Every feed is well.")
    subject = f"relay feed health: {sick} of {len(rows)} feeds need attention"
    return subject, "\n".join(lines) + "\n"


def send_health_mail(config: Config, store: Archive, now: datetime) -> str | None:
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
    with SmtpSender(smtp.url, smtp.timeout, smtp.allow_plaintext_auth) as sender:
        sender.send(smtp.sender, admin, message)
    return admin
