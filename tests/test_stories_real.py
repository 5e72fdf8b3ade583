"""Stories on feeds shaped like the real ones: ministry and gazette feeds that wrap every
distinct notice in the same words, and an aggregator that republishes some of them
(fixtures in tests/fixtures/stories/, written for these tests; the corpus run is in
tests/test_corpus.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from relay.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stories"


def _collect(tmp_path: Path, *names: str) -> sqlite3.Connection:
    lines = ["settings:", "  database: relay.db", "feeds:"]
    for name in names:
        lines += [f"  - id: {name}", f"    path: {FIXTURES / (name + '.xml')}"]
    config = tmp_path / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--all"])
    assert result.exit_code == 0, result.output
    return sqlite3.connect(tmp_path / "relay.db")


def _stories(conn: sqlite3.Connection) -> list[list[tuple[str, str]]]:
    groups: dict[int, list[tuple[str, str]]] = {}
    for story, feed, title in conn.execute(
            "SELECT story_id, feed_id, title FROM items ORDER BY id"):
        groups.setdefault(story, []).append((feed, title))
    return list(groups.values())


def test_distinct_notices_in_one_template_stay_apart(tmp_path):
    conn = _collect(tmp_path, "ministry-notices", "register-notices")
    stories = _stories(conn)
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 22
    assert [s for s in stories if len(s) > 1] == []


def test_a_notice_republished_by_an_aggregator_joins_its_story(tmp_path):
    conn = _collect(tmp_path, "ministry-notices", "aggregator")
    joined = sorted(sorted(t for _, t in s) for s in _stories(conn) if len(s) > 1)
    assert joined == sorted([
        ["【外務省】日・オマーン外相会談及びワーキングランチ", "日・オマーン外相会談及びワーキングランチ"],
        ["【外務省】モンゴルに対する無償資金協力「経済社会開発計画（医療機材）」に関する書簡の交換",
         "モンゴルに対する無償資金協力「経済社会開発計画（医療機材）」に関する書簡の交換"],
    ])


def test_a_later_collect_of_one_notice_learns_the_template_from_the_archive(tmp_path):
    """A daily collect brings one new item: the feed's template comes from its archived
    items, so the date line and the ministry's name do not tie it to yesterday's notice."""
    from datetime import UTC, datetime

    from relay import dedup
    from relay.config import builtin_topics
    from relay.models import Entry, FeedKind, FeedSpec
    from relay.pipeline import ingest
    from relay.pipeline.ingesting import feed_profile
    from relay.store import Store
    from relay.tag import compile_taxonomy
    from relay.tokens import tokenize

    conn = _collect(tmp_path, "ministry-notices")
    conn.close()
    feed = FeedSpec(id="ministry-notices", name="m", kind=FeedKind.RSS,
                    path=FIXTURES / "ministry-notices.xml")
    title = "ケニアに対する無償資金協力「人材育成奨学計画」に関する書簡の署名・交換"
    entry = Entry(feed_id=feed.id, guid="kenya", url="https://ministry.example.go.jp/n/kenya",
                  title=title, content_html=f"2026年8月21日 外務省 {title}",
                  published_at=datetime(2026, 8, 21, tzinfo=UTC))
    with Store(tmp_path / "relay.db") as store:
        learned = dedup.template([], feed_profile(store, feed.id))
        assert {"外務"} <= learned and not learned & {"ガーナ", "ウクライナ", "人材"}
        new, _ = ingest(feed, [entry], store, compile_taxonomy(builtin_topics(), tokenize),
                        datetime.now(UTC))
        assert new == 1
        sizes = [n for (n,) in store.conn.execute(
            "SELECT COUNT(*) FROM items GROUP BY story_id")]
    assert sizes == [1] * 15


GOVERNMENT = ("gov-online", "kanpo")   # the corpus's ministry and gazette feeds and pages


def test_no_false_merge_on_the_corpus_government_feeds(corpus, tmp_path):
    """The real set (benchmarks/quality/real): relay collects the whole corpus, and no pair
    of government items judged different by hand is in one story, nor is any pair of
    them merged without a judgment (a new merge there must be judged first)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "quality"))
    import real

    pairs, problems = real.load_judged(real.JUDGED)
    assert not problems
    db = tmp_path / "corpus.db"
    real.run_collect(corpus, db)
    sources, _config = real.read_corpus(corpus)
    result = real.measure(pairs, sources, real.Archive(db))

    def government(name: str) -> bool:
        return any(g in name for g in GOVERNMENT)

    false = [(p.a.title, p.b.title) for p in result.false_merges
             if government(p.a.file) and government(p.b.file)]
    assert false == []
    unjudged = [(a.title, b.title) for a, b in result.unjudged
                if government(a.feed_id) and government(b.feed_id)]
    assert unjudged == []
    tp, fp, _fn, _tn = result.counts["relay-story"]
    assert tp >= 60          # the stories relay used to form rightly are still formed


BAD_LINK = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
<link>https://www.example.com/</link><description>d</description>
<item><title>Good</title><link>https://www.example.com/good</link><description>fine</description></item>
<item><title>Bad link</title><link>http://[www.example.com/2017/01/07/x</link>
<description>undated, with a link that is no URL</description></item>
</channel></rss>"""


def test_a_malformed_link_harms_only_its_entry(tmp_path):
    """A link urljoin and urlsplit refuse ("http://[www..."): its feed is read, the link
    kept as written, and the other feeds of the run are stored."""
    (tmp_path / "bad.xml").write_text(BAD_LINK, encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text("settings: {database: relay.db}\nfeeds:\n"
                      f"  - {{id: bad, path: '{tmp_path / 'bad.xml'}',"
                      " base_url: 'https://www.example.com/'}\n"
                      f"  - {{id: notices, path: '{FIXTURES / 'ministry-notices.xml'}'}}\n",
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--all"])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(tmp_path / "relay.db")
    counts = dict(conn.execute("SELECT feed_id, COUNT(*) FROM items GROUP BY feed_id"))
    assert counts == {"bad": 2, "notices": 14}
    assert ("http://[www.example.com/2017/01/07/x",) in conn.execute(
        "SELECT url FROM items WHERE feed_id = 'bad'").fetchall()


def test_a_document_no_reader_expected_fails_alone(tmp_path, monkeypatch):
    """A defect met by one document (any exception of the parser) fails that feed with one
    line; the run goes on."""
    from relay.pipeline import collecting

    real = collecting.read_feed

    def reader(fetched, lang=None, max_entries=None):
        if fetched.feed_id == "bad":
            raise ValueError("a defect only this document meets")
        return real(fetched, lang, max_entries)

    monkeypatch.setattr(collecting, "read_feed", reader)
    (tmp_path / "bad.xml").write_text(BAD_LINK, encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text("settings: {database: relay.db, workers: 0}\nfeeds:\n"
                      f"  - {{id: bad, path: '{tmp_path / 'bad.xml'}'}}\n"
                      f"  - {{id: notices, path: '{FIXTURES / 'ministry-notices.xml'}'}}\n",
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--all", "--json"])
    assert result.exit_code == 1, result.output
    import json

    reports = {r["feed"]: r for r in json.loads(result.stdout)}
    assert "cannot read the document (ValueError" in reports["bad"]["error"]
    assert reports["notices"]["new"] == 14
