"""Exactly once, for real: a subprocess sender against a slow SMTP server, killed with
SIGKILL at random moments and started again, never loses a delivery and sends a
recipient the same digest twice only for the one message in flight at a kill (with the
same Message-ID, so a client can drop it)."""

from __future__ import annotations

import collections
import email
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.policy import default
from email.utils import format_datetime

import pytest
from click.testing import CliRunner

from relay.cli import main

pytestmark = pytest.mark.slow
N = 24


def _wait_for_a_send(before: int, smtp_server, sender: subprocess.Popen,
                     timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (len(smtp_server.messages) == before and sender.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.02)


def test_sigkill_at_random_moments_loses_nothing_and_repeats_at_most_the_one_in_flight(
        tmp_path, http_server, smtp_server):
    date = format_datetime(datetime.now(UTC))
    url = http_server.add("/f.xml", f'<rss version="2.0"><channel><title>f</title>'
                          f"<link>https://f.example/</link><item><title>Quantum computing lab"
                          f" opens</title><link>https://f.example/1</link><pubDate>{date}"
                          f"</pubDate><description>A qubit lab opened.</description></item>"
                          f"</channel></rss>")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  smtp: {{url: "{smtp_server.url}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  - id: f
    url: {url}
    allow_private: true
""", encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config)]
    runner.invoke(main, [*args, "collect"])
    for i in range(N):
        runner.invoke(main, [*args, "subscribe", f"r{i:02d}@uni.example", "--topics", "quantum"])
    assert runner.invoke(main, [*args, "digest", "build"]).exit_code == 0
    smtp_server.mailbox.delay = 0.15

    rnd = random.Random(20261128)
    kills = 0
    for _ in range(40):
        with sqlite3.connect(tmp_path / "relay.db") as conn:
            queued = conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'queued'"
                                  ).fetchone()[0]
        if not queued:
            break
        sender = subprocess.Popen([sys.executable, "-m", "relay", *args, "digest", "send"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Wait out the interpreter's start (seconds on a loaded machine) until the sender
        # has handed over a first message, then kill it at a random moment of its run.
        _wait_for_a_send(len(smtp_server.messages), smtp_server, sender)
        time.sleep(rnd.uniform(0.0, 0.8))
        if sender.poll() is None:
            sender.send_signal(signal.SIGKILL)
            kills += 1
        sender.wait(timeout=30)
    else:
        pytest.fail("deliveries still queued after 40 rounds")
    assert kills >= 3, "the sender was never killed mid-run: the test proved nothing"

    received = collections.Counter(m.recipients[0] for m in smtp_server.messages)
    assert set(received) == {f"r{i:02d}@uni.example" for i in range(N)}   # none lost
    extra = sum(n - 1 for n in received.values())
    assert extra <= kills                                                # one per kill at most
    ids: dict[str, set[str]] = collections.defaultdict(set)
    for m in smtp_server.messages:
        ids[m.recipients[0]].add(email.message_from_bytes(m.data, policy=default)["Message-ID"])
    assert all(len(v) == 1 for v in ids.values())   # a repeat is the same message
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'"
                            ).fetchone()[0] == N
