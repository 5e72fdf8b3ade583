"""Failures of the archive's file and disk (issue 10, point 7).

A full disk, a read-only archive or folder, a locked, damaged or foreign file are relay
errors: one line with the archive's path and a hint, exit 1, no traceback (-v shows it).
The commands that only read open the archive read-only: they write nothing, and work on
a read-only file in a read-only folder.

Tests may run as root, for whom permissions do not stop a write: a command that must
meet a read-only file then runs in a subprocess without CAP_DAC_OVERRIDE (dropped from
its bounding set before exec), which makes root as bound by permissions as anyone. A
full disk is a real tiny filesystem (tmpfs in a private mount namespace) where mounting
is allowed, and everywhere SQLite's own page limit (`max_page_count`), which meets the
same SQLITE_FULL.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import relay.store
from relay.cli import main
from relay.errors import EXIT_FAILURES, LockedError, RefusedError, StoreError
from relay.models import Tag
from relay.store import MIGRATIONS, Store, store_error, translate

REPORT = """---
title: Connecticut invests in quantum computing research
date: {date}
topics: [quantum]
---
The state will fund a quantum computing research center with 121 million dollars.
"""

CONFIG = """
settings:
  database: {db}
  digests_dir: {digests}
feeds:
  - id: reports
    name: {name}
    kind: reports
    path: inbox
    lang: en
{extra}"""

ADDED = "  - id: added\n    kind: reports\n    path: inbox\n    lang: en\n"

# Every command that only reads the archive, with what its output must hold.
READERS = [
    (["status"], "subscribers: 1"),
    (["status", "--json"], '"items": 1'),
    (["feeds"], "reports"),
    (["feeds", "--json"], "Renamed reports"),
    (["subscribers"], "desk@mext.example"),
    (["subscribers", "--json"], "desk@mext.example"),
    (["search", "quantum"], "Connecticut"),
    (["search", "--format", "json"], "Connecticut"),
    (["show", "1"], "Connecticut"),
    (["export"], "Connecticut"),
    (["export", "--format", "csv"], "Connecticut"),
    (["digest", "preview", "--subscriber", "desk@mext.example"], "preview"),
]
READER_IDS = [" ".join(args) for args, _ in READERS]

# Commands that write the archive.
WRITERS = [
    ["subscribe", "other@mext.example", "--topics", "quantum"],
    ["unsubscribe", "desk@mext.example"],
    ["collect", "reports"],
    ["digest", "build"],
    ["retag"],
]


class Site:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "archive"
        self.db = self.folder / "relay.db"
        self.config = root / "feeds.yaml"
        (root / "inbox").mkdir()
        self.configure()

    def configure(self, name: str = "Reports", extra: str = "") -> None:
        self.config.write_text(CONFIG.format(db=self.db, digests=self.root / "digests",
                                             name=name, extra=extra), encoding="utf-8")

    def args(self, *args: str) -> list[str]:
        return ["--config", str(self.config), *args]

    def relay(self, *args: str) -> Result:
        return CliRunner().invoke(main, self.args(*args))

    def snapshot(self) -> tuple[bytes, int]:
        return self.db.read_bytes(), self.db.stat().st_mtime_ns


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """An archive with one item and one subscriber, closed (no -wal beside it)."""
    s = Site(tmp_path)
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    (tmp_path / "inbox" / "r1.md").write_text(REPORT.format(date=day), encoding="utf-8")
    assert s.relay("collect", "reports").exit_code == 0
    assert s.relay("subscribe", "desk@mext.example", "--topics", "quantum").exit_code == 0
    assert sorted(p.name for p in s.folder.iterdir()) == ["relay.db"]
    return s


def _one_error(code: int, err: str, *words: str) -> None:
    """Exit 1, `Error: ...` and `Hint: ...` on stderr, no traceback, and the words."""
    assert code == EXIT_FAILURES, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), err
    assert len(lines) == 2 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)


# -- the translation, table-driven --------------------------------------------------------------

def _sqlite_error(kind: type[sqlite3.Error], message: str, code: int, name: str) -> sqlite3.Error:
    exc = kind(message)
    exc.sqlite_errorcode = code     # (what the sqlite3 module sets on the errors it raises)
    exc.sqlite_errorname = name
    return exc


@pytest.mark.parametrize(("exc", "kind", "what", "hint"), [
    (_sqlite_error(sqlite3.OperationalError, "database or disk is full", 13, "SQLITE_FULL"),
     StoreError, "the disk is full", "free space on the disk that holds /srv/relay"),
    (_sqlite_error(sqlite3.OperationalError, "attempt to write a readonly database", 8,
                   "SQLITE_READONLY"), StoreError, "the archive is read-only", "writable"),
    (_sqlite_error(sqlite3.OperationalError, "attempt to write a readonly database", 1544,
                   "SQLITE_READONLY_DIRECTORY"), StoreError, "folder is read-only", "folder"),
    (_sqlite_error(sqlite3.OperationalError, "database is locked", 5, "SQLITE_BUSY"),
     LockedError, "locked: another relay process", "try again"),
    (_sqlite_error(sqlite3.OperationalError, "database table is locked", 6, "SQLITE_LOCKED"),
     LockedError, "locked", "try again"),
    (_sqlite_error(sqlite3.DatabaseError, "database disk image is malformed", 11,
                   "SQLITE_CORRUPT"), StoreError, "damaged", "backup"),
    (_sqlite_error(sqlite3.DatabaseError, "file is not a database", 26, "SQLITE_NOTADB"),
     StoreError, "not an SQLite archive", "--db"),
    (_sqlite_error(sqlite3.OperationalError, "unable to open database file", 14,
                   "SQLITE_CANTOPEN"), StoreError, "cannot be opened", "may read"),
    (_sqlite_error(sqlite3.OperationalError, "disk I/O error", 778, "SQLITE_IOERR_WRITE"),
     StoreError, "the disk failed", "/srv/relay"),
], ids=["full", "readonly", "readonly-folder", "busy", "locked", "corrupt", "not-a-db",
        "cantopen", "ioerr"])
def test_failures_of_the_system_are_store_errors_with_a_hint(exc, kind, what, hint):
    error = store_error(exc, Path("/srv/relay/relay.db"))
    assert type(error) is kind
    assert error.exit_code == EXIT_FAILURES
    assert what in error.message and str(exc) in error.message
    assert error.where == "/srv/relay/relay.db"
    assert hint in error.hint


@pytest.mark.parametrize("exc", [
    _sqlite_error(sqlite3.IntegrityError, "UNIQUE constraint failed: items.guid", 2067,
                  "SQLITE_CONSTRAINT_UNIQUE"),
    sqlite3.ProgrammingError("Cannot operate on a closed database."),
    ValueError("not sqlite"),
], ids=["constraint", "misuse", "foreign"])
def test_defects_are_not_dressed_as_store_failures(exc):
    assert store_error(exc, "relay.db") is None


@pytest.mark.parametrize(("exc", "kind", "what"), [
    (_sqlite_error(sqlite3.IntegrityError, "FOREIGN KEY constraint failed", 787,
                   "SQLITE_CONSTRAINT_FOREIGNKEY"), RefusedError, "refused what relay gave it"),
    (sqlite3.ProgrammingError("Error binding parameter 1: type 'list' is not supported"),
     RefusedError, "refused what relay gave it"),
    (_sqlite_error(sqlite3.OperationalError, "no such table: feeds", 1, "SQLITE_ERROR"),
     StoreError, "cannot run a statement of relay's"),
    (_sqlite_error(sqlite3.OperationalError, "database or disk is full", 13, "SQLITE_FULL"),
     StoreError, "the disk is full"),
], ids=["constraint", "binding", "schema", "full"])
def test_every_sqlite_error_is_translated_with_a_hint(exc, kind, what):
    error = translate(exc, Path("/srv/relay/relay.db"))
    assert type(error) is kind and error.exit_code == EXIT_FAILURES
    assert what in error.message and str(exc) in error.message
    assert error.where == "/srv/relay/relay.db" and error.hint


def test_a_constraint_the_archive_refuses_is_a_refused_error(tmp_path):
    """A public method of the store never lets an sqlite3 exception out: a tag of an item
    the archive does not hold breaks a foreign key, which is that record's fault (not a
    StoreError, which would end a collect)."""
    with Store(tmp_path / "relay.db") as store:
        with pytest.raises(RefusedError, match="FOREIGN KEY constraint failed") as caught:
            store.replace_tags({999: [Tag("quantum", 1.0, ("qubit",))]})
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
        assert not isinstance(caught.value, StoreError)
        assert not store.conn.in_transaction      # undone, and the store goes on
        store.replace_tags({})


def test_rows_read_after_the_method_returned_are_translated_too(site):
    """export_rows reads the archive a batch at a time as its rows are taken: what SQLite
    raises then is a relay error too (here a table gone from under it)."""
    with Store(site.db) as store:
        rows = store.export_rows()
        store.conn.execute("DROP VIEW IF EXISTS archive_items")
        store.conn.execute("ALTER TABLE feeds RENAME TO feeds_gone")
        with pytest.raises(StoreError, match="no such table: feeds") as caught:
            next(rows)
        assert "schema" in caught.value.hint


def test_a_statement_the_archive_cannot_run_ends_a_command_in_one_line(site):
    """An archive whose schema was changed by hand: the command says so in one line with
    a hint, exit 1, no traceback (before, SQLite's own exception and its traceback)."""
    with sqlite3.connect(site.db) as conn:
        conn.execute("DROP VIEW archive_items")
        conn.execute("DROP VIEW archive_story_sources")
        conn.execute("ALTER TABLE feeds RENAME TO feeds_gone")
    conn.close()
    result = site.relay("export")
    assert result.exit_code == EXIT_FAILURES
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: the archive cannot run a statement of relay's "
                               "(no such table: feeds)"), result.stderr
    assert lines[1].startswith("Hint: its schema may not be this relay's")
    assert len(lines) == 2 and "Traceback" not in result.stderr


# -- commands that only read --------------------------------------------------------------------

@pytest.mark.parametrize(("args", "shows"), READERS, ids=READER_IDS)
def test_reading_commands_write_nothing(site, args, shows):
    # The configuration changed since the last collect: a reader shows it, and writes none
    # of it (status wrote it before, through sync_feeds).
    site.configure(name="Renamed reports", extra=ADDED)
    before = site.snapshot()
    result = site.relay(*args)
    assert result.exit_code == 0, result.output
    assert shows in result.output + result.stderr
    assert site.snapshot() == before
    wal = site.folder / "relay.db-wal"       # (SQLite's reader may make an empty one)
    assert not wal.exists() or wal.stat().st_size == 0
    assert not (site.folder / "relay.db-journal").exists()


def test_feeds_on_a_read_only_archive_show_the_configuration_in_force(site):
    site.configure(name="Renamed reports", extra=ADDED)
    result = site.relay("feeds", "--json")
    assert result.exit_code == 0, result.output
    assert '"added"' in result.output and "Renamed reports" in result.output
    status = site.relay("status", "--json")
    assert '"feeds": 2' in status.output
    with Store(site.db, readonly=True) as store:      # the archive itself holds the old
        assert [(r["id"], r["name"]) for r in store.feed_rows(relay.store.from_ts(
            "2026-12-01T00:00:00Z") or 0)] == [("reports", "Reports")]


def _unprivileged() -> None:
    """preexec_fn: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so
    that root, after exec, obeys file permissions like any user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):                       # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


DRIVER = """
import json, sys
from click.testing import CliRunner
from relay.cli import main
results = [CliRunner().invoke(main, args) for args in json.loads(sys.argv[1])]
print(json.dumps([[r.exit_code, r.stdout, r.stderr] for r in results]))
"""


def _relay_bound_by_permissions(site: Site, *commands: list[str]) -> list[tuple[int, str, str]]:
    """Exit status, stdout and stderr of each command, run one after the other in one
    process (one start-up) that file permissions bind, even as root."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, json.dumps([site.args(*c) for c in commands])],
            capture_output=True, text=True, timeout=600, cwd=site.root, check=True,
            preexec_fn=_unprivileged if os.geteuid() == 0 else None)
    except subprocess.SubprocessError as exc:
        if "prctl" in str(exc):
            pytest.skip("root without CAP_SETPCAP: cannot drop CAP_DAC_OVERRIDE")
        raise
    return [tuple(r) for r in json.loads(done.stdout)]


@pytest.fixture(params=["file", "file-and-folder"])
def read_only(request, site) -> Iterator[Site]:
    """The archive made read-only (and its folder too), and the configuration changed
    since the last collect; restored after the test."""
    site.configure(name="Renamed reports", extra=ADDED)
    site.db.chmod(0o444)
    if request.param == "file-and-folder":
        site.folder.chmod(0o555)
    yield site
    site.folder.chmod(0o755)
    site.db.chmod(0o644)


def test_reading_commands_work_on_a_read_only_archive(read_only):
    before = read_only.snapshot()
    folder = sorted(p.name for p in read_only.folder.iterdir())
    *results, write = _relay_bound_by_permissions(
        read_only, *(args for args, _ in READERS), WRITERS[0])
    # (the proof that the archive is read-only for this process)
    assert write[0] == EXIT_FAILURES and "read-only" in write[2], write
    for (args, shows), (code, out, err) in zip(READERS, results, strict=True):
        assert code == 0, (args, err)
        assert shows in out + err, args
    assert read_only.snapshot() == before
    if not read_only.folder.stat().st_mode & stat.S_IWUSR:    # nothing made beside it
        assert sorted(p.name for p in read_only.folder.iterdir()) == folder


def test_writing_commands_on_a_read_only_archive_fail_with_a_hint(read_only):
    before = read_only.snapshot()
    *results, verbose = _relay_bound_by_permissions(read_only, *WRITERS, ["-v", *WRITERS[0]])
    assert len(results) == len(WRITERS)
    for code, _out, err in results:
        _one_error(code, err, "read-only", str(read_only.db))
    assert read_only.snapshot() == before
    assert verbose[0] == EXIT_FAILURES and "Traceback" in verbose[2]


def test_a_reading_command_does_not_upgrade_an_old_archive(site):
    old = len(MIGRATIONS) - 1
    con = sqlite3.connect(site.db)
    con.execute(f"PRAGMA user_version = {old}")
    con.close()
    before = site.snapshot()
    result = site.relay("status")
    _one_error(result.exit_code, result.stderr, f"schema version {old}", "relay migrate")
    assert site.snapshot() == before
    migrated = site.relay("migrate")
    assert migrated.exit_code == 0, migrated.output
    assert f"schema version {len(MIGRATIONS)}" in migrated.output
    assert site.relay("status").exit_code == 0


def test_migrate_refuses_a_missing_archive(tmp_path):
    s = Site(tmp_path)
    result = s.relay("migrate")
    assert result.exit_code == 2 and "no archive here yet" in result.stderr
    assert not s.db.exists()


# -- locked ---------------------------------------------------------------------------------

HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE subscribers SET name = 'held'")
print("held", flush=True)
sys.stdin.read()
con.execute("ROLLBACK")
"""


@pytest.fixture
def held(site) -> Iterator[Site]:
    """Another process holds a write transaction on the archive."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(site.db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield site
    holder.communicate("", timeout=30)


def test_a_writer_waits_for_a_locked_archive_then_fails_with_a_hint(held, monkeypatch):
    monkeypatch.setattr(relay.store, "BUSY_TIMEOUT", 0.5)
    started = time.monotonic()
    result = held.relay("subscribe", "other@mext.example", "--topics", "quantum")
    waited = time.monotonic() - started
    _one_error(result.exit_code, result.stderr, "locked", "another relay process", "try again",
               str(held.db))
    assert 0.5 <= waited < 10
    # Readers are not held up by a writer.
    assert held.relay("status").exit_code == 0
    assert held.relay("search", "quantum").exit_code == 0


def test_a_writer_gets_the_archive_when_the_other_lets_go_within_the_timeout(site):
    con = sqlite3.connect(site.db, isolation_level=None, check_same_thread=False)
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE subscribers SET name = 'held'")
    with Store(site.db, busy_timeout=30) as store:
        threading.Timer(0.3, lambda: con.execute("ROLLBACK")).start()
        started = time.monotonic()
        with store.transaction():
            pass
        assert 0.2 < time.monotonic() - started < 10
    con.close()


# -- full disk ------------------------------------------------------------------------------

def test_a_full_disk_is_a_store_error_and_the_archive_stays_whole(site):
    with Store(site.db) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")   # no room to grow
        with pytest.raises(StoreError) as caught, store.transaction():
            store.conn.execute("UPDATE subscribers SET name = 'kept'")
            store.conn.execute("INSERT INTO pending (task) VALUES (?)", ("x" * 200_000,))
        assert "the disk is full" in caught.value.message
        assert caught.value.where == str(site.db)
        assert str(site.folder) in caught.value.hint
        # Undone whole, and the store goes on: the next transaction starts cleanly.
        assert not store.conn.in_transaction
        assert [s.name for s in store.subscribers()] == [""]
        store.conn.execute(f"PRAGMA max_page_count = {pages * 100}")
        with store.transaction():
            store.conn.execute("INSERT INTO pending (task) VALUES ('after')")
        assert store.pending("after")


def _can_mount_tmpfs(where: Path) -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"mount -t tmpfs -o size=64k tmpfs {where}"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def test_a_full_disk_through_the_cli_is_one_line_and_loses_nothing(site, tmp_path):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    if not _can_mount_tmpfs(tiny):
        pytest.skip("no tmpfs in a private mount namespace here (needs root with "
                    "CAP_SYS_ADMIN); the max_page_count test meets the same SQLITE_FULL")
    rows = "".join(f"desk{n}@mext.example,{'名' * 150},quantum\n" for n in range(4000))
    csv = tmp_path / "desks.csv"
    csv.write_text("email,name,topics\n" + rows, encoding="utf-8")
    size = site.db.stat().st_size + 96 * 1024
    relay_ = f"{sys.executable} -m relay --config {site.config} --db {tiny}/relay.db"
    script = (f"mount -t tmpfs -o size={size} tmpfs {tiny} && cp {site.db} {tiny}/ && "
              f"{relay_} subscribers import {csv} >/dev/null 2>{tmp_path}/import.err; "
              f"echo $? > {tmp_path}/import.rc; "
              f"{relay_} status --json > {tmp_path}/status.out 2>&1; "
              f"echo $? > {tmp_path}/status.rc")
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                   timeout=300, check=True, cwd=tmp_path, env=os.environ)
    err = (tmp_path / "import.err").read_text(encoding="utf-8")
    assert (tmp_path / "import.rc").read_text().strip() == "1", err
    assert err.startswith("Error: the disk is full"), err
    assert "Traceback" not in err and "Hint: free space" in err
    assert f"({tiny}/relay.db)" in err
    # A command that only reads still works on the full disk, and what was there is there.
    status = (tmp_path / "status.out").read_text(encoding="utf-8")
    assert (tmp_path / "status.rc").read_text().strip() == "0", status
    assert '"items": 1' in status


# -- not an archive, damaged ----------------------------------------------------------------

@pytest.mark.parametrize("args", [["status"], ["subscribe", "x@mext.example", "--topics",
                                                "quantum"]], ids=["reader", "writer"])
def test_a_file_that_is_not_an_archive_is_named(site, args):
    site.db.write_bytes(b"this is a text file, not a database\n" * 200)
    result = site.relay(*args)
    _one_error(result.exit_code, result.stderr, "not an SQLite archive", str(site.db), "--db")
    verbose = site.relay("-v", *args)
    assert verbose.exit_code == EXIT_FAILURES and "Traceback" in verbose.stderr


@pytest.mark.parametrize("args", [["status"], ["subscribe", "x@mext.example", "--topics",
                                                "quantum"]], ids=["reader", "writer"])
def test_a_damaged_archive_is_named_with_a_hint(site, args):
    data = bytearray(site.db.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)          # the schema's page, overwritten
    site.db.write_bytes(bytes(data))
    result = site.relay(*args)
    _one_error(result.exit_code, result.stderr, "damaged", str(site.db), "backup")
