"""The archive is open to the tools that query SQLite (issue 11, point 4).

- Stable views (store.VIEWS) with documented columns, made by a migration and standing
  through every later one (even one that rebuilds a table they read); the internal
  tables (LSH bands, signatures, figures, name keys) are in none of them.
- Need-to-know: each row carries its feed's audience, so that a restricted feed's items
  can be filtered out; `relay sql` applies feeds.yaml as it is now.
- `relay sql` runs one read-only statement through sqlite-utils: --json (default),
  --csv, --table; a query that writes, one that is not valid, a missing archive: one
  line, exit 2, the archive untouched.
Real HTTP and SMTP on 127.0.0.1, the real CLI, the archive in a real SQLite file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_audience_in_force import ARTICLE, rss
from test_audience_in_force import CABLE as TALKS
from test_audience_in_force import WIRE as HARTFORD

from relay import store as store_module
from relay.cli import main
from relay.errors import QueryError
from relay.store import VIEWS, Store

CABLE = [TALKS]
WIRE = [HARTFORD, ARTICLE]

COLUMNS = {
    "archive_items": [
        "id", "feed_id", "feed_name", "feed_kind", "mission", "country", "audience",
        "restricted", "url", "title", "summary", "text", "lang", "published_at",
        "collected_at", "story_id", "topics"],
    "archive_story_sources": [
        "story_id", "story_first_seen_at", "item_id", "is_first", "feed_id", "feed_name",
        "mission", "country", "audience", "restricted", "url", "title", "lang",
        "published_at", "collected_at"],
    "archive_deliveries": [
        "id", "digest_id", "subscriber_id", "address", "period", "subject", "built_at",
        "since", "until", "stories", "status", "attempts", "next_try_at", "sent_at",
        "last_error", "message_id"],
}
INTERNAL = ["lsh_bands", "minhash", "figures", "name_keys", "content_hash", "url_key", "guid",
            "pending", "etag", "claimed_by"]


class Site:
    """Two feeds, one for the government group only, collected; a digest sent."""

    def __init__(self, tmp: Path, http_server, smtp_server) -> None:
        self.tmp = tmp
        self.db = tmp / "relay.db"
        self.config = tmp / "feeds.yaml"
        self.runner = CliRunner()
        self.cable = http_server.add("/cable.xml", rss("Cable", CABLE))
        self.wire = http_server.add("/wire.xml", rss("Wire", WIRE))
        self.smtp = smtp_server.url
        self.write(audience="    audience: [government]\n")

    def write(self, audience: str) -> None:
        self.config.write_text(f"""
settings:
  database: {self.db}
  smtp: {{url: "{self.smtp}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  - id: cable
    name: Cable
    url: {self.cable}
    lang: en
    allow_private: true
{audience}  - id: wire
    name: Wire
    url: {self.wire}
    lang: en
    allow_private: true
""", encoding="utf-8")

    def relay(self, *args: str):
        return self.runner.invoke(main, ["--config", str(self.config), *args])

    def sql(self, query: str, *args: str) -> list[dict]:
        result = self.relay("sql", query, *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def snapshot(self) -> bytes:
        return b"".join(p.read_bytes() for p in sorted(self.tmp.glob("relay.db*"))
                        if not p.name.endswith("-shm"))   # (readers mark their place there)


@pytest.fixture
def site(tmp_path, http_server, smtp_server) -> Site:
    s = Site(tmp_path, http_server, smtp_server)
    assert s.relay("collect").exit_code == 0
    assert s.relay("subscribe", "office@uni.example", "--topics", "quantum",
                   "--ui-lang", "en").exit_code == 0
    assert s.relay("digest", "build").exit_code == 0
    assert s.relay("digest", "send").exit_code == 0
    return s


# -- the views ----------------------------------------------------------------------------------


@pytest.mark.parametrize("view", sorted(COLUMNS))
def test_each_view_has_its_documented_columns(tmp_path, view):
    with Store(tmp_path / "a.db") as store:
        columns = [r[1] for r in store.conn.execute(f"PRAGMA table_info({view})")]
    assert columns == COLUMNS[view]


def test_the_views_are_the_documented_ones_and_the_readme_names_every_column():
    assert set(VIEWS) == set(COLUMNS)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for view, columns in COLUMNS.items():
        section = readme[readme.index(f"`{view}`"):]
        section = section[:section.index("\n\n")]
        for column in columns:
            assert f"`{column}`" in section, (view, column)


@pytest.mark.parametrize("name", INTERNAL)
def test_no_view_exposes_an_internal_table_or_column(tmp_path, name):
    with Store(tmp_path / "a.db") as store:
        for view in VIEWS:
            sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                     (view,)).fetchone()[0]
            assert name not in sql, view
            assert name not in [r[1] for r in store.conn.execute(f"PRAGMA table_info({view})")]


def test_a_restricted_feeds_items_carry_their_audience(site):
    rows = site.sql("SELECT feed_id, audience, restricted, topics FROM archive_items"
                    " ORDER BY id")
    assert {(r["feed_id"], r["audience"], r["restricted"]) for r in rows} == {
        ("cable", '["government"]', 1), ("wire", "[]", 0)}
    assert len(rows) == 3 and all("quantum" in json.loads(r["topics"]) for r in rows)
    public = site.sql("SELECT title FROM archive_items WHERE NOT restricted")
    assert sorted(r["title"] for r in public) == sorted(t for t, _, _ in WIRE)
    sources = site.sql("SELECT feed_id, audience, restricted FROM archive_story_sources")
    assert ("cable", '["government"]', 1) in {tuple(r.values()) for r in sources}
    # sqlite-utils and Datasette read the file itself: the same rows, as last collected
    with sqlite3.connect(site.db) as conn:
        stored = conn.execute("SELECT feed_id, audience FROM archive_items WHERE restricted"
                              ).fetchall()
    assert stored == [("cable", '["government"]')]


def test_relay_sql_applies_the_audience_in_force_without_writing(site):
    """An audience added in feeds.yaml holds for `relay sql` before any collect, as for
    every reader of the archive for someone; the file is not written."""
    site.write(audience="")
    assert site.sql("SELECT COUNT(*) AS n FROM archive_items WHERE restricted") == [{"n": 0}]
    site.write(audience="    audience: [government]\n")
    (site.tmp / "feeds.yaml").write_text(
        site.config.read_text(encoding="utf-8").replace(
            "  - id: wire\n", "  - id: wire\n    audience: [defence]\n"), encoding="utf-8")
    before = site.snapshot()
    rows = site.sql("SELECT DISTINCT feed_id, audience FROM archive_story_sources ORDER BY 1")
    assert rows == [{"feed_id": "cable", "audience": '["government"]'},
                    {"feed_id": "wire", "audience": '["defence"]'}]
    assert site.snapshot() == before


def test_deliveries_view_lists_each_sent_digest(site):
    rows = site.sql("SELECT address, status, attempts, stories, sent_at FROM archive_deliveries")
    assert len(rows) == 1
    row = rows[0]
    assert (row["address"], row["status"], row["attempts"]) == ("office@uni.example", "sent", 1)
    assert row["stories"] >= 1 and row["sent_at"]


def test_views_stand_through_a_later_migration_that_rebuilds_a_table(tmp_path, monkeypatch):
    """SQLite refuses to rename a table while a view reads a dropped one: a later
    migration that rebuilds `items` (as migration 13 did) must run, and the views be
    there after it, on the new table."""
    db = tmp_path / "a.db"
    with Store(db) as store:
        store.sync_feeds([])
        store.conn.execute("INSERT INTO feeds (id, name, url, kind, audience) VALUES"
                           " ('f', 'F', 'https://f.example/', 'rss', '[\"g\"]')")
        store.conn.execute(
            "INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang,"
            " published_at, collected_at, content_hash) VALUES (1, 'f', 'a', 'https://f/a',"
            " 'T', '', 'x', 'en', NULL, '2026-11-01T00:00:00Z', 'h')")

    def rebuild_items(conn: sqlite3.Connection) -> None:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()[0]
        conn.execute(re.sub(r'^CREATE TABLE "?items"?', "CREATE TABLE items_rebuilt", sql))
        conn.execute("INSERT INTO items_rebuilt SELECT * FROM items")
        conn.execute("DROP TABLE items")
        conn.execute("ALTER TABLE items_rebuilt RENAME TO items")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, rebuild_items])
    with Store(db) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(
            store_module.MIGRATIONS)
        assert store.conn.execute("SELECT id, audience, restricted FROM archive_items"
                                  ).fetchall() == [(1, '["g"]', 1)]
        views = {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert views == set(VIEWS)


def test_an_archive_from_before_the_views_gets_them(tmp_path):
    db = tmp_path / "old.db"
    with Store(db):
        pass
    conn = sqlite3.connect(db)
    for view in VIEWS:
        conn.execute(f"DROP VIEW {view}")
    conn.execute(f"PRAGMA user_version = {store_module.VIEWS_SINCE - 1}")
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'view'")} == set(VIEWS)


def test_the_views_stand_through_the_migrations_after_them_on_a_real_archive(tmp_path):
    """An archive as the relay that made the views left it (schema VIEWS_SINCE, items in
    it, no archive_meta yet) upgraded to this relay's schema (migration 20 drops the
    signatures for the next collect to sign again, later ones whatever they do): the views
    are there, read the items, and `relay sql` reads them."""
    db = tmp_path / "old.db"
    with Store(db) as store:
        store.sync_feeds([])
        store.conn.execute("INSERT INTO feeds (id, name, url, kind, audience) VALUES"
                           " ('f', 'F', 'https://f.example/', 'rss', '[]')")
        store.conn.execute(
            "INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang,"
            " published_at, collected_at, content_hash) VALUES (1, 'f', 'a', 'https://f/a',"
            " 'T', '', 'x', 'en', NULL, '2026-11-01T00:00:00Z', 'h')")
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE IF EXISTS archive_meta")
    conn.execute(f"PRAGMA user_version = {store_module.VIEWS_SINCE}")
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(
            store_module.MIGRATIONS)
        assert {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'view'")} == set(VIEWS)
        assert store.conn.execute("SELECT id, feed_id FROM archive_items").fetchall() == [
            (1, "f")]
        assert store.pending("sign-window")     # migration 20: signed again at collect
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database: {db}\nfeeds: []\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "sql",
                                       "SELECT COUNT(*) AS n FROM archive_items"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"n": 1}]


# -- relay sql ----------------------------------------------------------------------------------


def test_sql_writes_json_csv_and_a_table(site):
    query = "SELECT feed_id, COUNT(*) AS n FROM archive_items GROUP BY feed_id ORDER BY feed_id"
    expected = [{"feed_id": "cable", "n": 1}, {"feed_id": "wire", "n": 2}]
    assert site.sql(query) == expected
    assert site.sql(query, "--json") == expected
    out = site.relay("sql", query, "--csv")
    assert out.exit_code == 0
    assert list(csv.DictReader(io.StringIO(out.stdout))) == [
        {"feed_id": "cable", "n": "1"}, {"feed_id": "wire", "n": "2"}]
    table = site.relay("sql", query, "--table")
    assert table.exit_code == 0
    assert table.stdout.splitlines() == ["feed_id  n", "cable    1", "wire     2"]


def test_sql_takes_named_parameters_and_shows_blobs_as_base64(site):
    assert site.sql("SELECT title FROM archive_items WHERE feed_id = :f", "-p", "f", "cable"
                    ) == [{"title": CABLE[0][0]}]
    assert site.sql("SELECT x'00ff' AS b") == [{"b": {"$base64": True, "encoded": "AP8="}}]
    assert site.sql("SELECT 1 WHERE 0") == []


@pytest.mark.parametrize(("query", "says"), [
    ("DELETE FROM items", "does not only read (DELETE items)"),
    ("UPDATE feeds SET audience = '[]'", "does not only read (UPDATE feeds)"),
    ("INSERT INTO pending (task) VALUES ('x') RETURNING task", "(INSERT pending)"),
    ("DROP VIEW archive_items", "does not only read (a change of the schema)"),
    ("CREATE TEMP TABLE t (x)", "does not only read (a change of the schema)"),
    ("CREATE INDEX i ON items (title)", "does not only read (a change of the schema)"),
    ("ATTACH 'elsewhere.db' AS e", "does not only read (ATTACH elsewhere.db)"),
    ("VACUUM INTO 'copy.db'", "does not only read (ATTACH copy.db)"),
    ("BEGIN", "does not only read (TRANSACTION BEGIN)"),
    ("PRAGMA user_version = 3", "does not only read (PRAGMA user_version)"),
    ("SELEC 1", 'the query cannot run: near "SELEC": syntax error'),
    ("SELECT * FROM nowhere", "the query cannot run: no such table: nowhere"),
    ("SELECT 1; SELECT 2", "the query cannot run: You can only execute one statement"),
    ("SELECT :missing", "the query cannot run: You did not supply a value for binding parameter :missing"),
    ("  ", "the query is empty"),
])
def test_a_query_that_writes_or_cannot_run_is_one_line_and_exit_2(site, query, says):
    before = site.snapshot()
    result = site.relay("sql", query)
    assert result.exit_code == 2, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: ") and says in first
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert site.snapshot() == before
    assert not (site.tmp / "copy.db").exists() and not (site.tmp / "elsewhere.db").exists()


def test_reading_pragmas_and_the_schema_are_allowed(site):
    assert [r["name"] for r in site.sql("PRAGMA table_info(archive_deliveries)")] == COLUMNS[
        "archive_deliveries"]
    views = site.sql("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")
    assert [r["name"] for r in views] == sorted(VIEWS)


def test_sql_on_a_missing_archive_is_a_clear_error(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database: {tmp_path / 'none.db'}\nfeeds: []\n",
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "sql", "SELECT 1"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"Error: no archive here yet ({tmp_path / 'none.db'})"
    assert not (tmp_path / "none.db").exists()


def test_sql_runs_on_a_read_only_archive(site):
    site.db.chmod(0o444)
    try:
        assert site.sql("SELECT COUNT(*) AS n FROM archive_items") == [{"n": 3}]
        assert site.relay("sql", "DELETE FROM items").exit_code == 2
    finally:
        site.db.chmod(0o644)


def test_a_writable_store_still_refuses_a_query_that_writes_and_then_writes_itself(tmp_path):
    with Store(tmp_path / "a.db") as store:
        with pytest.raises(QueryError, match=r"does not only read \(INSERT pending\)"):
            store.query("INSERT INTO pending (task) VALUES ('x')")
        store.done("sign-window")       # the store's own statements are not refused
        store.conn.execute("INSERT INTO pending (task) VALUES ('y')")
        assert store.pending("y")


def test_rows_left_unread_are_dropped_quietly(tmp_path):
    """`relay sql ... | head`: the rows not taken go with the closed archive, no error."""
    with Store(tmp_path / "a.db") as store:
        columns, rows = store.query("SELECT 1 AS n UNION ALL SELECT 2")
        assert columns == ["n"] and next(rows) == (1,)
    rows.close()
