"""One bad feed, one bad entry, one huge feed harms only itself (issue 10, points 3 and 5):
every feed is collected in its own guard (its error recorded with its stage: fetch, parse,
store), every entry too (skipped and counted), and `settings.limits` caps titles,
summaries and the entries taken per fetch (cut or not taken, and counted)."""

from __future__ import annotations

import json
import logging
import pickle
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.collect import feeds
from relay.collect.feeds import _valid_char_refs, newest, read_feed
from relay.config import builtin_topics, load_config
from relay.errors import ConfigError
from relay.models import Document, Entry, FeedKind, FeedSpec, Fetched, LimitSettings
from relay.pipeline import ingesting
from relay.pipeline.ingesting import Ingester, Outcome, Unreadable, cap
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.tokens import tokenize

NOW = datetime.now(UTC).replace(microsecond=0)


def rss(prefix: str, n: int, extra: str = "", start: datetime | None = None) -> str:
    """A feed of `n` entries dated a minute apart, the newest last; `extra` first."""
    start = start or NOW - timedelta(days=1)
    items = "".join(
        f"<item><title>Quantum computing item {prefix} {i}</title>"
        f"<link>https://{prefix}.example/{i}</link><guid>{prefix}-{i}</guid>"
        f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>"
        f"<description>Qubit research number {i} at {prefix}.</description></item>"
        for i in range(n))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{prefix}</title><link>https://{prefix}.example/</link>{extra}{items}"
            f"</channel></rss>")


def write_config(tmp_path: Path, urls: dict[str, str], settings: str = "") -> Path:
    lines = ["settings:", "  database: relay.db", "  workers: 0",
             "  fetch: {host_delay: 0}", *([settings] if settings else []), "feeds:"]
    for feed_id, url in urls.items():
        lines += [f"  - id: {feed_id}", f"    url: {url}", "    allow_private: true"]
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def collect(config: Path, *args: str) -> tuple[int, dict[str, dict]]:
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--all", "--json",
                                       *args])
    assert result.exit_code in (0, 1), result.output
    assert isinstance(result.exception, SystemExit | None), result.exception
    return result.exit_code, {r["feed"]: r for r in json.loads(result.stdout)}


def feed_rows(config: Path) -> dict[str, dict]:
    result = CliRunner().invoke(main, ["--config", str(config), "feeds", "--json"])
    assert result.exit_code == 0, result.output
    return {r["id"]: r for r in json.loads(result.stdout)}


def titles(tmp_path: Path, feed_id: str) -> list[str]:
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        return [t for (t,) in conn.execute(
            "SELECT title FROM items WHERE feed_id = ? ORDER BY id", (feed_id,))]


# -- point 3: a document feedparser cannot read ------------------------------------------------


def test_a_forbidden_character_reference_costs_neither_the_feed_nor_the_run(
        tmp_path, http_server):
    """feedparser raised UnicodeEncodeError on `&#xD800;`: the feed failed whole. It is
    read now, the reference as U+FFFD, and the feeds around it are collected."""
    bad = ("<item><title>Lone surrogate &#xD800; in a title</title>"
           "<link>https://bad.example/x</link><guid>bad-x</guid></item>")
    config = write_config(tmp_path, {
        "before": http_server.add("/before.xml", rss("before", 3)),
        "bad": http_server.add("/bad.xml", rss("bad", 3, bad)),
        "after": http_server.add("/after.xml", rss("after", 3))})
    code, reports = collect(config)
    assert code == 0, reports
    assert [reports[f]["new"] for f in ("before", "bad", "after")] == [3, 4, 3]
    assert "Lone surrogate \ufffd in a title" in titles(tmp_path, "bad")


@pytest.mark.parametrize(("body", "expected"), [
    (b"<t>&#xD800;</t>", b"<t>&#xFFFD;</t>"),              # a lone surrogate
    (b"<t>&#57343;</t>", b"<t>&#xFFFD;</t>"),              # U+DFFF, in decimal
    (b"<t>&#x110000;</t>", b"<t>&#xFFFD;</t>"),            # beyond Unicode
    (b"<t>&#99999999999;</t>", b"<t>&#99999999999;</t>"),  # too long to be a reference
    (b"<t>&#x1;&#xFFFE;</t>", b"<t>&#xFFFD;&#xFFFD;</t>"),  # a C0 control, a non-character
    (b"<t>&#x9;&#10;&#xD;</t>", b"<t>&#x9;&#10;&#xD;</t>"),  # tab, newline, return stay
    (b"<t>&#xE9;&#x1F600;&#169;</t>", b"<t>&#xE9;&#x1F600;&#169;</t>"),
    (b"<t>AT&amp;T &#x;</t>", b"<t>AT&amp;T &#x;</t>"),    # no reference at all
])
def test_character_references_xml_forbids_become_the_replacement_character(body, expected):
    assert _valid_char_refs(body) == expected


# -- every feed in its own guard ---------------------------------------------------------------


def _fail_storing(monkeypatch, feed_id: str, exc: BaseException):
    """The duplicate lookup raises `exc` for the items of `feed_id`; returns the real one."""
    real = ingesting._archived_copy

    def lookup(store, item, *args):
        if item.feed_id == feed_id:
            raise exc
        return real(store, item, *args)

    monkeypatch.setattr(ingesting, "_archived_copy", lookup)
    return real


def test_a_failure_while_storing_one_feed_is_its_error_with_its_stage(
        tmp_path, http_server, monkeypatch, caplog):
    """Any exception while one feed is stored (here: the duplicate lookup) fails that feed
    alone, recorded with the stage; -v (INFO) shows the traceback, the warning names it."""
    real = _fail_storing(monkeypatch, "middle", KeyError("a defect only this feed meets"))
    config = write_config(tmp_path, {
        name: http_server.add(f"/{name}.xml", rss(name, 2)) for name in ("first", "middle",
                                                                        "last")})
    caplog.set_level(logging.INFO, logger="relay")
    code, reports = collect(config)
    assert code == 1
    assert reports["middle"]["stage"] == "store"
    assert reports["middle"]["error"] == "KeyError: 'a defect only this feed meets'"
    assert reports["first"]["new"] == reports["last"]["new"] == 2
    warning = [r for r in caplog.records if r.levelno == logging.WARNING
               and "failed feed=middle stage=store" in r.getMessage()]
    assert warning and warning[0].exc_info is None          # one line without -v
    traced = [r for r in caplog.records if r.levelno == logging.INFO and r.exc_info
              and "feed=middle" in r.getMessage()]
    assert traced, "-v shows the traceback"
    rows = feed_rows(config)
    assert rows["middle"]["error_stage"] == "store" and rows["middle"]["error_count"] == 1
    assert rows["first"]["error_stage"] is None
    table = CliRunner().invoke(main, ["--config", str(config), "feeds"]).output
    assert "store: KeyError" in table
    status = CliRunner().invoke(main, ["--config", str(config), "status"]).output
    assert "1 failing" in status and "middle: store: KeyError" in status

    # The next collect that goes well clears the stage.
    monkeypatch.setattr(ingesting, "_archived_copy", real)
    code, reports = collect(config)
    assert code == 0 and reports["middle"]["new"] == 2
    assert feed_rows(config)["middle"]["error_stage"] is None


def test_a_failure_while_recording_one_feed_spares_the_others(tmp_path, http_server,
                                                              monkeypatch):
    """After the items are stored: recording the feed's health fails for it alone."""
    real = Store.record_fetch_ok

    def record(self, feed_id, *args, **kwargs):
        if feed_id == "first":
            raise ValueError("cannot record this one")
        return real(self, feed_id, *args, **kwargs)

    monkeypatch.setattr(Store, "record_fetch_ok", record)
    config = write_config(tmp_path, {
        name: http_server.add(f"/{name}.xml", rss(name, 2)) for name in ("first", "second")})
    code, reports = collect(config)
    assert code == 1
    assert (reports["first"]["stage"], reports["first"]["error"]) == (
        "store", "ValueError: cannot record this one")
    assert reports["second"]["ok"] and reports["second"]["new"] == 2


def test_a_defect_met_while_fetching_one_feed_fails_it_alone(tmp_path, http_server,
                                                             monkeypatch):
    from relay.collect import fetch

    real = fetch._fetch_one

    async def one(client, req, *args):
        if req.feed_id == "odd":
            raise LookupError("a defect only this request meets")
        return await real(client, req, *args)

    monkeypatch.setattr(fetch, "_fetch_one", one)
    config = write_config(tmp_path, {
        name: http_server.add(f"/{name}.xml", rss(name, 1)) for name in ("odd", "fine")})
    code, reports = collect(config)
    assert code == 1
    assert (reports["odd"]["stage"], reports["odd"]["error"]) == (
        "fetch", "LookupError: a defect only this request meets")
    assert reports["fine"]["new"] == 1


def test_fetch_and_parse_failures_carry_their_stage(tmp_path, http_server):
    config = write_config(tmp_path, {
        "gone": http_server.add("/gone.xml", "", status=500),
        "page": http_server.add("/page.xml", "<!doctype html><html></html>",
                                content_type="text/html"),
        "good": http_server.add("/good.xml", rss("good", 1))})
    code, reports = collect(config)
    assert code == 1
    assert (reports["gone"]["stage"], reports["page"]["stage"]) == ("fetch", "parse")
    assert reports["good"]["stage"] is None and reports["good"]["new"] == 1
    output = CliRunner().invoke(main, ["--config", str(config), "collect", "--all"]).output
    assert "gone: error (fetch): HTTP 500" in output


TAXONOMY = compile_taxonomy(builtin_topics(), tokenize)


def _ingest_documents(db: Path, n_workers: int,
                      documents: list[tuple[FeedSpec, object]]) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    with Store(db) as store:
        store.sync_feeds([f for f, _ in documents])
        ingester = Ingester(store, TAXONOMY, NOW, n_workers)
        try:
            for feed, parse in documents:
                ingester.add_document(feed, parse, 10**6,
                                      lambda o, f=feed.id: outcomes.__setitem__(f, o))
            ingester.finish()
        finally:
            ingester.close()
    return outcomes


@pytest.mark.parametrize("n_workers", [0, 2])
def test_a_parser_defect_in_a_worker_fails_its_feed_alone(tmp_path, monkeypatch, n_workers):
    """The same in a worker process: the defect comes back as the feed's parse error,
    its traceback as text, and the next feed is stored."""
    monkeypatch.setattr(ingesting, "POOL_MIN_BYTES", 0)
    good = FeedSpec(id="good", name="good", kind=FeedKind.RSS, url="https://good.example/")
    bad = FeedSpec(id="bad", name="bad", kind=FeedKind.RSS, url="https://bad.example/")
    fetched = Fetched("good", "https://good.example/", 200, rss("good", 3).encode())
    outcomes = _ingest_documents(tmp_path / "a.db", n_workers, [
        (bad, partial(int, "not a document")),          # raises ValueError where it runs
        (good, partial(read_feed, fetched, None))])
    error = outcomes["bad"].error
    assert isinstance(error, Unreadable) and outcomes["bad"].stage == "parse"
    assert "ValueError: invalid literal for int()" in error.message
    assert "Traceback" in error.trace
    assert outcomes["good"].error is None and outcomes["good"].new == 3


def test_an_unreadable_error_crosses_processes_with_its_traceback():
    try:
        int("x")
    except ValueError as exc:
        error = Unreadable.of(exc)
    again = pickle.loads(pickle.dumps(error))
    assert (again.message, again.trace) == (error.message, error.trace)
    assert "int(\"x\")" in again.trace


def test_the_daemon_collects_each_feed_in_its_guard(tmp_path, http_server, monkeypatch):
    from relay.daemon import Daemon

    real = ingesting._archived_copy
    monkeypatch.setattr(ingesting, "_archived_copy", lambda store, item, *a: (
        1 / 0 if item.feed_id == "bad" else real(store, item, *a)))
    path = write_config(tmp_path, {
        name: http_server.add(f"/{name}.xml", rss(name, 2)) for name in ("bad", "good")})
    config = load_config(path, env={})
    daemon = Daemon(config, config.settings.database)
    daemon.store = Store(config.settings.database)
    try:
        for feed_id in ("bad", "good"):
            daemon._guard(f"collect:{feed_id}", daemon._collect(feed_id))()
    finally:
        daemon.store.close()
    rows = feed_rows(path)
    assert (rows["bad"]["error_stage"], rows["bad"]["last_error"]) == (
        "store", "ZeroDivisionError: division by zero")
    assert rows["good"]["items"] == 2 and rows["good"]["error_count"] == 0


# -- every entry in its own guard --------------------------------------------------------------


def test_an_entry_that_cannot_be_read_is_skipped_and_counted(tmp_path, http_server,
                                                             monkeypatch):
    real = feeds._entry_date

    def date(e, zone=UTC):
        if "item mixed 1" in e.get("title", ""):
            raise OverflowError("date value out of range")
        return real(e, zone)

    monkeypatch.setattr(feeds, "_entry_date", date)
    config = write_config(tmp_path, {"mixed": http_server.add("/mixed.xml", rss("mixed", 3))})
    code, reports = collect(config)
    assert code == 0
    assert (reports["mixed"]["new"], reports["mixed"]["skipped"]) == (2, 1)
    assert titles(tmp_path, "mixed") == ["Quantum computing item mixed 0",
                                         "Quantum computing item mixed 2"]
    assert feed_rows(config)["mixed"]["skipped"] == 1
    table = CliRunner().invoke(main, ["--config", str(config), "feeds"]).output
    assert "1 unreadable skipped" in table


def test_an_item_the_archive_refuses_is_skipped_whole_and_its_feed_kept(
        tmp_path, http_server, monkeypatch):
    """An item fails after part of it was written: none of it stays (a savepoint), the
    other items of its batch are stored in the same transaction."""
    real = Store.insert_item

    def insert(self, item, *args):
        item_id = real(self, item, *args)
        if item.guid == "feed-1":
            raise ValueError("a value the archive refuses")
        return item_id

    monkeypatch.setattr(Store, "insert_item", insert)
    config = write_config(tmp_path, {"feed": http_server.add("/feed.xml", rss("feed", 3))})
    code, reports = collect(config)
    assert code == 0
    assert (reports["feed"]["new"], reports["feed"]["skipped"]) == (2, 1)
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        assert [g for (g,) in conn.execute("SELECT guid FROM items ORDER BY id")] == [
            "feed-0", "feed-2"]
        # nothing of the refused item: no index row, no tags, no bands
        assert conn.execute("SELECT COUNT(*) FROM items_fts").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM item_tags WHERE item_id NOT IN"
                            " (SELECT id FROM items)").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM lsh_bands WHERE item_id NOT IN"
                            " (SELECT id FROM items)").fetchone()[0] == 0


def test_a_group_of_items_the_archive_takes_is_stored_in_one_savepoint(tmp_path):
    """SQLite's full-text index writes what it holds at every savepoint: one savepoint an
    item cost 0.15 ms an item. A group is stored in one; only a group with an item the
    archive refuses is stored again, item by item (see the test above)."""
    feed = FeedSpec(id="feed", name="feed", kind=FeedKind.RSS, url="https://x.example/")
    body = rss("feed", 40).encode()
    entries = feeds.parse_feed(Fetched("feed", "https://x.example/feed.xml", 200, body))
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    statements: list[str] = []
    with Store(tmp_path / "relay.db") as store:
        store.sync_feeds([feed])
        store.conn.set_trace_callback(statements.append)
        new, _ = ingesting.ingest(feed, entries, store, taxonomy, datetime.now(UTC))
        store.conn.set_trace_callback(None)
        assert new == 40
        assert store.conn.execute("SELECT COUNT(*) FROM items_fts").fetchone()[0] == 40
    assert [s for s in statements if s.startswith(("SAVEPOINT", "RELEASE"))] == [
        "SAVEPOINT one", "RELEASE one"]


def test_running_out_of_memory_on_one_feed_fails_it_alone(tmp_path, http_server, monkeypatch):
    """A MemoryError met while one feed is stored is that feed's (its document was too
    much), not the archive's: the run goes on; only failures of the archive end it."""
    _fail_storing(monkeypatch, "middle", MemoryError("this feed alone was too much"))
    config = write_config(tmp_path, {
        name: http_server.add(f"/{name}.xml", rss(name, 2)) for name in ("first", "middle",
                                                                        "last")})
    code, reports = collect(config)
    assert code == 1
    assert reports["middle"]["stage"] == "store" and "MemoryError" in reports["middle"]["error"]
    assert reports["first"]["new"] == reports["last"]["new"] == 2


def _full_after(monkeypatch, first: str) -> list[str]:
    """The archive's disk is full (SQLite's own page limit: SQLITE_FULL) from the moment
    feed `first` is recorded; returns the feeds whose failure relay then tries to record."""
    real_ok, real_error = Store.record_fetch_ok, Store.record_fetch_error
    recorded: list[str] = []

    def ok(self, feed_id, *args, **kwargs):
        real_ok(self, feed_id, *args, **kwargs)
        if feed_id == first:
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            self.conn.execute(f"PRAGMA max_page_count = {pages}")

    def error(self, feed_id, *args, **kwargs):
        recorded.append(feed_id)
        real_error(self, feed_id, *args, **kwargs)

    monkeypatch.setattr(Store, "record_fetch_ok", ok)
    monkeypatch.setattr(Store, "record_fetch_error", error)
    return recorded


def test_a_full_disk_in_the_middle_of_a_collect_ends_it_with_one_line(tmp_path, http_server,
                                                                      monkeypatch):
    """An archive-wide failure is no feed's: the run ends at once with the archive's error
    (one line and its hint, exit 1, no traceback), no later feed "fails" and tries to
    record it, and what was stored before stays."""
    recorded = _full_after(monkeypatch, "first")
    config = write_config(tmp_path, {
        name: http_server.add(f"/{name}.xml", rss(name, 300)) for name in ("first", "second",
                                                                          "third")})
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--all"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "the disk is full" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "Hint: free space" in result.stderr
    assert recorded == []
    monkeypatch.undo()
    rows = feed_rows(config)
    assert rows["first"]["last_ok_at"] and len(titles(tmp_path, "first")) == 300
    assert rows["second"]["error_count"] == rows["third"]["error_count"] == 0
    assert rows["second"]["skipped"] == 0        # no item's fault either
    assert titles(tmp_path, "second") == titles(tmp_path, "third") == []
    # Room again: the next collect takes the rest.
    code, reports = collect(config)
    assert code == 0 and reports["second"]["new"] == reports["third"]["new"] == 300


def test_a_locked_archive_in_the_middle_of_a_collect_is_waited_for_once(tmp_path, http_server,
                                                                        monkeypatch):
    """Another process holds the write lock past the busy timeout once feed `first` is
    stored: the run ends with one LockedError after one wait, not one per later feed."""
    real_ok = Store.record_fetch_ok
    holder: list[sqlite3.Connection] = []

    def ok(self, feed_id, *args, **kwargs):
        real_ok(self, feed_id, *args, **kwargs)
        if feed_id == "first":
            con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            con.execute("BEGIN IMMEDIATE")
            holder.append(con)

    monkeypatch.setattr(Store, "record_fetch_ok", ok)
    monkeypatch.setattr("relay.store.BUSY_TIMEOUT", 1.5)
    config = write_config(tmp_path, {
        name: http_server.add(f"/{name}.xml", rss(name, 2)) for name in ("first", "second",
                                                                        "third", "fourth")})
    started = time.monotonic()
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--all"])
    waited = time.monotonic() - started
    holder[0].execute("ROLLBACK")
    holder[0].close()
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "locked" in errors[0], result.stderr
    assert waited < 2.9, waited      # one busy timeout (1.5 s), not one per feed or retry
    monkeypatch.undo()
    rows = feed_rows(config)
    assert [r["error_count"] for r in rows.values()] == [0, 0, 0, 0]
    assert len(titles(tmp_path, "first")) == 2


# -- caps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short", 10, "short"),
    ("exactly ten", 11, "exactly ten"),
    ("one two three four five six", 20, "one two three four…"),
    ("abcdefghijklmnopqrstuvwxyz", 10, "abcdefghi…"),              # no space: anywhere
    ("a bcdefghijklmnopqrstuvwxyz", 10, "a bcdefgh…"),             # a space too early
    ("量子技術の研究拠点を新設した", 8, "量子技術の研究…"),
])
def test_cap_cuts_at_a_space_near_the_end(text, limit, expected):
    assert cap(text, limit) == expected
    assert len(cap(text, limit)) <= limit


def _entry(i: int, day: int | None) -> Entry:
    published = datetime(2026, 1, day, tzinfo=UTC) if day else None
    return Entry("f", f"g{i}", f"https://f.example/{i}", f"t{i}", "", published)


@pytest.mark.parametrize(("days", "limit", "kept"), [
    ([1, 2, 3], 5, [0, 1, 2]),                       # under the cap: all, as they were
    ([1, 3, 2, 5, 4], 2, [3, 4]),                    # the newest, in document order
    ([5, 4, 3, 2, 1], 3, [0, 1, 2]),
    ([None, None, None, None], 2, [0, 1]),           # undated: the first of the document
    ([None, 1, None, 2], 2, [1, 3]),                 # dated before undated
    ([None, 1, None, 2], 3, [0, 1, 3]),
    ([2, 2, 2], 2, [0, 1]),                          # ties: document order
])
def test_newest_takes_the_newest_entries_by_date_else_the_first(days, limit, kept):
    entries = [_entry(i, d) for i, d in enumerate(days)]
    out, over = newest(entries, limit)
    assert [int(e.guid[1:]) for e in out] == kept
    assert over == len(entries) - len(kept)


def _shuffled_feed(n: int) -> bytes:
    """`n` entries dated in no order, some undated, with a channel element between two."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for i in range(n):
        minutes = (i * 37) % n
        date = "" if i % 5 == 4 else f"<pubDate>{format_datetime(start + timedelta(minutes=minutes))}</pubDate>"
        items.append(f"<item><title>entry {i}</title><link>https://s.example/{i}</link>"
                     f"<guid>s-{i}</guid>{date}</item>")
    items.insert(n // 2, "<ttl>90</ttl>")
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>s</title>'
            f'{"".join(items)}</channel></rss>').encode()


@pytest.mark.parametrize("limit", [1, 7, 30, 59, 60, 100])
def test_a_document_cut_before_parsing_gives_what_the_cap_after_parsing_gives(limit):
    body = _shuffled_feed(60)
    whole = read_feed(Fetched("s", "https://s.example/", 200, body))
    capped = read_feed(Fetched("s", "https://s.example/", 200, body), max_entries=limit)
    expected, over = newest(whole.entries, limit)
    assert capped.entries == expected and capped.over_cap == over
    assert capped.ttl == whole.ttl == 5400


def test_a_huge_document_reaches_feedparser_with_only_the_entries_taken(monkeypatch):
    """feedparser costs about a millisecond an entry: a feed of 100,000 took minutes for
    entries relay would not take. Only the newest `max_entries` reach it."""
    seen: list[int] = []
    real = feeds._feedparse
    monkeypatch.setattr(feeds, "_feedparse",
                        lambda body: seen.append(body.count(b"<item>")) or real(body))
    doc = read_feed(Fetched("big", "https://big.example/", 200, rss("big", 3000).encode()),
                    max_entries=10)
    assert seen == [10]
    assert doc.over_cap == 2990
    assert [e.guid for e in doc.entries] == [f"big-{i}" for i in range(2990, 3000)]


def test_a_broken_huge_document_is_capped_after_parsing():
    body = rss("broken", 40).encode().replace(b"</channel></rss>", b"<item><title>cut")
    doc = read_feed(Fetched("b", "https://b.example/", 200, body), max_entries=5)
    assert [e.guid for e in doc.entries] == [f"broken-{i}" for i in range(35, 40)]
    assert doc.over_cap == 35 and doc.partial


def test_caps_trim_and_skip_and_count_what_is_over_them(tmp_path, http_server):
    long_title = "Quantum " + "computing " * 30
    long_text = "Qubit research " * 100
    extra = (f"<item><title>{long_title}</title><link>https://c.example/long</link>"
             f"<guid>c-long</guid><pubDate>{format_datetime(NOW)}</pubDate>"
             f"<description>{long_text}</description></item>")
    config = write_config(tmp_path, {"c": http_server.add("/c.xml", rss("c", 12, extra))},
                          "  limits: {max_title_chars: 60, max_summary_chars: 300,"
                          " max_entries: 5}")
    code, reports = collect(config)
    assert code == 0
    assert (reports["c"]["new"], reports["c"]["trimmed"], reports["c"]["over_cap"]) == (5, 1, 8)
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        rows = conn.execute("SELECT guid, title, text FROM items ORDER BY id").fetchall()
    assert sorted(g for g, _t, _x in rows) == sorted(["c-long", *(f"c-{i}" for i in range(8, 12))])
    long = next(r for r in rows if r[0] == "c-long")
    assert len(long[1]) <= 60 and long[1].endswith("…")
    assert len(long[2]) <= 300 and long[2].endswith("…")
    row = feed_rows(config)["c"]
    assert (row["trimmed"], row["over_cap"], row["skipped"]) == (1, 8, 0)
    table = CliRunner().invoke(main, ["--config", str(config), "feeds"]).output
    assert "1 trimmed, 8 over the cap" in table
    # Not modified since: what the document was read with still holds.
    code, reports = collect(config)
    assert reports["c"]["not_modified"] and feed_rows(config)["c"]["over_cap"] == 8


def test_pages_and_fulltext_entries_are_capped_by_the_ingester_too(tmp_path):
    feed = FeedSpec(id="p", name="p", kind=FeedKind.PAGE, url="https://p.example/")
    entries = [_entry(i, i + 1) for i in range(8)]
    entries = [Entry("p", e.guid, e.url, f"Notice number {i}", "<p>text</p>", e.published_at)
               for i, e in enumerate(entries)]
    outcomes: list[Outcome] = []
    with Store(tmp_path / "p.db") as store:
        store.sync_feeds([feed])
        ingester = Ingester(store, TAXONOMY, NOW, 0, limits=LimitSettings(max_entries=3))
        ingester.add(feed, entries, outcomes.append)
        ingester.finish()
        guids = [g for (g,) in store.conn.execute("SELECT guid FROM items ORDER BY id")]
    assert guids == ["g5", "g6", "g7"] and outcomes[0].over_cap == 5


@pytest.mark.parametrize(("limits", "message"), [
    ("{max_title_chars: 5}", "settings.limits.max_title_chars: must be from 20 to 100000 characters, not 5"),
    ("{max_summary_chars: 0}", "settings.limits.max_summary_chars: must be from 100"),
    ("{max_entries: 0}", "settings.limits.max_entries: must be from 1 to 100000 entries"),
    ("{max_entries: 1000000}", "settings.limits.max_entries: must be from 1 to 100000 entries"),
    ("{max_entries: 2.5}", "settings.limits.max_entries: must be an integer"),
    ("{max_entries: true}", "must be an integer, not a boolean"),
    ("{max_items: 3}", "max_items"),
    ("[1, 2]", "settings.limits: must be a mapping"),
])
def test_limits_are_validated_with_their_path(tmp_path, limits, message):
    config = write_config(tmp_path, {}, f"  limits: {limits}")
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert message in str(info.value)


def test_limits_default_to_sensible_caps(tmp_path):
    assert load_config(write_config(tmp_path, {}), env={}).settings.limits == LimitSettings(
        max_title_chars=500, max_summary_chars=50_000, max_entries=1_000)
    chosen = load_config(write_config(tmp_path, {}, "  limits: {max_entries: 50}"), env={})
    assert chosen.settings.limits.max_entries == 50
    assert chosen.settings.limits.max_title_chars == 500


def test_a_document_result_is_what_a_worker_sends_back():
    doc = Document([_entry(0, 1)], 60, None, 2, 3)
    assert pickle.loads(pickle.dumps(doc)) == doc
