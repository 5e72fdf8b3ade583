"""The use cases of relay.pipeline called as the drivers call them, on the demo's archive
(the bundled sample collected from a real HTTP server on 127.0.0.1, digests sent to a
real SMTP server), and the one `--json` shape every command that lists or reports has:
the typed result's fields, times as UTC text with a Z."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay import pipeline
from relay.cli import main
from relay.config import load_config
from relay.demo.run import run_demo
from relay.errors import UsageError
from relay.models import ArchiveStatus, ItemView, SearchHit

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("demo")
    run_demo(workdir, echo=lambda _line: None, now=NOW)
    return workdir / "storage" / "demo-feeds.yaml"


def relay(config: Path, *args: str) -> object:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_status_json_is_the_archive_status(demo):
    got = relay(demo, "status", "--json")
    assert set(got) == {f.name for f in fields(ArchiveStatus)}
    assert got["items"] > 10 and got["subscribers"] == 2
    assert TIME.fullmatch(got["last_collected_at"])
    assert got["deliveries"]["sent"] == 2


def test_search_json_hits_carry_snippets_and_times(demo):
    hits = relay(demo, "search", "quantum", "--json")
    assert hits, "the sample has quantum items"
    assert {"id", "published_at", "feed_id", "topics", "snippet", "summary"} <= set(hits[0])
    assert all(TIME.fullmatch(h["collected_at"]) for h in hits)
    assert any("[quantum]" in h["snippet"].lower() or "quantum" in h["snippet"].lower()
               for h in hits)
    # --json is --format json
    assert hits == relay(demo, "search", "quantum", "--format", "json")


def test_show_item_and_story_json(demo):
    (first,) = relay(demo, "search", "--limit", "1", "--json")
    item = relay(demo, "show", str(first["id"]), "--json")
    assert set(item) == {f.name for f in fields(ItemView)}
    assert item["tags"] and set(item["tags"][0]) == {"topic", "score", "terms"}
    story = relay(demo, "show", "--story", str(item["story_id"]), "--json")
    assert story["id"] == item["story_id"]
    assert item["id"] in [i["id"] for i in story["items"]]
    assert set(story["items"][0]) == {f.name for f in fields(SearchHit)}


def test_show_needs_one_of_item_and_story(demo):
    result = CliRunner().invoke(main, ["--config", str(demo), "show"])
    assert result.exit_code == 2 and "give an item id or --story ID" in result.output
    result = CliRunner().invoke(main, ["--config", str(demo), "show", "--story", "999999"])
    assert result.exit_code == 2 and "no story 999999" in result.output


def test_digest_results_json(demo):
    built = relay(demo, "digest", "build", "--json")
    assert {b["email"] for b in built} == {"kagaku-desk@mext.example",
                                           "intl-office@university.example"}
    assert {b["status"] for b in built} == {"exists"}    # the demo built this period
    preview = relay(demo, "digest", "preview", "--subscriber", "kagaku-desk@mext.example",
                    "--json")
    assert preview["subscriber"] == "kagaku-desk@mext.example"
    assert preview["path"] is None or preview["path"].endswith(".html")
    sent = relay(demo, "digest", "send", "--json")
    assert sent == {"deliveries": [], "waiting": 0, "first_retry_at": None}


def test_json_has_null_for_what_is_absent_and_lists_for_lists(demo):
    """One shape (README, JSON output): an absent value is null, never "", in every
    command's JSON; a list is a JSON list, never JSON text inside a string."""
    built = relay(demo, "digest", "build", "--json")
    assert {b["status"] for b in built} == {"exists"}
    assert all(b["path"] is None and b["error"] is None for b in built), built
    assert pipeline.SendResult("a@b.example", "sent").error is None
    feeds = relay(demo, "feeds", "--json")
    assert feeds and all(f["audience"] == [] for f in feeds), [f["audience"] for f in feeds]


def test_subscribers_and_retag_json(demo):
    subs = relay(demo, "subscribers", "--json")
    assert {s["email"] for s in subs} == {"intl-office@university.example",
                                          "kagaku-desk@mext.example"}
    assert all("token" not in s for s in subs)          # never printed
    retag = relay(demo, "retag", "--json")
    assert retag["items"] > 10 and retag["changed"] == 0


def test_subscribe_keeps_what_is_not_given(demo):
    config = load_config(demo, env={})
    with pipeline.open_archive(config.settings.database) as store:
        sub, created = pipeline.subscribe(config, store, "kagaku-desk@mext.example", NOW,
                                          frequency="daily")
        assert not created
        assert sub.topics == ("quantum", "research-funding", "talent")
        assert (sub.ui_lang, sub.frequency.value) == ("ja", "daily")
        sub, _ = pipeline.subscribe(config, store, "kagaku-desk@mext.example", NOW,
                                    frequency="weekly")
        assert sub.frequency.value == "weekly"


@pytest.mark.parametrize(("call", "field", "message"), [
    (lambda c, s: pipeline.subscribe(c, s, "new@example.org", NOW), "topics",
     "a new subscriber needs topics"),
    (lambda c, s: pipeline.search(c, s, "x", langs=["xx"]), "lang",
     "'xx' is not an ISO 639-1 language code"),
    (lambda c, s: pipeline.build_digests(c, s, NOW, "2026-X1"), "period", ""),
], ids=["new-subscriber-without-topics", "search-bad-language", "bad-period"])
def test_use_case_errors_name_the_input_not_an_option(demo, call, field, message):
    config = load_config(demo, env={})
    with pipeline.open_archive(config.settings.database) as store, \
            pytest.raises(UsageError) as caught:
        call(config, store)
    assert caught.value.field == field and message in caught.value.message
    assert "--" not in caught.value.message + caught.value.hint
    assert "relay " not in caught.value.hint

def test_unsubscribe_checks_the_token_in_the_use_case(demo):
    config = load_config(demo, env={})
    with pipeline.open_archive(config.settings.database) as store, \
            pytest.raises(UsageError, match="settings.secret is not set"):
        pipeline.unsubscribe(config, store, "kagaku-desk@mext.example", token="abc")


def test_collect_due_only_leaves_a_feed_that_is_not_due(demo):
    config = load_config(demo, env={})
    with pipeline.open_archive(config.settings.database) as store:
        # the demo just collected every feed: none is due again for an hour
        assert pipeline.collect(config, store, NOW, ["boston-cg"], due_only=True) == []
        first = pipeline.schedule_feeds(config, store, NOW)
        assert set(first) == {f.id for f in config.feeds}
        assert all(NOW < when <= NOW + timedelta(hours=2) for when in first.values())


def test_feeds_check_and_collect_refuse_an_unknown_feed_alike(demo):
    config = load_config(demo, env={})
    with pytest.raises(UsageError, match="unknown feed id 'nope'") as caught:
        pipeline.check_feeds(config, NOW, ["nope"])
    assert caught.value.field == "feed" and not caught.value.hint   # no CLI words
    result = CliRunner().invoke(main, ["--config", str(demo), "feeds", "check", "nope"])
    assert result.exit_code == 2 and "unknown feed id 'nope'" in result.output
    assert "Hint: `relay feeds` lists the configured feeds" in result.output


def test_feeds_mail_without_an_admin_address(demo):
    result = CliRunner().invoke(main, ["--config", str(demo), "feeds", "mail"])
    assert result.exit_code == 2 and "settings.admin_email is not set" in result.output


@pytest.mark.parametrize(("args", "hint"), [
    (["digest", "preview", "--subscriber", "nobody@example.org"],
     "Hint: `relay subscribers` lists them"),
    (["digest", "build", "--period", "2026-X1"], "Hint: --period 2026-W48 (a week)"),
    (["subscribe", "new@example.org"], "Hint: --topics quantum,ai"),
    (["search", "x", "--lang", "xx"], "Error: --lang 'xx' is not an ISO 639-1 language code"),
], ids=["subscriber", "period", "topics", "lang"])
def test_the_cli_adds_its_words_to_a_use_case_error(demo, args, hint):
    result = CliRunner().invoke(main, ["--config", str(demo), *args])
    assert result.exit_code == 2 and hint in result.output


@pytest.mark.parametrize("args", [
    ["status", "--json", "--format", "prometheus"],
    ["status", "--json", "--format", "text"],
    ["search", "quantum", "--json", "--format", "csv"],
], ids=["status-prometheus", "status-text", "search-csv"])
def test_json_and_another_format_together_are_refused(demo, args):
    """--json is --format json: given with another --format, the command cannot do both
    (status printed Prometheus text and search JSON, each silently taking one side)."""
    result = CliRunner().invoke(main, ["--config", str(demo), *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: --json is --format json") and "--format " in line


def test_check_and_migrate_report_in_json(demo):
    checked = relay(demo, "check", "--json")
    config = load_config(demo)
    assert checked["ok"] is True and checked["feeds"] == len(config.feeds)
    assert checked["topics"] == [t.id for t in config.topics]
    assert sum(checked["kinds"].values()) == checked["feeds"]
    assert "@" not in checked["smtp"]           # no user or password in a report
    migrated = relay(demo, "migrate", "--json")
    assert migrated == {"database": checked["database"],
                        "schema_version": pipeline.schema_version()}
