"""Feed health: which sources are sick, moved, gone or silent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner

from relay import pipeline
from relay.cli import main
from relay.config import load_config
from relay.schedule import is_silent, usual_gap
from relay.store import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def days(*offsets: float) -> list[datetime]:
    return [T0 + timedelta(days=d) for d in offsets]


@pytest.mark.parametrize(
    ("published", "now", "silent"),
    [
        (days(0, 1, 2, 3, 4), T0 + timedelta(days=6), False),     # 2 days since: < 3 gaps
        (days(0, 1, 2, 3, 4), T0 + timedelta(days=7.5), True),    # 3.5 daily gaps
        (days(0, 7, 14, 21), T0 + timedelta(days=35), False),     # a weekly feed, 2 weeks
        (days(0, 7, 14, 21), T0 + timedelta(days=50), True),
        (days(0, 1), T0 + timedelta(days=100), False),            # too few items to tell
        ([], T0, False),
        (days(0, 0, 0, 1, 1, 2), T0 + timedelta(days=4), False),  # bursts: distinct times
    ],
    ids=["daily-ok", "daily-silent", "weekly-ok", "weekly-silent", "too-few", "empty",
         "bursts"],
)
def test_is_silent(published, now, silent):
    assert is_silent(published, now) is silent


def test_usual_gap_is_the_median():
    assert usual_gap(days(0, 1, 2, 10)) == timedelta(days=1)


def _rss(dates: list[datetime], prefix: str) -> str:
    items = "".join(f"<item><title>{prefix} {i}</title><link>https://{prefix}.example/{i}</link>"
                    f"<pubDate>{format_datetime(d)}</pubDate></item>"
                    for i, d in enumerate(dates))
    return (f'<rss version="2.0"><channel><title>{prefix}</title>'
            f"<link>https://{prefix}.example/</link>{items}</channel></rss>")


def test_feeds_json_reports_health(tmp_path, http_server):
    now = datetime.now(UTC)
    fresh = http_server.add("/fresh.xml", _rss([now - timedelta(days=d) for d in (0, 1, 2)],
                                               "fresh"))
    stale = http_server.add("/stale.xml", _rss(
        [now - timedelta(days=d) for d in (20, 21, 22, 23)], "stale"))   # 200, but silent
    gone = http_server.add("/gone.xml", "gone", status=410, etag=False)
    moved = http_server.add("/moved.xml", "", status=301,
                            headers={"Location": f"{http_server.url}/fresh.xml"}, etag=False)
    config = tmp_path / "feeds.yaml"
    lines = ["settings:", "  database: relay.db", "  fetch: {host_delay: 0}", "feeds:"]
    for fid, url in (("fresh", fresh), ("stale", stale), ("gone", gone), ("moved", moved)):
        lines += [f"  - id: {fid}", f"    url: {url}", "    allow_private: true"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    collected = runner.invoke(main, ["--config", str(config), "collect"])
    assert "moved permanently to" in collected.output and "disabled: 410 Gone" in collected.output
    rows = {r["id"]: r for r in json.loads(
        runner.invoke(main, ["--config", str(config), "feeds", "--json"]).stdout)}
    assert {"id", "url", "last_ok_at", "last_error", "error_count", "next_fetch_at",
            "disabled_reason", "moved_to", "items_7d", "items_30d", "silent", "enabled"
            } <= rows["fresh"].keys()
    assert rows["fresh"]["items_7d"] == 3 and rows["fresh"]["silent"] is False
    assert rows["stale"]["silent"] is True and rows["stale"]["error_count"] == 0
    assert rows["gone"]["disabled_reason"].startswith("410") and rows["gone"]["enabled"] is False
    assert rows["moved"]["moved_to"] == fresh
    table = runner.invoke(main, ["--config", str(config), "feeds"]).output
    assert "silent" in table and "disabled: 410 Gone" in table


def test_a_feed_turned_off_is_off_not_silent(tmp_path, http_server):
    """`enabled: false` stops a feed's items by the operator's choice: `relay feeds` says
    `off` (README), the health mail does not list it among the silent feeds that died
    unnoticed, and the metrics count it disabled only."""
    now = datetime.now(UTC)
    stale = http_server.add("/stale2.xml", _rss(
        [now - timedelta(days=d) for d in (20, 21, 22, 23)], "stale2"))
    config = tmp_path / "feeds.yaml"
    head = "settings:\n  database: relay.db\n  fetch: {host_delay: 0}\nfeeds:\n"
    entry = f"  - id: stale\n    url: {stale}\n    allow_private: true\n"
    config.write_text(head + entry, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "collect"]).exit_code == 0
    config.write_text(head + entry + "    enabled: false\n", encoding="utf-8")
    (row,) = json.loads(runner.invoke(main, ["--config", str(config), "feeds", "--json"]).stdout)
    assert row["enabled"] is False and row["silent"] is False
    table = runner.invoke(main, ["--config", str(config), "feeds"]).output
    assert table.splitlines()[1].endswith("  off"), table
    loaded = load_config(config, env={})
    with Store(tmp_path / "relay.db") as store:
        _subject, text = pipeline.health_report(loaded, store, now)
    assert "Silent" not in text, text


def test_collect_json_has_one_shape_with_moves_and_410s(tmp_path, http_server):
    """`relay collect --json`: every feed's object has the same keys (README: one shape,
    null for what is absent), a move and a 410 included, from FeedReport's own fields."""
    now = datetime.now(UTC)
    fresh = http_server.add("/fresh3.xml", _rss([now - timedelta(days=d) for d in (0, 1)],
                                                "fresh3"))
    gone = http_server.add("/gone3.xml", "gone", status=410, etag=False)
    moved = http_server.add("/moved3.xml", "", status=301,
                            headers={"Location": f"{http_server.url}/fresh3.xml"}, etag=False)
    config = tmp_path / "feeds.yaml"
    lines = ["settings:", "  database: relay.db", "  fetch: {host_delay: 0}", "feeds:"]
    for fid, url in (("fresh", fresh), ("gone", gone), ("moved", moved)):
        lines += [f"  - id: {fid}", f"    url: {url}", "    allow_private: true"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "collect", "--json"])
    rows = {r["feed"]: r for r in json.loads(result.stdout)}
    assert len({tuple(r) for r in rows.values()}) == 1, [list(r) for r in rows.values()]
    assert rows["moved"]["moved_to"] == fresh and rows["fresh"]["moved_to"] is None
    assert rows["gone"]["disabled"].startswith("410") and rows["fresh"]["disabled"] is None
    assert rows["fresh"]["interrupted"] is False
