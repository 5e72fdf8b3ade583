"""fulltext: true fetches each new item's page and tags and indexes the article, not the
feed's one-line summary; a page that fails keeps the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


# -- without the extra (relay[fulltext]) --------------------------------------------------------

# A Python in which trafilatura cannot be found, as after `pip install relay` without the
# extra: a finder first on sys.meta_path refuses it, then the CLI runs.
WITHOUT_EXTRA = """
import sys

class NoFulltext:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "trafilatura":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoFulltext())
from relay.cli import main
main(sys.argv[1:], prog_name="relay")
"""

TWO_FEEDS = """
settings:
  database: relay.db
  fetch: {{host_delay: 0}}
feeds:
  - id: wire
    url: {wire}
    lang: en
    fulltext: true
    allow_private: true
  - id: plain
    url: {plain}
    lang: en
    allow_private: true
"""


def _config(tmp_path, http_server) -> str:
    config = tmp_path / "feeds.yaml"
    config.write_text(TWO_FEEDS.format(
        wire=http_server.add("/feed.xml", feed(http_server.url)),
        plain=http_server.add("/plain.xml", feed(http_server.url + "/plain"))), encoding="utf-8")
    return str(config)


def test_check_without_the_extra_names_the_feed_and_the_install(tmp_path, http_server):
    config = _config(tmp_path, http_server)
    result = subprocess.run([sys.executable, "-c", WITHOUT_EXTRA, "--config", config, "check"],
                            capture_output=True, text=True, timeout=120, env=os.environ)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"Error: feeds[0] (wire).fulltext: true needs the fulltext extra, which is not "
        f"installed: pip install 'relay[fulltext]' ({config}:9)"]
    assert result.stdout == ""
    with_extra = subprocess.run([sys.executable, "-m", "relay", "--config", config, "check"],
                                capture_output=True, text=True, timeout=120, env=os.environ)
    assert with_extra.returncode == 0, with_extra.stderr


def test_collect_without_the_extra_leaves_that_feed_out_and_runs_the_others(
        tmp_path, http_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "trafilatura", None)   # `import trafilatura` fails
    config = _config(tmp_path, http_server)
    runner = CliRunner()
    result = runner.invoke(main, ["--config", config, "collect", "--json"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(
        "Error: feeds[0] (wire).fulltext: true needs the fulltext extra")
    assert "pip install 'relay[fulltext]'" in result.stderr.splitlines()[0]
    assert [r["feed"] for r in json.loads(result.stdout)] == ["plain"]
    assert http_server.hits("/feed.xml") == [] and http_server.hits("/a/1.html") == []
