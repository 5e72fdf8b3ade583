"""fulltext: true fetches each new item's page and tags and indexes the article, not the
feed's one-line summary; a page that fails keeps the summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

from click.testing import CliRunner

from relay.cli import main

ARTICLE = """<html><head><title>Tech Wire</title></head><body>
<nav>Home | Politics | Tech | Subscribe</nav>
<article><h1>State lab opens</h1>
<p>The new laboratory in Hartford will build quantum computing prototypes with superconducting
qubits, the state's economic development office said on Monday.</p>
<p>Researchers expect the first quantum computer demonstrations in 2027, and the lab will
train engineers for quantum computing companies across New England.</p>
</article><footer>Copyright Tech Wire. All rights reserved.</footer></body></html>"""


def feed(base: str) -> str:
    date = format_datetime(datetime.now(UTC))
    return f"""<rss version="2.0"><channel><title>Tech Wire</title><link>{base}/</link>
<item><title>State lab opens</title><link>{base}/a/1.html</link><guid>tw-1</guid>
<pubDate>{date}</pubDate><description>A new lab opens.</description></item>
<item><title>Another opening</title><link>{base}/a/missing.html</link><guid>tw-2</guid>
<pubDate>{date}</pubDate><description>Short summary only.</description></item>
</channel></rss>"""


def test_fulltext_feeds_are_tagged_on_the_article(tmp_path, http_server):
    url = http_server.add("/feed.xml", feed(http_server.url))
    http_server.add("/a/1.html", ARTICLE, content_type="text/html; charset=utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  fetch: {{host_delay: 0}}
feeds:
  - id: wire
    url: {url}
    lang: en
    fulltext: true
    allow_private: true
""", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "collect", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["title"]: r for r in json.loads(runner.invoke(
        main, ["--config", str(config), "search", "--format", "json"]).stdout)}
    article = rows["State lab opens"]
    assert "quantum" in article["topics"]                      # found in the article only
    assert "superconducting qubits" in article["summary"]
    assert "Subscribe" not in article["summary"]              # boilerplate left out
    assert rows["Another opening"]["summary"] == "Short summary only."   # 404: kept
    pages_before = len(http_server.hits("/a/1.html"))
    runner.invoke(main, ["--config", str(config), "collect", "--all"])
    assert len(http_server.hits("/a/1.html")) == pages_before  # known items: no refetch
