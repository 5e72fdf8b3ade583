"""Honest dates, end to end over tests/fixtures/honest-dates.rss in a real SQLite file: an
undated entry is stored with no date and shown as such; dates in Portuguese, Spanish,
Chinese and Korean are read; a feed's first collection never presents its undated or old
backlog as the period's news, and an undated item that arrives later is news when it
arrives; an archive of the old schema is migrated."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay import store as store_module
from relay.cli import main
from relay.config import load_config
from relay.digest.render import _date
from relay.digest.select import counts
from relay.models import Config, StoryRow
from relay.pipeline import build_digests, collect, make_subscriber
from relay.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "honest-dates.rss"
FIRST_COLLECT = datetime(2026, 8, 22, 0, 0, tzinfo=UTC)   # the feed's first collection
FIRST_DIGEST = datetime(2026, 8, 24, 0, 0, tzinfo=UTC)    # Monday 09:00 in Tokyo
LATER_COLLECT = datetime(2026, 8, 25, 0, 0, tzinfo=UTC)
LATER_DIGEST = datetime(2026, 8, 31, 0, 0, tzinfo=UTC)    # the next Monday

RECENT = {   # dated within the first digest's 14 days
    "Universidade anuncia centro de computação quântica": "2026-08-17T12:30:00Z",
    "El gobierno financia un laboratorio cuántico": "2026-08-19T08:00:00Z",
    "量子通信试验网开通": "2026-08-20T06:33:00Z",
    "양자 컴퓨터 연구소 개소": "2026-08-21T00:00:00Z",
}
OLD = {      # older than max_age_days
    "量子计算旧闻：研究所成立": "2017-01-06T16:00:00Z",
    "Old quantum sensing workshop announced": "2017-01-07T01:00:00Z",
    "Workshop de sensores quânticos em julho": "2026-07-01T11:00:00Z",
    "Quantum network pilot reported in the archive pages": "2017-01-07T00:00:00Z",
}
UNDATED = {
    "Undated backlog notice one: visa office hours change": None,
    "Undated backlog notice two: consular registration reminder": None,
}
LATE_TITLE = "New undated notice: the consulate moves to a new building"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    shutil.copy(FIXTURE, tmp_path / "mixed.rss")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  timezone: Asia/Tokyo
  database: {tmp_path / 'relay.db'}
  digests_dir: {tmp_path / 'digests'}
  smtp: {{url: "smtp://127.0.0.1:1", sender: "relay@example.org"}}
  digest: {{weekly: "mon 08:00", daily: "08:00", max_age_days: 14, max_per_topic: 20}}
  workers: 1
feeds:
  - id: mixed
    name: Mission news
    path: {tmp_path / 'mixed.rss'}
    kind: rss
    topics: [quantum]
""", encoding="utf-8")
    return config


def _collect(config: Config, now: datetime) -> None:
    with Store(config.settings.database) as store:
        reports = collect(config, store, now, everything=True)
    assert all(r.error is None for r in reports), reports


def _dates(config: Config) -> dict[str, str | None]:
    with sqlite3.connect(config.settings.database) as conn:
        return dict(conn.execute("SELECT title, published_at FROM items"))


def _digest(config: Config, now: datetime) -> str:
    with Store(config.settings.database) as store:
        results = build_digests(config, store, now)
    assert [r.status for r in results] == ["built"], results
    return Path(results[0].path).with_suffix(".txt").read_text(encoding="utf-8")


def _add_late_item(path: Path) -> None:
    text = path.read_text(encoding="utf-8").replace("</channel>", f"""<item>
  <title>{LATE_TITLE}</title>
  <link>https://mission.example/notice/3</link>
  <description>The consulate's quantum office moves to a new building on Monday.</description>
</item>
</channel>""")
    path.write_text(text, encoding="utf-8")


def test_dates_are_stored_as_the_source_gives_them(site):
    config = load_config(site)
    _collect(config, FIRST_COLLECT)
    assert _dates(config) == RECENT | OLD | UNDATED
    with sqlite3.connect(config.settings.database) as conn:
        seen = {r[0] for r in conn.execute("SELECT collected_at FROM items")}
        first = conn.execute("SELECT first_collected_at FROM feeds").fetchone()[0]
    assert seen == {"2026-08-22T00:00:00Z"} and first == "2026-08-22T00:00:00Z"


def test_show_export_and_search_say_a_date_is_unknown(site):
    config = load_config(site)
    _collect(config, FIRST_COLLECT)
    with sqlite3.connect(config.settings.database) as conn:
        undated = conn.execute("SELECT id FROM items WHERE published_at IS NULL"
                               " ORDER BY id").fetchone()[0]
        dated = conn.execute("SELECT id FROM items WHERE title LIKE 'El gobierno%'").fetchone()[0]
    run = CliRunner()
    shown = run.invoke(main, ["--config", str(site), "show", str(undated)])
    assert shown.exit_code == 0, shown.output
    assert "published: unknown (first seen 2026-08-22 09:00)" in shown.output
    assert "published: 2026-08-19 17:00" in run.invoke(
        main, ["--config", str(site), "show", str(dated)]).output

    rows = [json.loads(line) for line in run.invoke(
        main, ["--config", str(site), "export"]).output.splitlines()]
    by_title = {r["title"]: r for r in rows}
    for title in UNDATED:
        assert by_title[title]["published_at"] is None
        assert by_title[title]["collected_at"] == "2026-08-22T00:00:00Z"
    assert by_title["양자 컴퓨터 연구소 개소"]["published_at"] == "2026-08-21T00:00:00Z"

    found = run.invoke(main, ["--config", str(site), "search", "visa", "--format", "json"])
    hit = json.loads(found.output)[0]
    assert hit["published_at"] is None and hit["collected_at"] == "2026-08-22T00:00:00Z"
    table = run.invoke(main, ["--config", str(site), "search", "visa"]).output
    assert "unknown; seen 2026-08-22 09:00" in table
    feeds = json.loads(run.invoke(main, ["--config", str(site), "feeds", "--json"]).output)
    assert feeds[0]["newest_item_at"] == "2026-08-22T00:00:00Z"   # the undated, first seen


def test_a_first_digest_shows_neither_undated_backlog_nor_old_items(site):
    config = load_config(site)
    _collect(config, FIRST_COLLECT)
    with Store(config.settings.database) as store:
        store.upsert_subscriber(make_subscriber(config, "desk@example.org", ["quantum"],
                                                ui_lang="en"), FIRST_COLLECT)
    text = _digest(config, FIRST_DIGEST)
    for title in RECENT:
        assert title in text
    for title in [*OLD, *UNDATED]:
        assert title not in text

    # A later collect brings a new undated item: it is news when it arrives (first seen).
    _add_late_item(Path(config.feeds[0].path or ""))
    _collect(config, LATER_COLLECT)
    assert _dates(config)[LATE_TITLE] is None
    later = _digest(config, LATER_DIGEST)
    assert LATE_TITLE in later
    assert "undated (first seen 25 Aug 2026, 09:00)" in later
    for title in [*RECENT, *OLD, *UNDATED]:
        assert title not in later   # shown before, or never news


def test_topic_feeds_leave_out_the_undated_backlog(site):
    config = load_config(site)
    _collect(config, FIRST_COLLECT)
    with Store(config.settings.database) as store:
        build_digests(config, store, FIRST_DIGEST)   # no subscriber: writes the topic feeds
    atom = (config.settings.digests_dir / "feeds" / "quantum.xml").read_text(encoding="utf-8")
    for title in RECENT:
        assert title in atom
    for title in [*OLD, *UNDATED]:
        assert title not in atom


# -- the migration ------------------------------------------------------------------------------


def test_an_archive_of_the_old_schema_is_migrated(tmp_path):
    """Items made before the honest-dates migration (published_at NOT NULL, the collection
    time given to undated entries), with a column a migration appended: every column,
    index, id and index row stays; the invented dates go."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    ours = next(i for i, m in enumerate(store_module.MIGRATIONS) if callable(m))
    for number, script in enumerate(store_module.MIGRATIONS[:ours], start=1):
        assert isinstance(script, str)
        conn.executescript(script + f"; PRAGMA user_version = {number};")
    conn.executescript("""
        ALTER TABLE items ADD COLUMN link TEXT;
        CREATE INDEX items_link ON items(link);
        INSERT INTO feeds (id, name, url, kind) VALUES ('f', 'F', 'https://f.example/', 'rss');
        INSERT INTO stories (id, first_item_id, first_seen_at, item_count)
          VALUES (1, 7, '2026-08-01T00:00:00Z', 2);
        INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang, published_at,
          collected_at, content_hash, story_id, link) VALUES
          (7, 'f', 'a', 'https://f.example/a', 'Undated', '', 'undated text', 'en',
           '2026-08-01T00:00:00Z', '2026-08-01T00:00:00Z', 'h1', 1, 'https://www.f.example/a'),
          (9, 'f', 'b', 'https://f.example/b', 'Dated', '', 'dated text', 'en',
           '2026-07-30T10:00:00Z', '2026-08-02T00:00:00Z', 'h2', 1, 'https://www.f.example/b');
        INSERT INTO item_tags (item_id, topic, score, terms) VALUES (7, 'quantum', 1.0, '[]');
        INSERT INTO items_fts (rowid, title, body) VALUES (7, 'undated', 'undated text'),
          (9, 'dated', 'dated text');
    """)
    conn.commit()
    indexes = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'")}
    conn.close()

    with Store(db) as store:
        c = store.conn
        assert c.execute("PRAGMA user_version").fetchone()[0] == len(store_module.MIGRATIONS)
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not c.execute("PRAGMA foreign_key_check").fetchall()
        columns = {r[1]: r[3] for r in c.execute("PRAGMA table_info(items)")}   # name: notnull
        assert columns["published_at"] == 0 and columns["collected_at"] == 1
        assert "link" in columns
        assert indexes <= {r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'")}
        rows = c.execute("SELECT id, published_at, link FROM items ORDER BY id").fetchall()
        assert rows == [(7, None, "https://www.f.example/a"),
                        (9, "2026-07-30T10:00:00Z", "https://www.f.example/b")]
        assert c.execute("SELECT i.title FROM items_fts JOIN items i ON i.id = items_fts.rowid"
                         " WHERE items_fts MATCH 'undated'").fetchall() == [("Undated",)]
        assert c.execute("SELECT first_collected_at FROM feeds").fetchone()[0] == (
            "2026-08-01T00:00:00Z")
        assert store.item(7).tags[0].topic == "quantum"
        with pytest.raises(sqlite3.IntegrityError):   # foreign keys are enforced again
            c.execute("INSERT INTO item_tags (item_id, topic, score, terms)"
                      " VALUES (999, 'x', 1, '[]')")


# -- the window rule (pure) ---------------------------------------------------------------------

SINCE, UNTIL = datetime(2026, 8, 17, tzinfo=UTC), datetime(2026, 8, 24, tzinfo=UTC)
OLDEST = datetime(2026, 8, 10, tzinfo=UTC)          # UNTIL - max_age_days (14)


def _at(day: int) -> datetime:
    return datetime(2026, 8, day, 12, tzinfo=UTC)


COUNTS = [
    # (id, published, first seen, backlog, counts in (SINCE, UNTIL])
    ("new-dated", _at(20), _at(20), False, True),
    ("new-undated", None, _at(20), False, True),
    ("late-arrival-within-max-age", _at(12), _at(20), False, True),
    ("late-arrival-older-than-max-age", _at(1), _at(20), False, False),
    ("seen-before-the-window", _at(16), _at(16), False, False),
    ("seen-after-the-window", _at(23), _at(25), False, False),
    ("backlog-dated-in-the-window", _at(18), _at(20), True, True),
    ("backlog-dated-before-the-window", _at(12), _at(20), True, False),
    ("backlog-undated", None, _at(20), True, False),
    ("backlog-future-date-counts-when-it-comes", _at(22), _at(16), True, True),
    ("backlog-seen-after-the-window", _at(22), _at(25), True, False),
]


@pytest.mark.parametrize(("published", "seen", "backlog", "expected"),
                         [pytest.param(p, s, b, e, id=i) for i, p, s, b, e in COUNTS])
def test_which_items_are_the_windows_news(published, seen, backlog, expected):
    row = StoryRow(id=1, story_id=1, feed_id="f", feed_name="F", feed_kind="rss", mission=None,
                   country=None, url="https://f/1", title="t", summary="", lang="en",
                   published_at=published, collected_at=seen, backlog=backlog)
    assert counts(row, SINCE, UNTIL, OLDEST) is expected


@pytest.mark.parametrize(("published", "lang", "shown"), [
    pytest.param(datetime(2026, 8, 19, 8, tzinfo=UTC), "en", "19 Aug 2026, 17:00", id="en-dated"),
    pytest.param(None, "en", "undated (first seen 25 Aug 2026, 09:00)", id="en-undated"),
    pytest.param(datetime(2026, 8, 19, 8, tzinfo=UTC), "ja", "2026年8月19日 17:00", id="ja-dated"),
    pytest.param(None, "ja", "日付不明（2026年8月25日 09:00取得）", id="ja-undated"),
])
def test_a_digest_says_an_item_is_undated(published, lang, shown):
    assert _date(published, LATER_COLLECT, "Asia/Tokyo", lang) == shown
