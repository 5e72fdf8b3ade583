"""A publisher's <ttl> and Cache-Control max-age lengthen a feed's interval, never
shorten it; a 304 keeps the feed's validators."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from relay.cli import main


def rss(ttl: str = "") -> str:
    return (f'<rss version="2.0"><channel><title>t</title><link>https://t.example/</link>{ttl}'
            "<item><title>x</title><link>https://t.example/1</link></item></channel></rss>")


@pytest.mark.parametrize(
    ("body", "headers", "hours"),
    [
        (rss("<ttl>180</ttl>"), {}, 3.0),                            # ttl in minutes
        (rss(), {"Cache-Control": "public, max-age=7200"}, 2.0),
        (rss(), {"Cache-Control": "max-age=60"}, 1.0),               # never shorter
        (rss("<ttl>100000</ttl>"), {}, 24.0),                        # capped at a day
        (rss(), {}, 1.0),
    ],
    ids=["ttl", "max-age", "short-max-age", "huge-ttl", "none"],
)
def test_publisher_hints_lengthen_the_interval(tmp_path, http_server, body, headers, hours):
    url = http_server.add("/f.xml", body, headers=headers)
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database: relay.db\n  fetch: {{host_delay: 0}}\nfeeds:\n"
                      f"  - id: f\n    url: {url}\n    interval: 1h\n    allow_private: true\n",
                      encoding="utf-8")
    before = datetime.now(UTC)
    assert CliRunner().invoke(main, ["--config", str(config), "collect"]).exit_code == 0
    with sqlite3.connect(tmp_path / "relay.db") as conn:
        (next_at,) = conn.execute("SELECT next_fetch_at FROM feeds").fetchone()
    wait = datetime.strptime(next_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - before
    assert abs(wait.total_seconds() / 3600 - hours) < 0.05


def test_not_modified_keeps_the_validators(tmp_path, http_server):
    url = http_server.add("/f.xml", rss(), headers={"Last-Modified": "Sat, 28 Nov 2026 "
                                                                      "08:00:00 GMT"})
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database: relay.db\n  fetch: {{host_delay: 0}}\nfeeds:\n"
                      f"  - id: f\n    url: {url}\n    allow_private: true\n", encoding="utf-8")
    runner = CliRunner()
    runner.invoke(main, ["--config", str(config), "collect"])
    (report,) = json.loads(runner.invoke(main, ["--config", str(config), "collect", "--all",
                                                "--json"]).stdout)
    assert report["not_modified"]
    third = http_server.hits("/f.xml")
    runner.invoke(main, ["--config", str(config), "collect", "--all"])
    last = http_server.hits("/f.xml")[-1]
    assert last.get("if-none-match") and last.get("if-modified-since") == (
        "Sat, 28 Nov 2026 08:00:00 GMT")
    assert len(third) == 2
