"""`relay status --format prometheus`, judged by the Prometheus client's own parser of
the text exposition format (prometheus_client.parser), not by a regex."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from relay.cli import main
from relay.pipeline.metrics import escape_label

NOW = datetime.now(UTC)
TRICKY = 'Mission "Boston" \\ notes\nline two'

CONFIG = """settings:
  digests_dir: digests
  smtp: {url: "smtp://127.0.0.1:9", sender: "relay@example.org"}
feeds:
  - id: good
    name: "Mission \\"Boston\\" \\\\ notes\\nline two"
    path: good.xml
    lang: en
    mission: boston
    country: US
  - {id: broken, name: Broken, path: missing.xml}
  - {id: off, name: Off, path: good.xml, enabled: false}
"""


@pytest.mark.parametrize(("value", "escaped"), [
    ("plain", "plain"), ('a "quote"', 'a \\"quote\\"'), ("back\\slash", "back\\\\slash"),
    ("two\nlines", "two\\nlines"), ("量子", "量子"), ('\\"\n', '\\\\\\"\\n')],
    ids=["plain", "quote", "backslash", "newline", "unicode", "all-three"])
def test_label_values_are_escaped_as_the_format_says(value, escaped):
    assert escape_label(value) == escaped


def test_the_metrics_parse_and_say_the_archive_state(tmp_path):
    items = "".join(f"<item><title>Quantum computing lab result {i}</title>"
                    f"<link>https://b.example/{i}</link><guid>g{i}</guid><pubDate>"
                    f"{format_datetime(NOW - timedelta(hours=i))}</pubDate>"
                    "<description>A quantum computer result.</description></item>"
                    for i in range(3))
    (tmp_path / "good.xml").write_text(f'<rss version="2.0"><channel><title>B</title>{items}'
                                       "</channel></rss>", encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    folder = tmp_path / 'odd "dir" \\ name'
    folder.mkdir()
    db = folder / "relay.db"
    runner = CliRunner()
    base = ["--config", str(config), "--db", str(db)]
    assert runner.invoke(main, [*base, "collect", "--all"]).exit_code == 1   # broken failed
    assert runner.invoke(main, [*base, "subscribe", "d@example.org", "--topics",
                                "quantum"]).exit_code == 0
    assert runner.invoke(main, [*base, "digest", "build"]).exit_code == 0

    result = runner.invoke(main, [*base, "status", "--format", "prometheus"])
    assert result.exit_code == 0, result.output
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    assert all(f.type == "gauge" and f.documentation for f in families.values())

    def value(metric: str, **labels: str) -> float:
        (match,) = [s.value for s in families[metric].samples
                    if all(s.labels.get(k) == v for k, v in labels.items())]
        return match

    assert families["relay_info"].samples[0].labels["database"] == str(db)
    assert {s.labels["state"]: s.value for s in families["relay_feeds"].samples} == {
        "ok": 1, "partial": 0, "silent": 0, "failing": 1, "disabled": 1}
    info = value("relay_feed_info", feed="good", name=TRICKY, mission="boston", country="US")
    assert info == 1
    last_ok = [s.labels["feed"] for s in
               families["relay_feed_last_success_timestamp_seconds"].samples]
    assert last_ok == ["good"]        # never a 0 for a feed that never worked
    assert abs(value("relay_feed_last_success_timestamp_seconds", feed="good")
               - NOW.timestamp()) < 600
    assert value("relay_feed_consecutive_errors", feed="broken") == 1
    assert value("relay_feed_items_7d", feed="good") == 3
    assert value("relay_items") == 3 and value("relay_subscribers") == 1
    assert value("relay_topic_items", topic="quantum") == 3
    assert value("relay_deliveries", status="queued") == 1
    assert value("relay_deliveries", status="sent") == 0
    assert value("relay_digest_failures") == 0
    assert abs(value("relay_last_collect_timestamp_seconds") - NOW.timestamp()) < 600


def test_no_archive_is_an_error_not_empty_metrics(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "--db",
                                       str(tmp_path / "none.db"), "status", "--format",
                                       "prometheus"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "no archive here yet" in result.stderr
    assert not Path(tmp_path / "none.db").exists()
