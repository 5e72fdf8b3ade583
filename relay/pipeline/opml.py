"""OPML, the subscription lists feed readers export and import: `relay feeds import
FILE.opml` and `relay feeds export --opml`.

Reading (`import_opml`):
- The file (at most MAX_OPML_BYTES) is parsed by the stdlib's expat through defusedxml:
  a DTD may be there, but no entity may be declared and nothing external is read (an
  OPML file comes from a user, who got it from anywhere: no billion laughs, no local
  file or URL pulled in). The root must be <opml>; OPML 1.0 and 2.0 are read alike.
- A feed is an <outline> with an xmlUrl, at any depth (attribute names in any case:
  readers write xmlUrl, xmlurl, XMLURL). Its name is its text, else its title.
- A folder is an outline without xmlUrl. What readers call folders (Feedly's
  categories, NetNewsWire's folders) are the user's own shelves, not relay topics: a
  folder whose name is a configured topic (its id, or one of its labels, in any case)
  gives that topic to the feeds inside it, at any depth; any other folder is ignored,
  said once, and its feeds are imported all the same (relay tags items by the
  taxonomy's terms). The OPML 2.0 `category` attribute ("/quantum,/ai") is read the
  same way.
- relay's own attributes, in the OPML_NS namespace, are what `export` writes so that a
  round trip keeps a feed: id, mission, country, interval, enabled, audience,
  fulltext, and its names per language (`name-ja`, `name-en`: a `name: {ja: ..., en:
  ...}`; the outline's text is the name relay shows by default); with the standard
  `language` and `htmlUrl` (-> lang, site).
- Each feed alone: one whose URL is already configured (or earlier in the file) is
  skipped and said; else it is probed as `relay feeds add` probes a URL (probe_urls:
  fetched, parsed, discovered behind a page; PROBE_BATCH feeds fetched at once), made
  into an entry (new_feed), and checked as feeds.yaml would take it
  (config.check_feed). A feed that fails any of this is one line naming the outline
  and its line; the others go on. The good ones are appended in one write that keeps
  the file's comments (config.append_feeds).
- An id already taken (two "Nature" feeds) gets -2, -3, ...

Writing (`export_opml`): OPML 2.0 with a head (title, dateCreated) and one outline per
feed that has a URL and is RSS/Atom (kind rss, not read from path:): type="rss", text
and title (its name), xmlUrl, htmlUrl when its `site` is known, language, category (its
topics), and relay's attributes. Feeds with topics sit in a folder named by their first
topic's id, the others at the top. Page and reports feeds are left out and named.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler, feature_namespaces
from xml.sax.xmlreader import AttributesNSImpl, InputSource, Locator

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser

from relay.config import append_feeds, check_feed
from relay.errors import RelayError, UsageError
from relay.langs import primary
from relay.models import Config, FeedKind, FeedSpec
from relay.pipeline.health import FeedCheck, NewFeed, new_feed, probe_urls, slug
from relay.pipeline.progress import OnProgress, Tally

OPML_NS = "urn:x-relay:opml"      # relay's own attributes (a name, not a place)
MAX_OPML_BYTES = 5_000_000
PROBE_BATCH = 16             # feeds fetched at once (within settings.fetch's limits)
HTTP = re.compile(r"^https?://[^\s/]+")
RELAY_KEYS = ("id", "mission", "country", "interval", "enabled", "audience", "fulltext")
ET.register_namespace("relay", OPML_NS)


@dataclass(frozen=True)
class Outline:
    """One feed outline of a file: where it is, its attributes (standard ones by
    lower-case name, relay's apart) and the folders it sits in, outermost first."""

    line: int
    attrs: Mapping[str, str]
    own: Mapping[str, str]
    folders: tuple[str, ...]

    @property
    def name(self) -> str:
        return (self.attrs.get("text") or self.attrs.get("title") or "").strip()

    @property
    def url(self) -> str:
        return self.attrs.get("xmlurl", "").strip()


@dataclass(frozen=True)
class Subscriptions:
    title: str
    outlines: tuple[Outline, ...]


class _Reader(ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.locator: Locator | None = None
        self.outlines: list[Outline] = []
        self.open: list[str | None] = []      # per open outline: its folder name, or None
        self.path: list[str] = []             # the open elements (local names)
        self.title: list[str] = []

    def setDocumentLocator(self, locator: Locator) -> None:  # noqa: N802 - SAX's name
        self.locator = locator

    def startElementNS(self, name: tuple[str | None, str], qname: str | None,  # noqa: N802
                       attrs: AttributesNSImpl) -> None:
        uri, local = name
        if not self.path and (uri or local != "opml"):
            raise UsageError(f"not an OPML file: its root is <{local}>, not <opml>")
        self.path.append(local if not uri else f"{{{uri}}}{local}")
        if uri or local != "outline":
            return
        plain = {k[1].lower(): v for k, v in attrs.items() if not k[0]}
        own = {k[1]: v for k, v in attrs.items() if k[0] == OPML_NS}
        if "xmlurl" in plain:
            line = (self.locator.getLineNumber() if self.locator else None) or 0
            folders = tuple(f for f in self.open if f)
            self.outlines.append(Outline(line, plain, own, folders))
            self.open.append(None)
        else:
            self.open.append((plain.get("text") or plain.get("title") or "").strip())

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:  # noqa: N802
        if self.path.pop() == "outline":
            self.open.pop()

    def characters(self, content: str) -> None:
        if self.path[-2:] == ["head", "title"]:
            self.title.append(content)


def read_opml(data: bytes, where: str) -> Subscriptions:
    """The feed outlines of an OPML document; a file that is not one is a UsageError."""
    if len(data) > MAX_OPML_BYTES:
        raise UsageError(f"larger than {MAX_OPML_BYTES:,} bytes: not a subscription list",
                         where=where)
    reader = _Reader()
    parser = DefusedExpatParser(forbid_dtd=False, forbid_entities=True, forbid_external=True)
    parser.setFeature(feature_namespaces, True)
    parser.setContentHandler(reader)
    source = InputSource(where)
    source.setByteStream(io.BytesIO(data))
    try:
        parser.parse(source)
    except SAXParseException as exc:
        raise UsageError(f"not well-formed XML: {exc.getMessage()}",
                         where=f"{where}:{exc.getLineNumber()}") from None
    except DefusedXmlException as exc:
        raise UsageError(f"refused: {exc}", where=where,
                         hint="an OPML file needs no entity declarations or external "
                              "references") from None
    except UsageError as exc:
        raise UsageError(exc.message, where=where) from None
    return Subscriptions(" ".join("".join(reader.title).split()), tuple(reader.outlines))


# -- import ---------------------------------------------------------------------------------------


@dataclass
class OpmlImport:
    """What an import did: feeds added, outlines skipped (already configured) and bad
    ones (each a line naming it), folders that named no topic."""

    added: list[NewFeed] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)   # folders that name no topic


def topic_named(name: str, config: Config) -> str | None:
    """The configured topic a folder or category name stands for: its id (as a slug)
    or one of its labels, in any case; None when it names none."""
    wanted = name.strip().casefold()
    for topic in config.topics:
        if slug(name) == topic.id or wanted in (v.casefold() for v in topic.labels.values()):
            return topic.id
    return None


def import_opml(config: Config, path: Path, now: datetime, env: Mapping[str, str], *,
                allow_private: bool = False, interval: str = "1h",
                on_progress: OnProgress | None = None) -> OpmlImport:
    """`relay feeds import FILE.opml` (see the module's docstring)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read it: {exc.strerror or exc}", where=str(path)) from None
    subs = read_opml(data, str(path))
    report = OpmlImport()
    report.folders = [name for name in dict.fromkeys(
        f for o in subs.outlines for f in o.folders) if topic_named(name, config) is None]
    known_urls = {f.url: f.id for f in config.feeds if f.url}
    taken = {f.id for f in config.feeds}
    outlines = _merged(subs.outlines)
    tally = Tally("import", len(outlines), "feeds", on_progress)
    for start in range(0, len(outlines), PROBE_BATCH):
        batch = outlines[start:start + PROBE_BATCH]
        urls = [o.url for o in batch if HTTP.match(o.url) and o.url not in known_urls]
        probes = dict(zip(urls, probe_urls(config, urls, allow_private), strict=True))
        for outline in batch:
            label = f"outline {outline.name or outline.url!r} ({path}:{outline.line})"
            try:
                made = _import_one(config, outline, probes.get(outline.url), now, known_urls,
                                   taken, report, path.name, allow_private, interval)
            except RelayError as exc:
                report.bad.append(f"{label}: {exc.message}"
                                  + (f" ({exc.where})" if exc.where and exc.where not in label
                                     else ""))
                tally.step(failed=True)
                continue
            if made is not None:
                report.added.append(made)
                known_urls[made.probe.url] = known_urls[outline.url] = made.id
                taken.add(made.id)
            tally.step(items=made is not None)
    if report.added:
        append_feeds(config.path, [(m.entry, m.comment) for m in report.added], env=env)
    return report


def _merged(outlines: Sequence[Outline]) -> list[Outline]:
    """One outline per feed URL, the first, in the folders and categories of all (a
    reader writes a feed kept in two folders twice)."""
    first: dict[str, Outline] = {}
    for o in outlines:
        seen = first.get(o.url)
        if seen is None:
            first[o.url] = o
            continue
        categories = ",".join(filter(None, (seen.attrs.get("category"),
                                            o.attrs.get("category"))))
        first[o.url] = replace(seen, folders=seen.folders + o.folders,
                               attrs={**seen.attrs, "category": categories})
    return list(first.values())


def _import_one(config: Config, outline: Outline, probe: FeedCheck | UsageError | None,
                now: datetime, known_urls: dict[str, str], taken: set[str],
                report: OpmlImport, file_name: str, allow_private: bool,
                interval: str) -> NewFeed | None:
    """One feed outline and its probe made into a checked feeds.yaml entry; None when it
    is already configured (said in report.skipped)."""
    url = outline.url
    if not HTTP.match(url):
        raise UsageError(f"xmlUrl {url!r} is not an http(s) URL")
    if url in known_urls:
        report.skipped.append(f"{outline.name or url}: already configured as "
                              f"{known_urls[url]!r} ({url})")
        return None
    assert probe is not None, "every http(s) URL not configured was probed with its batch"
    if isinstance(probe, UsageError):
        raise probe
    if probe.url in known_urls:
        report.skipped.append(f"{outline.name or url}: already configured as "
                              f"{known_urls[probe.url]!r} ({probe.url})")
        return None
    own = outline.own
    topics = _topics(outline, config)
    lang = primary(outline.attrs.get("language", "")) or probe.lang
    feed_id = own.get("id") or slug(outline.name) or None
    made = new_feed(probe, url, f"`relay feeds import` from {file_name}", now,
                    feed_id=feed_id, name=outline.name or None,
                    site=outline.attrs.get("htmlurl", "").strip() or None,
                    options={"mission": own.get("mission"), "country": own.get("country"),
                             "lang": lang, "topics": topics,
                             "interval": own.get("interval") or interval,
                             "allow_private": allow_private, **_flags(own)})
    names = {k.removeprefix("name-"): v.strip() for k, v in own.items()
             if k.startswith("name-") and v.strip()}
    if names:
        made.entry["name"] = names
    made = _unique(made, taken)
    check_feed(made.entry, config)
    return made


def _flags(own: Mapping[str, str]) -> dict[str, Any]:
    """relay's enabled / fulltext / audience attributes as feed keys (a word other than
    true or false is kept, for check_feed to refuse)."""
    out: dict[str, Any] = {}
    for key in ("enabled", "fulltext"):
        value = own.get(key, "").strip().lower()
        if value:
            out[key] = {"true": True, "false": False}.get(value, value)
    if groups := own.get("audience", "").split():
        out["audience"] = groups
    return out


def _topics(outline: Outline, config: Config) -> list[str]:
    """The topics an outline's folders and categories name, in their order."""
    names = list(outline.folders)
    for category in outline.attrs.get("category", "").split(","):
        names.extend(part for part in category.split("/") if part.strip())
    return list(dict.fromkeys(t for t in (topic_named(n, config) for n in names) if t))


def _unique(made: NewFeed, taken: set[str]) -> NewFeed:
    base = made.id
    n = 1
    while made.entry["id"] in taken:
        n += 1
        made.entry["id"] = f"{base[:36]}-{n}"
    return made


# -- export ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpmlExport:
    text: str
    feeds: int
    left_out: tuple[str, ...]    # "id (page feed)", "id (read from a file)"


def _interval(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _outline(feed: FeedSpec) -> ET.Element:
    attrs = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url or ""}
    if feed.site:
        attrs["htmlUrl"] = feed.site
    if feed.lang:
        attrs["language"] = feed.lang
    if feed.topics:
        attrs["category"] = ",".join(f"/{t}" for t in feed.topics)
    own = {"id": feed.id, "mission": feed.mission or "", "country": feed.country or "",
           "interval": _interval(feed.interval),
           "enabled": "" if feed.enabled else "false",
           "audience": " ".join(feed.audience), "fulltext": "true" if feed.fulltext else ""}
    own |= {f"name-{lang}": name for lang, name in feed.names.items()}
    attrs |= {f"{{{OPML_NS}}}{k}": v for k, v in own.items() if v}
    return ET.Element("outline", attrs)


def export_opml(config: Config, now: datetime) -> OpmlExport:
    """`relay feeds export --opml` (see the module's docstring)."""
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"relay feeds ({config.path.name})"
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    left_out: list[str] = []
    count = 0
    for feed in config.feeds:
        if feed.kind is not FeedKind.RSS or not feed.url:
            why = "read from a file" if feed.url is None else f"a {feed.kind.value} feed"
            left_out.append(f"{feed.id} ({why})")
            continue
        parent = body
        if feed.topics:
            topic = feed.topics[0]
            if topic not in folders:
                folders[topic] = ET.SubElement(body, "outline", {"text": topic, "title": topic})
            parent = folders[topic]
        parent.append(_outline(feed))
        count += 1
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return OpmlExport('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n", count,
                      tuple(left_out))
