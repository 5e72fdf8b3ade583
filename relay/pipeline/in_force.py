"""The configuration in force over the archive: whatever reads the archive for a
subscriber or for the public (digests, previews, the topics' Atom feeds, the trend
counts) sees each item under its feed's rules as feeds.yaml gives them now, not as
the last collect left the archive's feeds table.

An item's feed is the configured feed of its id; failing that (the id was changed),
the one configured feed with the same address (URL or path): `store.governing`. An
item whose feed is neither is nobody's: its audience is not known any more, and
need-to-know restricts when in doubt. The audience, name, kind, mission and
country are the configured feed's; topics no longer configured are dropped from an
item's tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from relay.models import Config, FeedSpec, StoryRow
from relay.pipeline.ports import Archive
from relay.records import governing


def feeds_in_force(config: Config, store: Archive) -> dict[str, FeedSpec]:
    """Each archived feed id whose items are someone's -> the configured feed whose
    rules they follow now (`store.governing`)."""
    return governing(config.feeds, store.feed_locations(), store.feed_audiences())


def in_force(rows: Iterable[StoryRow], feeds: Mapping[str, FeedSpec],
             topics: Iterable[str]) -> list[StoryRow]:
    """Archive rows (`Store.story_rows`) under the configuration in force: the rows of
    feeds that are nobody's left out, the others with their feed's attributes and the
    configured topics of their tags."""
    known = set(topics)
    out = []
    for row in rows:
        feed = feeds.get(row.feed_id)
        if feed is None:
            continue
        row.feed_id, row.feed_name, row.feed_kind = feed.id, feed.name, feed.kind.value
        row.mission, row.country, row.audience = feed.mission, feed.country, tuple(feed.audience)
        row.tags = {t: s for t, s in row.tags.items() if t in known}
        out.append(row)
    return out


def public_feeds(feeds: Mapping[str, FeedSpec]) -> list[str]:
    """The archived feed ids whose items are for everyone now."""
    return sorted(feed_id for feed_id, feed in feeds.items() if not feed.audience)
