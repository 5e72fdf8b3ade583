"""Unsubscribe links signed with HMAC (RFC 2369 + RFC 8058 one-click): nobody can
unsubscribe someone else, and the headers reach clients as plain URIs."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.digest.deliver import build_message, token_matches, unsubscribe_token

SECRET = "s3cret-of-at-least-16-chars"


def test_tokens_are_per_address_and_per_secret():
    token = unsubscribe_token(SECRET, "desk@mext.example")
    assert token == unsubscribe_token(SECRET, " Desk@MEXT.example ")   # case and spaces
    assert token != unsubscribe_token(SECRET, "other@mext.example")
    assert token != unsubscribe_token(SECRET + "x", "desk@mext.example")
    assert token_matches(SECRET, "desk@mext.example", token)
    assert not token_matches(SECRET, "other@mext.example", token)


def test_one_click_headers_are_plain_uris():
    url = "https://relay.example.org/unsubscribe?e=desk%40mext.example&t=" + "A" * 24
    raw = build_message(sender="relay@example.org", to_address="desk@mext.example",
                        to_name="科学技術室", subject="海外現地情報 週報 " * 6, text="t",
                        html="<p>h</p>", message_id="<1@example.org>",
                        date=format_datetime(datetime.now(UTC)), list_id="x.example.org",
                        unsubscribe_https=url)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert f"List-Unsubscribe: <mailto:relay@example.org?subject=unsubscribe>,\r\n <{url}>" in head
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
    assert all(len(line) <= 998 for line in head.split("\r\n"))
    parsed = email.message_from_bytes(raw, policy=default)
    assert parsed["Subject"].startswith("海外現地情報 週報")
    assert parsed.get_content_type() == "multipart/alternative"


def test_digests_carry_a_signed_link_and_only_its_token_unsubscribes(tmp_path, http_server,
                                                                      monkeypatch):
    date = format_datetime(datetime.now(UTC))
    url = http_server.add("/f.xml", f'<rss version="2.0"><channel><title>f</title>'
                          f"<link>https://f.example/</link><item><title>Quantum computing lab"
                          f"</title><link>https://f.example/1</link><pubDate>{date}</pubDate>"
                          f"<description>Qubit research lab opens.</description></item>"
                          f"</channel></rss>")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  base_url: https://relay.example.org
  secret: ${{RELAY_SECRET}}
  fetch: {{host_delay: 0}}
feeds:
  - id: f
    url: {url}
    allow_private: true
""", encoding="utf-8")
    monkeypatch.setenv("RELAY_SECRET", SECRET)
    runner = CliRunner()
    args = ["--config", str(config)]
    runner.invoke(main, [*args, "collect"])
    for address in ("desk@mext.example", "other@mext.example"):
        runner.invoke(main, [*args, "subscribe", address, "--topics", "quantum"])
    assert runner.invoke(main, [*args, "digest", "build"]).exit_code == 0
    eml = next((tmp_path / "digests").glob("*/desk@mext.example.eml")).read_bytes()
    header = email.message_from_bytes(eml, policy=default)["List-Unsubscribe"]
    mailto = header.split("<")[1].split(">")[0]
    assert mailto.startswith("mailto:") and "desk%40mext.example" in mailto  # signed too
    link = header.split("<")[2].rstrip(">").strip()
    token = parse_qs(urlsplit(link).query)["t"][0]
    parsed = email.message_from_bytes(eml, policy=default)
    assert link in parsed.get_body(("plain",)).get_content()        # whole, not wrapped
    assert f'href="{link.replace("&", "&amp;")}"' in parsed.get_body(("html",)).get_content()

    wrong = runner.invoke(main, [*args, "unsubscribe", "other@mext.example", "--token", token])
    assert wrong.exit_code == 2 and "does not match" in wrong.stderr
    right = runner.invoke(main, [*args, "unsubscribe", "desk@mext.example", "--token", token])
    assert right.exit_code == 0
    left = runner.invoke(main, [*args, "subscribers", "--json"]).stdout
    assert "other@mext.example" in left and "desk@mext.example" not in left


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("  base_url: https://r.example\n", "needs settings.secret"),
        ("  secret: plain-text-secret-value\n", "write it as ${NAME}"),
        ("  base_url: http://r.example\n  secret: ${RELAY_SECRET}\n", "must be an https://"),
    ],
    ids=["url-without-secret", "secret-in-the-file", "plain-http"],
)
def test_unsubscribe_settings_are_checked(tmp_path, monkeypatch, settings, message):
    monkeypatch.setenv("RELAY_SECRET", SECRET)
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n" + settings + "feeds: []\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 2 and message in result.stderr
