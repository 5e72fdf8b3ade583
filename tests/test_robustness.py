"""Nothing lost, nothing sent twice: a stop in the middle of a feed, two senders at once,
an SMTP outage and its end, a digest asked for a past period."""

from __future__ import annotations

import email
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.policy import default
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay import pipeline
from relay.cli import main
from relay.config import load_config
from relay.store import Store

NOW = datetime.now(UTC)


STORIES = [
    ("Quantum computing lab opens in Hartford",
     "A superconducting qubit lab funded by the state opened near the capitol."),
    ("Boston startup unveils trapped-ion quantum computer",
     "The 40-qubit machine will be rented to pharmaceutical researchers next spring."),
    ("Denver university hires quantum sensing faculty",
     "Six professors join a new department for navigation and medical imaging sensors."),
    ("Seattle cloud firm offers quantum annealing time to schools",
     "High schools get free hours on the annealer for optimisation classes."),
    ("Austin consortium publishes quantum error correction roadmap",
     "Members agree on shared benchmarks for logical qubits by 2030."),
]


def feed(n: int, prefix: str = "q", days_ago: float = 0.5) -> str:
    """n quantum items; the first five tell five different stories."""
    date = format_datetime(NOW - timedelta(days=days_ago))
    items = "".join(
        f"<item><title>{STORIES[i % 5][0]}{f' ({i})' if i >= 5 else ''}</title>"
        f"<link>https://{prefix}.example/{i}</link><guid>{prefix}-{i}</guid>"
        f"<pubDate>{date}</pubDate><description>{STORIES[i % 5][1]} Item {prefix}{i}."
        f"</description></item>" for i in range(n))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{prefix}</title>'
            f"<link>https://{prefix}.example/</link>{items}</channel></rss>")


def write_config(tmp_path: Path, url: str, smtp_url: str) -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  smtp: {{url: "{smtp_url}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  - id: q
    url: {url}
    allow_private: true
""", encoding="utf-8")
    return config


def test_a_stop_in_the_middle_of_a_feed_loses_nothing(tmp_path, http_server, smtp_server):
    url = http_server.add("/q.xml", feed(40))
    config = load_config(write_config(tmp_path, url, smtp_server.url), env={})
    calls = {"n": 0}

    def stop_after_ten_items() -> bool:
        calls["n"] += 1
        return calls["n"] > 12   # a few checks before the items, then one per item

    with Store(config.settings.database) as store:
        (report,) = pipeline.collect(config, store, NOW, should_stop=stop_after_ten_items)
        stored = store.status().items
        state = store.feed_state("q")
        assert 0 < stored < 40 and report.interrupted
        # Not marked fetched: no validators, no next time, so the next tick reads it whole.
        assert state.etag is None and state.next_fetch_at is None and state.last_ok_at is None
        (again,) = pipeline.collect(config, store, NOW)
        assert again.new == 40 - stored and again.duplicates == stored
        assert store.status().items == 40


def _send(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "relay", "--config", str(config), "digest",
                             "send"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_senders_at_once_send_each_digest_once(tmp_path, http_server, smtp_server):
    url = http_server.add("/q.xml", feed(5))
    config = write_config(tmp_path, url, smtp_server.url)
    runner = CliRunner()
    args = ["--config", str(config)]
    runner.invoke(main, [*args, "collect"])
    for i in range(4):
        runner.invoke(main, [*args, "subscribe", f"r{i}@uni.example", "--topics", "quantum",
                             "--ui-lang", "en"])
    assert runner.invoke(main, [*args, "digest", "build"]).exit_code == 0
    smtp_server.mailbox.delay = 0.5
    first, second = _send(config), _send(config)
    first.communicate(timeout=60)
    second.communicate(timeout=60)
    recipients = sorted(m.recipients[0] for m in smtp_server.messages)
    assert recipients == [f"r{i}@uni.example" for i in range(4)]
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'"
                            ).fetchone()[0] == 4


def test_smtp_outage_then_recovery_sends_exactly_once(tmp_path, http_server, smtp_server):
    url = http_server.add("/q.xml", feed(3))
    config = write_config(tmp_path, url, smtp_server.url)
    runner = CliRunner()
    args = ["--config", str(config)]
    runner.invoke(main, [*args, "collect"])
    runner.invoke(main, [*args, "subscribe", "a@uni.example", "--topics", "quantum"])
    runner.invoke(main, [*args, "digest", "build"])
    down = CliRunner(env={"RELAY_SMTP_URL": "smtp://127.0.0.1:9"}).invoke(
        main, [*args, "digest", "send"])
    assert down.exit_code == 1 and "retry" in down.output

    waiting = runner.invoke(main, [*args, "digest", "send"])
    assert waiting.exit_code == 0 and "1 delivery wait for a retry" in waiting.stderr
    assert smtp_server.messages == []

    back = runner.invoke(main, [*args, "digest", "send", "--retry-now"])
    assert back.exit_code == 0 and "a@uni.example: sent" in back.output
    runner.invoke(main, [*args, "digest", "send", "--retry-now"])
    (message,) = smtp_server.messages
    eml = (tmp_path / "digests").glob("*/*.eml")
    saved = email.message_from_bytes(next(eml).read_bytes(), policy=default)
    received = email.message_from_bytes(message.data, policy=default)
    assert received["Message-ID"] == saved["Message-ID"]   # the message built, not a new one


def test_a_past_period_is_built_from_its_own_window(tmp_path, http_server, smtp_server):
    url = http_server.add("/q.xml", feed(3))
    config = write_config(tmp_path, url, smtp_server.url)
    runner = CliRunner()
    args = ["--config", str(config)]
    runner.invoke(main, [*args, "collect"])
    runner.invoke(main, [*args, "subscribe", "a@uni.example", "--topics", "quantum",
                         "--ui-lang", "en"])
    past = runner.invoke(main, [*args, "digest", "build", "--period", "2026-W40"])
    assert "2026-W40: empty" in past.output       # nothing was collected in that week
    current = runner.invoke(main, [*args, "digest", "build"])
    assert "3 stories" in current.output           # the past period consumed nothing
    future = runner.invoke(main, [*args, "digest", "build", "--period", "2099-W01"])
    assert future.exit_code == 2 and "has not begun" in future.stderr
    daily = runner.invoke(main, [*args, "digest", "build", "--period", "2026-11-01",
                                 "--subscriber", "a@uni.example"])
    assert daily.exit_code == 2 and "gets weekly digests" in daily.stderr
    subs = json.loads(runner.invoke(main, [*args, "subscribers", "--json"]).stdout)
    assert subs[0]["last_digest_at"]


@pytest.mark.parametrize("bad", ["Eve\nBcc: x@evil.example", "x" * 201],
                         ids=["newline", "too-long"])
def test_subscriber_names_are_one_line(tmp_path, http_server, smtp_server, bad):
    config = write_config(tmp_path, http_server.add("/q.xml", feed(1)), smtp_server.url)
    result = CliRunner().invoke(main, ["--config", str(config), "subscribe", "e@uni.example",
                                       "--topics", "quantum", "--name", bad])
    assert result.exit_code == 2 and "one line" in result.stderr


@pytest.mark.parametrize("send_empty", [False, True], ids=["nothing-by-default", "short-note"])
def test_an_empty_period_sends_nothing_or_a_short_note(tmp_path, http_server, smtp_server,
                                                       send_empty):
    url = http_server.add("/q.xml", feed(2))
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  smtp: {{url: "{smtp_server.url}", sender: "relay@example.org"}}
  digest: {{send_empty: {str(send_empty).lower()}}}
  fetch: {{host_delay: 0}}
feeds:
  - id: q
    url: {url}
    allow_private: true
""", encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config)]
    runner.invoke(main, [*args, "collect"])
    runner.invoke(main, [*args, "subscribe", "bio@uni.example", "--topics", "biotech",
                         "--ui-lang", "en"])
    built = runner.invoke(main, [*args, "digest", "build"])
    runner.invoke(main, [*args, "digest", "send"])
    if not send_empty:
        assert "empty" in built.output and smtp_server.messages == []
        return
    (message,) = smtp_server.messages
    text = email.message_from_bytes(message.data, policy=default).get_body(
        ("plain",)).get_content()
    assert "Nothing new on your topics in this period." in text
