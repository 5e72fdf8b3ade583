"""RSS 0.9x / RSS 1.0 (RDF) / RSS 2.0 / Atom bytes -> `Entry` values (feedparser).

Rules:
- the bytes are decoded by `decode` (publishers' declarations are not
  trusted blindly) and handed to feedparser as UTF-8, with sanitizing and
  relative-URI resolution off (relay sanitizes what it shows, once, and
  resolves links itself against the entry's base, the feed's link or the
  URL it was fetched from);
- a document that is an HTML page, or broken with nothing to salvage (no
  channel, no entry), is a `ParseError` saying why;
- salvage: a document that is not well-formed (truncated by a dropped
  connection or a server exception, broken in the middle) is mended where
  that loses nothing (an HTML entity XML does not know, a bare '&', a control
  character, junk after the document), else cut at its first break: the
  entry open there is dropped whole, the document goes on at the next entry
  start, or is closed after the last complete entry. The complete entries are
  kept; the document is *partial* with the reason ("document truncated after
  7 entries (line 123: unclosed token)"), unless only mending was needed.
  A document that declares entities is never salvaged (expat would expand
  them: "billion laughs"); feedparser's loose reading stands for it.
  Why not feedparser's loose parser or lxml's recover mode
  (benchmarks/salvage.py): the corpus's 51 well-formed feeds of 4+ entries,
  each cut at 30/60/90% of its bytes, or given a mismatched tag, a control
  character or a server's error page, give entries cut short or garbled with
  both (feedparser 35-281 a kind, lxml 39-149); this salvage garbles none
  and drops only the entry at a break (at 90%: 1,271 entries intact of 1,263
  complete, feedparser 1,039, lxml 1,284 but 39 garbled);
- guid: the entry id, else its link, else a hash of title, date and content;
- published: `published`, else `updated`, else `created`, read by
  `relay.collect.dates` (day and month names in the corpus's languages, year-first
  numbers, 年月日 and 년월일; a date with no zone is in the zone of the feed's
  language: Japan, Korea, China, else UTC); a year-first string is read by that
  module first (feedparser reads '2020/1/10' as 1 December), any other by
  feedparser first; a date out of the range relay keeps (before 1970, or past the
  year 9998: `models.kept_date`) counts as none. An entry with none of them is dated by a
  `/2017/01/07/` day in its link's path, else not at all (None: relay never dates
  an entry by when it saw it);
- link: as published (never rewritten: `www.`, query and fragment kept), made
  absolute against the entry's xml:base, else the feed's own link, else the
  URL the document was fetched from (for a `path:` feed, its `base_url`); a
  relative link in a local file without `base_url` stays as written (shown,
  never linked: digests link only http(s) links); an entry without a link
  gets the feed's own (absolute) link, else "";
- content: the longest of the entry's content values and its summary;
- an entry with no title, no link and no content is skipped;
- one bad entry harms only itself: an entry that cannot be read (any exception) is
  skipped and counted (`Document.skipped`), the rest of the document kept; a character
  reference XML forbids (`&#xD800;`, on which feedparser raises) is read as U+FFFD;
- at most `max_entries` entries (`settings.limits`) are taken, the newest by date (the
  undated after every dated one), else the first of the document (`newest`); a
  well-formed document of more is cut before feedparser reads it (`_newest_only`).
"""

from __future__ import annotations

import hashlib
import html.entities
import logging
import re
import xml.sax
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Any
from urllib.parse import urljoin
from xml.parsers import expat

import feedparser

from relay.collect.dates import date_in_url, from_struct_time, parse_date, zone_for_lang
from relay.collect.decode import as_utf8_document
from relay.errors import ParseError
from relay.models import Document, Entry, Fetched

log = logging.getLogger("relay")

_YEAR_FIRST = re.compile(r"\d{4}\s*[/.年년-]")
_LINK_ALT = re.compile(
    r"""<link[^>]+rel=["']alternate["'][^>]*type=["']application/(?:rss|atom)\+xml["'][^>]*>""",
    re.IGNORECASE)
_HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)


def parse_local_date(text: str) -> datetime | None:
    """A date string as a feed writes it ('Do, 22 Dez 2016 10:00:00 +0100'), as UTC."""
    return parse_date(text)


def _entry_date(e: Any, zone: tzinfo = UTC) -> datetime | None:
    for key in ("published", "updated", "created"):
        raw = str(e.get(key) or "")
        parsed = from_struct_time(e.get(f"{key}_parsed"))
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
            out.append(join_link(base_url, m.group(1), m.group(1)))
    return out


def parse_feed(fetched: Fetched, lang_hint: str | None = None) -> list[Entry]:
    """The entries of one fetched feed document."""
    return parse_feed_document(fetched, lang_hint)[0]


def parse_feed_document(fetched: Fetched,
                        lang_hint: str | None = None) -> tuple[list[Entry], int | None]:
    """The entries of one feed document and its RSS <ttl> in seconds (None if absent)."""
    entries, ttl, _partial = read_feed_document(fetched, lang_hint)
    return entries, ttl


def _feedparse(body: bytes) -> Any:
    return feedparser.parse(
        # No content-location: feedparser would resolve guids against it ("boston-1" ->
        # "http://host/boston-1") and a moved feed would change every guid.
        body, response_headers={"content-type": "application/xml; charset=utf-8"},
        sanitize_html=False, resolve_relative_uris=False,
    )


def read_feed_document(fetched: Fetched, lang_hint: str | None = None
                       ) -> tuple[list[Entry], int | None, str | None]:
    """The entries of one feed document, its RSS <ttl> in seconds (None if absent), and
    why the document is partial (None when it was read whole): see `salvage`."""
    doc = read_feed(fetched, lang_hint)
    return doc.entries, doc.ttl, doc.partial


def read_feed(fetched: Fetched, lang_hint: str | None = None,
              max_entries: int | None = None) -> Document:
    """One feed document read: its entries (the newest `max_entries` of them, see
    `newest`), <ttl>, why it is partial, and how many entries were left out: unreadable
    ones (each alone: the rest of the feed is kept) and those over the cap."""
    body, _codec = as_utf8_document(fetched.body, fetched.headers.get("content-type", ""))
    if not body.strip():
        raise ParseError("empty body", feed_id=fetched.feed_id, url=fetched.url)
    body = _valid_char_refs(body)
    over = 0
    if max_entries is not None:
        body, over = _newest_only(body, max_entries)
    parsed, saved = _salvaged(body, _feedparse(body))
    entries = parsed.get("entries", [])
    if not entries:
        head = body[:4096].decode("utf-8", "replace")
        if not parsed.get("version") and re.search(r"<html|<!doctype html", head, re.IGNORECASE):
            links = discover_feed_links(head, fetched.url)
            hint = f"the page names a feed: {links[0]}" if links else ""
            raise ParseError("not a feed: an HTML page", feed_id=fetched.feed_id,
                             url=fetched.url, hint=hint)
        if parsed.get("bozo") and saved is None:
            reason = parsed.get("bozo_exception")
            raise ParseError(f"not a readable feed: {reason}", feed_id=fetched.feed_id,
                             url=fetched.url)
        broken = _partial_reason(saved, 0)
        if broken is not None:
            # Broken before its first entry (a server's error page in the middle of the
            # document): nothing was read, so the feed failed, with backoff and health.
            raise ParseError(f"not a readable feed: {broken}", feed_id=fetched.feed_id,
                             url=fetched.url)
        return Document([], _ttl(parsed), over_cap=over)
    base = _links_base(parsed, fetched)
    lang = lang_hint or _feed_lang(parsed)
    zone = zone_for_lang(lang_hint or parsed.get("feed", {}).get("language"))
    out: list[Entry] = []
    skipped = 0
    for number, e in enumerate(entries, start=1):
        try:
            entry = _entry(e, fetched, base, lang, zone)
        except Exception as exc:    # this entry alone is unreadable: the feed goes on
            skipped += 1
            log.warning("feed=%s entry %d unreadable, skipped: %s: %s", fetched.feed_id,
                        number, type(exc).__name__, exc)
            log.info("feed=%s entry %d", fetched.feed_id, number, exc_info=exc)
            continue
        if entry is not None:
            out.append(entry)
    if max_entries is not None:
        out, more = newest(out, max_entries)
        over += more
    return Document(out, _ttl(parsed), _partial_reason(saved, len(out)), skipped, over)


def _entry(e: Any, fetched: Fetched, base: str, lang: str | None, zone: tzinfo) -> Entry | None:
    """One feedparser entry as an `Entry`; None for an empty <item/> (corpus: illegally
    nested items), which is no entry."""
    if not (e.get("title") or e.get("link") or _content(e)).strip():
        return None
    link = _resolve(base, (e.get("link") or "").strip())
    title = e.get("title", "") or ""
    published = _entry_date(e, zone)
    guid = (e.get("id") or "").strip() or link
    if not guid:
        stamp = published.isoformat() if published else ""
        # The content too: a feed of undated, link-less notices all titled お知らせ
        # has as many entries as texts.
        guid = "sha1:" + hashlib.sha1(
            f"{title}|{stamp}|{_content(e)}".encode()).hexdigest()
    return Entry(
        feed_id=fetched.feed_id, guid=guid, url=link or base, title=title,
        content_html=_content(e), published_at=published,
        author=e.get("author", "") or "", lang=lang,
    )


def newest(entries: list[Entry], limit: int) -> tuple[list[Entry], int]:
    """At most `limit` entries, in their order: the newest by date when they are dated
    (the undated after every dated one), else the first in the document; and how many
    were left out."""
    if len(entries) <= limit:
        return entries, 0
    order = sorted(range(len(entries)), key=lambda i: _rank(entries[i].published_at, i))
    keep = set(order[:limit])
    return [e for i, e in enumerate(entries) if i in keep], len(entries) - limit


def _rank(published: datetime | None, index: int) -> tuple[bool, float, int]:
    return published is None, -published.timestamp() if published else 0.0, index


# A character reference to what XML allows in no document (a lone surrogate, beyond
# U+10FFFF, a C0 control): feedparser raises on `&#xD800;` and drops the whole feed.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _valid_char_refs(body: bytes) -> bytes:
    """The document with each character reference XML forbids made U+FFFD (it stood for
    no character: nothing is lost)."""
    if b"&#" not in body:
        return body

    def fix(m: re.Match[bytes]) -> bytes:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        allowed = (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF
                   or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF)
        return m.group(0) if allowed else b"&#xFFFD;"

    return _CHAR_REF.sub(fix, body)


_DATE_NAMES = ("pubDate", "published", "date", "issued", "updated", "modified", "created")


def _newest_only(body: bytes, limit: int) -> tuple[bytes, int]:
    """A well-formed document of more than `limit` entries with only its `limit` newest
    (as `newest` chooses), before feedparser reads it: feedparser takes about a
    millisecond an entry, so a feed of 100,000 would take minutes for entries relay
    does not take. A document expat cannot read whole, or that declares entities, is
    left as it is (the cap applies after parsing). Returns the body and how many entries
    were cut."""
    if len(_ENTRY_START.findall(body)) <= limit:
        return body, 0
    spans: list[tuple[int, int]] = []
    dates: list[dict[str, str]] = []
    parser = expat.ParserCreate()
    parser.EntityDeclHandler = _refuse
    depth = 0                   # within an entry: how deep
    field: list[str] = []       # the text of the date element being read

    def start(name: str, _attrs: Any) -> None:
        nonlocal depth
        local = name.rpartition(":")[2]
        if depth == 0 and local in _ENTRY_NAMES:
            spans.append((parser.CurrentByteIndex, -1))
            dates.append({})
            depth = 1
            return
        if depth:
            depth += 1
            if depth == 2 and local in _DATE_NAMES:
                field.clear()
                parser.CharacterDataHandler = field.append

    def end(name: str) -> None:
        nonlocal depth
        if not depth:
            return
        depth -= 1
        if depth == 1 and parser.CharacterDataHandler is not None:
            dates[-1].setdefault(name.rpartition(":")[2], "".join(field))
            parser.CharacterDataHandler = None
        elif depth == 0:
            at = parser.CurrentByteIndex
            spans[-1] = (spans[-1][0], body.index(b">", at) + 1)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except (expat.ExpatError, _Declares, ValueError):
        return body, 0
    if len(spans) <= limit:
        return body, 0
    stamps = [_first_date(d) for d in dates]
    order = sorted(range(len(spans)), key=lambda i: _rank(stamps[i], i))
    keep = set(order[:limit])
    parts, last = [], 0
    for i, (begin, finish) in enumerate(spans):
        parts.append(body[last:begin])
        if i in keep:
            parts.append(body[begin:finish])
        last = finish
    parts.append(body[last:])
    return b"".join(parts), len(spans) - limit


def _first_date(fields: dict[str, str]) -> datetime | None:
    for name in _DATE_NAMES:
        if fields.get(name):
            try:
                return parse_date(fields[name])
            except Exception:       # an unreadable date ranks as none
                return None
    return None


def is_web(url: str) -> bool:
    """Whether `url` is an http(s) address (a page's or a feed's links may be anything)."""
    return url.lower().startswith(("http://", "https://"))


def _links_base(parsed: Any, fetched: Fetched) -> str:
    """What an entry's relative link is relative to: the feed's own link made absolute
    against the URL the document was fetched from (or stands for: `base_url`), else that
    URL. A local file with no `base_url` has no web base: "" unless its own link is
    absolute. (xml:base is applied by feedparser before this.)"""
    own = (parsed.get("feed", {}).get("link") or "").strip()
    start = fetched.base if is_web(fetched.base) else ""
    if own and (start or is_web(own)):
        return join_link(start, own, start)
    return start


def _resolve(base: str, link: str) -> str:
    """The link as published, made absolute against `base` when there is one; a relative
    link with no web base stays as written (relay never invents a host or a file path)."""
    if not link or not base or is_web(link):
        return link
    return join_link(base, link, link)


def join_link(base: str, link: str, otherwise: str) -> str:
    """`link` made absolute against `base`; `otherwise` when either is no URL at all
    ("http://[www.example.com/x": urljoin raises on it)."""
    try:
        return urljoin(base, link)
    except ValueError:
        return otherwise


def _feed_lang(parsed: Any) -> str | None:
    # Any two-letter code ("zh-cn" -> zh, "pt-PT" -> pt); ingest judges whether it fits.
    lang = (parsed.get("feed", {}).get("language") or "").strip().lower()[:3]
    return lang[:2] if re.fullmatch(r"[a-z]{2}(?:[-_]|$)", lang) else None


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


# -- salvage: a document that is not well-formed -------------------------------------------------

_ENTRY_NAMES = frozenset({"item", "entry"})      # local names, any prefix (rss:item, atom:entry)
_CONTAINERS = frozenset({"rss", "channel", "feed", "RDF"})   # what holds the entries
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(?:item|entry)[\s/>]")
_EOF_ERRORS = frozenset({"no element found", "unclosed token", "unclosed CDATA section",
                         "partial character"})
MAX_REPAIRS = 200                                 # bounds the work on a hopeless document


@dataclass
class _Break:
    """The first place expat stops at in a document, and where the parse stood."""

    offset: int
    line: int
    message: str
    open: list[tuple[str, int]]     # the elements open at the break, and where they start


@dataclass
class Salvage:
    """A broken document made well-formed: what was repaired (nothing lost: undefined
    HTML entities, bare '&', control characters) and what was dropped."""

    body: bytes
    repairs: int = 0
    dropped: int = 0                # unreadable entries left out
    damaged: int = 0                # unreadable parts outside the entries left out
    truncated: bool = False         # the document ends early (an entry cut short is dropped)
    refused: bool = False           # it declares entities: left to feedparser's loose parser
    first: str = ""                 # "line 12: mismatched tag", the first break that lost something


class _Declares(Exception):
    """The document declares entities: it is not salvaged (no entity is ever expanded)."""


def _refuse(*_args: Any) -> None:
    raise _Declares


def _find_break(doc: bytes) -> _Break | None:
    parser = expat.ParserCreate()
    parser.EntityDeclHandler = _refuse          # "billion laughs": refused before expanding
    stack: list[tuple[str, int]] = []

    def start(name: str, _attrs: Any) -> None:
        stack.append((name, parser.CurrentByteIndex))

    def end(_name: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(doc, True)
    except expat.ExpatError as exc:
        return _Break(parser.ErrorByteIndex, exc.lineno, expat.ErrorString(exc.code) or "",
                      stack)
    return None


_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]*);")
_BARE_AMP = re.compile(rb"&[#\w.\-]*$")


def _repair(doc: bytes, brk: _Break) -> bytes | None:
    """The document with the fault at the break mended when mending loses nothing:
    an HTML entity XML does not know, a bare '&', a control character. None otherwise."""
    at = brk.offset
    if brk.message == "undefined entity":
        m = _ENTITY.match(doc, at)
        if m:
            text = html.entities.html5.get(m.group(1).decode() + ";")
            value = escape(text).encode() if text else b"&amp;" + m.group(1) + b";"
            return doc[:at] + value + doc[m.end():]
    if brk.message == "junk after document element" and not brk.open:
        return doc[:at]
    if brk.message.startswith("not well-formed"):
        amp = _BARE_AMP.search(doc, max(at - 40, 0), at)   # 'AT&T': the error is after 'T'
        if amp is not None:
            return doc[:amp.start()] + b"&amp;" + doc[amp.start() + 1:]
        if at < len(doc) and (doc[at] < 0x20 and doc[at] not in b"\t\n\r"):
            return doc[:at] + doc[at + 1:]
    return None


def salvage(body: bytes) -> Salvage:
    """A not-well-formed document made well-formed, losing as little as can be: faults
    that can be mended are mended; else the entry at the break is dropped and the
    document goes on at the next entry, or is closed after the last complete entry."""
    out = Salvage(body)
    doc = body
    for _ in range(MAX_REPAIRS):
        try:
            brk = _find_break(doc)
        except _Declares:
            return Salvage(body, refused=True)
        if brk is None:
            break
        if not brk.open and brk.message in _EOF_ERRORS:
            break                       # nothing is left that could hold an entry
        mended = _repair(doc, brk)
        if mended is not None:
            doc, out.repairs = mended, out.repairs + 1
            continue
        out.first = out.first or f"line {brk.line}: {brk.message}"
        at_end = brk.message in _EOF_ERRORS
        names = [name.rpartition(":")[2] for name, _ in brk.open]
        entry = next((i for i, n in enumerate(names) if n in _ENTRY_NAMES), None)
        inner = next((i for i, n in enumerate(names) if n not in _CONTAINERS), None)
        if entry is not None:           # the entry at the break is dropped whole
            keep, cut = entry, brk.open[entry][1]
            out.dropped += not at_end
        elif at_end:                    # cut between entries: keep what came before
            keep, cut = len(brk.open), brk.offset
        elif inner is not None:         # broken outside the entries: drop that element
            keep, cut = inner, brk.open[inner][1]
            out.damaged += 1
        else:
            keep, cut = len(brk.open), doc.rfind(b">", 0, max(brk.offset - 1, 0)) + 1
            out.damaged += 1
        resume = None if at_end else _ENTRY_START.search(doc, max(brk.offset, cut + 1))
        if resume is not None:
            doc = doc[:cut] + doc[resume.start():]
            continue
        out.truncated = out.truncated or at_end
        doc = doc[:cut] + b"".join(b"</" + name.encode() + b">"
                                   for name, _ in reversed(brk.open[:keep]))
    out.body = doc
    return out


def _salvaged(body: bytes, parsed: Any) -> tuple[Any, Salvage | None]:
    """A document feedparser found not well-formed, salvaged and parsed again."""
    if not (parsed.get("bozo") and isinstance(parsed.get("bozo_exception"), xml.sax.SAXException)):
        return parsed, None
    saved = salvage(body)
    if saved.refused:
        return parsed, None
    again = _feedparse(saved.body)
    if not again.get("version") or (again.get("bozo") and isinstance(
            again.get("bozo_exception"), xml.sax.SAXException)):
        return parsed, None     # not salvaged: feedparser's loose reading is the best there is
    return again, saved


def _partial_reason(saved: Salvage | None, entries: int) -> str | None:
    """Why a salvaged document lost entries, or None when nothing was lost."""
    if saved is None or not (saved.truncated or saved.dropped or saved.damaged):
        return None
    read = f"{entries} {'entry' if entries == 1 else 'entries'}"
    skipped = (f"{saved.dropped} unreadable {'entry' if saved.dropped == 1 else 'entries'}"
               " skipped")
    if saved.truncated:
        text = f"document truncated after {read}" + (f", {skipped}" if saved.dropped else "")
    elif saved.dropped:
        text = f"{skipped}, {read} read"
    else:
        text = f"document broken outside its entries, {read} read"
    return f"{text} ({saved.first})"
