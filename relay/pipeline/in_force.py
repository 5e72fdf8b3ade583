"""The configuration in force over the archive: whatever reads the archive for a
subscriber or for the public (digests, previews, the topics' Atom feeds, the trend
counts) sees each item under its feed's rules as feeds.yaml gives them now, not as
the last collect left the archive's feeds table.

An item's feed is the configured feed of its id; failing that (the id was changed),
the one configured feed with the same address (URL or path), when no other claims
it. An item whose feed is neither is nobody's: its audience is not known any more,
and need-to-know restricts when in doubt. The audience, name, kind, mission and
country are the configured feed's; topics no longer configured are dropped from an
item's tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from relay.models import Config, FeedSpec
from relay.store import Store


def feeds_in_force(config: Config, store: Store) -> dict[str, FeedSpec]:
    """Each archived feed id whose items are someone's -> the configured feed whose
    rules they follow now."""
    return governing(config, store.feed_locations())


def governing(config: Config, stored: Mapping[str, str]) -> dict[str, FeedSpec]:
    """`feeds_in_force` over the archive's feeds (id -> address): pure."""
    by_id = {f.id: f for f in config.feeds}
    by_place: dict[str, list[FeedSpec]] = {}
    for f in config.feeds:
        by_place.setdefault(f.location, []).append(f)
    out: dict[str, FeedSpec] = {}
    for feed_id, place in stored.items():
        if feed_id in by_id:
            out[feed_id] = by_id[feed_id]
        elif len(by_place.get(place, ())) == 1:
            out[feed_id] = by_place[place][0]     # renamed: the id changed, not the source
    return out


def in_force(rows: Iterable[dict[str, Any]], feeds: Mapping[str, FeedSpec],
             topics: Iterable[str]) -> list[dict[str, Any]]:
    """Archive rows (`Store.story_rows`) under the configuration in force: the rows of
    feeds that are nobody's left out, the others with their feed's attributes and the
    configured topics of their tags."""
    known = set(topics)
    out = []
    for row in rows:
        feed = feeds.get(row["feed_id"])
        if feed is None:
            continue
        row.update(feed_id=feed.id, feed_name=feed.name, feed_kind=feed.kind.value,
                   mission=feed.mission, country=feed.country, audience=tuple(feed.audience))
        row["tags"] = {t: s for t, s in row["tags"].items() if t in known}
        out.append(row)
    return out


def public_feeds(feeds: Mapping[str, FeedSpec]) -> list[str]:
    """The archived feed ids whose items are for everyone now."""
    return sorted(feed_id for feed_id, feed in feeds.items() if not feed.audience)
