"""The archive: schema, migrations and every SQL statement of relay.

One SQLite file in WAL mode, opened through sqlite-utils. Migrations are an
append-only list applied in order and recorded in `PRAGMA user_version`.
Times are stored as UTC ISO 8601 strings (`2026-11-28T13:02:21Z`), which sort
as text. Writes that belong together are one transaction (`with
store.transaction():`): an item is stored with its tags, bands, story and
index rows, or not at all; a digest with its delivery, or not at all.
Nothing outside this module speaks SQL, nor meets an sqlite3 exception: every public
method of the Store translates what SQLite raised, while it runs or while its rows are
read (`translate`, applied by `_translating`): a failure of the file or its disk (full,
read-only, locked, damaged) or a statement the archive cannot run is a StoreError with a
hint, a value or constraint it refuses a RefusedError, a search expression FTS5 cannot
read a QueryError. The commands that only read open a read-only Store.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from types import FunctionType, GeneratorType
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from relay.errors import LockedError, QueryError, RefusedError, StoreError
from relay.models import (
    EARLIEST,
    ArchiveStatus,
    Delivery,
    DeliveryStatus,
    DigestFailure,
    FailingFeed,
    FeedSpec,
    FeedState,
    Frequency,
    Item,
    ItemView,
    SearchHit,
    StoryRow,
    StoryView,
    Subscriber,
    Tag,
)
from relay.records import (  # noqa: F401  - re-exported: the archive's value rules
    ARCHIVE_ERRORS,
    NOBODY,
    OLD_KEY,
    SYSTEM_ERRORS,
    audience_key,
    from_ts,
    governing,
    old_key,
    ts,
)

if TYPE_CHECKING:
    import sqlite_utils

Migration = str | Callable[[sqlite3.Connection], None]   # SQL, or a step that reads the schema
log = logging.getLogger("relay")
_T = TypeVar("_T")

# The archive's stable, documented face for the tools people query SQLite with (`relay
# sql`, sqlite-utils, Datasette): their names and columns are kept from one relay to the
# next, while the tables under them are relay's own and change with its migrations (the
# LSH bands, signatures, figures and name keys, link keys and hashes are left out).
# `audience` is the item's feed's groups as JSON ("[]": everyone; '["!unconfigured"]':
# a feed no longer configured, nobody's) and `restricted` is 1 when it is not everyone's:
# need-to-know, so that whoever publishes from a view can filter. A story may mix
# restricted and public sources, so stories are one row per source (filter, then group
# by story_id). Changing a view takes a migration (any: the views are made again after
# each one).
VIEWS: dict[str, str] = {
    "archive_items": (
        "SELECT i.id, i.feed_id, f.name AS feed_name, f.kind AS feed_kind, f.mission,"
        " f.country, f.audience, f.audience != '[]' AS restricted, i.url, i.title, i.summary,"
        " i.text, i.lang, i.published_at, i.collected_at, i.story_id,"
        " (SELECT json_group_array(topic) FROM (SELECT topic FROM item_tags"
        "  WHERE item_id = i.id ORDER BY score DESC, topic)) AS topics"
        " FROM items i JOIN feeds f ON f.id = i.feed_id"),
    "archive_story_sources": (
        "SELECT i.story_id, s.first_seen_at AS story_first_seen_at, i.id AS item_id,"
        " i.id = s.first_item_id AS is_first, i.feed_id, f.name AS feed_name, f.mission,"
        " f.country, f.audience, f.audience != '[]' AS restricted, i.url, i.title, i.lang,"
        " i.published_at, i.collected_at"
        " FROM items i JOIN stories s ON s.id = i.story_id JOIN feeds f ON f.id = i.feed_id"),
    "archive_deliveries": (
        "SELECT d.id, d.digest_id, g.subscriber_id, d.address, g.period, g.subject,"
        " g.created_at AS built_at, g.since, g.until, json_array_length(g.story_ids) AS stories,"
        " d.status, d.attempts, d.next_try_at, d.sent_at, d.last_error, d.message_id"
        " FROM deliveries d JOIN digests g ON g.id = d.digest_id"),
}


def _views_db(conn: sqlite3.Connection) -> sqlite_utils.Database:
    import sqlite_utils  # (a migration's, and `relay sql`'s: not every command's start)
    return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)


def make_views(conn: sqlite3.Connection) -> None:
    """Create VIEWS (each one replaced when its definition changed), through sqlite-utils."""
    db = _views_db(conn)
    for name, sql in VIEWS.items():
        db.create_view(name, sql, replace=True)


def drop_views(conn: sqlite3.Connection) -> None:
    """Drop VIEWS: a migration that rebuilds a table they read fails while they stand
    (SQLite checks every view when a table is renamed)."""
    db = _views_db(conn)
    for name in set(db.view_names()) & VIEWS.keys():
        db[name].drop()


MIGRATIONS: list[Migration] = [
    # 1: the first schema
    """
    CREATE TABLE feeds (
        id TEXT PRIMARY KEY, name TEXT, url TEXT, kind TEXT, mission TEXT, country TEXT,
        lang TEXT, etag TEXT, last_modified TEXT, next_fetch_at TEXT, last_ok_at TEXT,
        last_attempt_at TEXT, error_count INTEGER NOT NULL DEFAULT 0, last_error TEXT,
        disabled_reason TEXT
    );
    CREATE TABLE stories (
        id INTEGER PRIMARY KEY, first_item_id INTEGER, first_seen_at TEXT NOT NULL,
        item_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE items (
        id INTEGER PRIMARY KEY, feed_id TEXT NOT NULL REFERENCES feeds(id), guid TEXT NOT NULL,
        url TEXT NOT NULL, title TEXT NOT NULL, summary TEXT NOT NULL, text TEXT NOT NULL,
        lang TEXT NOT NULL, published_at TEXT NOT NULL, collected_at TEXT NOT NULL,
        content_hash TEXT NOT NULL, story_id INTEGER REFERENCES stories(id), minhash BLOB,
        UNIQUE (feed_id, guid)
    );
    CREATE INDEX items_url ON items(url);
    CREATE INDEX items_hash ON items(content_hash);
    CREATE INDEX items_collected ON items(collected_at);
    CREATE INDEX items_published ON items(published_at);
    CREATE INDEX items_story ON items(story_id);
    CREATE TABLE item_tags (
        item_id INTEGER NOT NULL REFERENCES items(id), topic TEXT NOT NULL, score REAL NOT NULL,
        terms TEXT NOT NULL, PRIMARY KEY (item_id, topic)
    );
    CREATE INDEX item_tags_topic ON item_tags(topic, item_id);
    CREATE TABLE lsh_bands (band INTEGER NOT NULL, hash INTEGER NOT NULL, item_id INTEGER NOT NULL);
    CREATE INDEX lsh_bands_key ON lsh_bands(band, hash);
    CREATE VIRTUAL TABLE items_fts USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2');
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
        org TEXT NOT NULL DEFAULT '', topics TEXT NOT NULL, langs TEXT NOT NULL DEFAULT '[]',
        missions TEXT NOT NULL DEFAULT '[]', frequency TEXT NOT NULL, ui_lang TEXT NOT NULL,
        token TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1, last_digest_at TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY, subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
        period TEXT NOT NULL, created_at TEXT NOT NULL, since TEXT NOT NULL, until TEXT NOT NULL,
        subject TEXT NOT NULL, paths TEXT NOT NULL, story_ids TEXT NOT NULL,
        UNIQUE (subscriber_id, period)
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, digest_id INTEGER NOT NULL UNIQUE REFERENCES digests(id),
        address TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT, message_id TEXT NOT NULL, eml_path TEXT NOT NULL, last_error TEXT,
        sent_at TEXT
    );
    CREATE INDEX deliveries_status ON deliveries(status, next_try_at);
    """,
    # 2: where a feed moved (301/308), and the last HTTP status
    """
    ALTER TABLE feeds ADD COLUMN moved_to TEXT;
    ALTER TABLE feeds ADD COLUMN last_status INTEGER;
    """,
    # 3: a sender claims a delivery before handing it to SMTP (two senders never both send)
    """
    ALTER TABLE deliveries ADD COLUMN claimed_at TEXT;
    ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
    """,
    # 4: signatures of 126 permutations in 42 bands of 3 rows (were 128 in 32 of 4): the
    # old ones cannot be compared with the new, so recent items stop being candidates
    """
    DELETE FROM lsh_bands;
    UPDATE items SET minhash = NULL;
    """,
    # 5: bands are only needed inside the story window: pruned by item id range
    """
    CREATE INDEX lsh_bands_item ON lsh_bands(item_id);
    """,
    # 6: the figures of recent items, to find the same event told in another language
    """
    CREATE TABLE figures (value TEXT NOT NULL, item_id INTEGER NOT NULL);
    CREATE INDEX figures_value ON figures(value);
    CREATE INDEX figures_item ON figures(item_id);
    """,
    # 7: need-to-know: a feed's audience (subscriber groups), a subscriber's groups
    """
    ALTER TABLE feeds ADD COLUMN audience TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE subscribers ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
    """,
    # 8: a subscriber may follow some countries only
    """
    ALTER TABLE subscribers ADD COLUMN countries TEXT NOT NULL DEFAULT '[]';
    """,
    # 9: MinHash features hashed with CRC-32 (were SHA-1: 10x the cost, the same
    # quality on benchmarks/quality). Old signatures cannot meet new ones: they are
    # dropped, and the next collect signs the story window again from the indexed
    # tokens (`pending` says so).
    """
    CREATE TABLE pending (task TEXT PRIMARY KEY);
    DELETE FROM lsh_bands;
    UPDATE items SET minhash = NULL WHERE minhash IS NOT NULL;
    INSERT INTO pending (task) VALUES ('sign-window');
    """,
    # 10: a feed whose last document was broken and only partly read, and why
    """
    ALTER TABLE feeds ADD COLUMN partial TEXT;
    """,
    # 11: links as published (issue 9): `url` is now the entry's link as the source gave it,
    # and `url_key` (text.url_key) the duplicate key. An old row's url (the old canonical
    # form) is all that is known of its link: it stays the link, serves as its key until
    # the next collect computes the new key from it (`pending`: url-key).
    """
    ALTER TABLE items ADD COLUMN url_key TEXT NOT NULL DEFAULT '';
    UPDATE items SET url_key = url;
    DROP INDEX IF EXISTS items_url;
    CREATE INDEX items_url_key ON items(url_key);
    INSERT OR IGNORE INTO pending (task) VALUES ('url-key');
    """,
    # 12: story signatures leave out dates and what a feed repeats in every item (its
    # template): the window is signed again with the new features; a feed's latest
    # items are read to learn its template
    """
    CREATE INDEX IF NOT EXISTS items_feed ON items(feed_id, id);
    DELETE FROM lsh_bands;
    UPDATE items SET minhash = NULL WHERE minhash IS NOT NULL;
    INSERT OR IGNORE INTO pending (task) VALUES ('sign-window');
    """,
    # 13: honest dates: an item the source gave no date has none (published_at NULL; it
    # was given the collection time, so a row whose published_at is its collected_at is
    # one of those), and a feed remembers its first collection (its backlog)
    lambda conn: _published_nullable(conn),
    # 14: the languages the archive holds (`languages`, what search stems a word as) are
    # read from an index in a step per language, not a scan of every item
    """
    CREATE INDEX IF NOT EXISTS items_lang ON items(lang);
    """,
    # 15: dates relay does not keep (issue 10: `models.kept_date`) are no date. A source's
    # year 1 was stored as '1-01-01T00:00:00Z', which no command could read back; a value
    # that is not a stored time (SQLite writes it back otherwise: '2026-02-30' is 03-02),
    # one before 1970 or from the year 9999, and one more than a day after the item was
    # first seen go too. The item keeps collected_at, when relay first saw it.
    """
    UPDATE items SET published_at = NULL WHERE published_at IS NOT NULL AND (
        published_at IS NOT strftime('%Y-%m-%dT%H:%M:%SZ', published_at, '+0 seconds')
        OR published_at < '1970-01-01T00:00:00Z' OR published_at >= '9999-01-01T00:00:00Z'
        OR published_at > strftime('%Y-%m-%dT%H:%M:%SZ', collected_at, '+1 day'));
    """,
    # 16: a feed's last collect: the stage it failed at (fetch, parse, store), and how many
    # entries it left out (unreadable), cut to a cap (title, summary) or took not (over
    # settings.limits.max_entries)
    lambda conn: _add_columns(conn, "feeds", {
        "error_stage": "TEXT", "skipped": "INTEGER NOT NULL DEFAULT 0",
        "trimmed": "INTEGER NOT NULL DEFAULT 0", "over_cap": "INTEGER NOT NULL DEFAULT 0"}),
    # 17: a subscriber whose digest could not be built or sent: the last failure, by
    # address and stage (build | send), until a digest of theirs succeeds (`relay status`)
    """
    CREATE TABLE IF NOT EXISTS digest_failures (
        address TEXT PRIMARY KEY, stage TEXT NOT NULL, period TEXT NOT NULL,
        error TEXT NOT NULL, at TEXT NOT NULL
    );
    """,
    # 18: the names of recent items (dedup.name_keys), to find the same event told in
    # another language when the reports share no figure; ja: the item is Japanese, so that
    # a lookup across languages reads the other side of the index only; the rows are
    # that index (WITHOUT ROWID: one b-tree less to write per name)
    """
    CREATE TABLE IF NOT EXISTS name_keys (value TEXT NOT NULL, ja INTEGER NOT NULL DEFAULT 0,
                                          item_id INTEGER NOT NULL,
                                          PRIMARY KEY (value, ja, item_id)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS name_keys_item ON name_keys(item_id);
    """,
    # 19: the archive's stable face for the tools that query SQLite (VIEWS): made by the
    # step below, and again after every later migration (see Store._migrate_one)
    make_views,
    # 20: the MinHash scheme the signatures were made with (dedup.SCHEME), recorded in
    # archive_meta. Before it was recorded, a signature may be datasketch 1.x's (its
    # default changed in 2.0, and relay's `datasketch>=1.6` took either): the signatures
    # are dropped and the next collect signs the story window again in relay's own scheme.
    """
    CREATE TABLE IF NOT EXISTS archive_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    DELETE FROM lsh_bands;
    UPDATE items SET minhash = NULL WHERE minhash IS NOT NULL;
    INSERT OR IGNORE INTO pending (task) VALUES ('sign-window');
    """,
    # 21: search finds its page before it joins (issue 12): a listing without words walks
    # the items newest first along items_when, reading the feed and language filters from
    # it (the expression is search's `_WHEN`, written the same way)
    """
    CREATE INDEX IF NOT EXISTS items_when ON items(
        COALESCE(published_at, collected_at), id, feed_id, lang);
    """,
]
VIEWS_SINCE = MIGRATIONS.index(make_views) + 1   # the schema version that made VIEWS


def _add_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    """Add the columns a table lacks (an archive may have some: a migration replayed)."""
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")



def _published_nullable(conn: sqlite3.Connection) -> None:
    """Migration 13: items.published_at loses NOT NULL. SQLite cannot drop a constraint,
    so the table is rebuilt from its own current CREATE statement (every column and
    constraint other migrations gave it stays, whatever they are), rows copied with their
    ids (items_fts is keyed by rowid = items.id), its indexes made again."""
    table_sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'").fetchone()[0]
    indexes = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'"
        " AND sql IS NOT NULL")]
    new_sql, n = re.subn(r"\bpublished_at\s+TEXT\s+NOT\s+NULL", "published_at TEXT",
                         table_sql, flags=re.IGNORECASE)
    if n:
        new_sql = re.sub(r"^CREATE TABLE\s+(\"?)items\1", "CREATE TABLE items_rebuilt", new_sql,
                         flags=re.IGNORECASE)
        # (foreign keys are off while migrating: item_tags references items)
        conn.execute(new_sql)
        conn.execute("INSERT INTO items_rebuilt SELECT * FROM items")
        before, after = (conn.execute(f"SELECT COUNT(*), COALESCE(SUM(id), 0) FROM {t}").fetchone()
                         for t in ("items", "items_rebuilt"))
        if before != after:
            raise sqlite3.DatabaseError(f"items rebuilt with {after} (count, id sum), not {before}")
        conn.execute("DROP TABLE items")
        conn.execute("ALTER TABLE items_rebuilt RENAME TO items")
        for sql in indexes:
            conn.execute(sql)
    conn.execute("UPDATE items SET published_at = NULL WHERE published_at = collected_at")
    if "first_collected_at" not in {r[1] for r in conn.execute("PRAGMA table_info(feeds)")}:
        conn.execute("ALTER TABLE feeds ADD COLUMN first_collected_at TEXT")
    conn.execute("UPDATE feeds SET first_collected_at = (SELECT MIN(collected_at) FROM items"
                 " WHERE feed_id = feeds.id) WHERE first_collected_at IS NULL")


def _groups(key: str | None) -> set[str]:
    return set(json.loads(key or "[]"))


MAX_STORY_ITEMS = 1000   # the items `story` shows of one story (a story has a few)
MAX_CANDIDATES = 200   # bounds the per-item cost when a band is shared by very many items


def ts_or_none(dt: datetime | None) -> str | None:
    return ts(dt) if dt is not None else None


# When an item happened, as search orders and filters by it: an undated item when first seen
# (the expression items_when indexes; written the same way, so that SQLite uses it).
_WHEN = "COALESCE(i.published_at, i.collected_at)"
_BM25 = "bm25(3.0, 1.0)"   # search's rank: a title word counts 3x a body word
# A query matching more items than this is ranked among its newest this many (see _ranked).
RANK_WINDOW = 5_000
FEW_ITEMS = 50_000   # a filter leaving fewer items than this is checked from a set of them


def _item_filters(feed_ids: list[str] | None, langs: Sequence[str], topics: Sequence[str],
                  story: int | None, since: datetime | None,
                  until: datetime | None) -> tuple[list[str], list[Any]]:
    """search's filters as conditions on an item `i` (ANDed), with their parameters."""
    cond: list[str] = []
    params: list[Any] = []
    if story is not None:
        cond.append("i.story_id = ?")
        params.append(story)
    for column, values in (("i.feed_id", feed_ids or ()), ("i.lang", langs)):
        if values:
            cond.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    if topics:
        cond.append("EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = i.id AND t.topic IN"
                    f" ({','.join('?' * len(topics))}))")
        params.extend(topics)
    if since:
        cond.append(f"{_WHEN} >= ?")
        params.append(ts(since))
    if until:
        cond.append(f"{_WHEN} < ?")
        params.append(ts(until))
    return cond, params


def _no_unreadable_dates(rows: list[dict[str, Any]]) -> None:
    """Item rows as commands show them (show, search, export): a stored published_at that
    cannot be read is no date, as the digests take it."""
    for r in rows:
        if r["published_at"] and from_ts(r["published_at"]) is None:
            r["published_at"] = None


def _dt(text: str) -> datetime:
    """A stored time that is never NULL (collected_at); one that cannot be read is the
    earliest date relay keeps, never an error."""
    return from_ts(text) or EARLIEST


BUSY_TIMEOUT = 30.0   # seconds a writer waits for another's write transaction, then fails

# SQLite's failures of the system (primary result codes), as relay says them: the class,
# what happened and the hint ({path}: the archive, {folder}: its folder). Any other error
# (a constraint, a misuse) is a defect and is not translated.
_FAILURES: dict[int, tuple[type[StoreError], str, str]] = {
    sqlite3.SQLITE_FULL: (
        StoreError, "the disk is full: the archive cannot grow",
        "free space on the disk that holds {folder}, or move the archive elsewhere "
        "(settings.database or --db)"),
    sqlite3.SQLITE_READONLY: (
        StoreError, "the archive is read-only",
        "make {path} and its folder writable for the user that runs relay; the commands "
        "that only read (status, feeds, search, show, export, subscribers, digest preview) "
        "work on a read-only archive"),
    sqlite3.SQLITE_BUSY: (
        LockedError, "the archive is locked: another relay process is writing to it",
        "wait for it to finish (a collect or a digest build) and try again"),
    sqlite3.SQLITE_LOCKED: (
        LockedError, "the archive is locked: another relay process is writing to it",
        "wait for it to finish (a collect or a digest build) and try again"),
    sqlite3.SQLITE_CORRUPT: (
        StoreError, "the archive is damaged (its SQLite file is corrupt)",
        "restore {path} from a backup (`sqlite3 ARCHIVE .recover` may save what is left)"),
    sqlite3.SQLITE_NOTADB: (
        StoreError, "this file is not an SQLite archive",
        "check --db / settings.database: it must name relay's archive"),
    sqlite3.SQLITE_CANTOPEN: (
        StoreError, "the archive cannot be opened",
        "check that {path} and its folder exist and that this user may read them"),
    sqlite3.SQLITE_PERM: (
        StoreError, "the archive may not be opened for writing",
        "check the permissions of {path} and its folder"),
    sqlite3.SQLITE_IOERR: (
        StoreError, "the disk failed to read or write the archive",
        "check the disk that holds {folder} (full, removed, failing?)"),
}


_NO_SHARED_MEMORY = ("SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT", "SQLITE_CANTOPEN")


def store_error(exc: BaseException, path: Path | str) -> StoreError | None:
    """The relay error for a failure of the archive's file or disk (full, read-only,
    locked, damaged, not a database, unreadable), naming the archive and with a hint; None
    for an error that is a defect of relay (a constraint, a misuse), kept as it is."""
    if isinstance(exc, StoreError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    if getattr(exc, "sqlite_errorname", "") in _NO_SHARED_MEMORY[:2]:
        # (a reader that cannot make the WAL's shared-memory file beside the archive)
        kind, what, hint = StoreError, "the archive's folder is read-only", (
            "make the folder of {path} writable, or run a command that only reads")
    elif code & 0xFF in _FAILURES:
        kind, what, hint = _FAILURES[code & 0xFF]
    else:
        return None
    folder = Path(path).parent
    return kind(f"{what} ({exc})", where=str(path),
                hint=hint.format(path=path, folder=folder))


def translate(exc: sqlite3.Error, path: Path | str) -> StoreError | RefusedError:
    """The relay error, with a hint, for any error SQLite raised: a failure of the file or
    its disk (store_error); a statement the archive cannot run (its schema is not this
    relay's, or relay has a defect: every later statement would meet it too) a
    StoreError; a value or a constraint it refuses (one record's) a RefusedError."""
    failure = store_error(exc, path)
    if failure is not None:
        return failure
    said = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, sqlite3.OperationalError):
        return StoreError(f"the archive cannot run a statement of relay's ({said})",
                          where=str(path), hint="its schema may not be this relay's (was it "
                          "changed by hand?); otherwise this is relay's defect: -v shows "
                          "where, and a report of it is welcome")
    return RefusedError(f"the archive refused what relay gave it ({said})", where=str(path),
                        hint="relay's defect, or one record's: -v shows where, and a report "
                        "of it is welcome")


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _translated(method: _Method) -> _Method:
    """`method` of the Store with every SQLite error it meets translated (`translate`),
    those met later too: while a generator it returned is read, or when a context
    manager it returned (a transaction) ends."""
    @functools.wraps(method)
    def call(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from exc
        if isinstance(result, GeneratorType):
            return _TranslatedRows(result, self.path)
        if isinstance(result, AbstractContextManager):
            return _TranslatedBlock(result, self.path)
        return result
    return cast(_Method, call)


class _TranslatedRows(Iterator[Any]):
    def __init__(self, rows: Generator[Any, None, None], path: Path) -> None:
        self.rows, self.path = rows, path

    def __next__(self) -> Any:
        try:
            return next(self.rows)
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from exc

    def close(self) -> None:
        self.rows.close()


class _TranslatedBlock(AbstractContextManager[Any]):
    def __init__(self, block: AbstractContextManager[Any], path: Path) -> None:
        self.block, self.path = block, path

    def __enter__(self) -> Any:
        try:
            return self.block.__enter__()
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from exc

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool | None:
        try:
            swallowed = self.block.__exit__(kind, exc, tb)
        except sqlite3.Error as error:      # (a COMMIT the disk refused)
            raise translate(error, self.path) from error
        if not swallowed and isinstance(exc, sqlite3.Error):    # met within the block
            raise translate(exc, self.path) from exc
        return swallowed


def _translating(cls: type[_T]) -> type[_T]:
    """The one boundary where SQLite's errors become relay's: every public method of the
    Store (`_translated`). Inside, the store sees SQLite's own errors; outside, nothing
    meets an sqlite3 exception."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and isinstance(member, FunctionType):
            setattr(cls, name, _translated(member))
    return cls


def _connect(target: str, busy_timeout: float, uri: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(target, timeout=busy_timeout, isolation_level=None,
                           check_same_thread=False, uri=uri)


@_translating
class Store:
    """The open archive. Use as a context manager, or call close().

    `readonly=True` (the commands that only read) opens the file with SQLite's
    `mode=ro`: nothing can write it, and no migration runs: an archive of an older
    schema is refused with a hint to run a command that writes (an upgraded relay's
    queries need the new schema). In a read-only folder with no WAL file beside the
    archive, nothing can be writing it, and it is read as `immutable`. A read-only
    store keeps what `sync_feeds` says in a temporary copy of the feeds table, so that
    readers see the configuration in force without writing the archive.
    A writer waits up to `busy_timeout` seconds for another's write transaction, then
    fails with LockedError."""

    def __init__(self, path: Path, *, readonly: bool = False,
                 busy_timeout: float | None = None) -> None:
        self.path = path
        self.readonly = readonly
        self._depth = 0
        self._shadowed = False
        timeout = BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        conn: sqlite3.Connection | None = None
        try:
            if readonly:
                conn = self._open_readonly(timeout)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = _connect(str(path), timeout)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=NORMAL")
            self.conn = conn
            # 64 MB of page cache (the default is 2 MB): the LSH band index takes random
            # inserts, and a window of 20,000 items inserts its bands in 185 us, not 281.
            conn.execute("PRAGMA cache_size=-65536")
            # as sqlite-utils sets a connection it wraps (relay's was, from the start)
            conn.execute("PRAGMA recursive_triggers=ON")
            self._migrate()
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, OSError):    # (the archive's folder cannot be made)
                raise StoreError(f"cannot make the archive's folder: {exc.strerror or exc}",
                                 where=str(path), hint="check that the folder can be made "
                                 "and written by the user that runs relay") from exc
            if not isinstance(exc, sqlite3.Error):
                raise
            translated = store_error(exc, path)
            if translated is None:
                raise StoreError(f"cannot open the archive: {exc}", where=str(path)) from exc
            raise translated from exc

    def _open_readonly(self, timeout: float) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError("no archive here", where=str(self.path),
                             hint="check --db / settings.database, or run `relay collect` first")
        base = "file:" + quote(str(self.path.resolve())) + "?mode=ro"
        conn = _connect(base, timeout, uri=True)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            conn.close()
            # A reader of a WAL archive makes its -shm (and -wal) beside it; in a read-only
            # folder with no -wal there, no one can be writing the archive: it is immutable.
            if getattr(exc, "sqlite_errorname", "") not in _NO_SHARED_MEMORY or \
                    self.path.with_name(self.path.name + "-wal").exists():
                raise
            conn = _connect(base + "&immutable=1", timeout, uri=True)
        # temporary tables (the feeds copy) in memory: the folder may be read-only
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    @functools.cached_property
    def _db(self) -> sqlite_utils.Database:
        """sqlite-utils over the connection (`query`), made when first needed: its import
        is a query's, not every command's start."""
        import sqlite_utils
        return sqlite_utils.Database(self.conn)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the archive has schema version {version}, newer than this relay "
                f"({len(MIGRATIONS)})", where=str(self.path), hint="upgrade relay",
            )
        if self.readonly:
            if version < len(MIGRATIONS):
                raise StoreError(
                    f"the archive has schema version {version}: this relay needs "
                    f"{len(MIGRATIONS)}, and a command that only reads does not upgrade it",
                    where=str(self.path),
                    hint="run `relay migrate` (or any command that writes, such as "
                         "`relay collect`) once, then try again")
            return
        # Foreign keys off while migrating (SQLite's own recipe for rebuilding a table that
        # others reference: the pragma cannot change inside a transaction); on again after.
        self.conn.execute("PRAGMA foreign_keys=OFF")
        try:
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._migrate_one(number, script)
        finally:
            self.conn.execute("PRAGMA foreign_keys=ON")

    def _migrate_one(self, number: int, script: Migration) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            if self.conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                self.conn.execute("COMMIT")
                return
            later = number > VIEWS_SINCE   # the views stand aside while it runs (drop_views)
            if later:
                drop_views(self.conn)
            if callable(script):
                script(self.conn)
            else:
                for statement in _statements(script):
                    self.conn.execute(statement)
            if later:
                make_views(self.conn)
            self.conn.execute(f"PRAGMA user_version = {number}")
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it rolls back by itself on
        a full disk or an I/O error); a failing rollback does not hide the error that led
        to it."""
        if self.conn.in_transaction:
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (nested calls join the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
            self.conn.execute("COMMIT")     # a full disk may refuse it: then all is undone
        except BaseException:
            self._rollback()
            raise
        finally:
            self._depth = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Within a transaction: what the block writes is kept whole or undone whole, and
        the transaction goes on either way (one item of a batch)."""
        self.conn.execute("SAVEPOINT one")
        try:
            yield
        except BaseException:
            # A full disk or an I/O error may have made SQLite undo the whole transaction,
            # savepoint and all: then the error that did it is the one to raise.
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK TO one")
            raise
        finally:
            if self.conn.in_transaction:
                self.conn.execute("RELEASE one")

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- feeds ----------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[FeedSpec]) -> None:
        """Make the feeds table list the configured feeds (health columns are kept); a
        feed no longer configured is kept, with the audience of the feed that governs its
        items (`governing`: a renamed feed), else nobody's (`NOBODY`). When an audience changed,
        every feed's validators go: a copy an item was dropped as may be out of its
        audience now (a duplicate is one within one audience: `items_with_hash`), so
        every document is read whole once more, for what it hid. A read-only store changes
        its temporary copy of the table (see Store)."""
        feeds = list(feeds)
        if self.readonly and not self._shadowed:
            self._shadow_feeds()
        with self.transaction():
            before = self.feed_audiences()
            for f in feeds:
                # A changed URL is a new source: its validators, move and disabling go.
                self.conn.execute(
                    "UPDATE feeds SET etag = NULL, last_modified = NULL, moved_to = NULL,"
                    " disabled_reason = NULL, next_fetch_at = NULL, partial = NULL"
                    " WHERE id = ? AND url != ?",
                    (f.id, f.location))
                self.conn.execute(
                    "INSERT INTO feeds (id, name, url, kind, mission, country, lang, audience) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                    " name=excluded.name, url=excluded.url, kind=excluded.kind,"
                    " mission=excluded.mission, country=excluded.country, lang=excluded.lang,"
                    " audience=excluded.audience",
                    (f.id, f.name, f.location, f.kind.value, f.mission, f.country, f.lang,
                     audience_key(f.audience)),
                )
            configured = {f.id for f in feeds}
            rules = governing(feeds, self.feed_locations(), before)
            self.conn.executemany("UPDATE feeds SET audience = ? WHERE id = ?", [
                (audience_key(rules[i].audience) if i in rules else NOBODY, i)
                for i in before if i not in configured])
            after = self.feed_audiences()
            if any(_groups(after[i]) != _groups(a) for i, a in before.items()):
                self.conn.execute("UPDATE feeds SET etag = NULL, last_modified = NULL")

    def feed_locations(self) -> dict[str, str]:
        """Each archived feed's id -> its address (URL or path) when last configured."""
        return dict(self.conn.execute("SELECT id, url FROM feeds"))

    def feed_audiences(self) -> dict[str, str]:
        """Each archived feed's id -> its `audience_key` as last synced."""
        return dict(self.conn.execute("SELECT id, audience FROM feeds"))

    def _shadow_feeds(self) -> None:
        """A temporary table `feeds` (made from the archive's own CREATE statement, so with
        every column and default) holding the archive's rows: it hides main.feeds from
        every query of this connection, and only it is changed."""
        sql = self.conn.execute(
            "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = 'feeds'"
        ).fetchone()[0]
        self.conn.execute(re.sub(r"^CREATE TABLE\s+(\"?)feeds\1", "CREATE TEMP TABLE feeds", sql,
                                 flags=re.IGNORECASE))
        self.conn.execute("INSERT INTO temp.feeds SELECT * FROM main.feeds")
        for name, sql in VIEWS.items():     # (a view of main reads main.feeds: these, temp's)
            self.conn.execute(f"CREATE TEMP VIEW {name} AS {sql}")
        self._shadowed = True

    def feed_state(self, feed_id: str) -> FeedState:
        rows = self._rows("SELECT * FROM feeds WHERE id = ?", (feed_id,))
        if not rows:
            return FeedState(feed_id)
        r = rows[0]
        return FeedState(
            feed_id=feed_id, etag=r["etag"], last_modified=r["last_modified"],
            next_fetch_at=from_ts(r["next_fetch_at"]), last_ok_at=from_ts(r["last_ok_at"]),
            error_count=r["error_count"], last_error=r["last_error"],
            disabled_reason=r["disabled_reason"], moved_to=r["moved_to"],
        )

    def feed_rows(self, now: datetime) -> list[dict[str, Any]]:
        """Every feed's row with its item counts (all, last 7 and 30 days of collection)."""
        week, month = ts(now - timedelta(days=7)), ts(now - timedelta(days=30))
        return self._rows(
            "SELECT f.*, COUNT(i.id) AS items,"
            " SUM(i.collected_at >= ?) AS items_7d, SUM(i.collected_at >= ?) AS items_30d,"
            " MAX(COALESCE(i.published_at, i.collected_at)) AS newest_item_at"
            " FROM feeds f LEFT JOIN items i ON i.feed_id = f.id GROUP BY f.id ORDER BY f.id",
            (week, month),
        )

    def recent_published(self, feed_id: str, limit: int = 30) -> list[datetime]:
        """The feed's latest item dates (an undated item's: when it was first seen)."""
        return [from_ts(r[0]) or _dt(r[1]) for r in self.conn.execute(
            "SELECT published_at, collected_at FROM items WHERE feed_id = ?"
            " ORDER BY COALESCE(published_at, collected_at) DESC LIMIT ?", (feed_id, limit))]

    def record_fetch_ok(self, feed_id: str, now: datetime, next_at: datetime,
                        etag: str | None, last_modified: str | None,
                        status: int | None = None, moved_to: str | None = None,
                        partial: str | None = None,
                        counts: tuple[int, int, int] | None = (0, 0, 0)) -> None:
        """A fetch that stored what it read; `partial` says why the document was read
        only in part (None: read whole); `counts`: its entries skipped, trimmed, over
        the cap (None: as they were, for a document not modified since)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, last_ok_at = ?, last_attempt_at = ?,"
                " next_fetch_at = ?, error_count = 0, last_error = NULL, last_status = ?,"
                " moved_to = COALESCE(?, moved_to), partial = ?, error_stage = NULL,"
                " skipped = COALESCE(?, skipped), trimmed = COALESCE(?, trimmed),"
                " over_cap = COALESCE(?, over_cap),"
                # the end of the feed's first collection: what it stored until now is backlog
                " first_collected_at = COALESCE(first_collected_at, ?) WHERE id = ?",
                (etag, last_modified, ts(now), ts(now), ts(next_at), status, moved_to, partial,
                 *(counts or (None, None, None)), ts(now), feed_id),
            )

    def record_fetch_error(self, feed_id: str, now: datetime, next_at: datetime,
                           error: str, status: int | None = None,
                           disabled_reason: str | None = None, stage: str | None = None,
                           counts: tuple[int, int, int] = (0, 0, 0)) -> None:
        """A failed collect of one feed: its error and the stage it failed at (fetch,
        parse, store); `counts` as for `record_fetch_ok` (of what came before the error)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE feeds SET last_attempt_at = ?, next_fetch_at = ?,"
                " error_count = error_count + 1, last_error = ?, last_status = ?,"
                " disabled_reason = COALESCE(?, disabled_reason), error_stage = ?,"
                " skipped = ?, trimmed = ?, over_cap = ?,"
                # a first collection that failed after storing entries (a partial feed)
                " first_collected_at = COALESCE(first_collected_at,"
                "  (SELECT MAX(collected_at) FROM items WHERE feed_id = feeds.id)) WHERE id = ?",
                (ts(now), ts(next_at), error, status, disabled_reason, stage, *counts,
                 feed_id),
            )

    def disabled_feeds(self) -> dict[str, str]:
        return dict(self.conn.execute(
            "SELECT id, disabled_reason FROM feeds WHERE disabled_reason IS NOT NULL"))

    # -- items ----------------------------------------------------------------------------------

    def known_guids(self, feed_id: str, guids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(guids), 500):
            chunk = list(guids[i : i + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(
                f"SELECT guid FROM items WHERE feed_id = ? AND guid IN ({marks})",
                [feed_id, *chunk]))
        return found

    def guid_titles(self, feed_id: str, guids: Sequence[str]) -> dict[str, str]:
        """The title of each archived item of the feed that has one of these guids."""
        found: dict[str, str] = {}
        for i in range(0, len(guids), 500):
            chunk = list(guids[i : i + 500])
            marks = ",".join("?" * len(chunk))
            found.update((r[0], r[1]) for r in self.conn.execute(
                f"SELECT guid, title FROM items WHERE feed_id = ? AND guid IN ({marks})",
                [feed_id, *chunk]))
        return found

    def item_with_hash(self, content_hash: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM items WHERE content_hash = ? LIMIT 1", (content_hash,)).fetchone()
        return int(row[0]) if row else None

    def items_with_hash(self, content_hash: str, audience: Iterable[str] | None = None,
                        ) -> list[tuple[int, str, str, datetime | None]]:
        """(id, feed id, URL key, published) of archived items with this content hash,
        newest first (an old row's key without its `OLD_KEY` mark: see `old_key`); with
        `audience`, only items of feeds of that audience (as last synced)."""
        scoped = " AND feed_id IN (SELECT id FROM feeds WHERE audience = ?)"
        return [(int(r[0]), r[1], r[2].removeprefix(OLD_KEY), from_ts(r[3]))
                for r in self.conn.execute(
            "SELECT id, feed_id, url_key, published_at FROM items WHERE content_hash = ?"
            + (scoped if audience is not None else "") + " ORDER BY id DESC LIMIT 50",
            (content_hash, *([audience_key(audience)] if audience is not None else [])))]

    def items_with_url_key(self, key: str,
                           ) -> list[tuple[int, str, str, datetime | None, str, str, str]]:
        """(id, title, feed id, published, indexed title, indexed body, the feed's
        `audience_key`) of archived items whose URL key is `key`, or old rows whose key is
        `old_key(key)` (their link is known only without `www.`), newest first, mission
        reports aside (a report's url names its source, not the report)."""
        return [(int(r[0]), r[1], r[2], from_ts(r[3]), r[4] or "", r[5] or "", r[6])
                for r in self.conn.execute(
            "SELECT i.id, i.title, i.feed_id, i.published_at, x.title, x.body, f.audience"
            " FROM items i"
            " JOIN feeds f ON f.id = i.feed_id JOIN items_fts x ON x.rowid = i.id"
            " WHERE i.url_key IN (?, ?) AND f.kind != 'reports' ORDER BY i.id DESC LIMIT 200",
            (key, old_key(key) or key))]

    def item_links(self, after: int, batch: int) -> list[tuple[int, str, str, str]]:
        """(id, guid, url, url key) of the next `batch` items whose id is above `after`."""
        return [(int(r[0]), r[1], r[2], r[3]) for r in self.conn.execute(
            "SELECT id, guid, url, url_key FROM items WHERE id > ? ORDER BY id LIMIT ?",
            (after, batch))]

    def set_links(self, links: Iterable[tuple[int, str, str]]) -> None:
        """Store links and their URL keys again: (item id, url, key)."""
        with self.transaction():
            self.conn.executemany("UPDATE items SET url = ?, url_key = ? WHERE id = ?",
                                  [(url, key, item_id) for item_id, url, key in links])

    def story_candidates(self, band_keys: Sequence[tuple[int, int]],
                         since: datetime,
                         ) -> list[tuple[int, int, bytes, str, str, datetime | None, str]]:
        """(item id, story id, MinHash blob, feed id, indexed title, published, title) of
        recent items sharing at least one LSH band."""
        if not band_keys:
            return []
        keys = ",".join("(?, ?)" for _ in band_keys)
        params: list[Any] = [v for key in band_keys for v in key]
        # A VALUES list joined to the (band, hash) index: one index probe per band.
        rows = self.conn.execute(
            f"WITH k(band, hash) AS (VALUES {keys}),"
            " c AS (SELECT DISTINCT b.item_id FROM k"
            "  JOIN lsh_bands b ON b.band = k.band AND b.hash = k.hash)"
            " SELECT i.id, i.story_id, i.minhash, i.feed_id, x.title, i.published_at, i.title"
            " FROM c"
            " JOIN items i ON i.id = c.item_id JOIN items_fts x ON x.rowid = i.id"
            " WHERE i.collected_at >= ? AND i.minhash IS NOT NULL LIMIT ?",
            [*params, ts(since), MAX_CANDIDATES],
        ).fetchall()
        return [(int(r[0]), int(r[1]), bytes(r[2]), r[3], r[4] or "", from_ts(r[5]), r[6])
                for r in rows]

    def body_tokens(self, item_id: int) -> list[str]:
        """An item's indexed body tokens."""
        row = self.conn.execute("SELECT body FROM items_fts WHERE rowid = ?",
                                (item_id,)).fetchone()
        return (row[0] or "").split() if row else []

    def recent_tokens(self, feed_id: str, limit: int) -> list[tuple[str, str]]:
        """The indexed (title, body) tokens of a feed's `limit` latest items."""
        return [(r[0] or "", r[1] or "") for r in self.conn.execute(
            "SELECT x.title, x.body FROM items i JOIN items_fts x ON x.rowid = i.id"
            " WHERE i.feed_id = ? ORDER BY i.id DESC LIMIT ?", (feed_id, limit))]

    def prune_bands(self, before: datetime) -> int:
        """Forget the LSH bands of items collected before `before` (outside the story
        window they are never candidates), so the band table stays the window's size."""
        row = self.conn.execute(
            "SELECT MIN(id) FROM items WHERE collected_at >= ?", (ts(before),)).fetchone()
        limit = row[0] if row and row[0] is not None else None
        with self.transaction():
            if limit is None:
                old = "SELECT id FROM items WHERE collected_at < ?"
                for table in ("figures", "name_keys"):
                    self.conn.execute(f"DELETE FROM {table} WHERE item_id IN ({old})",
                                      (ts(before),))
                cur = self.conn.execute(f"DELETE FROM lsh_bands WHERE item_id IN ({old})",
                                        (ts(before),))
            else:
                self.conn.execute("DELETE FROM figures WHERE item_id < ?", (limit,))
                self.conn.execute("DELETE FROM name_keys WHERE item_id < ?", (limit,))
                cur = self.conn.execute("DELETE FROM lsh_bands WHERE item_id < ?", (limit,))
        return cur.rowcount

    def cross_candidates(self, values: Iterable[str], lang: str, since: datetime,
                         limit: int = 50, around: datetime | None = None,
                         days: float = 7.0) -> list[tuple[int, str, str, str]]:
        """(story id, language, indexed title, indexed body) of recent items in other
        languages that share one of these figures; published within `days` of `around`
        when both have a date."""
        values = list(values)
        if not values:
            return []
        dated, when = _within(around, days)
        rows = self.conn.execute(
            f"SELECT DISTINCT i.story_id, i.lang, x.title, x.body FROM figures g"
            f" JOIN items i ON i.id = g.item_id JOIN items_fts x ON x.rowid = i.id"
            f" WHERE g.value IN ({','.join('?' * len(values))}) AND i.lang != ?"
            f" AND i.collected_at >= ?{dated} LIMIT ?",
            [*values, lang, ts(since), *when, limit]).fetchall()
        return [(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def cross_named(self, keys: Iterable[str], lang: str, since: datetime, limit: int,
                    around: datetime | None = None, days: float = 7.0,
                    ) -> list[tuple[int, str, str, str]]:
        """(story id, language, indexed title, indexed body) of at most `limit` recent
        items that share one of these name keys, one side Japanese and the other not
        (those sharing most first); published within `days` of `around` when both have
        a date. The other side's rows only are read (the index leads with the key and
        the side), and the text of the chosen items only."""
        keys = list(keys)
        if not keys:
            return []
        dated, when = _within(around, days)
        rows = self.conn.execute(
            f"SELECT i.story_id, i.lang, x.title, x.body FROM"
            f" (SELECT g.item_id AS id, COUNT(*) AS n FROM name_keys g"
            f" JOIN items i ON i.id = g.item_id"
            f" WHERE g.value IN ({','.join('?' * len(keys))}) AND g.ja = ? AND i.lang != ?"
            f" AND i.collected_at >= ?{dated} GROUP BY g.item_id ORDER BY n DESC, g.item_id"
            f" LIMIT ?) top JOIN items i ON i.id = top.id JOIN items_fts x ON x.rowid = i.id"
            f" ORDER BY top.n DESC, top.id",
            [*keys, int(lang != "ja"), lang, ts(since), *when, limit]).fetchall()
        return [(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def name_counts(self, keys: Iterable[str], most: int) -> dict[str, int]:
        """How many recent items (those whose name keys are kept) hold each of these name
        keys (absent: none), counted up to `most`: a name that thousands of items hold
        (a country) costs what a rare one does."""
        keys = list(keys)
        if not keys:
            return {}
        rows = self.conn.execute(
            f"WITH k(value) AS (VALUES {','.join(['(?)'] * len(keys))})"
            " SELECT k.value, (SELECT COUNT(*) FROM (SELECT 1 FROM name_keys g"
            " WHERE g.value = k.value LIMIT ?)) AS n FROM k", [*keys, most]).fetchall()
        return {r[0]: int(r[1]) for r in rows if r[1]}

    def named_candidates(self, keys: Iterable[str], feed_id: str, since: datetime,
                         around: datetime | None, days: float, least: int,
                         limit: int = 20,
                         ) -> list[tuple[int, str, datetime | None, str, str]]:
        """(story id, feed id, published, title, text) of recent items of other feeds, in
        languages written with capitals, that hold at least `least` of these name keys
        (those holding most first), published within `days` of `around` when both have a
        date."""
        keys = list(keys)
        if len(keys) < least:
            return []
        dated, when = _within(around, days)
        params: list[Any] = [*keys, feed_id, ts(since), *when]
        rows = self.conn.execute(
            f"SELECT i.story_id, i.feed_id, i.published_at, i.title, i.text FROM name_keys g"
            f" JOIN items i ON i.id = g.item_id"
            f" WHERE g.value IN ({','.join('?' * len(keys))}) AND g.ja = 0 AND i.feed_id != ?"
            f" AND i.lang NOT IN ('ja', 'zh', 'ko') AND i.collected_at >= ?{dated}"
            f" GROUP BY i.id HAVING COUNT(*) >= ? ORDER BY COUNT(*) DESC LIMIT ?",
            [*params, least, limit]).fetchall()
        return [(int(r[0]), r[1], from_ts(r[2]), r[3], r[4]) for r in rows]

    def insert_item(self, item: Item, minhash: bytes | None,
                    band_keys: Sequence[tuple[int, int]], story_id: int | None,
                    figures: Iterable[str] = (), name_keys: Iterable[str] = ()) -> int:
        """Store one item with its tags, bands, story and index row; returns its id."""
        with self.transaction():
            # The id is chosen first (the write lock is held), so the item is written
            # once with its story: updating its story_id afterwards rewrote the whole
            # row and its index entry (60 us an item).
            item_id = int(self.conn.execute(
                "SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()[0])
            if story_id is None:
                cur = self.conn.execute(
                    "INSERT INTO stories (first_item_id, first_seen_at, item_count) VALUES (?,?,1)",
                    (item_id, ts(item.collected_at)))
                story_id = int(cur.lastrowid or 0)
            else:
                self.conn.execute(
                    "UPDATE stories SET item_count = item_count + 1 WHERE id = ?", (story_id,))
            self.conn.execute(
                "INSERT INTO items (id, feed_id, guid, url, url_key, title, summary, text, lang,"
                " published_at, collected_at, content_hash, minhash, story_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (item_id, item.feed_id, item.guid, item.url, item.url_key, item.title,
                 item.summary, item.text,
                 item.lang, ts_or_none(item.published_at), ts(item.collected_at), item.content_hash,
                 minhash, story_id),
            )
            self.conn.executemany(
                "INSERT INTO item_tags (item_id, topic, score, terms) VALUES (?,?,?,?)",
                [(item_id, t.topic, t.score, json.dumps(list(t.terms), ensure_ascii=False))
                 for t in item.tags],
            )
            self.conn.executemany(
                "INSERT INTO lsh_bands (band, hash, item_id) VALUES (?,?,?)",
                [(b, h, item_id) for b, h in band_keys],
            )
            self.conn.execute(
                "INSERT INTO items_fts (rowid, title, body) VALUES (?,?,?)",
                (item_id, item.index_title, item.index_text),
            )
            self.conn.executemany("INSERT INTO figures (value, item_id) VALUES (?,?)",
                                  [(v, item_id) for v in sorted(figures)])
            ja = int(item.lang == "ja")
            self.conn.executemany("INSERT INTO name_keys (value, item_id, ja) VALUES (?,?,?)",
                                  [(v, item_id, ja) for v in sorted(name_keys)])
        return item_id

    def pending(self, task: str) -> bool:
        """Whether a migration left `task` for the pipeline to do."""
        return self.conn.execute("SELECT 1 FROM pending WHERE task = ?", (task,)).fetchone() \
            is not None

    def done(self, task: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM pending WHERE task = ?", (task,))

    def meta(self, key: str) -> str | None:
        """A fact the archive records about itself (e.g. `minhash_scheme`), or None."""
        row = self.conn.execute("SELECT value FROM archive_meta WHERE key = ?",
                                (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO archive_meta (key, value) VALUES (?, ?)",
                              (key, value))

    def drop_signatures(self) -> None:
        """Forget every MinHash signature and LSH band (their scheme changed) and leave the
        story window to be signed again (`pending`: sign-window)."""
        with self.transaction():
            self.conn.execute("DELETE FROM lsh_bands")
            self.conn.execute("UPDATE items SET minhash = NULL WHERE minhash IS NOT NULL")
            self.conn.execute("INSERT OR IGNORE INTO pending (task) VALUES ('sign-window')")

    def items_to_sign(self, since: datetime) -> list[tuple[int, str, str, str]]:
        """(id, feed id, indexed title, indexed body) of items collected since `since` that
        have no signature."""
        return [(int(r[0]), r[1], r[2], r[3]) for r in self.conn.execute(
            "SELECT i.id, i.feed_id, x.title, x.body FROM items i"
            " JOIN items_fts x ON x.rowid = i.id"
            " WHERE i.collected_at >= ? AND i.minhash IS NULL ORDER BY i.id", (ts(since),))]

    def set_signature(self, item_id: int, minhash: bytes,
                      band_keys: Sequence[tuple[int, int]]) -> None:
        with self.transaction():
            self.conn.execute("UPDATE items SET minhash = ? WHERE id = ?", (minhash, item_id))
            self.conn.executemany("INSERT INTO lsh_bands (band, hash, item_id) VALUES (?,?,?)",
                                  [(b, h, item_id) for b, h in band_keys])

    def items_for_retag(self, batch: int) -> Iterator[list[dict[str, Any]]]:
        """Items in batches with their indexed tokens, topics, and author-given topics."""
        last = 0
        while True:
            rows = self._rows(
                "SELECT i.id, i.feed_id, x.title AS title_tokens, x.body AS body_tokens"
                " FROM items i JOIN items_fts x ON x.rowid = i.id WHERE i.id > ?"
                " ORDER BY i.id LIMIT ?", (last, batch))
            if not rows:
                return
            ids = [r["id"] for r in rows]
            tags: dict[int, list[tuple[str, list[str]]]] = {i: [] for i in ids}
            for item_id, topic, terms in self.conn.execute(
                    f"SELECT item_id, topic, terms FROM item_tags WHERE item_id IN "
                    f"({','.join('?' * len(ids))})", ids):
                tags[item_id].append((topic, json.loads(terms)))
            for r in rows:
                r["topics"] = [t for t, _ in tags[r["id"]]]
                r["report_topics"] = [t for t, terms in tags[r["id"]] if "report" in terms]
            yield rows
            last = ids[-1]

    def replace_tags(self, tags: Mapping[int, Sequence[Tag]]) -> None:
        """Each item's tags replaced by the given ones, in one transaction."""
        with self.transaction():
            ids = list(tags)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                self.conn.execute(
                    f"DELETE FROM item_tags WHERE item_id IN ({','.join('?' * len(chunk))})",
                    chunk)
            self.conn.executemany(
                "INSERT INTO item_tags (item_id, topic, score, terms) VALUES (?,?,?,?)",
                [(item_id, t.topic, t.score, json.dumps(list(t.terms), ensure_ascii=False))
                 for item_id, item_tags in tags.items() for t in item_tags])

    def item(self, item_id: int) -> ItemView | None:
        rows = self._rows(
            "SELECT i.*, f.name AS feed_name, f.mission, f.country FROM items i"
            " JOIN feeds f ON f.id = i.feed_id WHERE i.id = ?", (item_id,))
        if not rows:
            return None
        _no_unreadable_dates(rows)
        row = rows[0]
        tags = tuple(Tag(topic, score, tuple(json.loads(terms))) for topic, score, terms
                     in self.conn.execute("SELECT topic, score, terms FROM item_tags"
                                          " WHERE item_id = ? ORDER BY score DESC", (item_id,)))
        return ItemView(
            id=row["id"], feed_id=row["feed_id"], feed_name=row["feed_name"],
            mission=row["mission"], country=row["country"], guid=row["guid"], url=row["url"],
            title=row["title"], summary=row["summary"], text=row["text"], lang=row["lang"],
            published_at=from_ts(row["published_at"]), collected_at=from_ts(row["collected_at"]),
            story_id=row["story_id"], tags=tags)

    def story(self, story_id: int) -> StoryView | None:
        """A story with every source's item, oldest first; None when there is no such story."""
        hits = self.search(None, story=story_id, limit=MAX_STORY_ITEMS)
        return StoryView(story_id, tuple(reversed(hits))) if hits else None

    def languages(self) -> list[str]:
        """The distinct languages of the archive's items: one index step per language
        (a skip scan of items_lang), cheap however many items there are."""
        rows = self.conn.execute(
            "WITH RECURSIVE l(code) AS (SELECT MIN(lang) FROM items UNION ALL"
            " SELECT (SELECT MIN(lang) FROM items WHERE lang > l.code) FROM l"
            " WHERE l.code IS NOT NULL) SELECT code FROM l WHERE code IS NOT NULL").fetchall()
        return [r[0] for r in rows]

    def search(self, match: str | None, *, topics: Sequence[str] = (),
               feeds: Sequence[str] = (), missions: Sequence[str] = (),
               langs: Sequence[str] = (), countries: Sequence[str] = (),
               story: int | None = None, since: datetime | None = None,
               until: datetime | None = None, limit: int = 20,
               order: str = "rank") -> list[SearchHit]:
        """Items matching an FTS5 expression (None: all) and the filters: best first
        (`order` rank: bm25, title 3x the body; ties newest first) or newest first.

        The page is found before anything is joined (issue 12): ranked, in the FTS index's
        own rank order, a window of the best matches that is widened until it holds every
        match tied with the last one kept (`_ranked`); listed, in the order of an index
        (`_listed`). Only the page's rows are read from items, feeds and item_tags."""
        try:
            return self._search(match, topics, feeds, missions, langs, countries, story,
                                since, until, limit, order)
        except sqlite3.OperationalError as exc:
            if not match or store_error(exc, self.path) is not None:
                raise
            raise QueryError(f"the search cannot run: {' '.join(str(exc).split())}",
                             hint='words, "phrases", OR, NOT, prefix* and '
                             "parentheses, nested at most a few levels") from exc

    def _search(self, match: str | None, topics: Sequence[str], feeds: Sequence[str],
                missions: Sequence[str], langs: Sequence[str], countries: Sequence[str],
                story: int | None, since: datetime | None, until: datetime | None,
                limit: int, order: str) -> list[SearchHit]:
        feed_ids = self._feeds_of(feeds, missions, countries)
        if feed_ids == [] or limit < 1:
            return []
        cond, params = _item_filters(feed_ids, langs, topics, story, since, until)
        if match and order == "rank":
            ranks = self._ranked(match, cond, params, limit, self._few(topics, feed_ids, story))
        elif match:
            # Newest first among the matches: every match's date is needed (no index holds
            # the FTS set in date order), so the matches are joined to the dates.
            ranks = dict(self.conn.execute(
                f"SELECT i.id, bm25(items_fts, 3.0, 1.0) FROM items_fts JOIN items i"
                f" ON i.id = items_fts.rowid WHERE items_fts MATCH ?"
                f"{''.join(' AND ' + c for c in cond)}"
                f" ORDER BY {_WHEN} DESC, i.id DESC LIMIT ?", (match, *params, limit)))
        else:
            ranks = dict.fromkeys(self._listed(cond, params, topics, feed_ids, story, limit), 0)
        return self._page(ranks, limit, by_rank=bool(match) and order == "rank")

    def _feeds_of(self, feeds: Sequence[str], missions: Sequence[str],
                  countries: Sequence[str]) -> list[str] | None:
        """The ids of the feeds the feed filters leave (None: no feed filter): the feeds
        table is small, and a list of ids is what the items' indexes hold."""
        where: list[str] = []
        params: list[str] = []
        for column, values in (("id", feeds), ("mission", missions),
                               ("country", [c.upper() for c in countries])):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if not where:
            return None
        return [r[0] for r in self.conn.execute(
            f"SELECT id FROM feeds WHERE {' AND '.join(where)} ORDER BY id", params)]

    def _ranked(self, match: str, cond: list[str], params: list[Any], limit: int,
                few: set[int] | None = None) -> dict[int, float]:
        """item id -> rank of the best `limit` matches passing the filters, with every
        match tied (same rank) with the last of them, read in the FTS index's rank order.
        A query matching more than RANK_WINDOW items is ranked among its newest
        RANK_WINDOW matches (ranking costs per match: a word in a fifth of a million items
        took 0.45 s), unless fewer than `limit` of those pass the filters; then among all.
        `few`: the items a selective filter leaves (see `_few`), if any."""
        if few is not None and not few:
            return {}                      # a story, topic or feeds without items
        newest = self.conn.execute(
            "SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY rowid DESC"
            " LIMIT 1 OFFSET ?", (match, RANK_WINDOW - 1)).fetchone()
        if newest is not None:
            kept = self._best(match, newest[0], cond, params, limit, few)
            if len(kept) >= limit:
                return kept
        return self._best(match, None, cond, params, limit, few)

    def _best(self, match: str, floor: int | None, cond: list[str], params: list[Any],
              limit: int, few: set[int] | None) -> dict[int, float]:
        """`_ranked` over the matches of ids from `floor` (None: all): the matches are read
        in rank order (FTS5 ranks them all first, whatever the LIMIT) in growing batches,
        each checked against the filters by id, until `limit` passed and the next match
        ranks worse than the last of them (ties are kept: the page orders them newest
        first). Only the ids in `few` (when given) are checked: the others cannot pass."""
        cur = self.conn.execute(
            f"SELECT rowid, rank FROM items_fts WHERE items_fts MATCH ? AND rank MATCH"
            f" '{_BM25}'" + (" AND rowid >= ?" if floor else "") + " ORDER BY rank",
            (match, floor) if floor else (match,))
        kept: list[tuple[int, float]] = []
        size = max(4 * limit, 100) if cond else limit + 1
        check = (f"SELECT i.id FROM items i JOIN feeds f ON f.id = i.feed_id WHERE"
                 f" {' AND '.join(cond)} AND i.id IN ")
        while batch := cur.fetchmany(size):
            ids = [r[0] for r in batch if few is None or r[0] in few]
            passed = {r[0] for r in self.conn.execute(
                check + f"({','.join('?' * len(ids))})", (*params, *ids))} if cond else set(ids)
            for item_id, rank in batch:
                if len(kept) >= limit and rank > kept[limit - 1][1]:
                    return dict(kept)
                if item_id in passed:
                    kept.append((item_id, rank))
            size = min(size * 4, 5000)
        return dict(kept)

    def _few(self, topics: Sequence[str], feed_ids: list[str] | None,
             story: int | None) -> set[int] | None:
        """The ids of the items of the story, the topics or the feeds, when one of those
        holds fewer than FEW_ITEMS items (read from item_tags' and items' indexes): a
        ranked search with a selective filter then checks only those matches."""
        for sql, args in (("SELECT id FROM items WHERE story_id = ?", [story]),
                          ("SELECT item_id FROM item_tags WHERE topic IN"
                           f" ({','.join('?' * len(topics))})", topics),
                          ("SELECT id FROM items WHERE feed_id IN"
                           f" ({','.join('?' * len(feed_ids or ()))})", feed_ids)):
            if args and args != [None]:
                ids = {r[0] for r in self.conn.execute(f"{sql} LIMIT ?", (*args, FEW_ITEMS))}
                if len(ids) < FEW_ITEMS:
                    return ids
        return None

    def _listed(self, cond: list[str], params: list[Any], topics: Sequence[str],
                feed_ids: list[str] | None, story: int | None, limit: int) -> list[int]:
        """The ids of the newest `limit` items passing the filters (no words). The items
        are walked newest first along items_when, each filter read from that index (feed,
        language) or by the item's key (topic: item_tags' primary key), unless one filter
        holds few items (a story, a rare topic, a small feed): then those are read first
        and sorted."""
        drive, extra = "items_when", ""
        if story is not None:
            drive = "items_story"
        elif topics and self._fewer_than(
                f"SELECT 1 FROM item_tags WHERE topic IN ({','.join('?' * len(topics))})",
                topics):
            drive = ""
            extra = (" AND i.id IN (SELECT item_id FROM item_tags WHERE topic IN"
                     f" ({','.join('?' * len(topics))}))")
            params = [*params, *topics]
        elif feed_ids is not None and self._fewer_than(
                f"SELECT 1 FROM items WHERE feed_id IN ({','.join('?' * len(feed_ids))})",
                feed_ids):
            drive = "items_feed"
        where = " AND ".join(cond) + extra
        return [r[0] for r in self.conn.execute(
            "SELECT i.id FROM items i" + (f" INDEXED BY {drive}" if drive else "")
            + (f" WHERE {where}" if where else "")
            + f" ORDER BY {_WHEN} DESC, i.id DESC LIMIT ?", (*params, limit))]

    def _fewer_than(self, sql: str, params: Sequence[Any], cap: int = 5000) -> bool:
        """Whether `sql` gives fewer than `cap` rows: a filter that few items pass drives a
        listing (its items read, then sorted) rather than the walk along items_when."""
        return int(self.conn.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT ?)",
                                     (*params, cap)).fetchone()[0]) < cap

    def _page(self, ranks: dict[int, float], limit: int, by_rank: bool) -> list[SearchHit]:
        """The hits of the items `ranks` names (id -> rank), best first by rank then newest
        (`by_rank`) or newest first, cut to `limit`."""
        if not ranks:
            return []
        ids = list(ranks)              # more than a page when many tie with its last
        rows = [r for n in range(0, len(ids), 500) for r in self._rows(
            "SELECT i.id, i.feed_id, f.name AS feed_name, f.mission, f.country, i.url, i.title,"
            f" i.summary, i.lang, i.published_at, i.collected_at, i.story_id, {_WHEN} AS at"
            f" FROM items i JOIN feeds f ON f.id = i.feed_id WHERE i.id IN"
            f" ({','.join('?' * len(ids[n:n + 500]))})", ids[n:n + 500])]
        for r in rows:
            r["rank"] = ranks[r["id"]]
        rows.sort(key=lambda r: (r["at"] or "", r["id"]), reverse=True)   # newest first
        if by_rank:
            rows.sort(key=lambda r: r["rank"])                           # stable: ties newest
        rows = rows[:limit]
        self._attach_topics(rows)
        _no_unreadable_dates(rows)
        return [SearchHit(
            id=r["id"], feed_id=r["feed_id"], feed_name=r["feed_name"], mission=r["mission"],
            country=r["country"], url=r["url"], title=r["title"], summary=r["summary"],
            lang=r["lang"], published_at=from_ts(r["published_at"]),
            collected_at=from_ts(r["collected_at"]), story_id=r["story_id"],
            topics=tuple(r["topics"]), rank=r["rank"]) for r in rows]

    def _attach_topics(self, rows: list[dict[str, Any]]) -> None:
        ids = [r["id"] for r in rows]
        by_item: dict[int, list[str]] = {i: [] for i in ids}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for item_id, topic in self.conn.execute(
                f"SELECT item_id, topic FROM item_tags WHERE item_id IN ({','.join('?' * len(chunk))})"
                " ORDER BY score DESC", chunk):
                by_item[item_id].append(topic)
        for r in rows:
            r["topics"] = by_item[r["id"]]

    def export_rows(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every item, oldest first, with its feed's mission and its topics, in batches."""
        last = 0
        while True:
            rows = self._rows(
                "SELECT i.id, i.feed_id AS feed, f.mission, f.country, i.url, i.title, i.summary,"
                " i.lang, i.published_at, i.collected_at, i.story_id FROM items i"
                " JOIN feeds f ON f.id = i.feed_id WHERE i.id > ? ORDER BY i.id LIMIT ?",
                (last, batch))
            if not rows:
                return
            self._attach_topics(rows)
            _no_unreadable_dates(rows)
            yield from rows
            last = rows[-1]["id"]

    def story_rows(self, since: datetime, until: datetime, oldest: datetime,
                   topics: Sequence[str]) -> list[StoryRow]:
        """Every item of every story that has an item on `topics` which may count in the
        window (since, until]: first seen in it, or published in it, and not published
        before `oldest`. `digest.select.counts` decides which do; `backlog` says an item
        came with its feed's first collection."""
        marks = ",".join("?" * len(topics))
        rows = self._rows(
            "SELECT i.id, i.story_id, i.feed_id, f.name AS feed_name, f.kind AS feed_kind,"
            " f.mission, f.country, f.audience, i.url, i.title, i.summary, i.lang, i.published_at,"
            " i.collected_at,"
            " i.collected_at <= COALESCE(f.first_collected_at, i.collected_at) AS backlog"
            " FROM items i JOIN feeds f ON f.id = i.feed_id WHERE i.story_id IN ("
            "  SELECT DISTINCT n.story_id FROM items n JOIN item_tags t ON t.item_id = n.id"
            "  WHERE ((n.collected_at > ? AND n.collected_at <= ?)"
            "   OR (n.published_at > ? AND n.published_at <= ?))"
            f"  AND n.collected_at <= ? AND t.topic IN ({marks})"
            "  AND (n.published_at IS NULL OR n.published_at >= ?))"
            " ORDER BY i.story_id, COALESCE(i.published_at, i.collected_at)",
            [ts(since), ts(until), ts(since), ts(until), ts(until), *topics, ts(oldest)],
        )
        ids = [r["id"] for r in rows]
        tags: dict[int, dict[str, float]] = {i: {} for i in ids}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for item_id, topic, score in self.conn.execute(
                "SELECT item_id, topic, score FROM item_tags WHERE item_id IN "
                f"({','.join('?' * len(chunk))})", chunk):
                tags[item_id][topic] = score
        return [StoryRow(
            id=r["id"], story_id=r["story_id"], feed_id=r["feed_id"], feed_name=r["feed_name"],
            feed_kind=r["feed_kind"], mission=r["mission"], country=r["country"], url=r["url"],
            title=r["title"], summary=r["summary"], lang=r["lang"],
            published_at=from_ts(r["published_at"]), collected_at=_dt(r["collected_at"]),
            tags=tags[r["id"]], audience=tuple(json.loads(r["audience"] or "[]")),
            backlog=bool(r["backlog"])) for r in rows]

    def weekly_topic_counts(self, until: datetime, weeks: int = 8,
                            feeds: Sequence[str] | None = None) -> dict[str, list[int]]:
        """Items per topic published in each of the `weeks` weeks before `until`, oldest first
        (an undated item counts when first seen, unless it came with its feed's first
        collection). Public feeds only: a count must not reveal restricted sources to
        others; `feeds` names them (the configuration in force), else the feeds table's
        audience says (as last synced)."""
        out: dict[str, list[int]] = {}
        end, start = ts(until), ts(until - timedelta(days=7 * weeks))
        public = ("f.audience = '[]'" if feeds is None
                  else f"f.id IN ({','.join('?' * len(feeds))})")
        for topic, week, count in self.conn.execute(
                "SELECT t.topic, CAST((julianday(?) - julianday(substr("
                " COALESCE(i.published_at, i.collected_at), 1, 19)))"
                " / 7 AS INTEGER) AS w, COUNT(*) FROM item_tags t JOIN items i ON i.id = t.item_id"
                " JOIN feeds f ON f.id = i.feed_id WHERE ((i.published_at <= ? AND"
                " i.published_at > ?) OR (i.published_at IS NULL AND i.collected_at <= ? AND"
                " i.collected_at > ? AND i.collected_at > COALESCE(f.first_collected_at,"
                f" i.collected_at))) AND {public} GROUP BY t.topic, w",
                (end[:19], end, start, end, start, *(feeds or ()))):
            if week is not None and 0 <= week < weeks:   # NULL: a time SQLite cannot read
                out.setdefault(topic, [0] * weeks)[weeks - 1 - week] = count
        return out

    # -- subscribers ----------------------------------------------------------------------------

    def upsert_subscriber(self, s: Subscriber, now: datetime) -> bool:
        """Add or update a subscriber; True when it was new."""
        with self.transaction():
            existing = self.conn.execute(
                "SELECT id FROM subscribers WHERE email = ?", (s.email,)).fetchone()
            values = (s.name, s.org, json.dumps(list(s.topics)), json.dumps(list(s.langs)),
                      json.dumps(list(s.missions)), s.frequency.value, s.ui_lang,
                      json.dumps(list(s.groups)), json.dumps(list(s.countries)))
            if existing:
                self.conn.execute(
                    "UPDATE subscribers SET name=?, org=?, topics=?, langs=?, missions=?,"
                    " frequency=?, ui_lang=?, groups=?, countries=?, active=1 WHERE id=?",
                    (*values, existing[0]))
                return False
            self.conn.execute(
                "INSERT INTO subscribers (name, org, topics, langs, missions, frequency, ui_lang,"
                " groups, countries, email, token, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (*values, s.email, s.token, ts(now)))
            return True

    def deactivate_subscriber(self, email: str) -> bool:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE subscribers SET active = 0 WHERE email = ? AND active = 1", (email,))
            return cur.rowcount > 0

    def subscribers(self, active_only: bool = True,
                    unreadable: list[tuple[str, str]] | None = None) -> list[Subscriber]:
        """The subscribers, by address. A row that cannot be read (edited by hand: a
        frequency or a list relay never writes) is left out, and (address, why) added to
        `unreadable` when given: one bad row does not hide the others."""
        sql = "SELECT * FROM subscribers" + (" WHERE active = 1" if active_only else "")
        out = []
        for r in self._rows(sql + " ORDER BY email"):
            try:
                out.append(Subscriber(
                    id=r["id"], email=r["email"], name=r["name"], org=r["org"],
                    topics=tuple(json.loads(r["topics"])), langs=tuple(json.loads(r["langs"])),
                    missions=tuple(json.loads(r["missions"])),
                    frequency=Frequency(r["frequency"]), groups=tuple(json.loads(r["groups"])),
                    countries=tuple(json.loads(r["countries"])), ui_lang=r["ui_lang"],
                    token=r["token"], active=bool(r["active"]),
                    last_digest_at=from_ts(r["last_digest_at"]),
                    created_at=from_ts(r["created_at"])))
            except (ValueError, TypeError) as exc:    # json.JSONDecodeError is a ValueError
                if unreadable is not None:
                    unreadable.append((str(r["email"]), f"unreadable row: {exc}"))
        return out

    # -- digests and deliveries -----------------------------------------------------------------

    def digest_exists(self, subscriber_id: int, period: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM digests WHERE subscriber_id = ? AND period = ?",
            (subscriber_id, period)).fetchone() is not None

    def add_digest(self, *, subscriber_id: int, address: str, period: str, now: datetime,
                   since: datetime, until: datetime, subject: str, paths: dict[str, str],
                   story_ids: Sequence[int], message_id: str) -> int | None:
        """Record a digest and queue its delivery in one transaction (None if it exists)."""
        with self.transaction():
            if self.digest_exists(subscriber_id, period):
                return None
            cur = self.conn.execute(
                "INSERT INTO digests (subscriber_id, period, created_at, since, until, subject,"
                " paths, story_ids) VALUES (?,?,?,?,?,?,?,?)",
                (subscriber_id, period, ts(now), ts(since), ts(until), subject,
                 json.dumps(paths), json.dumps(list(story_ids))))
            digest_id = int(cur.lastrowid or 0)
            self.conn.execute(
                "INSERT INTO deliveries (digest_id, address, status, message_id, eml_path,"
                " next_try_at) VALUES (?,?,?,?,?,?)",
                (digest_id, address, DeliveryStatus.QUEUED.value, message_id, paths["eml"],
                 ts(now)))
            # Only forward: a digest built for a past period does not reopen newer items.
            self.conn.execute(
                "UPDATE subscribers SET last_digest_at = MAX(COALESCE(last_digest_at, ''), ?)"
                " WHERE id = ?", (ts(until), subscriber_id))
            return digest_id

    def due_deliveries(self, now: datetime, ignore_retry_time: bool = False) -> list[Delivery]:
        return [
            Delivery(id=r["id"], digest_id=r["digest_id"], address=r["address"],
                     status=DeliveryStatus(r["status"]), attempts=r["attempts"],
                     message_id=r["message_id"], eml_path=r["eml_path"],
                     last_error=r["last_error"], period=r["period"] or "")
            for r in self._rows(
                "SELECT d.*, g.period FROM deliveries d LEFT JOIN digests g ON g.id = d.digest_id"
                " WHERE d.status = ? AND (d.next_try_at IS NULL OR d.next_try_at <= ? OR ?)"
                " ORDER BY d.id",
                (DeliveryStatus.QUEUED.value, ts(now), ignore_retry_time))
        ]

    def waiting_deliveries(self, now: datetime) -> tuple[int, datetime | None]:
        """Queued deliveries not yet due for a retry: how many, and the earliest retry."""
        count, first = self.conn.execute(
            "SELECT COUNT(*), MIN(next_try_at) FROM deliveries WHERE status = ?"
            " AND next_try_at > ?", (DeliveryStatus.QUEUED.value, ts(now))).fetchone()
        return int(count), from_ts(first)

    def claim_owners(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT claimed_by FROM deliveries WHERE status = ? AND claimed_at IS NOT"
            " NULL", (DeliveryStatus.QUEUED.value,))]

    def release_claims(self, owner: str) -> int:
        """Free the deliveries a dead sender had claimed (its message in flight may go twice,
        with the same Message-ID)."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE deliveries SET claimed_at = NULL, claimed_by = NULL WHERE claimed_by = ?"
                " AND status = ?", (owner, DeliveryStatus.QUEUED.value))
            return cur.rowcount

    def claim_delivery(self, delivery_id: int, now: datetime, owner: str,
                       stale_after: timedelta) -> bool:
        """Take a queued delivery for this sender; False if another sender holds it.

        A claim older than `stale_after` belongs to a sender that died: it may be taken
        over (the message in flight then may go twice, with the same Message-ID)."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE deliveries SET claimed_at = ?, claimed_by = ? WHERE id = ? AND status = ?"
                " AND (claimed_at IS NULL OR claimed_at < ?)",
                (ts(now), owner, delivery_id, DeliveryStatus.QUEUED.value,
                 ts(now - stale_after)))
            return cur.rowcount == 1

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, sent_at = ?,"
                " last_error = NULL, claimed_at = NULL WHERE id = ?",
                (DeliveryStatus.SENT.value, ts(now), delivery_id))

    def mark_failed(self, delivery_id: int, error: str, next_try_at: datetime | None) -> None:
        """A failed attempt: queued again at `next_try_at`, or failed for good when None."""
        status = DeliveryStatus.QUEUED if next_try_at else DeliveryStatus.FAILED
        with self.transaction():
            self.conn.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
                " next_try_at = ?, claimed_at = NULL WHERE id = ?",
                (status.value, error, ts(next_try_at) if next_try_at else None, delivery_id))

    def record_digest_failure(self, address: str, stage: str, period: str, error: str,
                              now: datetime) -> None:
        """One subscriber's digest failed at `stage` (build | send): kept until it succeeds."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO digest_failures (address, stage, period, error, at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (address) DO UPDATE SET stage = excluded.stage,"
                " period = excluded.period, error = excluded.error, at = excluded.at",
                (address, stage, period, error, ts(now)))

    def clear_digest_failure(self, address: str, stage: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM digest_failures WHERE address = ? AND stage = ?",
                              (address, stage))

    def digest_failures(self) -> list[DigestFailure]:
        return [DigestFailure(address, stage, period, error, from_ts(at))
                for address, stage, period, error, at in self.conn.execute(
                    "SELECT address, stage, period, error, at FROM digest_failures"
                    " ORDER BY at DESC, address")]

    # -- status ---------------------------------------------------------------------------------

    def item_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def status(self) -> ArchiveStatus:
        one = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        deliveries = dict(self.conn.execute(
            "SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())
        return ArchiveStatus(
            database=str(self.path),
            items=one("SELECT COUNT(*) FROM items"),
            stories=one("SELECT COUNT(*) FROM stories"),
            multi_source_stories=one("SELECT COUNT(*) FROM stories WHERE item_count > 1"),
            feeds=one("SELECT COUNT(*) FROM feeds"),
            failing_feeds=one("SELECT COUNT(*) FROM feeds WHERE error_count > 0"),
            partial_feeds=one("SELECT COUNT(*) FROM feeds WHERE partial IS NOT NULL"
                              " AND error_count = 0"),
            # each failing feed: where it failed and why (`relay feeds` has the details)
            failing=tuple(FailingFeed(f, st, e) for f, st, e in self.conn.execute(
                "SELECT id, error_stage, last_error FROM feeds WHERE error_count > 0"
                " ORDER BY id")),
            last_collected_at=from_ts(one("SELECT MAX(collected_at) FROM items")),
            subscribers=one("SELECT COUNT(*) FROM subscribers WHERE active = 1"),
            digests=one("SELECT COUNT(*) FROM digests"),
            deliveries={s.value: deliveries.get(s.value, 0) for s in DeliveryStatus},
            digest_failures=tuple(self.digest_failures()),
            topics=dict(self.conn.execute(
                "SELECT topic, COUNT(*) FROM item_tags GROUP BY topic ORDER BY 2 DESC").fetchall()),
        )


    # -- queries of one's own (`relay sql`) ----------------------------------------------------

    def query(self, sql: str, params: Mapping[str, Any] | None = None
              ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Someone's own SQL (one statement, named `params`), run through sqlite-utils: its
        column names and its rows, read as they are taken. It only reads, whatever it says:
        SQLite refuses to prepare a statement that would write, attach, change a setting or
        open a transaction (an authorizer; a read-only store could not write anyway), and
        that, SQL that is not valid or a parameter not given is a QueryError of one line.
        A failure of the archive itself stays a StoreError."""
        denied: list[str] = []

        def only_reads(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
            if action in _READING or (action == sqlite3.SQLITE_PRAGMA
                                      and (arg1 or "").lower() in _READING_PRAGMAS
                                      and (arg2 is None or arg1 in _PRAGMAS_OF_A_TABLE)):
                return sqlite3.SQLITE_OK
            denied.append("a change of the schema" if arg1 in _SCHEMA_TABLES else
                          " ".join(filter(None, (_ACTIONS.get(action, str(action)), arg1))))
            return sqlite3.SQLITE_DENY

        db = self._db       # (made before the authorizer, which would refuse its pragma)
        self.conn.set_authorizer(only_reads)
        try:
            # (named values always, none given too: SQLite then names the parameter that
            # lacks one, where "Incorrect number of bindings ... 0 supplied" named none)
            cursor = db.execute(sql, dict(params or {}))
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise self._query_error(exc, denied) from exc
        finally:
            self.conn.set_authorizer(None)
        columns = [d[0] for d in cursor.description or ()]
        return columns, self._query_rows(cursor)

    def _query_rows(self, cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
        try:
            for row in cursor:  # noqa: UP028 (yield from would close the cursor when left early)
                yield row
        except sqlite3.Error as exc:    # met while stepping (a bad json(), a full disk)
            raise self._query_error(exc, []) from exc

    def _query_error(self, exc: BaseException, denied: list[str]) -> StoreError | QueryError:
        failure = store_error(exc, self.path)
        if failure is not None:
            return failure
        if denied:
            return QueryError(f"the query does not only read ({denied[0]}): the archive is "
                              "open to queries that read only", hint="SELECT from its views"
                              " (archive_items, archive_story_sources, archive_deliveries)")
        return QueryError(f"the query cannot run: {' '.join(str(exc).split())}")


# What a query of one's own may do (Store.query): read, and nothing else.
_READING = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            sqlite3.SQLITE_RECURSIVE}
_SCHEMA_TABLES = {"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"}
_PRAGMAS_OF_A_TABLE = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                       "foreign_key_list"}
_READING_PRAGMAS = _PRAGMAS_OF_A_TABLE | {
    "table_list", "database_list", "collation_list", "function_list", "module_list",
    "pragma_list", "compile_options", "user_version", "schema_version", "data_version",
    "encoding", "page_count", "page_size", "freelist_count"}
_ACTIONS = {getattr(sqlite3, name): name.removeprefix("SQLITE_").replace("_", " ")
            for name in ("SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_CREATE_TABLE",
                         "SQLITE_CREATE_INDEX", "SQLITE_CREATE_VIEW", "SQLITE_CREATE_TRIGGER",
                         "SQLITE_CREATE_TEMP_TABLE", "SQLITE_CREATE_TEMP_INDEX",
                         "SQLITE_CREATE_TEMP_VIEW", "SQLITE_CREATE_TEMP_TRIGGER",
                         "SQLITE_CREATE_VTABLE", "SQLITE_DROP_TABLE", "SQLITE_DROP_INDEX",
                         "SQLITE_DROP_VIEW", "SQLITE_DROP_TRIGGER", "SQLITE_DROP_TEMP_TABLE",
                         "SQLITE_DROP_TEMP_INDEX", "SQLITE_DROP_TEMP_VIEW",
                         "SQLITE_DROP_TEMP_TRIGGER", "SQLITE_DROP_VTABLE", "SQLITE_ALTER_TABLE",
                         "SQLITE_ATTACH", "SQLITE_DETACH", "SQLITE_TRANSACTION",
                         "SQLITE_SAVEPOINT", "SQLITE_PRAGMA", "SQLITE_ANALYZE", "SQLITE_REINDEX")}


def _within(around: datetime | None, days: float) -> tuple[str, list[Any]]:
    """The condition (and its parameters) that an item `i` was published within `days` of
    `around`, or is undated (nothing when `around` is None)."""
    if around is None:
        return "", []
    return (" AND (i.published_at IS NULL"
            " OR ABS(julianday(i.published_at) - julianday(?)) <= ?)", [ts(around), days])


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
