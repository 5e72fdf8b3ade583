"""One subscriber's digest harms only itself: a bad address or name is refused at the
door (subscribe, CSV import), a bad row already in the archive is recorded for its
subscriber and the others get their digests; SMTP URLs and credentials are checked;
one digest message has a size cap."""

from __future__ import annotations

import csv
import email
import json
import sqlite3
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.policy import default
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from relay import pipeline
from relay.cli import main
from relay.config import load_config
from relay.digest.deliver import SmtpSender, build_message
from relay.digest.render import MAX_TITLE, _headline
from relay.errors import DeliveryError
from relay.models import Story, Topic, TopicSection, parse_smtp_url
from relay.pipeline.digests import _keep_most_important
from relay.store import Store

NOW = datetime.now(UTC)


def quantum_feed(n: int = 3, title_extra: str = "") -> str:
    date = format_datetime(NOW - timedelta(hours=12))
    items = "".join(
        f"<item><title>Quantum computing lab {i} opens{title_extra}</title>"
        f"<link>https://q.example/{i}</link><guid>q-{i}</guid><pubDate>{date}</pubDate>"
        f"<description>A superconducting qubit lab number {i} opened near campus {i}."
        f"</description></item>" for i in range(n))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>q</title>'
            f"<link>https://q.example/</link>{items}</channel></rss>")


def write_config(tmp_path: Path, feed_url: str, smtp_url: str, extra: str = "") -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  smtp: {{url: "{smtp_url}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
{extra}
feeds:
  - id: q
    url: {feed_url}
    allow_private: true
""", encoding="utf-8")
    return config


def cli(config: Path, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_a_nul_in_a_csv_address_is_refused_and_the_other_rows_imported(tmp_path, http_server,
                                                                       smtp_server):
    config = write_config(tmp_path, http_server.add("/q.xml", quantum_feed()), smtp_server.url)
    rows = tmp_path / "desks.csv"
    rows.write_text("email,name,topics\n"
                    "a\x00b@uni.example,A,quantum\n"
                    "c@uni.example,C\x07,quantum\n"
                    "z@uni.example,Zed,quantum\n", encoding="utf-8")
    result = cli(config, "subscribers", "import", str(rows))
    assert result.exit_code == 2
    assert "1 added, 0 updated, 0 unchanged, 2 bad" in result.stderr
    assert "line 2: 'a\\x00b@uni.example' is not a valid e-mail address" in result.stderr
    assert f"({rows})" in result.stderr
    assert "line 3: the name must not hold control characters" in result.stderr
    assert "\x00" not in result.stderr and "\x07" not in result.stderr   # shown escaped
    subs = json.loads(cli(config, "subscribers", "--json").stdout)
    assert [s["email"] for s in subs] == ["z@uni.example"]


def test_a_bad_row_already_in_the_archive_harms_only_its_subscriber(tmp_path, http_server,
                                                                    smtp_server):
    config = write_config(tmp_path, http_server.add("/q.xml", quantum_feed()), smtp_server.url)
    assert cli(config, "collect").exit_code == 0
    for address in ("a@uni.example", "m@uni.example", "n@uni.example", "z@uni.example"):
        assert cli(config, "subscribe", address, "--topics", "quantum").exit_code == 0
    with sqlite3.connect(tmp_path / "relay.db") as conn:   # written before relay refused them
        conn.execute("UPDATE subscribers SET email = ? WHERE email = 'm@uni.example'",
                     ("m\x00x@uni.example",))
        conn.execute("UPDATE subscribers SET name = ? WHERE email = 'n@uni.example'",
                     ("N\x1b[31m",))
    built = cli(config, "digest", "build")
    assert built.exit_code == 1, built.output
    assert "Traceback" not in built.output
    assert built.stdout.count("3 stories ->") == 3       # a, n (its name cleaned) and z
    assert "'m\\x00x@uni.example' 20" in built.stdout
    assert "failed (build): NonPrintableDefect" in built.stdout
    sent = cli(config, "digest", "send")
    assert sent.exit_code == 0, sent.output
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "a@uni.example", "n@uni.example", "z@uni.example"]
    (to_n,) = [m for m in smtp_server.messages if m.recipients == ["n@uni.example"]]
    parsed = email.message_from_bytes(to_n.data, policy=default)
    assert parsed["To"].addresses[0].display_name == "N[31m"
    status = cli(config, "status")
    assert "digest failures: 1" in status.stdout
    assert "'m\\x00x@uni.example' (build 20" in status.stdout
    failures = json.loads(cli(config, "status", "--json").stdout)["digest_failures"]
    assert [(f["address"], f["stage"]) for f in failures] == [("m\x00x@uni.example", "build")]
    preview = cli(config, "digest", "preview", "--subscriber", "m\x00x@uni.example")
    assert preview.exit_code == 2 and "Traceback" not in preview.output
    assert "the digest of 'm\\x00x@uni.example' cannot be built" in preview.stderr
    again = cli(config, "digest", "build")                 # on every run: only that one
    assert again.exit_code == 1 and again.stdout.count("exists") == 3
    assert len(smtp_server.messages) == 3


def test_a_queued_delivery_to_a_bad_address_is_failed_and_the_others_sent(
        tmp_path, http_server, smtp_server):
    config = write_config(tmp_path, http_server.add("/q.xml", quantum_feed()), smtp_server.url)
    cli(config, "collect")
    for address in ("a@uni.example", "b@uni.example", "c@uni.example", "d@uni.example"):
        cli(config, "subscribe", address, "--topics", "quantum")
    assert cli(config, "digest", "build").exit_code == 0
    with sqlite3.connect(tmp_path / "relay.db") as conn:   # queued by an older relay
        conn.execute("UPDATE deliveries SET address = 'b@uni.example>\r\nRCPT TO:<evil@x.example'"
                     " WHERE address = 'b@uni.example'")
        conn.execute("UPDATE deliveries SET address = 'ç@uni.example'"
                     " WHERE address = 'c@uni.example'")
    sent = cli(config, "digest", "send")
    assert sent.exit_code == 1 and "Traceback" not in sent.output
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "a@uni.example", "d@uni.example"]
    assert sent.stdout.count(": failed (refused to send") == 2
    status = cli(config, "status")
    assert "digest failures: 2" in status.stdout and "(send" in status.stdout
    again = cli(config, "digest", "send")                  # failed for good: never retried
    assert again.exit_code == 0 and len(smtp_server.messages) == 2


@pytest.mark.parametrize("args, message", [
    (["a\x01b@uni.example"], "'a\\x01b@uni.example' is not a valid e-mail address"),
    (["a\x00b@uni.example"], "'a\\x00b@uni.example' is not a valid e-mail address"),
    (["b@uni.example>\r\nRCPT TO:<evil@x.example"], "is not a valid e-mail address"),
    (["ç@uni.example"], "'ç@uni.example' is not a valid e-mail address"),
    (["n@uni.example", "--name", "N\x00"], "the name must not hold control characters"),
    (["n@uni.example", "--name", "N\x1b[31m"], "the name must not hold control characters"),
    (["n@uni.example", "--org", "O\u2028P"], "the organization must not hold control"),
], ids=["soh", "nul", "crlf-injection", "non-ascii", "nul-name", "escape-name",
        "line-separator-org"])
def test_subscribe_refuses_what_cannot_be_a_header(tmp_path, args, message):
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  database: relay.db\nfeeds: []\n", encoding="utf-8")
    result = cli(config, "subscribe", *args, "--topics", "quantum")
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(cli(config, "subscribers", "--json").stdout) == []


@pytest.mark.parametrize("name", ["科学技術室　第一係", "Zoë O'Brien", "محمد\u200c", "José (desk)",
                                  'A "quoted" name'])
def test_names_in_any_script_are_accepted(tmp_path, name):
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  database: relay.db\nfeeds: []\n", encoding="utf-8")
    result = cli(config, "subscribe", "d@uni.example", "--topics", "quantum", "--name", name)
    assert result.exit_code == 0, result.output


# -- SMTP URLs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("smtp://127.0.0.1:1025", ("smtp", "127.0.0.1", 1025, None, None)),
    ("smtp://mx.example.org", ("smtp", "mx.example.org", 25, None, None)),
    ("smtps://u:p%40ss@mx.example.org", ("smtps", "mx.example.org", 465, "u", "p@ss")),
    ("smtp+starttls://u:p@mx.example.org:587/", ("smtp+starttls", "mx.example.org", 587, "u",
                                                 "p")),
    ("smtp://[::1]:2525", ("smtp", "::1", 2525, None, None)),
], ids=["plain", "default-port", "smtps-quoted-password", "starttls-slash", "ipv6"])
def test_smtp_urls_that_are_taken(url, expected):
    t = parse_smtp_url(url)
    assert (t.scheme, t.host, t.port, t.user, t.password) == expected


@pytest.mark.parametrize("url, message", [
    ("smtp://u:p@127.0.0.1:99999", "the port must be a number from 1 to 65535"),
    ("smtp://127.0.0.1:0", "the port must be a number from 1 to 65535"),
    ("smtp://127.0.0.1:twenty", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:25", "must start with smtp://"),
    ("smtp://:25", "names no host"),
    ("smtp://", "names no host"),
    ("smtp://mx.example.org/inbox", "takes no path"),
    ("smtp://mx .example.org", "must not hold spaces"),
    ("smtp://u:p@mx.example.org:25", "sends the password in clear"),
    ("smtp://u@mx.example.org", "needs both a user and a password"),
    ("smtps://:secret@mx.example.org", "needs both a user and a password"),
    ("smtp+starttls://u@mx.example.org", "needs both a user and a password"),
], ids=["port-too-big", "port-zero", "port-not-a-number", "scheme", "no-host", "nothing",
        "path", "space", "password-in-clear", "user-without-password",
        "password-without-user", "starttls-user-without-password"])
def test_smtp_urls_that_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        parse_smtp_url(url)


def test_plaintext_auth_only_when_the_operator_says_so():
    assert parse_smtp_url("smtp://u:p@mx.example.org", allow_plaintext_auth=True).user == "u"


def check(tmp_path, monkeypatch, smtp: str, env: dict[str, str]):
    """`relay check` of a file whose settings.smtp is `smtp`, in the environment `env`."""
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  smtp: {smtp}\nfeeds: []\n", encoding="utf-8")
    monkeypatch.delenv("RELAY_SMTP_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cli(config, "check")


@pytest.mark.parametrize("smtp, env, message", [
    ('{url: "smtp://u:s3cret@127.0.0.1:99999"}', {}, "settings.smtp.url: the port must be"),
    ('{url: "smtp://u:s3cret@mx.example.org"}', {}, "settings.smtp.url: sends the password"),
    ('{url: "smtp://u:${PW}@mx.example.org"}', {"PW": "s3cret"}, "sends the password in clear"),
    ('{url: "smtp://mx.example.org", allow_plaintext_auth: true}',
     {"RELAY_SMTP_URL": "smtp://u:s3cret@mx.example.org:65536"}, "RELAY_SMTP_URL: the port"),
    ('{url: "smtp://mx.example.org"}', {"RELAY_SMTP_URL": "smtp://u:s3cret@mx.example.org"},
     "RELAY_SMTP_URL: sends the password in clear"),
    ('{url: "smtp://mx.example.org", allow_plaintext_auth: "yes"}', {}, "true or false"),
], ids=["bad-port", "clear-password", "clear-password-from-env", "bad-port-in-override",
        "clear-password-in-override", "flag-not-bool"])
def test_check_refuses_a_bad_smtp_url_in_one_line(tmp_path, monkeypatch, smtp, env, message):
    result = check(tmp_path, monkeypatch, smtp, env)
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output and "s3cret" not in result.output
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) <= 2


@pytest.mark.parametrize("smtp, env", [
    ('{url: "smtp://u:p@mx.example.org", allow_plaintext_auth: true}', {}),
    ('{url: "smtp+starttls://u:p@mx.example.org:587"}', {}),
    ('{url: "smtp://mx.example.org", allow_plaintext_auth: true}',
     {"RELAY_SMTP_URL": "smtp://u:p@mx.example.org:2525"}),
], ids=["allowed", "starttls", "allowed-for-override"])
def test_check_takes_credentials_over_tls_or_when_allowed(tmp_path, monkeypatch, smtp, env):
    result = check(tmp_path, monkeypatch, smtp, env)
    assert result.exit_code == 0, result.output
    assert "smtp: mx.example.org" in result.stdout and ":p@" not in result.stdout


def test_the_sender_never_sends_a_password_in_clear(smtp_server):
    port = smtp_server.url.rpartition(":")[2]
    with pytest.raises(DeliveryError, match="sends the password in clear"):
        SmtpSender(f"smtp://u:s3cret@127.0.0.1:{port}")
    with SmtpSender(smtp_server.url) as sender:          # no credentials: plain is fine
        sender.send("relay@example.org", "a@uni.example", b"Subject: x\r\n\r\nhi\r\n")
    assert [m.recipients for m in smtp_server.messages] == [["a@uni.example"]]


# -- the size of one digest -----------------------------------------------------------------------

def test_huge_titles_do_not_make_a_huge_message(tmp_path, http_server, smtp_server):
    """Two 2 MB titles made each digest a multi-megabyte message: a digest shows at most
    MAX_TITLE characters of a headline, and no link longer than MAX_URL."""
    huge = " and" * 500_000
    config = write_config(tmp_path, http_server.add("/q.xml", quantum_feed(3, huge)),
                          smtp_server.url)
    cli(config, "collect")
    cli(config, "subscribe", "a@uni.example", "--topics", "quantum", "--ui-lang", "en")
    built = cli(config, "digest", "build")
    assert built.exit_code == 0 and "3 stories ->" in built.stdout and "left out" not in built.stdout
    assert cli(config, "digest", "send").exit_code == 0
    (message,) = smtp_server.messages
    assert len(message.data) < 60_000
    text = email.message_from_bytes(message.data, policy=default).get_body(
        ("plain",)).get_content()
    text = " ".join(text.split())
    assert "Quantum computing lab 0 opens and and" in text and " and… q / " in text


def test_a_digest_over_the_cap_leaves_out_its_least_important_stories(
        tmp_path, http_server, smtp_server):
    config = write_config(tmp_path, http_server.add("/q.xml", quantum_feed(10)),
                          smtp_server.url, extra="  digest: {max_message_bytes: 10000}")
    cli(config, "collect")
    cli(config, "subscribe", "a@uni.example", "--topics", "quantum", "--ui-lang", "en")
    built = cli(config, "digest", "build")
    assert built.exit_code == 0, built.output
    assert "left out: over settings.digest.max_message_bytes" in built.stdout
    kept = int(built.stdout.split(": ", 1)[1].split()[0])
    assert 0 < kept < 10
    assert cli(config, "digest", "send").exit_code == 0
    (message,) = smtp_server.messages
    assert len(message.data) <= 10000
    parsed = email.message_from_bytes(message.data, policy=default)
    text = parsed.get_body(("plain",)).get_content()
    assert (f"{10 - kept} less important stories were left out to keep this message under the"
            " size limit (10 kB)") in " ".join(text.split())
    assert f"and {10 - kept} more" in text


def test_a_digest_that_cannot_fit_fails_with_its_reason(tmp_path, http_server, smtp_server):
    """Even without a story the message is over the cap (below what settings allow, as
    a far smaller server limit would be): that subscriber fails with the reason, recorded;
    the digest is not sent cut to nothing."""
    config_path = write_config(tmp_path, http_server.add("/q.xml", quantum_feed(2)),
                               smtp_server.url)
    cli(config_path, "collect")
    cli(config_path, "subscribe", "a@uni.example", "--topics", "quantum", "--ui-lang", "en")
    config = load_config(config_path, env={})
    tiny = replace(config.settings.digest, max_message_bytes=2000)
    config = replace(config, settings=replace(config.settings, digest=tiny))
    with Store(tmp_path / "relay.db") as store:
        (result,) = pipeline.build_digests(config, store, datetime.now(UTC))
        assert result.status == "failed"
        assert "without any story, over settings.digest.max_message_bytes (2000)" in result.error
        (failure,) = store.digest_failures()
        assert (failure.address, failure.stage) == ("a@uni.example", "build")
        assert store.due_deliveries(datetime.now(UTC)) == []


@pytest.mark.parametrize("value", [9999, 0, -1, "10MB", 1.5])
def test_the_message_cap_is_checked(tmp_path, value):
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  digest:\n    max_message_bytes: {value}\nfeeds: []\n",
                      encoding="utf-8")
    result = cli(config, "check")
    assert result.exit_code == 2 and "settings.digest.max_message_bytes" in result.stderr


@pytest.mark.parametrize("title, shown", [
    ("Short title", "Short title"),
    ("x" * 300, "x" * 300),
    ("x" * 301, "x" * 299 + "…"),
    ("word " * 100, ("word " * 59).rstrip() + "…"),
    ("量子" * 200, "量子" * 149 + "量…"),
], ids=["short", "at-the-limit", "one-over", "cut-after-a-word", "no-spaces"])
def test_headlines_are_cut_at_max_title(title, shown):
    assert _headline(title) == shown and len(shown) <= MAX_TITLE


def _section(topic: str, n: int, more: int = 0) -> TopicSection:
    stories = tuple(Story(id=i, items=(), topics=(topic,)) for i in range(n))
    return TopicSection(Topic(topic, {}, {}), stories, more)


@pytest.mark.parametrize("sizes, keep, kept", [
    ([3, 3], 6, [3, 3]),
    ([3, 3], 5, [3, 2]),       # a tie: the later (less wanted) topic gives first
    ([5, 1], 4, [3, 1]),       # the longest section gives first: every topic keeps its best
    ([2, 2, 2], 0, [0, 0, 0]),
], ids=["fits", "tie", "longest-first", "none"])
def test_stories_left_out_are_the_least_important(sizes, keep, kept):
    sections = [_section(f"t{i}", n, more=1) for i, n in enumerate(sizes)]
    out = _keep_most_important(sections, keep)
    assert [len(s.stories) for s in out] == kept
    assert [s.more for s in out] == [1 + n - k for n, k in zip(sizes, kept, strict=True)]
    assert all(o.stories == s.stories[:len(o.stories)] for o, s in zip(out, sections,
                                                                       strict=True))


# -- property: whatever a CSV holds, import refuses or accepts, and what it accepts can be mailed --

_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
_FIELD = st.one_of(st.text(_CHARS, max_size=30),
                   st.sampled_from(["a@uni.example", "b.c+d@mx.example.org", "A Name", "",
                                    "a\x00@uni.example", "x\r\nBcc: y@evil.example",
                                    "名前　名字", '"quoted, name"', "ç@uni.example"]))


@settings(max_examples=30, derandomize=True, deadline=None)
@given(rows=st.lists(st.tuples(_FIELD, _FIELD, _FIELD), min_size=1, max_size=5))
def test_csv_import_never_fails_and_what_it_accepts_can_be_mailed(rows):
    report, subs = _import(rows)
    assert len(report.added) + len(report.unchanged) + len(report.updated) + len(
        report.bad) == len(rows)
    assert all(problem.startswith("line ") and "\n" not in problem and "\x00" not in problem
               for problem in report.bad)
    for sub in subs:
        message = build_message(sender="relay@example.org", to_address=sub.email,
                                to_name=sub.name, subject="s", text="t", html="<p>h</p>",
                                message_id="<1@example.org>", date="Wed, 02 Dec 2026 00:00:00"
                                " +0000", list_id="l.example.org")
        parsed = email.message_from_bytes(message, policy=default)
        assert parsed["To"].addresses[0].addr_spec == sub.email
        assert not parsed.defects and not parsed["To"].defects


def _import(rows: list[tuple[str, str, str]]) -> tuple[pipeline.ImportReport, list]:
    """Import the rows (email, name, organization; topic quantum) into one archive that
    every example shares (a new one each would spend the budget on migrations)."""
    folder = Path(_EMPTY_CONFIG).parent
    config = load_config(_EMPTY_CONFIG, env={})
    path = folder / "desks.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "name", "organization", "topics"])
        for address, name, org in rows:
            writer.writerow([address, name, org, "quantum"])
    with Store(folder / "relay.db") as store:
        report = pipeline.import_subscribers(config, store, path, NOW)
        return report, store.subscribers()


_EMPTY_CONFIG = Path(tempfile.mkdtemp()) / "feeds.yaml"
_EMPTY_CONFIG.write_text("settings:\n  database: relay.db\nfeeds: []\n", encoding="utf-8")


def test_a_repeated_bad_address_is_shown_escaped():
    """Found by the property above: the 'already on line' message printed a NUL."""
    report, _ = _import([("a\x00@uni.example", "", ""), ("a\x00@uni.example", "", "")])
    assert report.bad == ["line 2: 'a\\x00@uni.example' is not a valid e-mail address",
                          "line 3: 'a\\x00@uni.example' is already on line 2"]


@pytest.mark.parametrize("settings_yaml, key", [
    ('  smtp: {sender: "re\\x01lay@example.org"}', "settings.smtp.sender"),
    ('  smtp: {sender: "re\\0lay@example.org"}', "settings.smtp.sender"),
    ('  admin_email: "ops\\x7f@example.org"', "settings.admin_email"),
    ('  admin_email: "opé@example.org"', "settings.admin_email"),
], ids=["soh-sender", "nul-sender", "del-admin", "non-ascii-admin"])
def test_sender_and_admin_addresses_are_printable_ascii(tmp_path, settings_yaml, key):
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n{settings_yaml}\nfeeds: []\n", encoding="utf-8")
    result = cli(config, "check")
    assert result.exit_code == 2 and f"{key}: " in result.stderr, result.output
    assert "\x00" not in result.stderr and "\x01" not in result.stderr


def test_an_unreadable_subscriber_row_harms_only_itself(tmp_path, http_server, smtp_server):
    config = write_config(tmp_path, http_server.add("/q.xml", quantum_feed()), smtp_server.url)
    cli(config, "collect")
    for address in ("a@uni.example", "b@uni.example", "c@uni.example", "d@uni.example"):
        cli(config, "subscribe", address, "--topics", "quantum")
    with sqlite3.connect(tmp_path / "relay.db") as conn:   # edited by hand
        conn.execute("UPDATE subscribers SET frequency = 'hourly' WHERE email = 'b@uni.example'")
        conn.execute("UPDATE subscribers SET topics = '[quantum' WHERE email = 'c@uni.example'")
    built = cli(config, "digest", "build")
    assert built.exit_code == 1 and "Traceback" not in built.output
    assert built.stdout.count("3 stories ->") == 2
    assert "b@uni.example: failed (build): unreadable row: 'hourly'" in built.stdout
    assert "c@uni.example: failed (build): unreadable row: " in built.stdout
    status = cli(config, "status")
    assert "digest failures: 2" in status.stdout and "b@uni.example (build, " in status.stdout
    assert cli(config, "digest", "send").exit_code == 0
    assert sorted(m.recipients[0] for m in smtp_server.messages) == ["a@uni.example",
                                                                     "d@uni.example"]


def test_a_digests_folder_that_cannot_be_written_is_one_line_exit_1(tmp_path, http_server,
                                                                     smtp_server):
    """settings.digests_dir under a file (as unwritable for root as for anyone): digest
    build and digest preview say which folder, exit 1 (a failure of the system), no
    traceback; what the archive holds is untouched."""
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    config = write_config(tmp_path, http_server.add("/q.xml", quantum_feed()), smtp_server.url,
                          extra="  digests_dir: blocker/digests")
    assert cli(config, "collect").exit_code == 0
    assert cli(config, "subscribe", "a@uni.example", "--topics", "quantum").exit_code == 0
    for args in (("digest", "build"), ("digest", "preview", "--subscriber", "a@uni.example")):
        result = cli(config, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "Traceback" not in result.output and result.exception is None or isinstance(
            result.exception, SystemExit), result.exception
        assert "blocker" in result.stderr and "Hint:" in result.stderr, result.stderr
    assert cli(config, "search", "qubit").stdout.count("Quantum computing lab") == 3
