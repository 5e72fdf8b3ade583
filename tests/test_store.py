"""The archive in a real SQLite file: migrations, one transaction per item, pruned bands."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from relay import dedup
from relay import store as store_module
from relay.config import builtin_topics
from relay.models import Entry, FeedKind, FeedSpec
from relay.pipeline import ingest
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.tokens import tokenize

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FEED = FeedSpec(id="f", name="f", kind=FeedKind.RSS, url="https://f.example/")


def entries(prefix: str, n: int) -> list[Entry]:
    return [Entry(feed_id="f", guid=f"{prefix}{i}", url=f"https://f.example/{prefix}{i}",
                  title=f"{prefix} story {i} about quantum lab {i * 17}",
                  content_html=f"Different words {prefix} {i} {i * 31} {i * 7} here.",
                  published_at=T0) for i in range(n)]


def test_migrations_reach_the_latest_version(tmp_path):
    with Store(tmp_path / "a.db"):
        pass
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(store_module.MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bands_outside_the_story_window_are_pruned(tmp_path):
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED])
        ingest(FEED, entries("old", 5), store, taxonomy, T0)
        ingest(FEED, entries("new", 3), store, taxonomy, T0 + timedelta(days=10))
        count = lambda: store.conn.execute("SELECT COUNT(*) FROM lsh_bands").fetchone()[0]  # noqa: E731
        assert count() == 8 * dedup.BANDS
        removed = store.prune_bands(T0 + timedelta(days=3))
        assert removed == 5 * dedup.BANDS and count() == 3 * dedup.BANDS
        assert store.counts()["items"] == 8   # items stay; only their bands go
