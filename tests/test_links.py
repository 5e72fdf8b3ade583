"""Links as published (issue 9, point 3): an entry's link is stored, shown and linked as
the source gave it (made absolute against the document's base), and its URL key
(`text.url_key`) only finds duplicates. Feeds on a real HTTP server on 127.0.0.1, the
archive in a real SQLite file; fixtures in tests/links/ (see its README)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path
from string import Template

import pytest
from click.testing import CliRunner, Result

from relay import store as store_module
from relay.cli import main
from relay.collect.feeds import parse_feed
from relay.collect.pages import parse_page
from relay.config import builtin_topics, parse_config
from relay.errors import ConfigError
from relay.models import Entry, FeedKind, FeedSpec, Fetched
from relay.pipeline import ingest
from relay.pipeline.ingesting import _old_canonical_url, key_links, told_apart
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.text import url_key
from relay.tokens import tokenize

NOW = datetime.now(UTC)
LINKS = Path(__file__).parent / "links"
EMB = "https://www.boston.us.emb-japan.go.jp/itpr_ja/"
FRAGMENT_LINKS = [
    f"{EMB}11.html#d25", f"{EMB}11.html#d26", f"{EMB}11.html#d27", f"{EMB}11.html#d28",
    f"{EMB}diary/?200601a", f"{EMB}12.html?utm_source=rss#d01",
]
WIRE_LINK = "https://www.ct-news.example/2026/quantum.html?id=7&utm_medium=feed#lead"
AGG_LINK = f"{EMB}11.html?utm_medium=feed#d26"


def rfc822(days_ago: float) -> str:
    return format_datetime(NOW - timedelta(days=days_ago))


def fragments_feed() -> str:
    text = (LINKS / "fragments.xml").read_text(encoding="utf-8")
    return Template(text).substitute(d1=rfc822(1), d2=rfc822(2), d3=rfc822(3))


def wire_feed() -> str:
    """Another source telling the #d25 story (a near duplicate: it joins the story)."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>CT News</title><link>https://www.ct-news.example/</link>
<item><title>コネチカット州が量子コンピュータ研究拠点に1億2100万ドルを投資</title>
<link>{WIRE_LINK.replace("&", "&amp;")}</link><guid>ct-7</guid><pubDate>{rfc822(1)}</pubDate>
<description>コネチカット州政府は量子コンピュータの研究拠点整備に1億2100万ドルを投じると発表した。イェール大学と州内企業が参加し、量子技術の人材育成も含む。知事が会見で述べた。</description></item>
</channel></rss>"""


def agg_feed() -> str:
    """An aggregator carrying the #d26 notice again under a prefix and reworded: another
    feed, the same URL key (only a tracker added), its title the notice's own with a
    prefix: a duplicate."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Aggregator</title><link>https://agg.example/</link>
<item><title>【総領事館】領事窓口休館のお知らせ</title><link>{AGG_LINK}</link><guid>agg-1</guid>
<pubDate>{rfc822(1)}</pubDate><description>感謝祭の日は休館です。</description></item>
</channel></rss>"""


@pytest.fixture
def site(tmp_path: Path, http_server, smtp_server) -> dict[str, object]:
    urls = {
        "boston": http_server.add("/boston.xml", fragments_feed(), etag=False),
        "wire": http_server.add("/wire.xml", wire_feed()),
        "agg": http_server.add("/agg.xml", agg_feed()),
    }
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: storage/relay.db
  digests_dir: digests
  smtp: {{url: "{smtp_server.url}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  - id: boston-cg
    name: 在ボストン総領事館
    url: {urls['boston']}
    allow_private: true   # the test server is on 127.0.0.1
    mission: boston
  - id: ct-news
    name: CT News
    url: {urls['wire']}
    allow_private: true
  - id: aggregator
    name: Aggregator
    url: {urls['agg']}
    allow_private: true
""", encoding="utf-8")
    return {"config": config, "dir": tmp_path}


def relay(site: dict[str, object], *args: str) -> Result:
    result = CliRunner().invoke(main, ["--config", str(site["config"]), *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def rows(site: dict[str, object], sql: str) -> list[tuple]:
    with sqlite3.connect(Path(str(site["dir"])) / "storage" / "relay.db") as conn:
        return conn.execute(sql).fetchall()


def test_every_entry_of_a_fragment_feed_is_stored_with_its_link(site):
    reports = {r["feed"]: r for r in json.loads(relay(site, "collect", "--json").stdout)}
    assert reports["boston-cg"]["new"] == 6           # #d26 and #d28 share their title
    assert reports["ct-news"]["new"] == 1
    # the same key through another feed, retitled: a duplicate
    assert reports["aggregator"] == reports["aggregator"] | {"new": 0, "duplicates": 1}
    stored = rows(site, "SELECT url, url_key FROM items WHERE feed_id = 'boston-cg'")
    assert sorted(u for u, _ in stored) == sorted(FRAGMENT_LINKS)
    assert len({k for _, k in stored}) == 6
    assert f"{EMB}12.html#d01" in {k for _, k in stored}
    # Read again (no validators: the whole document): every entry is known.
    again = {r["feed"]: r for r in json.loads(
        relay(site, "collect", "boston-cg", "--json").stdout)}
    assert again["boston-cg"] == again["boston-cg"] | {"new": 0, "duplicates": 6}


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if tag == "a" and k == "href" and v]


def test_show_export_search_and_digests_give_the_published_link(site):
    relay(site, "collect")
    exported = [json.loads(line) for line in relay(site, "export").stdout.splitlines()]
    assert sorted(r["url"] for r in exported if r["feed"] == "boston-cg") == sorted(
        FRAGMENT_LINKS)
    assert WIRE_LINK in {r["url"] for r in exported}
    item_id = next(r["id"] for r in exported if r["url"] == FRAGMENT_LINKS[0])
    assert relay(site, "show", str(item_id)).stdout.splitlines()[1] == FRAGMENT_LINKS[0]
    hits = json.loads(relay(site, "search", "休館", "--format", "json").stdout)
    assert sorted(h["url"] for h in hits) == [FRAGMENT_LINKS[1], FRAGMENT_LINKS[3]]
    csv_out = relay(site, "export", "--format", "csv").stdout
    assert FRAGMENT_LINKS[5] in csv_out

    relay(site, "subscribe", "desk@mext.example", "--topics", "quantum", "--ui-lang", "ja")
    relay(site, "digest", "build")
    digests = Path(str(site["dir"])) / "digests"
    html = next(p for p in digests.rglob("*.html") if "preview" not in p.parts)
    parser = _Hrefs()
    parser.feed(html.read_text(encoding="utf-8"))
    # The story's lead and its "also" source, each linked as published.
    assert {FRAGMENT_LINKS[0], WIRE_LINK} <= set(parser.hrefs)
    text = html.with_suffix(".txt").read_text(encoding="utf-8")
    assert FRAGMENT_LINKS[0] in text or WIRE_LINK in text
    atom = (digests / "feeds" / "quantum.xml").read_text(encoding="utf-8")
    assert (f'href="{FRAGMENT_LINKS[0]}"' in atom
            or f'href="{WIRE_LINK.replace("&", "&amp;")}"' in atom)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://www.example.go.jp/", [
            "https://www.example.go.jp/press/2026/0701.html",
            "https://www.example.go.jp/press/detail/7.html?lang=ja#sec2",
            "https://www.example.go.jp/press/2026/0703.html"]),
        (None, ["2026/0701.html", "/press/detail/7.html?lang=ja#sec2",
                "https://www.example.go.jp/press/2026/0703.html"]),
    ],
    ids=["base-url-resolves", "without-base-url-stored-as-written"],
)
def test_relative_links_of_a_path_feed(tmp_path, base_url, expected):
    line = f"\n    base_url: {base_url}" if base_url else ""
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings: {{database: relay.db}}
feeds:
  - id: press
    path: {LINKS / 'relative.xml'}{line}
  - id: press-page
    kind: page
    path: {LINKS / 'relative-page.html'}{line}
    selectors: {{item: "ul.news li", title: "a", link: "a", date: ".date"}}
""", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "collect"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        feed = [u for (u,) in conn.execute(
            "SELECT url FROM items WHERE feed_id = 'press' ORDER BY id")]
        page = [u for (u,) in conn.execute(
            "SELECT url FROM items WHERE feed_id = 'press-page' ORDER BY id")]
    assert feed == expected
    # A page's links are relative to the page itself (its base_url): it has no channel link.
    if base_url:
        assert page == ["https://www.example.go.jp/2026/0801.html",
                        "https://www.example.go.jp/press/detail/8.html?lang=ja#sec3",
                        "https://www.example.go.jp/press/2026/0803.html"]
    else:
        assert page == ["2026/0801.html", "/press/detail/8.html?lang=ja#sec3",
                        "https://www.example.go.jp/press/2026/0803.html"]


@pytest.mark.parametrize(
    ("xml", "url", "base_url", "expected"),
    [
        ('<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://www.ex.org/news/">'
         '<title>t</title><entry xml:base="2026/"><title>a</title><id>a</id>'
         '<link href="11.html#d25"/></entry></feed>',
         "https://feeds.ex.org/atom", None, "https://www.ex.org/news/2026/11.html#d25"),
        ('<rss version="2.0"><channel><title>t</title><link>https://www.ex.org/site/</link>'
         '<item><title>a</title><link>p.html?200601a#x1</link></item></channel></rss>',
         "https://feeds.ex.org/rss", None, "https://www.ex.org/site/p.html?200601a#x1"),
        ('<rss version="2.0"><channel><title>t</title>'
         '<item><title>a</title><link>/p.html?b=2&amp;a=1</link></item></channel></rss>',
         "https://www.ex.org/feeds/rss.xml", None, "https://www.ex.org/p.html?b=2&a=1"),
        ('<rss version="2.0"><channel><title>t</title>'
         '<item><title>a</title><link>p.html#d26</link></item></channel></rss>',
         "/srv/feeds/rss.xml", "https://www.ex.org/news/", "https://www.ex.org/news/p.html#d26"),
        ('<rss version="2.0"><channel><title>t</title>'
         '<item><title>a</title><link>p.html#d26</link></item></channel></rss>',
         "/srv/feeds/rss.xml", None, "p.html#d26"),
        ('<rss version="2.0"><channel><title>t</title><link>https://www.ex.org/</link>'
         '<item><title>a</title><description>no link</description></item></channel></rss>',
         "/srv/feeds/rss.xml", None, "https://www.ex.org/"),
    ],
    ids=["xml-base", "channel-link", "fetch-url", "path-with-base-url",
         "path-without-base-url", "no-link-gets-the-feed-link"],
)
def test_feed_links_are_resolved_not_rewritten(xml, url, base_url, expected):
    fetched = Fetched("f", url, 200, xml.encode(), base_url=base_url)
    assert [e.url for e in parse_feed(fetched)] == [expected]


def test_page_links_use_the_base_tag_and_keep_query_and_fragment():
    page = ('<html><head><base href="https://www.ex.org/news/"></head><body>'
            '<div class="i"><a href="11.html#d25">a</a></div>'
            '<div class="i"><a href="?200601a">b</a></div></body></html>')
    entries = parse_page(Fetched("p", "https://ex.org/list", 200, page.encode()),
                         {"item": "div.i", "title": "a", "link": "a"})
    assert [e.url for e in entries] == ["https://www.ex.org/news/11.html#d25",
                                        "https://www.ex.org/news/?200601a"]


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ("{id: a, url: 'https://ex.org/f', base_url: 'https://ex.org/'}", "only a feed or page"),
        ("{id: a, path: f.xml, base_url: '/srv/site/'}", "is not an http"),
        ("{id: a, path: f.xml, base_url: 7}", "must be a string"),
        ("{id: a, kind: reports, path: inbox, base_url: 'https://ex.org/'}",
         "only a feed or page"),
    ],
    ids=["url-feed", "not-http", "not-a-string", "reports"],
)
def test_base_url_is_validated(tmp_path, feed, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(f"feeds:\n  - {feed}\n", tmp_path / "feeds.yaml", {})
    assert "feeds[0] (a).base_url" in str(info.value)


def test_base_url_is_accepted_on_a_path_feed(tmp_path):
    config = parse_config("feeds:\n  - {id: a, path: f.xml, base_url: 'https://ex.org/n/'}\n",
                          tmp_path / "feeds.yaml", {})
    assert config.feeds[0].base_url == "https://ex.org/n/"


FEED = FeedSpec(id="f", name="f", kind=FeedKind.RSS, url="https://f.example/")
OTHER = FeedSpec(id="g", name="g", kind=FeedKind.RSS, url="https://g.example/")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _entry(feed: FeedSpec, guid: str, url: str, title: str, text: str) -> Entry:
    return Entry(feed_id=feed.id, guid=guid, url=url, title=title, content_html=text,
                 published_at=T0)


@pytest.mark.parametrize(
    ("second", "stored"),
    [
        (_entry(FEED, "2", "https://agg.example/list.html", "Typhoon warning for Okinawa",
                "The agency warns of a typhoon."), True),
        (_entry(FEED, "2", "https://agg.example/list.html#top", "Consumer price index for July",
                "Prices rose again."), True),
        (_entry(FEED, "https://agg.example/list.html#top", "https://agg.example/list.html#top",
                "Consumer price index for July", "Prices rose again."), False),
        (_entry(OTHER, "2", "https://agg.example/list.html?utm_source=x",
                "【Cabinet Office】 Consumer price index for July", "Prices rose."), False),
        (_entry(OTHER, "2", "https://agg.example/list.html?utm_source=x",
                "Typhoon warning for Okinawa", "The agency warns of a typhoon."), True),
        (_entry(FEED, "2", "https://www.agg.example/list.html", "Consumer price index for July",
                "Prices rose again, said the ministry."), True),
        (_entry(FEED, "2", "https://agg.example/aug.html", "Consumer price index for July",
                "Prices rose."), True),
        (_entry(OTHER, "2", "https://copy.example/cpi", "Consumer price index for July",
                "Prices rose."), False),
        (_entry(FEED, "2", "http://www.agg.example/list.html", "Consumer price index for July",
                "Prices rose."), False),
        (replace(_entry(OTHER, "2", "https://copy.example/cpi", "Consumer price index for July",
                        "Prices rose."), published_at=T0 - timedelta(days=200)), True),
    ],
    ids=["same-feed-same-key-other-title-kept", "same-feed-own-id-same-key-same-title-kept",
         "same-feed-no-id-same-key-same-title-dropped",
         "other-feed-same-key-retitled-dropped", "other-feed-same-key-other-notice-kept",
         "www-is-another-key", "same-feed-same-content-other-link-kept",
         "other-feed-same-content-dropped", "same-feed-same-content-link-moved-to-http-www",
         "other-feed-same-content-200-days-apart-kept"],
)
def test_the_url_key_rule_of_exact_duplicates(tmp_path, second, stored):
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    first = _entry(FEED, "1", "https://agg.example/list.html", "Consumer price index for July",
                   "Prices rose.")
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED, OTHER])
        assert ingest(FEED, [first], store, taxonomy, T0) == (1, 0)
        spec = FEED if second.feed_id == FEED.id else OTHER
        assert ingest(spec, [second], store, taxonomy, T0) == ((1, 0) if stored else (0, 1))


def test_what_has_no_letters_is_no_content_key(tmp_path):
    """Titles of symbols only, with no text, fold to nothing: two such entries of two
    feeds are not one."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED, OTHER])
        assert ingest(FEED, [_entry(FEED, "1", "https://a.example/1", "★★★", "")],
                      store, taxonomy, T0) == (1, 0)
        assert ingest(OTHER, [_entry(OTHER, "1", "https://b.example/1", "!!!", "")],
                      store, taxonomy, T0) == (1, 0)


def test_entries_without_links_are_no_copies_of_each_other(tmp_path):
    """A feed whose entries have no link: each gets the feed's page as its link, and
    three notices titled alike are still three notices."""
    feed = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>T</title><link>https://ministry.example/</link><description>d</description>
<item><title>お知らせ</title><description>窓口は1日休みます。</description></item>
<item><title>お知らせ</title><description>説明会を5日に開きます。</description></item>
<item><title>お知らせ</title><description>新しい様式を公開しました。</description></item>
</channel></rss>"""
    entries = parse_feed(Fetched(feed_id=FEED.id, url="https://ministry.example/rss",
                                 status=200, body=feed.encode()))
    assert len(entries) == 3
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED])
        assert ingest(FEED, entries, store, taxonomy, T0) == (3, 0)


# Old rows (guid, url in the pre-migration-11 form, title, indexed title, indexed body).
OLD_ROWS = [
    ("heise-1", "http://heise.de/x.html?wt_mc=rss.a", "Red Hat releases WildFly 10",
     "red hat releas wildfli 10",
     "the applic server red hat wildfli java ee support smaller footprint start"),
    # An Atom entry: its guid is no link, and its link had `www.` (overcube's atom feed).
    ("tag:www.overcube.com,2005:/blog//2.680", "http://overcube.com/blog/archives/000680.php",
     "ドメイン移転", "ドメイン 移転", "ブログ の ドメイン を 移転 し た"),
    # A diary entry whose guid is its link: `www.`, `/`, `?200601a` and `#200601033` lost.
    ("http://www.tls.org/~moriya/diary/?200601a#200601033",
     "http://tls.org/~moriya/diary?200601a=", "あさ", "あさ", ""),
    # A guid that is a URL but not the link (another page): the url stays.
    ("http://f.example/post/9", "http://f.example/feed.html", "Nine", "nine", ""),
]


def _old_archive(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An archive as the relay before the link/key split left it: the schema up to the
    migration that adds url_key, and rows whose url is the old canonical form."""
    split = next(i for i, m in enumerate(store_module.MIGRATIONS) if "url_key" in m)
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:split])
        with Store(db) as store:
            store.sync_feeds([FEED, OTHER])
            old_columns = {r[1] for r in store.conn.execute("PRAGMA table_info(items)")}
            for n, (guid, url, title, head, body) in enumerate(OLD_ROWS):
                store.conn.execute(
                    "INSERT INTO items (feed_id, guid, url, title, summary, text, lang,"
                    " published_at, collected_at, content_hash) VALUES ('f', ?, ?, ?, '',"
                    " 'The application server.', 'en', '2026-11-01T00:00:00Z',"
                    " '2026-11-01T00:00:00Z', ?)", (guid, url, title, f"old-hash-{n}"))
                store.conn.execute("INSERT INTO items_fts (rowid, title, body) VALUES"
                                   " (last_insert_rowid(), ?, ?)", (head, body))
    assert "url_key" not in old_columns


def _links(store: Store) -> dict[str, tuple[str, str]]:
    return {g: (u, k) for g, u, k in store.conn.execute("SELECT guid, url, url_key FROM items")}


def test_an_archive_of_the_old_schema_is_migrated(tmp_path, monkeypatch):
    """Before the split, items.url held the canonical URL: it stays the link unless the
    guid gives the link back, is the key meanwhile, and the next collect computes the
    new key from it."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    db = tmp_path / "old.db"
    _old_archive(db, monkeypatch)
    with Store(db) as store:
        assert {g: u == k for g, (u, k) in _links(store).items()} == {
            r[0]: True for r in OLD_ROWS}
        assert store.pending("url-key")
        assert key_links(store) == 4
        assert key_links(store) == 0                     # once
        assert _links(store) == {
            "heise-1": ("http://heise.de/x.html?wt_mc=rss.a", "old:http://heise.de/x.html"),
            OLD_ROWS[1][0]: (OLD_ROWS[1][1], "old:http://overcube.com/blog/archives/000680.php"),
            OLD_ROWS[2][0]: (OLD_ROWS[2][0], "http://www.tls.org/~moriya/diary?200601a#200601033"),
            "http://f.example/post/9": ("http://f.example/feed.html",
                                        "old:http://f.example/feed.html"),
        }
        # The same article through another feed (another tracker, another title).
        assert ingest(OTHER, [_entry(OTHER, "o-1", "http://heise.de/x.html?wt_mc=rss.b",
                                     "WildFly 10 is out",
                                     "Red Hat's application server WildFly 10 brings Java EE 7 "
                                     "support, a smaller footprint and faster start-up.")],
                      store, taxonomy, T0) == (0, 1)
        # The old feed's guid is still known.
        assert ingest(FEED, [_entry(FEED, "heise-1", "http://www.heise.de/x.html",
                                    "Red Hat releases WildFly 10", "The application server.")],
                      store, taxonomy, T0) == (0, 1)
        index = {r[1] for r in store.conn.execute("PRAGMA index_list(items)")}
    assert "items_url_key" in index and "items_url" not in index


def test_an_old_row_meets_its_link_with_www_but_new_rows_keep_www(tmp_path, monkeypatch):
    """An old row whose link is known only without `www.` is the article another feed
    links with `www.` (overcube's RSS 1.0 feed, after its Atom feed was archived by the
    old relay: 4 of 5 were stored again); a row stored now keeps its `www.` apart."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    db = tmp_path / "old.db"
    _old_archive(db, monkeypatch)
    with Store(db) as store:
        key_links(store)
        link = "http://www.overcube.com/blog/archives/000680.php"
        assert ingest(OTHER, [_entry(OTHER, "o-680", link, "ドメイン移転",
                                     "このブログのドメインを移転しました。")],
                      store, taxonomy, T0) == (0, 1)
        assert ingest(OTHER, [_entry(OTHER, "o-9", "http://www.f.example/feed.html", "Nine",
                                     "Nine, told by another feed.")],
                      store, taxonomy, T0) == (0, 1)
        # Stored now: `www.` is another host, as for any new link.
        assert ingest(FEED, [_entry(FEED, "new-1", "http://www.g.example/a.html", "Ten",
                                    "Ten.")], store, taxonomy, T0) == (1, 0)
        assert ingest(OTHER, [_entry(OTHER, "o-10", "http://g.example/a.html", "Ten",
                                     "Ten, told by another feed.")],
                      store, taxonomy, T0) == (1, 0)
        # The diary's link is its guid again: the next entry of that page is another one.
        assert ingest(FEED, [_entry(FEED, "http://www.tls.org/~moriya/diary/?200601a#200601034",
                                    "http://www.tls.org/~moriya/diary/?200601a#200601034", "あさ",
                                    "")], store, taxonomy, T0) == (1, 0)


@pytest.mark.parametrize(("url", "old"), [
    ("http://www.tls.org/~moriya/diary/?200601a#200601033",
     "http://tls.org/~moriya/diary?200601a="),
    ("HTTPS://WWW.Example.COM:443//a//b/?b=2&a=1&utm_source=x&wt_mc=y",
     "https://example.com/a/b?a=1&b=2&wt_mc=y"),
    ("http://example.com:8080", "http://example.com:8080/"),
    ("  http://www.example.com./x/  ", "http://example.com/x"),
    ("mailto:a@example.com", "mailto:a@example.com"),
    ("/press/7.html", "/press/7.html"),
    ("http://example.com:bad/", "http://example.com:bad/"),
], ids=["diary", "port-query-trackers", "root", "dot-slash", "mailto", "relative", "bad-port"])
def test_the_old_canonical_form(url, old):
    """The pre-migration-11 form, as relay 7ec2a87's canonical_url gave it."""
    assert _old_canonical_url(url) == old


def test_the_next_collect_computes_the_keys_of_a_migrated_archive(tmp_path, monkeypatch):
    _old_archive(tmp_path / "old.db", monkeypatch)
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings: {{database: old.db}}\nfeeds:\n"
                      f"  - {{id: press, path: '{LINKS / 'relative.xml'}'}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "collect"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "old.db") as store:
        assert not store.pending("url-key")
        keys = dict(store.conn.execute("SELECT guid, url_key FROM items"))
    assert keys["heise-1"] == "old:http://heise.de/x.html"
    assert keys["press-7"] == "/press/detail/7.html?lang=ja#sec2"


@pytest.mark.corpus
def test_corpus_links_stay_as_published(corpus, tmp_path):
    """The diary whose entries differ by fragment (tls.org, `?200601a#200601033`) keeps
    all its 34 entries (7 were lost as duplicates), the gov-online snapshot keeps the
    notices that share a ministry's listing page (3 were lost), and `https://www.` links
    (the government feeds, the gazette) are stored as the feeds give them."""
    names = ["ja_eucjp_rss1_tls-org.rdf", "ja_utf8_rss2_gov-online-ministries_2026-08-20.rss",
             "ja_utf8_rss2_kanpo-gazette-toc_2025-07-24.xml", "de_utf8_rss1_heise-online.rdf"]
    config = tmp_path / "feeds.yaml"
    config.write_text("settings: {database: relay.db}\nfeeds:\n" + "".join(
        f"  - {{id: f{i}, path: '{corpus / 'feeds' / n}'}}\n" for i, n in enumerate(names)),
        encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--json"],
                                catch_exceptions=False)
    reports = {r["feed"]: r for r in json.loads(result.stdout)}
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        stored = {f"f{i}": [u for (u,) in conn.execute(
            "SELECT url FROM items WHERE feed_id = ?", (f"f{i}",))] for i in range(len(names))}
    for i, name in enumerate(names):
        published = {e.url for e in parse_feed(Fetched(
            f"f{i}", str(corpus / "feeds" / name), 200, (corpus / "feeds" / name).read_bytes()))}
        assert set(stored[f"f{i}"]) <= published, name
    gov = parse_feed(Fetched("f1", "x", 200, (corpus / "feeds" / names[1]).read_bytes()))
    assert reports["f1"]["new"] == len(stored["f1"]) == len({(e.url, e.title) for e in gov})
    tls = stored["f0"]
    assert reports["f0"]["new"] == len(tls) == 34
    assert "http://www.tls.org/~moriya/diary/?200601a#200601033" in tls
    www = [u for i in (1, 2) for u in stored[f"f{i}"] if u.startswith("https://www.")]
    assert len(www) >= 40
    assert all(url_key(u).startswith("https://www.") for u in www)


def _linked(url: str, title: str, guid: str | None = None) -> Entry:
    return _entry(FEED, guid or url, url, title, f"{title}.")


L = "https://www.bousai.go.jp/index.html"


@pytest.mark.parametrize(
    ("entries", "archived", "guids"),
    [
        ([_linked(L, "Site visit report"), _linked(L, "Disaster designation")], {},
         [L, f"{L}#Disaster designation"]),
        ([_linked(L, "Site visit report"), _linked(L, "Site  visit report")], {}, [L, L]),
        ([_linked(L, "Disaster designation")], {L: "Site visit report"},
         [f"{L}#Disaster designation"]),
        ([_linked(L, "<b>Site visit</b> report")], {L: "Site visit report"}, [L]),
        ([_linked(L, "A", guid="tag:1"), _linked(L, "B", guid="tag:1")], {},
         ["tag:1", "tag:1"]),
    ],
    ids=["one-link-two-titles", "same-title-is-the-same-entry", "archived-under-another-title",
         "archived-under-this-title", "own-ids-are-kept"],
)
def test_entries_that_share_a_link_but_not_a_title_are_told_apart(entries, archived, guids):
    assert [e.guid for e in told_apart(entries, archived)] == guids


def test_notices_on_one_listing_page_are_all_stored_over_several_reads(tmp_path):
    """gov-online links notices to a ministry's listing page and gives no guid: a notice
    that comes after another one on the same page is new, in the same read or later."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    first, second = _linked(L, "Site visit report"), _linked(L, "Disaster designation")
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED])
        assert ingest(FEED, [first], store, taxonomy, T0) == (1, 0)
        assert ingest(FEED, [second], store, taxonomy, T0) == (1, 0)
        assert ingest(FEED, [second, first], store, taxonomy, T0) == (0, 2)
        assert ingest(FEED, [_linked(L, "Third notice"), first], store, taxonomy, T0) == (1, 1)
        links = {u for (u,) in store.conn.execute("SELECT url FROM items")}
    assert links == {L}


@pytest.mark.parametrize(
    ("archived", "document", "new"),
    [
        (["Site visit report", "Disaster designation"], ["Heavy rain relief"], 1),
        (["Site visit report", "Disaster designation"], ["Disaster designation"], 0),
        (["Site visit report"], ["Heavy rain relief", "Disaster designation"], 2),
        (["Site visit report"], ["Site visit report (retitled)"], 0),
    ],
    ids=["archived-listing-other-title-kept", "archived-listing-same-title-dropped",
         "listing-in-this-document-kept", "one-title-is-an-article-retitled"],
)
def test_a_listing_page_is_no_duplicate_key_across_feeds(tmp_path, archived, document, new):
    """A key that names entries of different titles is a listing page (gov-online links
    the Cabinet Office's notices to bousai.go.jp/index.html): across feeds too, only the
    same title there is a duplicate."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED, OTHER])
        ingest(FEED, [_linked(L, t) for t in archived], store, taxonomy, T0)
        entries = [_entry(OTHER, L, L, t, f"{t}, the ministry said.") for t in document]
        assert ingest(OTHER, entries, store, taxonomy, T0)[0] == new


REPORTS = FeedSpec(id="boston-reports", name="r", kind=FeedKind.REPORTS, path=Path("inbox"))


@pytest.mark.parametrize("report_first", [True, False], ids=["report-first", "article-first"])
def test_a_report_that_links_its_source_is_no_copy_of_it(tmp_path, report_first):
    """A mission report's `url:` front matter names the article it reports on: the
    report and the article are both kept (they may join one story)."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    link = "https://www.ct.gov/news/2026/quantum?utm_source=rss"
    report = _entry(REPORTS, "q.md#abc", link, "コネチカット州の量子投資について",
                    "州政府は量子研究に投資する。")
    article = _entry(FEED, "ct-1", link, "Connecticut invests in quantum research",
                     "The state invests in quantum research.")
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([FEED, REPORTS])
        order = [(REPORTS, report), (FEED, article)]
        for spec, entry in order if report_first else order[::-1]:
            assert ingest(spec, [entry], store, taxonomy, T0) == (1, 0)


@pytest.mark.corpus
def test_corpus_an_upgraded_archive_stores_no_article_again(corpus, tmp_path):
    """An archive as migration 11 leaves the old relay's (url in the old canonical form,
    the key the same, `url-key` pending): overcube's Atom entries (tag: guids, links with
    `www.`) and tls.org's diary (guids are the links). Collected again with overcube's
    RSS 1.0 feed, the same 5 articles are duplicates (4 were stored again), and the
    diary's entries have their published links back."""
    feeds = {"atom": "ja_eucjp_atom_overcube-blog.xml", "rss1": "ja_eucjp_rss1_overcube-blog.rdf",
             "tls": "ja_eucjp_rss1_tls-org.rdf"}

    def collect(*ids: str) -> dict[str, dict]:
        config = tmp_path / "feeds.yaml"
        config.write_text("settings: {database: relay.db}\nfeeds:\n" + "".join(
            f"  - {{id: {i}, path: '{corpus / 'feeds' / feeds[i]}'}}\n" for i in ids),
            encoding="utf-8")
        result = CliRunner().invoke(main, ["--config", str(config), "collect", "--all",
                                           "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return {r["feed"]: r for r in json.loads(result.stdout)}

    collect("atom", "tls")
    with Store(tmp_path / "relay.db") as store:
        published = _links(store)
        old = {g: _old_canonical_url(u) for g, (u, _k) in published.items()}
        store.conn.executemany("UPDATE items SET url = ?, url_key = ? WHERE guid = ?",
                               [(u, u, g) for g, u in old.items()])
        store.conn.execute("INSERT INTO pending (task) VALUES ('url-key')")
    assert sum(u != published[g][0] for g, u in old.items()) == 49     # every one had `www.`
    reports = collect("atom", "rss1", "tls")
    assert (reports["rss1"]["new"], reports["rss1"]["duplicates"]) == (0, 5)
    with Store(tmp_path / "relay.db") as store:
        links = _links(store)
    tls = {g: u for g, (u, _k) in links.items() if "tls.org" in g}
    assert len(tls) == 34 and all(tls[g] == published[g][0] == g for g in tls)
    atom = {g: links[g] for g in links if g.startswith("tag:")}
    assert len(atom) == 15 and all(k.startswith("old:http://overcube.com/") for _, k in atom.values())
