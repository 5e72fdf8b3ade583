"""`relay run` as a real process: it collects on schedule, refuses a second daemon on the
same database, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Mission</title><link>https://m.example/</link>
<item><title>量子技術の研究拠点を新設</title><link>https://m.example/1</link><guid>m-1</guid>
<pubDate>{date}</pubDate><description>量子コンピュータの研究拠点。</description></item>
</channel></rss>"""


def _relay(*args: str) -> list[str]:
    return [sys.executable, "-m", "relay", *args]


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _items(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _started(proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Read the daemon's log until it says it started (or it exits, or time runs out)."""
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if not line:
                return False
            if "started pid=" in line:
                return True
    return False


def test_daemon_collects_refuses_a_second_and_stops_on_sigterm(tmp_path, http_server,
                                                               smtp_server):
    url = http_server.add("/m.xml", FEED.format(date=format_datetime(datetime.now(UTC))))
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  smtp: {{url: "{smtp_server.url}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  - id: mission
    url: {url}
    allow_private: true
    lang: ja
    interval: 1h
""", encoding="utf-8")
    db = tmp_path / "relay.db"
    first = subprocess.Popen(_relay("--config", str(config), "run"), stderr=subprocess.PIPE,
                             text=True, cwd=tmp_path)
    try:
        assert _wait(lambda: _items(db) == 1), "the daemon collected nothing"

        second = subprocess.run(_relay("--config", str(config), "run"), capture_output=True,
                                text=True, timeout=60, cwd=tmp_path)
        assert second.returncode == 1      # locked: a failure of the system, not bad input
        assert f"pid {first.pid}" in second.stderr and "already" in second.stderr

        # The archive stays readable by other commands while the daemon runs.
        status = subprocess.run(_relay("--config", str(config), "status", "--json"),
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert json.loads(status.stdout)["items"] == 1

        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=30)
        assert first.returncode == 0, stderr
        assert "signal=SIGTERM" in stderr and "stopped" in stderr
    finally:
        if first.poll() is None:
            first.kill()
    # The lock went with the process: a new daemon may start.
    again = subprocess.Popen(_relay("--config", str(config), "run"), stderr=subprocess.PIPE,
                             text=True, cwd=tmp_path)
    try:
        # Signal it only once it has started: a machine under load may take seconds to
        # import the dictionary, and SIGTERM before the handler is set is the default exit.
        assert _started(again), "the second daemon did not start"
        assert again.poll() is None
        os.kill(again.pid, signal.SIGTERM)
        again.communicate(timeout=30)
        assert again.returncode == 0
    finally:
        if again.poll() is None:
            again.kill()
    with sqlite3.connect(db) as conn:
        items, fts = conn.execute(
            "SELECT (SELECT COUNT(*) FROM items), (SELECT COUNT(*) FROM items_fts)").fetchone()
    assert items == fts == 1


def test_daemon_schedules_feeds_and_digests_in_the_configured_time_zone(tmp_path):
    from zoneinfo import ZoneInfo

    from relay.config import load_config
    from relay.daemon import Daemon

    config_path = tmp_path / "feeds.yaml"
    config_path.write_text("""
settings:
  timezone: America/New_York
  database: relay.db
  digest: {weekly: "wed 07:30", daily: "18:15"}
feeds:
  - id: hourly
    url: http://127.0.0.1:9/feed.xml
    interval: 1h
  - id: off
    url: http://127.0.0.1:9/off.xml
    enabled: false
""", encoding="utf-8")
    config = load_config(config_path, env={})
    daemon = Daemon(config, config.settings.database)
    daemon.start()
    try:
        jobs = {j.id: j for j in daemon.scheduler.get_jobs()}
        assert set(jobs) == {"collect:hourly", "digest:weekly", "digest:daily", "send"}
        weekly = jobs["digest:weekly"].next_run_time.astimezone(ZoneInfo("America/New_York"))
        assert (weekly.weekday(), weekly.hour, weekly.minute) == (2, 7, 30)
        daily = jobs["digest:daily"].next_run_time.astimezone(ZoneInfo("America/New_York"))
        assert (daily.hour, daily.minute) == (18, 15)
        assert jobs["collect:hourly"].trigger.interval.total_seconds() == 3600
    finally:
        daemon.stop()
    assert not daemon.scheduler.running


def test_sigterm_does_not_wait_for_a_host_that_never_answers(tmp_path):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)   # connections are accepted by the kernel, and never answered
    port = silent.getsockname()[1]
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  fetch: {{host_delay: 0}}
feeds:
  - id: silent
    url: http://127.0.0.1:{port}/feed.xml
    allow_private: true
""", encoding="utf-8")
    daemon = subprocess.Popen(_relay("--config", str(config), "run"), stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    try:
        time.sleep(4)   # started, dictionary loaded, the fetch is hanging
        stopped_at = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, stderr
        assert time.monotonic() - stopped_at < 5, "waited for the silent host"
    finally:
        if daemon.poll() is None:
            daemon.kill()
        silent.close()
