"""Each topic's recent stories as an Atom feed (RFC 4287), for people who follow relay
in a feed reader instead of (or beside) the mail.

`topic_feed` takes the archive rows of the stories on one topic (as `store.story_rows`
gives them) and returns the Atom document: one entry per story, newest first, under its
lead item's title and link, its other sources named in the content. Only items of
public feeds (no `audience`) are used, so a feed reader shows nothing restricted.
An entry's updated time is its newest item's date (published, else first seen); its
published time is the lead's date, left out when the source gave none.
Pure: no I/O, no clock (`now` is the feed's updated time).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from relay.digest.select import when as _when
from relay.models import StoryRow, Topic

ATOM = "http://www.w3.org/2005/Atom"


def topic_feed(topic: Topic, rows: Iterable[StoryRow], now: datetime, base_id: str,
               lang: str = "en", limit: int = 50) -> bytes:
    stories: dict[int, list[StoryRow]] = defaultdict(list)
    for row in rows:
        if not row.audience:            # public sources only
            stories[row.story_id].append(row)
    ordered = sorted(
        ((sid, sorted(items, key=_when)) for sid, items in stories.items()
         if any(topic.id in r.tags for r in items)),
        key=lambda s: max(_when(r) for r in s[1]), reverse=True)[:limit]
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": lang})
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base_id}:topic:{topic.id}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = f"relay: {topic.label(lang)}"
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = now.isoformat()
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "relay"
    for story_id, items in ordered:
        lead = items[0]
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"{base_id}:story:{story_id}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = lead.title
        if str(lead.url).startswith(("https://", "http://")):
            ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": lead.url})
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = max(
            _when(r) for r in items).isoformat()
        if lead.published_at is not None:   # RFC 4287: optional; never invented
            ET.SubElement(entry, f"{{{ATOM}}}published").text = lead.published_at.isoformat()
        sources = ", ".join(dict.fromkeys(r.feed_name for r in items))
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = f"{lead.summary}\n\n({sources})"
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
