"""RSS 0.9x / RSS 1.0 (RDF) / RSS 2.0 / Atom bytes -> `Entry` values (feedparser).

Rules:
- the bytes are decoded by `decode` (publishers' declarations are not
  trusted blindly) and handed to feedparser as UTF-8, with sanitizing and
  relative-URI resolution off (relay sanitizes what it shows, once, and
  resolves links itself against the entry's base, the feed's link or the
  URL it was fetched from);
- a document with no entries that feedparser flags as broken, or that is an
  HTML page, is a `ParseError` saying why; a broken document with salvageable
  entries yields them (feedparser's "bozo" is reported, not fatal);
- guid: the entry id, else its link, else a hash of title and date;
- published: `published`, else `updated`, else `created`, read by
  `relay.collect.dates` (day and month names in the corpus's languages, year-first
  numbers, 年月日 and 년월일; a date with no zone is in the zone of the feed's
  language: Japan, Korea, China, else UTC); a year-first string is read by that
  module first (feedparser reads '2020/1/10' as 1 December), any other by
  feedparser first. An entry with none of them is dated by a
  `/2017/01/07/` day in its link's path, else not at all (None: relay never dates
  an entry by when it saw it);
- content: the longest of the entry's content values and its summary;
- an entry with no title, no link and no content is skipped.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urljoin

import feedparser

from relay.collect.dates import date_in_url, parse_date, zone_for_lang
from relay.collect.decode import as_utf8_document
from relay.errors import ParseError
from relay.models import Entry, Fetched

_YEAR_FIRST = re.compile(r"\d{4}\s*[/.年년-]")
_LINK_ALT = re.compile(
    r"""<link[^>]+rel=["']alternate["'][^>]*type=["']application/(?:rss|atom)\+xml["'][^>]*>""",
    re.IGNORECASE)
_HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)


def _struct_to_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def parse_local_date(text: str) -> datetime | None:
    """A date string as a feed writes it ('Do, 22 Dez 2016 10:00:00 +0100'), as UTC."""
    return parse_date(text)


def _entry_date(e: Any, zone: tzinfo = UTC) -> datetime | None:
    for key in ("published", "updated", "created"):
        raw = str(e.get(key) or "")
        parsed = _struct_to_dt(e.get(f"{key}_parsed"))
        if raw and _YEAR_FIRST.match(raw.strip()):
            # feedparser reads '2020/1/10 14:33:00' as 1 December, and a date with no
            # zone as UTC, where a Japanese or Chinese feed means its own time
            dt = parse_date(raw, zone) or parsed
        else:
            dt = parsed or (parse_date(raw, zone) if raw else None)
        if dt:
            return dt
    return date_in_url(e.get("link") or "")


def _content(e: Any) -> str:
    values = [c.get("value", "") for c in e.get("content", []) or []]
    values.append(e.get("summary", "") or "")
    return max(values, key=len)


def discover_feed_links(html: str, base_url: str) -> list[str]:
    """Feed URLs that an HTML page announces with <link rel="alternate">."""
    out = []
    for tag in _LINK_ALT.findall(html):
        m = _HREF.search(tag)
        if m:
            out.append(urljoin(base_url, m.group(1)))
    return out


def parse_feed(fetched: Fetched, lang_hint: str | None = None) -> list[Entry]:
    """The entries of one fetched feed document."""
    return parse_feed_document(fetched, lang_hint)[0]


def parse_feed_document(fetched: Fetched,
                        lang_hint: str | None = None) -> tuple[list[Entry], int | None]:
    """The entries of one feed document and its RSS <ttl> in seconds (None if absent)."""
    body, _codec = as_utf8_document(fetched.body, fetched.headers.get("content-type", ""))
    if not body.strip():
        raise ParseError("empty body", feed_id=fetched.feed_id, url=fetched.url)
    parsed = feedparser.parse(
        # No content-location: feedparser would resolve guids against it ("boston-1" ->
        # "http://host/boston-1") and a moved feed would change every guid.
        body, response_headers={"content-type": "application/xml; charset=utf-8"},
        sanitize_html=False, resolve_relative_uris=False,
    )
    entries = parsed.get("entries", [])
    if not entries:
        head = body[:4096].decode("utf-8", "replace")
        if not parsed.get("version") and re.search(r"<html|<!doctype html", head, re.IGNORECASE):
            links = discover_feed_links(head, fetched.url)
            hint = f"the page names a feed: {links[0]}" if links else ""
            raise ParseError("not a feed: an HTML page", feed_id=fetched.feed_id,
                             url=fetched.url, hint=hint)
        if parsed.get("bozo"):
            reason = parsed.get("bozo_exception")
            raise ParseError(f"not a readable feed: {reason}", feed_id=fetched.feed_id,
                             url=fetched.url)
        return [], _ttl(parsed)
    feed_link = parsed.get("feed", {}).get("link") or fetched.url
    base = urljoin(fetched.url, feed_link) if fetched.url.startswith("http") else feed_link
    lang = lang_hint or _feed_lang(parsed)
    zone = zone_for_lang(lang_hint or parsed.get("feed", {}).get("language"))
    out: list[Entry] = []
    for e in entries:
        if not (e.get("title") or e.get("link") or _content(e)).strip():
            continue  # an empty <item/> (corpus: illegally nested items) is not an entry
        link = (e.get("link") or "").strip()
        if link:
            link = urljoin(base, link)
        title = e.get("title", "") or ""
        published = _entry_date(e, zone)
        guid = (e.get("id") or "").strip() or link
        if not guid:
            stamp = published.isoformat() if published else ""
            guid = "sha1:" + hashlib.sha1(f"{title}|{stamp}".encode()).hexdigest()
        out.append(Entry(
            feed_id=fetched.feed_id, guid=guid, url=link or base, title=title,
            content_html=_content(e), published_at=published,
            author=e.get("author", "") or "", lang=lang,
        ))
    return out, _ttl(parsed)


def _feed_lang(parsed: Any) -> str | None:
    lang = (parsed.get("feed", {}).get("language") or "").lower()[:2]
    return lang if lang in ("ja", "en", "de", "fr") else None


def _ttl(parsed: Any) -> int | None:
    """RSS 2.0 <ttl>: minutes the feed may be cached."""
    value = str(parsed.get("feed", {}).get("ttl") or "").strip()
    return int(value) * 60 if value.isdigit() and int(value) > 0 else None


def feed_info(fetched: Fetched) -> dict[str, str]:
    """The feed's own title, language and site link (for `relay feeds add`)."""
    body, _codec = as_utf8_document(fetched.body, fetched.headers.get("content-type", ""))
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    feed = parsed.get("feed", {})
    return {"title": feed.get("title", "") or "", "language": feed.get("language", "") or "",
            "link": feed.get("link", "") or ""}


def looks_like_html(body: bytes) -> bool:
    head = body[:4096].decode("utf-8", "replace")
    return bool(re.search(r"<html|<!doctype html", head, re.IGNORECASE)) and not re.search(
        r"<(rss|feed|rdf:RDF)[\s>]", head)
