"""The operator's tools: feeds add (discover, check, append keeping comments), feeds check
(fetch once, store nothing), and the feed-health mail."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.config import load_config

NOW = datetime.now(UTC)


def rss(title: str, n: int = 3, lang: str = "en") -> str:
    items = "".join(f"<item><title>NSF award {i}</title><link>https://nsf.example/{i}</link>"
                    f"<pubDate>{format_datetime(NOW - timedelta(days=i))}</pubDate></item>"
                    for i in range(n))
    return (f'<rss version="2.0"><channel><title>{title}</title><language>{lang}</language>'
            f"<link>https://nsf.example/</link>{items}</channel></rss>")


CONFIG = """# The operator's own comment, which must survive `feeds add`.
settings:
  database: relay.db
  admin_email: ops@example.org
  smtp: {{url: "{smtp}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  # The first feed, commented.
  - id: first
    name: First
    url: {first}
    allow_private: true
"""


def setup(tmp_path: Path, http_server, smtp_server) -> Path:
    first = http_server.add("/first.xml", rss("First feed"))
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG.format(smtp=smtp_server.url, first=first), encoding="utf-8")
    return config


def run(config: Path, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_feeds_add_discovers_checks_and_keeps_the_file(tmp_path, http_server, smtp_server):
    config = setup(tmp_path, http_server, smtp_server)
    http_server.add("/nsf.xml", rss("NSF News"))
    page = http_server.add("/news.html", '<html><head><link rel="alternate" '
                           'type="application/rss+xml" href="/nsf.xml"></head></html>',
                           content_type="text/html")
    result = run(config, "feeds", "add", page, "--country", "US", "--allow-private")
    assert result.exit_code == 0, result.output
    assert "added nsf-news" in result.output and "3 entries" in result.output
    text = config.read_text(encoding="utf-8")
    assert "# The operator's own comment, which must survive `feeds add`." in text
    assert "# The first feed, commented." in text
    assert "added by `relay feeds add`" in text
    feed = load_config(config, env={}).feed("nsf-news")
    assert feed is not None and feed.url == f"{http_server.url}/nsf.xml"
    assert (feed.country, feed.lang, feed.allow_private) == ("US", "en", True)

    again = run(config, "feeds", "add", page, "--allow-private")
    assert again.exit_code == 2 and "already has this id or URL" in again.stderr
    html = http_server.add("/plain.html", "<html><body>no feed</body></html>",
                           content_type="text/html")
    none = run(config, "feeds", "add", html, "--allow-private")
    assert none.exit_code == 2 and "names no feed" in none.stderr
    internal = run(config, "feeds", "add", page)
    assert internal.exit_code == 2 and "internal address" in internal.stderr
    assert config.read_text(encoding="utf-8").count("- id:") == 2


def test_feeds_check_fetches_once_and_stores_nothing(tmp_path, http_server, smtp_server):
    config = setup(tmp_path, http_server, smtp_server)
    result = run(config, "feeds", "check", "--json")
    assert result.exit_code == 0, result.output
    (check,) = json.loads(result.stdout)
    assert check["ok"] and check["entries"] == 3 and check["status"] == 200
    assert not (tmp_path / "relay.db").exists()
    http_server.add("/first.xml", "gone", status=410, etag=False)
    failed = run(config, "feeds", "check")
    assert failed.exit_code == 1 and "HTTP 410" in failed.output


def test_health_mail_names_the_sick_feeds(tmp_path, http_server, smtp_server):
    config = setup(tmp_path, http_server, smtp_server)
    run(config, "collect")
    http_server.add("/first.xml", "oops", status=500, etag=False)
    run(config, "collect", "first")
    result = run(config, "feeds", "mail")
    assert result.exit_code == 0, result.output
    (message,) = smtp_server.messages
    mail = email.message_from_bytes(message.data, policy=default)
    assert message.recipients == ["ops@example.org"]
    assert mail["Subject"] == "relay feed health: 1 of 1 feeds need attention"
    text = mail.get_body(("plain",)).get_content()
    assert "Failing (the last fetch failed): 1" in text and "HTTP 500" in text


@pytest.mark.parametrize(
    ("declared", "titles", "lang"),
    [("pt-BR", ["Governo anuncia novo programa de investigação científica",
                "Universidade abre laboratório de computação quântica"], "pt"),
     ("zh-CN", ["国务院常务会议研究部署量子科技发展", "中国科学院发布新一代超导量子计算机"], "zh"),
     ("es", ["El gobierno anuncia un nuevo programa de investigación",
             "La universidad abre un laboratorio de computación cuántica"], "es"),
     ("en-US", ["NSF award for quantum research", "New lab opens at the university"], "en"),
     ("ja", ["The ministry said that the new programme will fund research in the region",
             "The university opened a new laboratory for the study of quantum machines"],
      "en"),
     ("nl-NL", ["Kabinet", "Ministerie van Financiën"], "nl")],   # too short to detect alone
    ids=["pt-region", "zh-region", "es", "en-region", "declared-ja-but-english",
         "nl-short-titles"],
)
def test_feeds_add_takes_the_language_as_collect_does(tmp_path, http_server, smtp_server,
                                                      declared, titles, lang):
    config = setup(tmp_path, http_server, smtp_server)
    items = "".join(f"<item><title>{t}</title><link>https://n.example/{i}</link></item>"
                    for i, t in enumerate(titles))
    url = http_server.add("/n.xml", f'<rss version="2.0"><channel><title>News</title>'
                          f"<language>{declared}</language><link>https://n.example/</link>"
                          f"{items}</channel></rss>")
    result = run(config, "feeds", "add", url, "--id", "news", "--allow-private")
    assert result.exit_code == 0, result.output
    feed = load_config(config, env={}).feed("news")
    assert feed is not None and feed.lang == lang
