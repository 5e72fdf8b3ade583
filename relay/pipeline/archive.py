"""The archive's use cases that only read it (status, show an item or a story, export)
and its opening: the drivers never name the store's module.

`open_archive` is the one way a driver gets an archive. What it raises are relay's
errors: the store translates SQLite's at its boundary (`store.translate`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.errors import UsageError
from relay.models import ArchiveStatus, Config, ItemView, StoryView
from relay.pipeline.ports import Archive
from relay.records import from_ts
from relay.store import MIGRATIONS, Store

# The fields of `export`, in their order (a CSV file's columns).
EXPORT_FIELDS = ("id", "feed", "mission", "country", "url", "title", "summary", "lang",
                 "published_at", "collected_at", "topics", "story_id")


def open_archive(path: Path, *, readonly: bool = False) -> Archive:
    """The archive at `path`, created or upgraded when it may be written; `readonly`:
    opened for reading only, never upgraded (a command that only reads)."""
    return Store(path, readonly=readonly)


def schema_version() -> int:
    """The schema version this relay writes (the number of its migrations)."""
    return len(MIGRATIONS)


def stored_time(text: str | None) -> datetime | None:
    """A time as the archive writes it (2026-11-27T03:00:00Z), read; None when absent or
    unreadable."""
    return from_ts(text)


def status(config: Config, store: Archive) -> ArchiveStatus:
    """Archive size, feed health, subscribers and deliveries, with the feeds as the
    configuration says now."""
    store.sync_feeds(config.feeds)
    return store.status()


def show_item(store: Archive, item_id: int) -> ItemView:
    """One item in full with its topics and the terms that matched."""
    item = store.item(item_id)
    if item is None:
        raise UsageError(f"no item {item_id}")
    return item


def show_story(store: Archive, story_id: int) -> StoryView:
    """One story with every source's item, oldest first."""
    story = store.story(story_id)
    if story is None:
        raise UsageError(f"no story {story_id}")
    return story


def export_items(store: Archive) -> Iterator[dict[str, Any]]:
    """Every archived item, oldest first, with the fields EXPORT_FIELDS (times as stored;
    published_at None when the source gave no date)."""
    for row in store.export_rows():
        yield {k: row[k] for k in EXPORT_FIELDS}
