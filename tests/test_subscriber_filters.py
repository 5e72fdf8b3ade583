"""A subscriber's languages, missions and countries narrow what their digest shows."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main

DATE = format_datetime(datetime.now(UTC))


def rss(title: str, lang: str) -> str:
    return (f'<rss version="2.0"><channel><title>{title}</title><language>{lang}</language>'
            f"<link>https://{title}.example/</link><item><title>{title} quantum computing lab"
            f"</title><link>https://{title}.example/1</link><pubDate>{DATE}</pubDate>"
            f"<description>A {title} qubit research lab opens its doors.</description>"
            f"</item></channel></rss>")


@pytest.mark.parametrize(
    ("option", "shown", "hidden"),
    [("--countries=de", "berlin", "boston"), ("--missions=boston", "boston", "berlin"),
     ("--langs=de", "berlin", "boston")],
    ids=["countries", "missions", "langs"],
)
def test_filters(tmp_path: Path, http_server, option, shown, hidden):
    us = http_server.add("/us.xml", rss("boston", "en"))
    de = http_server.add("/de.xml", rss("berlin", "de").replace(
        "quantum computing lab", "Quantencomputer Labor").replace(
        "A berlin qubit research lab opens its doors.", "Ein Quantencomputer Labor für Qubits."))
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  fetch: {{host_delay: 0}}
feeds:
  - id: us
    url: {us}
    country: US
    mission: boston
    allow_private: true
  - id: de
    url: {de}
    country: DE
    mission: germany
    allow_private: true
""", encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config)]
    runner.invoke(main, [*args, "collect"])
    sub = runner.invoke(main, [*args, "subscribe", "a@b.example", "--topics", "quantum",
                               "--ui-lang", "en", option])
    assert sub.exit_code == 0, sub.output
    assert runner.invoke(main, [*args, "digest", "build"]).exit_code == 0
    text = next((tmp_path / "digests").glob("20*/a@b.example.txt")).read_text(encoding="utf-8")
    assert shown in text and hidden not in text
