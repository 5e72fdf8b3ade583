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
- published: `published`, else `updated`, else `created` (UTC), else None;
  German and French day/month names in RFC 822 dates are understood;
- link: as published (never rewritten: `www.`, query and fragment kept), made
  absolute against the entry's xml:base, else the feed's own link, else the
  URL the document was fetched from (for a `path:` feed, its `base_url`); a
  relative link in a local file without `base_url` stays as written (shown,
  never linked: digests link only http(s) links); an entry without a link
  gets the feed's own (absolute) link, else "";
- content: the longest of the entry's content values and its summary;
- an entry with no title, no link and no content is skipped.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from relay.collect.decode import as_utf8_document
from relay.errors import ParseError
from relay.models import Entry, Fetched

_LOCAL_NAMES = {
    # German and French day and month abbreviations seen in real feeds (corpus: contentwind)
    "mo": "Mon", "di": "Tue", "mi": "Wed", "do": "Thu", "fr": "Fri", "sa": "Sat", "so": "Sun",
    "lun": "Mon", "mar": "Tue", "mer": "Wed", "jeu": "Thu", "ven": "Fri", "sam": "Sat",
    "dim": "Sun", "mär": "Mar", "mrz": "Mar", "mai": "May", "okt": "Oct", "dez": "Dec",
    "janv": "Jan", "févr": "Feb", "fevr": "Feb", "avr": "Apr", "juin": "Jun", "juil": "Jul",
    "août": "Aug", "aout": "Aug", "sept": "Sep", "déc": "Dec",
}
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
    """An RFC 822 date with German or French names ('Do, 22 Dez 2016 10:00:00 +0100')."""
    words = re.split(r"([\s,.]+)", text.strip())
    mapped = "".join(_LOCAL_NAMES.get(w.lower(), w) for w in words)
    try:
        dt = parsedate_to_datetime(mapped)
    except (TypeError, ValueError, IndexError):
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _entry_date(e: Any) -> datetime | None:
    for key in ("published", "updated", "created"):
        dt = _struct_to_dt(e.get(f"{key}_parsed"))
        if dt:
            return dt
    for key in ("published", "updated", "created"):
        if e.get(key):
            dt = parse_local_date(e[key])
            if dt:
                return dt
    return None


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
    base = _links_base(parsed, fetched)
    lang = lang_hint or _feed_lang(parsed)
    out: list[Entry] = []
    for e in entries:
        if not (e.get("title") or e.get("link") or _content(e)).strip():
            continue  # an empty <item/> (corpus: illegally nested items) is not an entry
        link = _resolve(base, (e.get("link") or "").strip())
        title = e.get("title", "") or ""
        published = _entry_date(e)
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


def _is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _links_base(parsed: Any, fetched: Fetched) -> str:
    """What an entry's relative link is relative to: the feed's own link made absolute
    against the URL the document was fetched from (or stands for: `base_url`), else that
    URL. A local file with no `base_url` has no web base: "" unless its own link is
    absolute. (xml:base is applied by feedparser before this.)"""
    own = (parsed.get("feed", {}).get("link") or "").strip()
    start = fetched.base if _is_web(fetched.base) else ""
    if own and (start or _is_web(own)):
        return urljoin(start, own)
    return start


def _resolve(base: str, link: str) -> str:
    """The link as published, made absolute against `base` when there is one; a relative
    link with no web base stays as written (relay never invents a host or a file path)."""
    if not link or not base or _is_web(link):
        return link
    return urljoin(base, link)


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
