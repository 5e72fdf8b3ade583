"""How the archive writes its values, whatever engine holds them: times as text, a feed's
audience as a key, the old form of a link key, which configured feed governs archived
items, and which errors are the archive's. The SQLite store and the pipeline both use
these; a second engine behind `pipeline.ports.Archive` would too."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from relay.errors import StoreError
from relay.models import FeedSpec, kept_date, utc_text

log = logging.getLogger("relay")

# Failures of the archive itself (disk full, locked, read-only, damaged, a statement its
# schema cannot run: the StoreErrors SQLite's errors become, see translate): never of the
# one item or feed at hand. A collect does not record them as a feed's error (the next
# feed would meet them too): the run ends with them. Any other error, a MemoryError or a
# value the archive refuses (RefusedError) too, is the feed's own, recorded, and the run
# goes on.
ARCHIVE_ERRORS = (StoreError,)
# ... these and running out of memory: ingest does not skip an item for them (the item
# is not at fault: its feed fails). A RefusedError is the item's: it is skipped.
SYSTEM_ERRORS = (*ARCHIVE_ERRORS, MemoryError)


OLD_KEY = "old:"


def old_key(key: str) -> str:
    """The key of an archived item whose link is known only in the pre-migration-11 form
    (`www.` removed, no fragment, query sorted; its guid did not give it back): `OLD_KEY`
    and the item's `text.url_key` without `www.`. A new link meets such a row when its key
    without `www.` is the row's (see `items_with_url_key`); a key that is no http(s) URL
    has no old form (""). The mark keeps old rows apart: a new row's `www.` still counts."""
    if not key.startswith(("http://", "https://")):
        return ""
    return OLD_KEY + re.sub(r"^(https?://)www\.", r"\1", key)


NOBODY = '["!unconfigured"]'   # the audience of a feed no longer configured (no group has `!`)


def audience_key(audience: Iterable[str]) -> str:
    """A feed's audience as the feeds table holds it: its groups sorted, as JSON ("[]" is
    everyone), so that two feeds of one audience have one key."""
    return json.dumps(sorted(set(audience)))


def governing(feeds: Iterable[FeedSpec], stored: Mapping[str, str],
              audiences: Mapping[str, str] | None = None) -> dict[str, FeedSpec]:
    """Each archived feed (id -> its address when last configured) whose items are still
    someone's -> the configured feed whose rules they follow: the feed of its id, else
    (the id was changed: a renamed feed) the one configured feed of its address. A feed
    that is neither, or whose address two configured feeds share, is nobody's: which
    audience it has is not known, and need-to-know restricts when in doubt. So is one
    whose `audiences` (id -> `audience_key` as last synced) says it was not for everyone
    while that configured feed is: a rename never makes restricted items public (nor a
    restricted entry left out for a typo beside a public one of the same address)."""
    feeds = list(feeds)
    by_id = {f.id: f for f in feeds}
    by_place: dict[str, list[FeedSpec]] = {}
    for f in feeds:
        by_place.setdefault(f.location, []).append(f)
    out: dict[str, FeedSpec] = {}
    for feed_id, place in stored.items():
        if feed_id in by_id:
            out[feed_id] = by_id[feed_id]
        elif len(by_place.get(place, ())) == 1:
            heir = by_place[place][0]
            if heir.audience or (audiences or {}).get(feed_id, "[]") == "[]":
                out[feed_id] = heir
    return out


def ts(dt: datetime) -> str:
    """A time as stored: UTC to the second, the year in four digits (strftime writes the
    year 1 as '1', which does not read back)."""
    return utc_text(dt)


_unreadable: set[str] = set()   # stored times already named in a warning


def from_ts(text: str | None) -> datetime | None:
    """A stored time; None when there is none, and when it cannot be read or is not a date
    relay keeps (`kept_date`): a warning names it, once a process. Never raises."""
    if not text:
        return None
    try:
        value = kept_date(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
    except (ValueError, TypeError):
        value = None
    if value is None and text not in _unreadable:
        if len(_unreadable) >= 100:       # bounded: an archive full of them warns again
            _unreadable.clear()
        _unreadable.add(text)
        log.warning("the archive holds the time %r, which relay cannot read: taken as no"
                    " date", text[:100])
    return value
