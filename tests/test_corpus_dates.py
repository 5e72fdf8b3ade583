"""Honest dates on the real corpus (RELAY_CORPUS): every feed of relay-corpus.yaml collected
into a real archive; only the sources that give no date at all leave items undated, the
Portuguese, Chinese and link-dated feeds get their real dates, and a first digest shows
no undated backlog and nothing older than max_age_days."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay.config import load_config
from relay.pipeline import build_digests, collect, make_subscriber
from relay.store import Store

pytestmark = pytest.mark.corpus

NOW = datetime(2026, 8, 23, tzinfo=UTC)    # the day after the last gov-online snapshot
# Feeds whose items carry no date anywhere (no pubDate/dc:date/updated, no day in the link):
# heise's RSS 0.9, artifact-jp's RSS 0.91, 2ch's RDF, and the two feedparser fixtures.
NO_DATE_AT_SOURCE = {
    "de-utf8-rss1-heise-online": 60,
    "ja-eucjp-rss091-artifact-jp": 15,
    "ja-sjis-rss1-2ch-top10news-ncr": 3,
    "ja-eucjp-undeclared-rss2-feedparser-fixture": 1,
    "ja-sjis-undeclared-atom-feedparser-fixture": 1,
}


@pytest.fixture(scope="module")
def archive(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("corpus-dates")
    config = load_config(corpus / "relay-corpus.yaml")
    config = replace(config, settings=replace(config.settings, database=tmp / "corpus.db",
                                              digests_dir=tmp / "digests"))
    with Store(tmp / "corpus.db") as store:
        collect(config, store, NOW, everything=True)
        store.upsert_subscriber(make_subscriber(
            config, "desk@example.org", [t.id for t in config.topics], ui_lang="en"), NOW)
        results = build_digests(config, store, NOW)
    return tmp / "corpus.db", Path(results[0].path) if results[0].path else Path()


def test_only_sources_without_dates_leave_items_undated(archive):
    db, _digest = archive
    with sqlite3.connect(db) as conn:
        undated = dict(conn.execute(
            "SELECT feed_id, COUNT(*) FROM items WHERE published_at IS NULL GROUP BY feed_id"))
        total = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    print(f"corpus: {sum(undated.values())} of {total} items undated: {undated}")
    assert undated == NO_DATE_AT_SOURCE


def test_local_dates_of_the_corpus_are_read(archive):
    db, _digest = archive
    with sqlite3.connect(db) as conn:
        def dates(feed: str) -> set[str]:
            return {r[0] for r in conn.execute(
                "SELECT substr(published_at, 1, 10) FROM items WHERE feed_id = ?", (feed,))}
        assert dates("pt-latin1-undeclared-rss2-uol-noticias") == {"2018-09-24"}  # 'Seg, 24 Set'
        assert dates("zh-gb2312-rss2-kc0011") == {"2020-01-10"}   # 2020/1/10, not 1 December
        # no date element; each link carries its day (/news/2017/01/07/...), none after the
        # channel's own pubDate of 8 January 2017
        japantimes = dates("en-utf8-rss2-japantimes")
        assert None not in japantimes and max(japantimes) == "2017-01-07"
        assert dates("ja-utf8-rss2-gov-online-ministries-2026-08-22") <= {
            "2026-08-20", "2026-08-21", "2026-08-22"}
        # nothing stored carries the collection time as its date
        assert not conn.execute(
            "SELECT COUNT(*) FROM items WHERE published_at = collected_at").fetchone()[0]


def test_a_first_digest_over_the_corpus_shows_only_recent_dated_news(archive):
    db, digest = archive
    oldest = NOW - timedelta(days=14)
    with sqlite3.connect(db) as conn:
        story_ids = json.loads(conn.execute("SELECT story_ids FROM digests").fetchone()[0])
        assert story_ids, "the gov-online items of the last two weeks make a digest"
        for story in story_ids:
            dates = [r[0] for r in conn.execute(
                "SELECT published_at FROM items WHERE story_id = ?", (story,))]
            assert any(d is not None and d >= oldest.strftime("%Y-%m-%dT%H:%M:%SZ")
                       for d in dates), f"story {story} is no news of the period: {dates}"
    text = digest.with_suffix(".txt").read_text(encoding="utf-8")
    assert "undated" not in text and "2017" not in text
