"""The archive in a real SQLite file: migrations, one transaction per item, pruned bands."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from relay import dedup
from relay import store as store_module
from relay.config import builtin_topics
from relay.models import Entry, FeedKind, FeedSpec
from relay.pipeline import ingest
from relay.pipeline.ingesting import sign_window
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.tokens import tokenize

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FEED = FeedSpec(id="f", name="f", kind=FeedKind.RSS, url="https://f.example/")
OTHER = FeedSpec(id="g", name="g", kind=FeedKind.RSS, url="https://g.example/")


def entries(prefix: str, n: int) -> list[Entry]:
    return [Entry(feed_id="f", guid=f"{prefix}{i}", url=f"https://f.example/{prefix}{i}",
                  title=f"{prefix} story {i} about quantum lab {i * 1017 + 101}",
                  content_html=f"Different words {prefix} {i} {i * 3131 + 313} here.",
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
        assert store.status().items == 8   # items stay; only their bands go


def test_signatures_of_an_older_hash_are_renewed_for_the_story_window(tmp_path):
    """Migration 9 changed the MinHash feature hash: an archive signed before it is
    signed again (from its indexed tokens) by the next collect, so a rewrite collected
    after the upgrade still joins the story of an item collected before it."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    db = tmp_path / "a.db"
    story = [Entry(feed_id="f", guid="a", url="https://f.example/a",
                   title="Ohio puts $48 million into quantum networking testbed",
                   content_html="The state of Ohio will spend $48 million on a quantum "
                   "networking testbed led by Ohio State with Battelle and IBM.",
                   # published before it was collected: a date equal to the collection
                   # time is the one the honest-dates migration takes for an invented one
                   published_at=T0 - timedelta(hours=1))]
    with Store(db) as store:
        store.sync_feeds([FEED, OTHER])
        ingest(FEED, story, store, taxonomy, T0)
        # As a relay before migration 9 left it: version 8, other signatures.
        store.conn.executescript(
            "DROP TABLE pending; UPDATE items SET minhash = zeroblob(504);"
            " UPDATE lsh_bands SET hash = hash + 1; ALTER TABLE feeds DROP COLUMN partial;"
            " DROP INDEX items_url_key; ALTER TABLE items DROP COLUMN url_key;"
            " CREATE INDEX items_url ON items(url); PRAGMA user_version = 8;")
    with Store(db) as store:
        assert store.pending("sign-window")
        assert store.conn.execute("SELECT COUNT(*) FROM lsh_bands").fetchone()[0] == 0
        assert sign_window(store, T0 + timedelta(hours=1)) == 1
        assert not store.pending("sign-window")
        assert sign_window(store, T0 + timedelta(hours=2)) == 0      # once
        assert store.conn.execute("SELECT COUNT(*) FROM lsh_bands").fetchone()[0] == dedup.BANDS
        rewrite = [Entry(feed_id="g", guid="b", url="https://other.example/b",
                         title="Ohio puts $48 million into quantum networking testbed (update)",
                         content_html="The state of Ohio will spend $48 million on a quantum "
                         "networking testbed led by Ohio State with Battelle and IBM, the "
                         "governor announced.", published_at=T0)]
        ingest(OTHER, rewrite, store, taxonomy, T0 + timedelta(hours=3))
        stories = store.conn.execute("SELECT DISTINCT story_id FROM items").fetchall()
    assert len(stories) == 1


def test_languages_are_the_distinct_languages_of_the_items(tmp_path):
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    texts = {"en": ("Quantum lab opens", "The new quantum laboratory opened on Monday."),
             "pt": ("Governo anuncia investigação", "O governo anunciou uma nova investigação."),
             "ja": ("量子コンピュータの研究拠点", "量子コンピューターの研究拠点が開所した。")}
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED])
        assert store.languages() == []
        for n, (lang, (title, body)) in enumerate(sorted(texts.items()) * 2):
            ingest(FEED, [Entry(feed_id="f", guid=f"{lang}{n}", url=f"https://f.example/{n}",
                                title=f"{title} {n}", content_html=f"{body} {n * 7919}",
                                published_at=T0, lang=lang)], store, taxonomy, T0)
        assert store.languages() == ["en", "ja", "pt"]
        plan = store.conn.execute("EXPLAIN QUERY PLAN SELECT MIN(lang) FROM items"
                                  " WHERE lang > 'en'").fetchall()
        assert "items_lang" in str(plan)    # an index step per language, not a scan


def test_the_archive_records_its_signature_scheme_and_a_foreign_one_is_signed_again(tmp_path):
    """The MinHash scheme is relay's own (dedup.SCHEME) and the archive says which one its
    signatures are of: a story told again still finds its first report after an archive
    signed under another scheme is opened (as one signed by datasketch 1.x would be)."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    first = [Entry(feed_id="f", guid="a", url="https://f.example/a",
                   title="Ohio puts $48 million into quantum networking testbed",
                   content_html="The state of Ohio will spend $48 million on a quantum "
                   "networking testbed led by Ohio State with Battelle and IBM.",
                   published_at=T0 - timedelta(hours=1))]
    again = [Entry(feed_id="g", guid="b", url="https://other.example/b",
                   title="Ohio puts $48 million into quantum networking testbed (update)",
                   content_html="The state of Ohio will spend $48 million on a quantum "
                   "networking testbed led by Ohio State with Battelle and IBM, the "
                   "governor announced.", published_at=T0)]
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED, OTHER])
        assert store.pending("sign-window")          # a new archive: nothing to sign yet
        ingest(FEED, first, store, taxonomy, T0)
        assert sign_window(store, T0) == 0
        assert store.meta("minhash_scheme") == dedup.SCHEME
        # Another scheme's signatures: they match nothing relay computes now.
        store.set_meta("minhash_scheme", "datasketch-1.x-sha1")
        store.conn.execute("UPDATE lsh_bands SET hash = hash + 1")
        store.conn.execute("UPDATE items SET minhash = zeroblob(504)")
        assert sign_window(store, T0 + timedelta(hours=1)) == 1
        assert store.meta("minhash_scheme") == dedup.SCHEME
        assert not store.pending("sign-window")
        ingest(OTHER, again, store, taxonomy, T0 + timedelta(hours=2))
        stories = store.conn.execute("SELECT DISTINCT story_id FROM items").fetchall()
    assert len(stories) == 1
