"""Ingest worker processes: they must store exactly what one process stores, in the
same order, lose nothing when a worker dies, and stop when told."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.collect.feeds import parse_feed, read_feed
from relay.config import builtin_topics
from relay.models import Entry, FeedKind, FeedSpec, Fetched
from relay.pipeline import ingesting, workers
from relay.pipeline.ingesting import Ingester
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.tokens import tokenize

SAMPLE = Path(__file__).parent.parent / "relay" / "demo" / "sample"
NOW = datetime(2026, 11, 20, tzinfo=UTC)
TAXONOMY = compile_taxonomy(builtin_topics(), tokenize)


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts without a pool, small chunks, and the pool from the first item."""
    monkeypatch.setattr(ingesting, "POOL_MIN", 0)
    monkeypatch.setattr(ingesting, "CHUNK", 4)
    workers.shutdown()
    monkeypatch.setattr(workers, "_broken", None)
    yield
    workers.shutdown()


def rewrites() -> list[Entry]:
    """Stories told twice (reworded), an exact copy, and unrelated items."""
    base = [
        ("Ohio puts $48 million into quantum networking testbed at Ohio State",
         "The state of Ohio will spend $48 million on a quantum networking testbed led by "
         "Ohio State University with partners Battelle and IBM, the governor said."),
        ("NSF cuts graduate fellowships by half for 2027",
         "The National Science Foundation will award 1,000 graduate research fellowships "
         "in 2027, half the usual number, citing the budget request."),
        ("ミュンヘン工科大学、外国人研究者向けに120の新ポスト",
         "ミュンヘン工科大学は外国人研究者向けに120の新しいポストを設けると発表した。"
         "バイエルン州の人材誘致策の一環。"),
    ]
    out = []
    # An aggregator's feed: each item names its outlet (two items of one feed join only
    # when two outlets tell the story, see dedup.choose_story).
    for i, (title, text) in enumerate(base):
        out.append(Entry("w", f"w{i}", f"https://w.example/{i}", f"{title} (Ledger)", text, NOW))
        out.append(Entry("w", f"w{i}r", f"https://other.example/{i}", f"{title}: update (Wire)",
                         text.replace("said", "announced").replace("と発表した", "とした"), NOW))
    out.append(Entry("w", "copy", "https://w.example/0", f"{base[0][0]} (Ledger)", base[0][1],
                     NOW))
    unrelated = [
        ("Parking garage closes for repaving", "Drivers should use the north lot until May."),
        ("Cafeteria adds vegetarian curry", "The kitchen now serves curry on Thursdays."),
        ("Elevator B out of service", "Technicians replace its cables over the weekend."),
        ("Printers move to new driver", "Staff must reinstall print queues from the portal."),
        ("Visitor badges get photos", "Security begins issuing photo badges to guests."),
    ]
    out += [Entry("w", f"u{i}", f"https://w.example/u{i}", title, text, NOW)
            for i, (title, text) in enumerate(unrelated)]
    return out


def sources() -> list[tuple[FeedSpec, list[Entry]]]:
    out = []
    for path in sorted(SAMPLE.glob("*.xml")):
        feed = FeedSpec(id=path.stem, name=path.stem, kind=FeedKind.RSS, url=f"file:{path}")
        out.append((feed, parse_feed(Fetched(feed.id, str(path), 200, path.read_bytes()))))
    out.append((FeedSpec(id="w", name="w", kind=FeedKind.RSS, url="https://w.example/"),
                rewrites()))
    return out


def archive(db: Path, n_workers: int, should_stop=lambda: False) -> dict[str, object]:
    stored: list[tuple[str, int, int]] = []
    feeds = sources()
    with Store(db) as store:
        store.sync_feeds([f for f, _ in feeds])
        ingester = Ingester(store, TAXONOMY, NOW, n_workers, should_stop)
        for feed, entries in feeds:
            ingester.add(feed, entries,
                         lambda o, f=feed.id: stored.append((f, o.new, o.duplicates)))
        ingester.finish()
    conn = sqlite3.connect(db)
    items = conn.execute(
        "SELECT i.id, i.feed_id, i.guid, i.title, i.lang, i.story_id, i.minhash, x.title, x.body,"
        " (SELECT group_concat(topic || ':' || score || ':' || terms, '|') FROM item_tags t"
        "  WHERE t.item_id = i.id) FROM items i JOIN items_fts x ON x.rowid = i.id"
        " ORDER BY i.id").fetchall()
    stories = conn.execute("SELECT id, first_item_id, item_count FROM stories ORDER BY id")
    bands = conn.execute("SELECT band, hash, item_id FROM lsh_bands ORDER BY item_id, band")
    return {"stored": stored, "items": items, "stories": stories.fetchall(),
            "bands": bands.fetchall()}


def test_workers_store_exactly_what_one_process_stores(tmp_path, monkeypatch):
    alone = archive(tmp_path / "alone.db", 0)
    in_main: list[int] = []
    real = ingesting.prepare_all
    monkeypatch.setattr(ingesting, "prepare_all",
                        lambda *a: in_main.append(1) or real(*a))   # counts main-process calls
    shared = archive(tmp_path / "shared.db", 2)
    assert in_main == []                      # every chunk was prepared by a worker
    assert shared == alone
    items = alone["items"]
    assert len(items) > 20
    assert [f for f, _n, _d in alone["stored"]] == [f.id for f, _ in sources()]   # feed order
    story_of = {(r[1], r[2]): r[5] for r in items}
    assert story_of[("w", "w0")] == story_of[("w", "w0r")]      # rewrites joined their story
    assert story_of[("w", "w2")] == story_of[("w", "w2r")]
    assert ("w", "copy") not in story_of                          # the exact copy was dropped
    assert len({story_of[("w", f"u{i}")] for i in range(5)}) == 5


def test_a_killed_worker_costs_nothing_but_speed(tmp_path, caplog):
    pool = workers.pool(2)
    assert pool is not None
    list(pool.map(abs, range(8)))             # the workers are up
    for pid in list(pool._processes):         # noqa: SLF001 - the test kills them
        os.kill(pid, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="relay"):
        killed = archive(tmp_path / "killed.db", 2)
    assert killed == archive(tmp_path / "alone.db", 0)
    assert "ingest worker processes failed" in caplog.text
    assert workers.pool(2) is None            # the rest of this process prepares alone


def test_a_stop_stores_nothing_after_the_feed_in_hand(tmp_path):
    stop = {"now": False}

    def after_first(*_a: object) -> bool:
        return stop["now"]

    feeds = sources()
    stored: list[str] = []
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([f for f, _ in feeds])
        ingester = Ingester(store, TAXONOMY, NOW, 2, after_first)

        def first_stored(f: str) -> None:
            stored.append(f)
            stop["now"] = True                # SIGTERM arrives after the first feed

        for feed, entries in feeds:
            ingester.add(feed, entries, lambda _o, f=feed.id: first_stored(f))
        ingester.finish()
        count = store.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    assert stored == [feeds[0][0].id]
    assert count == len(feeds[0][1])


def test_collect_with_workers_over_http(tmp_path, http_server, caplog):
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>Item {i}: grant {i * 37} for lab {i}</title>"
        f"<link>https://big.example/{i}</link><guid>big-{i}</guid>"
        f"<pubDate>{(now - timedelta(minutes=i)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
        f"</pubDate><description>Lab {i} of town {i * 13} hires {i % 7} people.</description>"
        "</item>" for i in range(120))
    url = http_server.add("/big.xml", f'<?xml version="1.0"?><rss version="2.0"><channel>'
                          f"<title>Big</title>{items}</channel></rss>",
                          content_type="application/rss+xml")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  workers: 2
  fetch: {{host_delay: 0}}
feeds:
  - id: big
    url: {url}
    allow_private: true   # the test server is on 127.0.0.1
""", encoding="utf-8")
    with caplog.at_level(logging.DEBUG, logger="relay"):
        result = CliRunner().invoke(main, ["--config", str(config), "collect", "--json"])
    assert result.exit_code == 0, result.output
    assert '"new": 120' in result.output
    assert "started 2 ingest worker processes" in caplog.text   # the workers did the work
    assert workers._pool is None              # noqa: SLF001 - and left with the run
    conn = sqlite3.connect(tmp_path / "relay.db")
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 120
    assert conn.execute("SELECT COUNT(*) FROM items_fts").fetchone()[0] == 120


@pytest.mark.parametrize("value, message", [
    ("-1", "settings.workers: must be from 0 to 64"),
    ("two", "settings.workers: must be an integer"),
])
def test_a_bad_workers_setting_is_a_config_error(tmp_path, value, message):
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  workers: {value}\nfeeds: []\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 2
    assert message in result.output
    assert ":2" in result.output              # the line


def test_the_default_is_one_worker_per_cpu_at_most_four(monkeypatch):
    for cpus, expected in ((1, 0), (2, 2), (16, 4)):
        monkeypatch.setattr(workers, "usable_cpus", lambda cpus=cpus: cpus)
        assert workers.resolve(None) == expected
    assert workers.resolve(0) == 0 and workers.resolve(3) == 3


def documents() -> list[tuple[FeedSpec, Fetched]]:
    out = []
    for path in sorted(SAMPLE.glob("*.xml")):
        feed = FeedSpec(id=path.stem, name=path.stem, kind=FeedKind.RSS, url=f"file:{path}")
        out.append((feed, Fetched(feed.id, str(path), 200, path.read_bytes())))
    for name, body in (("html", b"<!doctype html><html><head><title>x</title></head></html>"),
                       ("empty", b"   ")):
        feed = FeedSpec(id=name, name=name, kind=FeedKind.RSS, url=f"https://{name}.example/")
        out.append((feed, Fetched(name, feed.url or "", 200, body)))
    return out


def parse_in(db: Path, n_workers: int) -> tuple[list[tuple[str, int, int, int, str]], list]:
    outcomes: list[tuple[str, int, int, int, str]] = []
    docs = documents()
    with Store(db) as store:
        store.sync_feeds([f for f, _ in docs])
        ingester = Ingester(store, TAXONOMY, NOW, n_workers)
        for feed, fetched in docs:
            ingester.add_document(
                feed, partial(read_feed, fetched, None), len(fetched.body),
                lambda o, f=feed.id: outcomes.append(
                    (f, len(o.entries), o.new, o.duplicates, str(o.error or ""))))
        ingester.finish()
    rows = sqlite3.connect(db).execute(
        "SELECT feed_id, guid, title, story_id FROM items ORDER BY id").fetchall()
    return outcomes, rows


@pytest.mark.parametrize("queued", [64, 1])   # 1: the store keeps pace, feed by feed
def test_documents_parsed_by_workers_give_the_same_archive_and_errors(tmp_path, monkeypatch,
                                                                     queued):
    monkeypatch.setattr(ingesting, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(ingesting, "QUEUED", queued)
    alone = parse_in(tmp_path / "alone.db", 0)
    assert workers._pool is None              # noqa: SLF001
    shared = parse_in(tmp_path / "shared.db", 2)
    assert workers._pool is not None          # noqa: SLF001
    assert shared == alone
    outcomes = {f: rest for f, *rest in alone[0]}
    assert outcomes["html"][3].startswith("not a feed: an HTML page (feed=html")
    assert outcomes["empty"][3].startswith("empty body (feed=empty")
    assert outcomes["ct-tech-wire"][1] > 0
    assert [f for f, *_ in alone[0]] == [f.id for f, _ in documents()]   # in order


def test_no_worker_processes_to_be_had_means_one_process(tmp_path, monkeypatch, caplog):
    class NoProcesses:
        def submit(self, *_a: object, **_k: object) -> None:
            raise OSError("forkserver: no room for its socket")

    monkeypatch.setattr(workers, "pool", lambda n: NoProcesses())
    with caplog.at_level(logging.WARNING, logger="relay"):
        assert archive(tmp_path / "none.db", 2) == archive(tmp_path / "alone.db", 0)
    assert "no room for its socket" in caplog.text


def test_no_pool_at_all_means_one_process(tmp_path, monkeypatch, caplog):
    def no_pool(n: int) -> None:
        raise OSError(38, "Function not implemented (no /dev/shm for its semaphores)")

    monkeypatch.setattr(workers, "pool", no_pool)
    with caplog.at_level(logging.WARNING, logger="relay"):
        assert archive(tmp_path / "none.db", 2) == archive(tmp_path / "alone.db", 0)
    assert "no /dev/shm" in caplog.text


def test_items_are_prepared_outside_the_write_transaction(tmp_path, monkeypatch):
    """Other relay processes (subscribers, send) may write while items are tokenized."""
    in_transaction: list[bool] = []
    real = ingesting.prepare_all
    stores: list[Store] = []

    def spy(*args: object) -> object:
        in_transaction.append(stores[0].conn.in_transaction)
        return real(*args)

    monkeypatch.setattr(ingesting, "prepare_all", spy)
    monkeypatch.setattr(ingesting, "POOL_MIN", 10**9)
    feeds = sources()
    with Store(tmp_path / "a.db") as store:
        stores.append(store)
        store.sync_feeds([f for f, _ in feeds])
        ingester = Ingester(store, TAXONOMY, NOW, 0)
        for feed, entries in feeds:
            ingester.add(feed, entries, lambda _o: None)
        ingester.finish()
    assert in_transaction and not any(in_transaction)


def _big_feed(path: Path, n: int) -> None:
    p = path.stem
    items = "".join(
        f"<item><title>{p} notice {i}: {w} grant {i * 37}</title><guid>{p}-{i}</guid>"
        f"<link>https://{p}.example/{i}</link><description>Lab {i} of {p} {i * 13} and "
        f"{w} {i * 7}.</description></item>"
        for i, w in ((i, ["quantum", "fusion", "chips", "rockets"][i % 4]) for i in range(n)))
    path.write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>n</title>'
                    f"{items}</channel></rss>", encoding="utf-8")


def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(
        "import os, signal\n"
        "from relay.pipeline import workers\n"
        "if __name__ == '__main__':\n"
        "    pool = workers.pool(2)\n"
        "    list(pool.map(abs, range(8)))\n"
        "    print(*pool._processes, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split()[2] != "Z"     # a zombie has exited
    except FileNotFoundError:
        return False


def test_a_script_without_a_main_guard_collects_once(tmp_path):
    """Workers import the main script again; one that runs relay at import must not
    collect a second time in each worker."""
    for name in ("big", "bigger"):     # the second is read once the first started workers
        _big_feed(tmp_path / f"{name}.xml", 400)
    (tmp_path / "feeds.yaml").write_text(
        "settings:\n  database: relay.db\n  workers: 2\n"
        "feeds:\n  - id: big\n    path: big.xml\n  - id: bigger\n    path: bigger.xml\n",
        encoding="utf-8")
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        "from relay import pipeline\n"
        "from relay.config import load_config\n"
        "from relay.store import Store\n"
        f"config = load_config(Path({str(tmp_path / 'feeds.yaml')!r}))\n"
        "with Store(config.settings.database) as store:\n"
        "    reports = pipeline.collect(config, store, datetime.now(UTC), everything=True)\n"
        "print('REPORT', *[(r.new, r.duplicates) for r in reports], flush=True)\n",
        encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "REPORT (400, 0) (400, 0)" in done.stdout
    assert 'under `if __name__ == "__main__":`' in done.stderr
    conn = sqlite3.connect(tmp_path / "relay.db")
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 800
