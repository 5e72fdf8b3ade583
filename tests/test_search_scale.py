"""Store.search finds its page before it joins (issue 12): the same hits as the full join
sorted (the query relay ran before), rank ties kept across the page's edge, a common word
ranked among its newest RANK_WINDOW matches, and listings without words read in an index's
order (no temporary sort)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relay import store as store_module
from relay.models import FeedKind, FeedSpec
from relay.store import Store, ts

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
TOPICS = ["ai", "space", "fusion"]
FEEDS = [FeedSpec(id=f"f{n}", name=f"feed {n}", kind=FeedKind.RSS, url=f"https://f{n}.example/",
                  country=["JP", "DE", "US"][n % 3], mission=["news", "policy"][n % 2],
                  lang=["en", "ja"][n % 2]) for n in range(6)]
WHEN = "COALESCE(i.published_at, i.collected_at)"


def _archive(path: Path, size: int = 400, seed: int = 1) -> Store:
    """An archive of `size` items of a small vocabulary (so that ranks tie), each at its own
    time (some undated), written through relay's schema."""
    rnd = random.Random(seed)
    store = Store(path)
    store.sync_feeds(FEEDS)
    with store.transaction():
        for i in range(1, size + 1):
            feed = FEEDS[rnd.randrange(len(FEEDS))]
            title = " ".join(rnd.choices(WORDS[:4], k=2))
            body = " ".join(rnd.choices(WORDS, k=rnd.choice([4, 4, 6])))
            seen = NOW - timedelta(hours=3 * i + rnd.randrange(3))
            published = None if i % 17 == 0 else seen - timedelta(minutes=i % 50)
            store.conn.execute("INSERT OR IGNORE INTO stories (id, first_item_id, first_seen_at,"
                               " item_count) VALUES (?,?,?,1)", (i // 3 + 1, i, ts(seen)))
            store.conn.execute(
                "INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang,"
                " published_at, collected_at, content_hash, story_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (i, feed.id, f"g{i}", f"https://x.example/{i}", title, body, body, feed.lang,
                 published and ts(published), ts(seen), f"h{i}", i // 3 + 1))
            store.conn.execute("INSERT INTO items_fts (rowid, title, body) VALUES (?,?,?)",
                               (i, title, body))
            for topic in rnd.sample(TOPICS, rnd.choice([0, 1, 1, 2])):
                store.conn.execute("INSERT INTO item_tags VALUES (?,?,?,?)",
                                   (i, topic, 1.0, "[]"))
    return store


def _full_join(store: Store, match: str | None, limit: int = 20, order: str = "rank",
               **f: Any) -> list[tuple[int, float]]:
    """The hits as relay found them before: every match joined, filtered, sorted, cut."""
    where, params = [], []
    frm, rank = "items i JOIN feeds f ON f.id = i.feed_id", "0"
    if match:
        frm = "items_fts JOIN items i ON i.id = items_fts.rowid JOIN feeds f ON f.id = i.feed_id"
        where.append("items_fts MATCH ?")
        params.append(match)
        rank = "bm25(items_fts, 3.0, 1.0)"
    if f.get("story") is not None:
        where.append("i.story_id = ?")
        params.append(f["story"])
    for column, key in (("f.id", "feeds"), ("f.mission", "missions"), ("i.lang", "langs"),
                        ("f.country", "countries")):
        if f.get(key):
            where.append(f"{column} IN ({','.join('?' * len(f[key]))})")
            params.extend([c.upper() for c in f[key]] if key == "countries" else f[key])
    if f.get("topics"):
        where.append(f"i.id IN (SELECT item_id FROM item_tags WHERE topic IN"
                     f" ({','.join('?' * len(f['topics']))}))")
        params.extend(f["topics"])
    if f.get("since"):
        where.append(f"{WHEN} >= ?")
        params.append(ts(f["since"]))
    rows = store.conn.execute(
        f"SELECT i.id, {rank} AS rank FROM {frm}" + (f" WHERE {' AND '.join(where)}" if where
                                                       else "")
        + (f" ORDER BY rank, {WHEN} DESC" if order == "rank" and match
           else f" ORDER BY {WHEN} DESC, i.id DESC") + " LIMIT ?", (*params, limit)).fetchall()
    return [(r[0], r[1]) for r in rows]


def _hits(store: Store, match: str | None, limit: int = 20, order: str = "rank",
          **f: Any) -> list[tuple[int, float]]:
    return [(h.id, h.rank) for h in store.search(match, limit=limit, order=order, **f)]


CASES: list[tuple[str | None, int, dict[str, Any]]] = [
    ('"alpha"', 20, {}),
    ('"alpha"', 5, {}),                       # many items tie at the page's edge
    ('"alpha"', 1, {}),
    ('"zeta" OR "theta"', 20, {}),
    ('"alpha beta"', 10, {}),
    ('"gamma" NOT "delta"', 20, {}),
    ('"eta"', 20, {"feeds": ["f1"]}),
    ('"alpha"', 20, {"countries": ["de"]}),
    ('"beta"', 20, {"topics": ["fusion"], "missions": ["policy"]}),
    ('"beta"', 20, {"langs": ["ja"], "since": NOW - timedelta(days=20)}),
    ('"delta"', 20, {"story": 7}),
    ('"alpha"', 20, {"topics": ["ai", "space"], "countries": ["JP", "US"]}),
    ('"alpha"', 20, {"feeds": ["nope"]}),
    ('"alpha"', 20, {"topics": ["no-items"]}),
    ('"nothing"', 20, {}),
    (None, 20, {}),
    (None, 20, {"topics": ["ai"], "countries": ["DE"]}),
    (None, 7, {"feeds": ["f2", "f3"]}),
    (None, 20, {"langs": ["en"], "since": NOW - timedelta(days=10)}),
    (None, 20, {"story": 12}),
    (None, 20, {"topics": ["fusion"], "missions": ["news"]}),
]


@pytest.mark.parametrize("match,limit,filters", CASES)
def test_search_gives_the_hits_of_the_full_join(tmp_path, match, limit, filters):
    with _archive(tmp_path / "a.db") as store:
        assert _hits(store, match, limit, **filters) == _full_join(store, match, limit,
                                                                   **filters)
        if match:
            assert _hits(store, match, limit, "date", **filters) == \
                _full_join(store, match, limit, "date", **filters)


def test_items_tied_at_the_pages_edge_are_the_newest_of_the_tie(tmp_path):
    with _archive(tmp_path / "a.db") as store:
        with store.transaction():   # 600 identical items: one rank, more than a page query's
            for i in range(1001, 1601):     # chunk of ids
                store.conn.execute(
                    "INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang,"
                    " published_at, collected_at, content_hash) VALUES"
                    " (?, 'f0', ?, 'u', 't', 's', 's', 'en', ?, ?, 'h')",
                    (i, f"t{i}", ts(NOW - timedelta(days=i - 1000)), ts(NOW)))
                store.conn.execute("INSERT INTO items_fts (rowid, title, body) VALUES"
                                   " (?, 'omega omega', 'omega')", (i,))
        hits = store.search('"omega"', limit=3)
    assert [h.id for h in hits] == [1001, 1002, 1003]
    assert len({h.rank for h in hits}) == 1


def test_a_common_word_is_ranked_among_its_newest_matches(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "RANK_WINDOW", 30)
    with _archive(tmp_path / "a.db") as store:
        ids = [r[0] for r in store.conn.execute(
            "SELECT rowid FROM items_fts WHERE items_fts MATCH '\"alpha\"' ORDER BY rowid DESC")]
        assert len(ids) > 60
        newest = set(ids[:30])
        hits = _hits(store, '"alpha"', 10)
        expected = [(i, r) for i, r in _full_join(store, '"alpha"', len(ids))
                    if i in newest][:10]
    assert hits == expected


def test_a_filter_few_newest_matches_pass_ranks_every_match(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "RANK_WINDOW", 30)
    with _archive(tmp_path / "a.db") as store:
        old = {"since": None, "feeds": ["f4"]}
        # f4's items among the newest 30 matches are fewer than 20: all matches are ranked
        assert _hits(store, '"alpha"', 20, **old) == _full_join(store, '"alpha"', 20, **old)


def _plans(store: Store, run: Any) -> list[str]:
    """The query plans of the statements `run` sends on the store's connection."""
    sent: list[str] = []
    store.conn.set_trace_callback(sent.append)
    try:
        run()
    finally:
        store.conn.set_trace_callback(None)
    return [" | ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
            for sql in sent if sql.lstrip().upper().startswith("SELECT")]


@pytest.mark.parametrize("filters", [
    {}, {"topics": ["ai"], "countries": ["DE"]}, {"langs": ["en"]}, {"feeds": ["f1", "f2"]},
    {"since": NOW - timedelta(days=7)},
])
def test_a_listing_without_words_reads_an_index_in_order(tmp_path, filters, monkeypatch):
    # every filter holds "many" items, so the listing walks the date index
    monkeypatch.setattr(Store, "_fewer_than", lambda self, sql, params, cap=0: False,
                        raising=False)
    with _archive(tmp_path / "a.db") as store:
        plans = _plans(store, lambda: store.search(None, **filters))
    listing = [p for p in plans if "items_when" in p]
    assert listing, plans
    assert all("TEMP B-TREE" not in p for p in listing), listing
