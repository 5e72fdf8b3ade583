"""Need-to-know as a security property: a subscriber never receives, in any part of any
digest, an item of a feed whose audience excludes them, nor the name of such a source.
And subscribers imported from CSV, idempotently, with bad rows reported."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.policy import default
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner

from relay.cli import main

DATE = format_datetime(datetime.now(UTC) - timedelta(hours=3))
SHARED = ("Quantum computing center opens in Hartford with 120 qubit machine",
          "The Hartford quantum computing center opened with a 120 qubit superconducting "
          "machine built by Nutmeg Quantum Consortium engineers, the state said on Monday.")
SECRET = ("Quantum computing export licence talks held in confidence",
          "Officials discussed quantum computing export licences for qubit control systems "
          "with allied missions in confidence.")


def rss(title: str, items: list[tuple[str, str, str]]) -> str:
    body = "".join(f"<item><title>{t}</title><link>{u}</link><pubDate>{DATE}</pubDate>"
                   f"<description>{d}</description></item>" for t, d, u in items)
    return (f'<rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://x.example/</link>{body}</channel></rss>")


def test_restricted_sources_never_reach_others(tmp_path, http_server, smtp_server):
    restricted = http_server.add("/cable.xml", rss("Restricted Cable", [
        (SHARED[0], SHARED[1], "https://cable.example/shared"),
        (SECRET[0], SECRET[1], "https://cable.example/secret")]))
    public = http_server.add("/wire.xml", rss("Public Wire", [
        (SHARED[0] + " today", SHARED[1], "https://wire.example/shared")]))
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  smtp: {{url: "{smtp_server.url}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  - id: cable
    name: Restricted Cable
    url: {restricted}
    lang: en
    audience: [government]
    allow_private: true
  - id: wire
    name: Public Wire
    url: {public}
    lang: en
    allow_private: true
""", encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config)]
    assert runner.invoke(main, [*args, "collect"]).exit_code == 0
    runner.invoke(main, [*args, "subscribe", "desk@gov.example", "--topics", "quantum",
                         "--ui-lang", "en", "--groups", "government"])
    runner.invoke(main, [*args, "subscribe", "office@uni.example", "--topics", "quantum",
                         "--ui-lang", "en"])
    assert runner.invoke(main, [*args, "digest", "build"]).exit_code == 0
    assert runner.invoke(main, [*args, "digest", "send"]).exit_code == 0

    def everything_sent_to(address: str) -> str:
        files = sorted((tmp_path / "digests").glob(f"*/{address}.*"))
        assert {f.suffix for f in files} == {".html", ".txt", ".eml"}
        texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
        for m in smtp_server.messages:
            if m.recipients == [address]:
                parsed = email.message_from_bytes(m.data, policy=default)
                texts += [part.get_content() for part in parsed.walk()
                          if part.get_content_maintype() == "text"]
        return "\n".join(texts)

    office = everything_sent_to("office@uni.example")
    assert "Quantum computing center opens in Hartford" in office      # the public telling
    for leak in ("Restricted Cable", "cable.example", SECRET[0], "in confidence"):
        assert leak not in office, leak

    desk = everything_sent_to("desk@gov.example")
    assert SECRET[0] in desk and "Restricted Cable" in desk
    assert "Public Wire" in desk   # the shared story names its other source

    # The topic's Atom feed is public: the shared story, by its public source only.
    atom = (tmp_path / "digests" / "feeds" / "quantum.xml").read_text(encoding="utf-8")
    assert "Quantum computing center opens in Hartford" in atom and "Public Wire" in atom
    for leak in ("Restricted Cable", "cable.example", SECRET[0]):
        assert leak not in atom, leak
    parsed = __import__("feedparser").parse(atom.encode("utf-8"))
    assert not parsed.bozo and len(parsed.entries) == 1

    # The 8-week trend counts public items only: 1 shared + 0 secret on the Wire.
    assert "▁▁▁▁▁▁▁█" in office
    from relay.store import Store
    with Store(tmp_path / "relay.db") as store:
        counts = store.weekly_topic_counts(datetime.now(UTC))
    assert counts["quantum"] == [0, 0, 0, 0, 0, 0, 0, 1]

    # A preview shows the next digest without queueing or recording anything.
    runner.invoke(main, [*args, "subscribe", "late@uni.example", "--topics", "quantum",
                         "--ui-lang", "en"])
    preview = runner.invoke(main, [*args, "digest", "preview", "--subscriber",
                                   "late@uni.example"])
    assert preview.exit_code == 0, preview.output
    shown = Path(preview.output.strip()).read_text(encoding="utf-8")
    assert "Quantum computing center opens in Hartford" in shown
    assert "Restricted Cable" not in shown
    status = __import__("json").loads(runner.invoke(main, [*args, "status", "--json"]).stdout)
    assert status["digests"] == 2 and sum(status["deliveries"].values()) == 2


def test_subscribers_import_is_idempotent_and_reports_bad_rows(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  database: relay.db\nfeeds: []\n", encoding="utf-8")
    csv_file = tmp_path / "desks.csv"
    csv_file.write_text(
        "email,name,organization,topics,frequency,ui_lang,groups\n"
        "desk@mext.example,科学技術室,文部科学省,quantum ai,weekly,ja,government\n"
        "office@uni.example,Research Office,Example University,semiconductors,daily,en,\n"
        "not-an-address,X,Y,quantum,weekly,ja,\n"
        "cook@x.example,Cook,Kitchen,cooking,weekly,en,\n", encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config), "subscribers", "import", str(csv_file)]
    first = runner.invoke(main, args)
    assert first.exit_code == 2
    assert "added desk@mext.example" in first.output and "added office@uni.example" in first.output
    assert "2 added, 0 updated, 0 unchanged, 2 bad" in first.stderr
    assert "line 4: 'not-an-address' is not a valid e-mail address" in first.stderr
    assert "line 5: unknown topic 'cooking'" in first.stderr
    dup = tmp_path / "dup.csv"
    dup.write_text("email,topics\nz@uni.example,quantum\nZ@uni.example,ai\n", encoding="utf-8")
    twice = runner.invoke(main, ["--config", str(config), "subscribers", "import", str(dup)])
    assert "line 3: z@uni.example is already on line 2" in twice.stderr
    again = runner.invoke(main, ["--config", str(config), "subscribers", "import", str(dup)])
    assert "0 added, 0 updated, 1 unchanged, 1 bad" in again.stderr
    second = runner.invoke(main, args)
    assert "0 added, 0 updated, 2 unchanged, 2 bad" in second.stderr
    csv_file.write_text("email,topics,frequency\ndesk@mext.example,quantum,daily\n",
                        encoding="utf-8")
    third = runner.invoke(main, args)
    assert third.exit_code == 0 and "updated desk@mext.example" in third.output
    subs = {s["email"]: s for s in __import__("json").loads(runner.invoke(
        main, ["--config", str(config), "subscribers", "--json"]).stdout)}
    assert subs["desk@mext.example"]["frequency"] == "daily"
    assert subs["desk@mext.example"]["name"] == "科学技術室"          # not in the file: kept
    assert subs["desk@mext.example"]["groups"] == ["government"]
    assert subs["office@uni.example"]["groups"] == []
