"""A story is news to a subscriber only through an item they can see: when a Chinese
item joins last week's Japanese story, a reader of Japanese only does not get last
week's Japanese item again, while a reader of Chinese (or of every language) gets the
story with its new item. Through the real archive and the digest window, on both
selection paths (the ranked one for a subscriber who sees everything, the general one
for a filtered subscriber). Likewise the public topic feeds: a restricted item joining
an old story does not bring it back there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from relay.collect.feeds import parse_feed
from relay.config import load_config
from relay.models import Fetched, Subscriber
from relay.pipeline import ingest
from relay.pipeline.digests import _Window, publish_topic_feeds
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.tokens import tokenize

UNTIL = datetime(2026, 11, 30, 9, tzinfo=UTC)
WEEK = timedelta(days=7)
JA_TITLE = "量子コンピュータの新しい研究拠点が開所"
ZH_TITLE = "量子计算机新研究中心启用"


def rss(lang: str, title: str, url: str, when: datetime) -> bytes:
    return (f'<rss version="2.0"><channel><title>{lang}</title><language>{lang}</language>'
            f"<link>https://{lang}.example/</link><item><title>{title}</title>"
            f"<link>{url}</link><pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{title}</description></item></channel></rss>").encode()


@pytest.fixture
def archive(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text("""
settings:
  database: relay.db
feeds:
  - id: ja-wire
    url: https://ja.example/rss.xml
    lang: ja
    topics: [quantum]
  - id: zh-wire
    url: https://zh.example/rss.xml
    lang: zh
    topics: [quantum]
""", encoding="utf-8")
    config = load_config(path, env={})
    taxonomy = compile_taxonomy(config.topics, tokenize)
    with Store(tmp_path / "relay.db") as store:
        store.sync_feeds(config.feeds)
        ja, zh = config.feeds
        old = UNTIL - WEEK - timedelta(days=2)          # last week's news
        ingest(ja, parse_feed(Fetched("ja-wire", ja.url or "", 200,
                                      rss("ja", JA_TITLE, "https://ja.example/1", old))),
               store, taxonomy, old + timedelta(hours=1))
        new = UNTIL - timedelta(days=1)                  # this week's
        ingest(zh, parse_feed(Fetched("zh-wire", zh.url or "", 200,
                                      rss("zh", ZH_TITLE, "https://zh.example/1", new))),
               store, taxonomy, new + timedelta(hours=1))
        (ja_item, ja_story), (zh_item, _) = store.conn.execute(
            "SELECT id, story_id FROM items ORDER BY id").fetchall()
        with store.transaction():      # the Chinese item joins the Japanese story
            store.conn.execute("UPDATE items SET story_id = ? WHERE id = ?", (ja_story, zh_item))
        yield config, store, ja_story, (ja_item, zh_item)


def digest(config, store, sub: Subscriber, until: datetime) -> dict[int, list[int]]:
    sections = _Window(config, store).sections(until - WEEK, until, sub)
    return {st.id: [i.item_id for i in st.items] for s in sections for st in s.stories}


@pytest.mark.parametrize(
    ("langs", "shown"),
    [(("ja",), None), (("zh",), "zh"), ((), "both"), (("ja", "zh"), "both"), (("en",), None)],
    ids=["ja-reader-not-sent-the-old-item-again", "zh-reader-gets-the-new-item",
         "every-language-ranked-path", "both-languages-general-path", "neither-language"],
)
def test_a_story_is_news_only_through_an_item_the_reader_sees(archive, langs, shown):
    config, store, story, (ja_item, zh_item) = archive
    sub = Subscriber(email="a@b.example", topics=("quantum",), ui_lang="ja", langs=langs)
    expected = {None: {}, "zh": {story: [zh_item]},
                "both": {story: [ja_item, zh_item]}}[shown]     # the reader's language first
    assert digest(config, store, sub, UNTIL) == expected


def test_last_weeks_digest_had_the_story_for_the_japanese_reader(archive):
    config, store, story, (ja_item, _zh_item) = archive
    sub = Subscriber(email="a@b.example", topics=("quantum",), ui_lang="ja", langs=("ja",))
    assert digest(config, store, sub, UNTIL - WEEK) == {story: [ja_item]}


def test_a_restricted_item_joining_an_old_story_does_not_republish_it(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text("""
settings:
  database: relay.db
feeds:
  - id: ja-wire
    url: https://ja.example/rss.xml
    lang: ja
    topics: [quantum]
  - id: cable
    url: https://cable.example/rss.xml
    lang: ja
    topics: [quantum]
    audience: [government]
""", encoding="utf-8")
    config = load_config(path, env={})
    taxonomy = compile_taxonomy(config.topics, tokenize)
    public, cable = config.feeds
    with Store(tmp_path / "relay.db") as store:
        store.sync_feeds(config.feeds)
        old = UNTIL - timedelta(days=20)              # older than max_age_days (14)
        ingest(public, parse_feed(Fetched("ja-wire", "https://ja.example/rss.xml", 200,
                                          rss("ja", JA_TITLE, "https://ja.example/1", old))),
               store, taxonomy, old + timedelta(hours=1))
        new = UNTIL - timedelta(days=1)
        ingest(cable, parse_feed(Fetched("cable", "https://cable.example/rss.xml", 200,
                                         rss("ja", JA_TITLE + "（続報）", "https://cable.example/1",
                                             new))),
               store, taxonomy, new + timedelta(hours=1))
        (_, story), (cable_item, _) = store.conn.execute(
            "SELECT id, story_id FROM items ORDER BY id").fetchall()
        with store.transaction():
            store.conn.execute("UPDATE items SET story_id = ? WHERE id = ?", (story, cable_item))
        (written,) = [p for p in publish_topic_feeds(config, store, UNTIL)
                      if p.endswith("quantum.xml")]
    text = Path(written).read_text(encoding="utf-8")
    assert JA_TITLE not in text and "cable.example" not in text
