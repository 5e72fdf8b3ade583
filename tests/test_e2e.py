"""End to end through the CLI: feeds on a real HTTP server, mail to a real SMTP server,
the archive in a real SQLite file."""

from __future__ import annotations

import email
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relay.cli import main

NOW = datetime.now(UTC)


def rfc822(days_ago: float) -> str:
    return format_datetime(NOW - timedelta(days=days_ago))


def ja_feed() -> bytes:
    """A mission's RSS 2.0 feed in Shift_JIS, as Japanese government sites still serve."""
    xml = f"""<?xml version="1.0" encoding="Shift_JIS"?>
<rss version="2.0"><channel><title>在ボストン総領事館</title><link>https://boston.example/</link>
<item><title>コネチカット州、量子コンピュータ研究に1億2100万ドル</title>
<link>https://boston.example/r/1.html?utm_source=rss</link><guid>boston-1</guid>
<pubDate>{rfc822(1)}</pubDate>
<description>&lt;p&gt;州政府は量子コンピュータの研究拠点整備に1億2100万ドルを投じると発表した。量子技術の人材育成も含む。&lt;/p&gt;</description></item>
<item><title>ハーバード大学、海外研究者の招へいプログラムを拡充</title>
<link>https://boston.example/r/2.html</link><guid>boston-2</guid><pubDate>{rfc822(2)}</pubDate>
<description>国際頭脳循環の一環として、高度人材の受け入れを拡大する。研究者の招へい枠は倍増。</description></item>
<item><title>ボストン日本人会 秋祭りのお知らせ</title>
<link>https://boston.example/r/3.html</link><guid>boston-3</guid><pubDate>{rfc822(3)}</pubDate>
<description>今年も秋祭りを開催します。</description></item>
</channel></rss>"""
    return xml.encode("cp932")


def en_feed() -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Tech Wire</title><id>tag:tw</id>
<updated>{(NOW - timedelta(days=1)).isoformat()}</updated>
<entry><title>Chipmaker expands semiconductor fab in Connecticut</title><id>tag:tw:1</id>
<link href="https://techwire.example/fab"/><updated>{(NOW - timedelta(days=1)).isoformat()}</updated>
<content type="html">&lt;p&gt;The semiconductor fab will double wafer output. The chipmaker cited the CHIPS Act.&lt;/p&gt;</content></entry>
<entry><title>Fusion cuisine restaurant opens in downtown office space</title><id>tag:tw:2</id>
<link href="https://techwire.example/food"/><updated>{(NOW - timedelta(days=2)).isoformat()}</updated>
<content>Tacos and kimchi downtown.</content></entry>
</feed>"""


def syndicated_copy() -> str:
    """Another feed carrying the mission's first report again (same canonical URL and text)."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Aggregator</title><link>https://agg.example/</link>
<item><title>コネチカット州、量子コンピュータ研究に1億2100万ドル</title>
<link>https://www.boston.example/r/1.html?utm_medium=feed</link><guid>agg-77</guid>
<pubDate>{rfc822(1)}</pubDate>
<description>州政府は量子コンピュータの研究拠点整備に1億2100万ドルを投じると発表した。量子技術の人材育成も含む。</description></item>
</channel></rss>"""


@pytest.fixture
def site(tmp_path: Path, http_server, smtp_server) -> dict[str, object]:
    urls = {
        "boston": http_server.add("/boston.xml", ja_feed(), content_type="application/rss+xml"),
        "wire": http_server.add("/wire.atom", en_feed(), content_type="application/atom+xml"),
        "agg": http_server.add("/agg.xml", syndicated_copy()),
        "broken": http_server.add("/broken.xml", "Internal error", status=500,
                                  content_type="text/plain", etag=False),
    }
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  timezone: Asia/Tokyo
  database: storage/relay.db
  digests_dir: digests
  smtp: {{url: "{smtp_server.url}", sender: "relay@example.org"}}
  digest: {{weekly: "mon 08:00", daily: "08:00", max_age_days: 14}}
  fetch: {{host_delay: 0}}          # every test feed is on 127.0.0.1
feeds:
  - id: boston-cg
    name: 在ボストン総領事館
    url: {urls['boston']}
    allow_private: true   # the test server is on 127.0.0.1
    kind: rss
    mission: boston
    country: US
    lang: ja
  - id: tech-wire
    name: Tech Wire
    url: {urls['wire']}
    allow_private: true   # the test server is on 127.0.0.1
    country: US
  - id: aggregator
    name: Aggregator
    url: {urls['agg']}
    allow_private: true   # the test server is on 127.0.0.1
  - id: broken
    name: Broken source
    url: {urls['broken']}
    allow_private: true   # the test server is on 127.0.0.1
""", encoding="utf-8")
    return {"config": config, "http": http_server, "smtp": smtp_server, "dir": tmp_path}


def relay(site: dict[str, object], *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(site["config"]), *args],
                              catch_exceptions=False)


def db(site: dict[str, object]) -> sqlite3.Connection:
    return sqlite3.connect(Path(str(site["dir"])) / "storage" / "relay.db")


def test_check_prints_a_summary(site):
    result = relay(site, "check")
    assert result.exit_code == 0, result.output
    assert "feeds: 4 (4 enabled" in result.output
    assert "topics: 12 (built-in)" in result.output


def test_collect_stores_tags_dedups_and_records_failures(site):
    result = relay(site, "collect", "--json")
    assert result.exit_code == 1  # one feed failed, the others were collected
    reports = {r["feed"]: r for r in json.loads(result.stdout)}
    assert reports["boston-cg"]["new"] == 3
    assert reports["tech-wire"]["new"] == 2
    assert reports["aggregator"] == reports["aggregator"] | {"new": 0, "duplicates": 1}
    assert reports["broken"]["ok"] is False and "HTTP 500" in reports["broken"]["error"]

    with db(site) as conn:
        titles = dict(conn.execute("SELECT guid, title FROM items"))
        assert titles["boston-1"] == "コネチカット州、量子コンピュータ研究に1億2100万ドル"  # Shift_JIS decoded
        url, key = conn.execute(
            "SELECT url, url_key FROM items WHERE guid = 'boston-1'").fetchone()
        assert url == "https://boston.example/r/1.html?utm_source=rss"  # as published
        assert key == "https://boston.example/r/1.html"  # the tracker is not in the key
        tags = {(g, t) for g, t in conn.execute(
            "SELECT i.guid, t.topic FROM item_tags t JOIN items i ON i.id = t.item_id")}
        assert ("boston-1", "quantum") in tags
        assert ("boston-2", "talent") in tags
        assert ("tag:tw:1", "semiconductors") in tags
        assert not {t for g, t in tags if g in ("boston-3", "tag:tw:2")}  # no topic at all
        fts = conn.execute("SELECT COUNT(*) FROM items_fts").fetchone()[0]
        assert fts == 5
        health = conn.execute(
            "SELECT error_count, last_error FROM feeds WHERE id = 'broken'").fetchone()
        assert health[0] == 1 and "500" in health[1]

    feeds = json.loads(relay(site, "feeds", "--json").stdout)
    broken = next(f for f in feeds if f["id"] == "broken")
    assert broken["error_count"] == 1 and broken["next_fetch_at"]


def test_second_collect_is_conditional_and_adds_nothing(site):
    relay(site, "collect")
    result = relay(site, "collect", "--all", "--json")
    reports = {r["feed"]: r for r in json.loads(result.stdout)}
    assert reports["boston-cg"]["not_modified"] is True
    assert reports["tech-wire"]["not_modified"] is True
    http = site["http"]
    assert http.hits("/boston.xml")[-1].get("if-none-match")  # type: ignore[attr-defined]
    assert "relay/" in http.hits("/boston.xml")[-1]["user-agent"]  # type: ignore[attr-defined]
    with db(site) as conn:
        assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 5


def test_search_finds_spelling_variants_and_rejects_bad_queries(site):
    relay(site, "collect")
    result = relay(site, "search", "量子コンピューター", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["feed_id"] for r in rows] == ["boston-cg"]
    assert "quantum" in rows[0]["topics"]

    result = relay(site, "search", "semiconductor", "--topic", "semiconductors", "--format", "csv")
    assert result.stdout.splitlines()[0].startswith("id,published_at,feed_id")
    assert "Chipmaker" in result.stdout

    result = relay(site, "search", '"unbalanced')
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unbalanced double quote")
    assert "Traceback" not in result.output

    result = relay(site, "search", "x", "--topic", "nope")
    assert result.exit_code == 2 and "unknown topic 'nope'" in result.stderr


def test_export_jsonl_has_the_contract_fields(site):
    relay(site, "collect")
    lines = relay(site, "export", "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert {"id", "feed", "mission", "url", "title", "lang", "published_at", "topics",
            "story_id"} <= first.keys()


def _parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_digests_are_built_once_and_delivered_once(site):
    relay(site, "collect")
    assert relay(site, "subscribe", "desk@mext.example", "--topics", "quantum,talent",
                 "--ui-lang", "ja", "--name", "科学技術室").exit_code == 0
    assert relay(site, "subscribe", "office@uni.example", "--topics",
                 "semiconductors,quantum", "--ui-lang", "en", "--name", "Research Office"
                 ).exit_code == 0

    built = relay(site, "digest", "build")
    assert built.exit_code == 0, built.output
    assert built.output.count("stories ->") == 2
    again = relay(site, "digest", "build")
    assert "exists" in again.output and "stories ->" not in again.output

    sent = relay(site, "digest", "send")
    assert sent.exit_code == 0, sent.output
    smtp = site["smtp"]
    messages = smtp.messages  # type: ignore[attr-defined]
    assert len(messages) == 2
    by_rcpt = {m.recipients[0]: email.message_from_bytes(m.data, policy=default)
               for m in messages}
    ja = by_rcpt["desk@mext.example"]
    assert ja.get_content_type() == "multipart/alternative"
    assert ja["Subject"].startswith("海外現地情報 週報")
    assert ja["Message-ID"]
    text, html = _parts(ja)
    assert "コネチカット州、量子コンピュータ研究に1億2100万ドル" in text
    assert "<script" not in html.lower()
    en = by_rcpt["office@uni.example"]
    text, html = _parts(en)
    assert "Chipmaker expands semiconductor fab" in text
    assert "Fusion cuisine" not in text

    # Sending again sends nothing: each delivery is marked as the server accepts it.
    assert relay(site, "digest", "send").exit_code == 0
    assert len(smtp.messages) == 2  # type: ignore[attr-defined]
    status = json.loads(relay(site, "status", "--json").stdout)
    assert status["deliveries"] == {"queued": 0, "sent": 2, "failed": 0}
    digests = Path(str(site["dir"])) / "digests"
    assert len(list(digests.glob("*/*.eml"))) == 2
    assert len(list(digests.glob("*/*.html"))) == 2


def test_smtp_failures_keep_or_fail_the_delivery(site):
    relay(site, "collect")
    smtp = site["smtp"]
    smtp.mailbox.reject["gone@uni.example"] = "550 5.1.1 no such user"  # type: ignore[attr-defined]
    smtp.mailbox.reject["busy@uni.example"] = "451 4.3.0 try again later"  # type: ignore[attr-defined]
    for address in ("gone@uni.example", "busy@uni.example", "ok@uni.example"):
        relay(site, "subscribe", address, "--topics", "quantum", "--ui-lang", "en")
    relay(site, "digest", "build")
    sent_at = datetime.now(UTC)   # not the module's NOW: a long run would skew the retry wait
    result = relay(site, "digest", "send")
    assert result.exit_code == 1
    assert "gone@uni.example: failed (SMTP 550" in result.output
    assert "busy@uni.example: retry (SMTP 451" in result.output
    assert [m.recipients for m in smtp.messages] == [["ok@uni.example"]]  # type: ignore[attr-defined]
    with db(site) as conn:
        rows = dict(conn.execute("SELECT address, status FROM deliveries"))
    assert rows == {"gone@uni.example": "failed", "busy@uni.example": "queued",
                    "ok@uni.example": "sent"}
    with db(site) as conn:
        (next_try,) = conn.execute("SELECT next_try_at FROM deliveries WHERE address ="
                                   " 'busy@uni.example'").fetchone()
    wait = datetime.strptime(next_try, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - sent_at
    assert timedelta(minutes=14) < wait < timedelta(minutes=17)   # 4xx: retried in 15 min


def test_unreachable_smtp_server_loses_nothing(site):
    relay(site, "collect")
    relay(site, "subscribe", "ok@uni.example", "--topics", "quantum", "--ui-lang", "en")
    relay(site, "digest", "build")
    runner = CliRunner(env={"RELAY_SMTP_URL": "smtp://127.0.0.1:9"})
    result = runner.invoke(main, ["--config", str(site["config"]), "digest", "send"])
    assert result.exit_code == 1
    assert "retry" in result.output and "cannot connect" in result.output
    with db(site) as conn:
        assert conn.execute("SELECT status, attempts FROM deliveries").fetchone() == ("queued", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["subscribe", "not-an-address", "--topics", "quantum"], "not a valid e-mail address"),
        (["subscribe", "a@b.example", "--topics", "quantum,cooking"], "unknown topic 'cooking'"),
        (["digest", "build", "--period", "2026-W60"], "not a period"),
        (["collect", "no-such-feed"], "unknown feed id 'no-such-feed'"),
        (["unsubscribe", "nobody@b.example"], "no active subscriber"),
        (["search", "quantum", "--since", "yesterday"], "not a date"),
    ],
    ids=["bad-address", "unknown-topic", "bad-period", "unknown-feed", "unknown-subscriber",
         "bad-date"],
)
def test_bad_input_is_one_line_and_exit_2(site, args, message):
    relay(site, "collect")
    result = relay(site, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0].startswith("Error: ")
    assert message in result.stderr


def test_reading_commands_refuse_a_missing_archive(site, tmp_path):
    result = \
        CliRunner().invoke(main, ["--config", str(site["config"]), "--db",
                                  str(tmp_path / "typo.db"), "status"])
    assert result.exit_code == 2 and "no archive here yet" in result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_bad_config_names_file_line_and_key(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  timezone: Asia/Tokyo\nfeeds:\n  - id: a\n    url: https://a.example/f\n    intervall: 1h\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "check"])
    assert result.exit_code == 2
    assert f"{config}:6" in result.stderr and "feeds[0] (a).intervall: unknown key" in result.stderr


def test_subscribe_again_changes_only_what_is_given(site):
    relay(site, "subscribe", "desk@mext.example", "--topics", "quantum,ai", "--name", "科学技術室",
          "--org", "文部科学省")
    result = relay(site, "subscribe", "desk@mext.example", "--frequency", "daily")
    assert result.output.startswith("updated desk@mext.example: quantum, ai (daily, ja)")
    (sub,) = json.loads(relay(site, "subscribers", "--json").stdout)
    assert (sub["name"], sub["org"], sub["frequency"]) == ("科学技術室", "文部科学省", "daily")
    result = relay(site, "subscribe", "new@uni.example")
    assert result.exit_code == 2 and "needs --topics" in result.stderr
