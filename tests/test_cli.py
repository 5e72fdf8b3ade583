"""The command line as a package whose commands load when they run (issue 11 point 1,
issue 12 point 3): `relay --help` and shell completion list every command from a table,
importing no command's module and nothing of the pipeline under it; what they show is
what the commands say of themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from email.utils import format_datetime

import click
import pytest
from click.testing import CliRunner

from relay.cli import COMMANDS, main
from relay.store import Store

# What a command's start-up must not pay for unless the command needs it.
HEAVY = ("feedparser", "sudachipy", "jinja2", "httpx", "bs4", "soupsieve", "sqlite_utils",
         "apscheduler", "datasketch", "numpy", "ruamel", "relay.store", "relay.config",
         "relay.tokens", "relay.digest", "relay.collect")

PROBE = """
import json, sys
from relay.cli import main
try:
    main(sys.argv[1:], prog_name="relay")
except SystemExit:
    pass
print("\\n" + json.dumps(sorted(sys.modules)))
"""


def _modules_after(args: list[str], **env: str) -> tuple[str, set[str]]:
    """What `relay ARGS` printed, and every module it had imported when it ended."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env}, check=True)
    shown, _, modules = done.stdout.rstrip("\n").rpartition("\n")
    return shown, set(json.loads(modules))


def _loaded(modules: set[str], prefix: str) -> list[str]:
    return sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_summary_is_the_first_sentence_of_the_commands_help(name):
    command = main.get_command(click.Context(main), name)
    assert command is not None
    assert command.get_short_help_str(10**6) == COMMANDS[name][1]


def test_the_table_names_every_command_of_each_module():
    """A command a module defines but COMMANDS lacks would never be found; the group
    finds each by its name in its module."""
    import importlib
    for module in {m for m, _ in COMMANDS.values()}:
        mod = importlib.import_module(f"relay.cli.{module}")
        commands = {name: c for name, c in vars(mod).items() if isinstance(c, click.Command)}
        below = {id(sub) for c in commands.values() if isinstance(c, click.Group)
                 for sub in c.commands.values()}
        top = {name for name, c in commands.items() if id(c) not in below}
        assert top == {n for n, (m, _) in COMMANDS.items() if m == module}, module
        assert all(commands[name].name == name for name in top)


@pytest.mark.parametrize(("args", "env", "shows"), [
    (["--help"], {}, "Commands:"),
    ([], {"_RELAY_COMPLETE": "bash_complete", "COMP_WORDS": "relay fe", "COMP_CWORD": "1"},
     "plain,feeds"),
    ([], {"_RELAY_COMPLETE": "zsh_complete", "COMP_WORDS": "relay s", "COMP_CWORD": "1"},
     "Search the archive in every language"),
], ids=["help", "bash", "zsh"])
def test_listing_the_commands_imports_none_of_them(args, env, shows):
    shown, modules = _modules_after(args, **env)
    assert shows in shown
    assert _loaded(modules, "relay.pipeline") in ([], ["relay.pipeline"])
    assert [m for m in modules if m.startswith("relay.cli.") and not m.startswith(
        ("relay.cli._base",))] == []
    for heavy in HEAVY:
        assert not _loaded(modules, heavy), heavy


def test_a_commands_help_imports_no_use_case():
    shown, modules = _modules_after(["feeds", "--help"])
    assert "relay feeds add" in shown
    assert _loaded(modules, "relay.pipeline") in ([], ["relay.pipeline"])
    for heavy in HEAVY:
        assert not _loaded(modules, heavy), heavy


def test_status_imports_what_it_shows_and_no_more(tmp_path):
    """`relay status` reads the configuration and the archive: not the collectors, the
    tokenizer, the digests' templates or HTTP."""
    (tmp_path / "feeds.yaml").write_text(
        f"settings:\n  database: {tmp_path / 'relay.db'}\nfeeds:\n"
        "  - id: reports\n    kind: reports\n    path: inbox\n    lang: en\n", encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    config = str(tmp_path / "feeds.yaml")
    Store(tmp_path / "relay.db").close()
    shown, modules = _modules_after(["--config", config, "status"])
    assert "items: 0 in 0 stories" in shown
    for heavy in ("feedparser", "sudachipy", "jinja2", "httpx", "bs4", "sqlite_utils",
                  "apscheduler", "datasketch", "numpy", "relay.tokens", "relay.collect",
                  "relay.digest.render"):
        assert not _loaded(modules, heavy), heavy


def test_digest_send_delivers_without_loading_the_templates(tmp_path, http_server, smtp_server):
    """`relay digest send` hands queued .eml files to SMTP: it does not import what selects
    and renders a digest (Jinja2, ftfy through relay.text, the Atom writer), which cost
    about a third of its start-up (issue 12's peer benchmark: build, then send)."""
    date = format_datetime(datetime.now(UTC))
    url = http_server.add("/q.xml", '<rss version="2.0"><channel><title>q</title>'
                          "<link>https://q.example/</link><item><title>Quantum computing lab"
                          f" opens</title><link>https://q.example/1</link><pubDate>{date}"
                          "</pubDate><description>A qubit lab opened.</description></item>"
                          "</channel></rss>")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database: {tmp_path / 'relay.db'}\n"
                      f"  digests_dir: {tmp_path / 'digests'}\n"
                      f"  smtp: {{url: '{smtp_server.url}', sender: relay@example.org}}\n"
                      "  fetch: {host_delay: 0}\n"
                      f"feeds:\n  - id: q\n    url: {url}\n    allow_private: true\n",
                      encoding="utf-8")
    args = ["--config", str(config)]
    runner = CliRunner()
    assert runner.invoke(main, [*args, "collect"]).exit_code == 0
    assert runner.invoke(main, [*args, "subscribe", "r@uni.example", "--topics",
                                "quantum"]).exit_code == 0
    assert runner.invoke(main, [*args, "digest", "build"]).exit_code == 0
    shown, modules = _modules_after([*args, "digest", "send"])
    assert "r@uni.example: sent" in shown
    assert [m.recipients for m in smtp_server.messages] == [["r@uni.example"]]
    for heavy in ("jinja2", "ftfy", "relay.text", "relay.digest.render", "relay.digest.atom",
                  "relay.digest.select", "feedparser", "sudachipy", "httpx"):
        assert not _loaded(modules, heavy), heavy


def test_an_unknown_command_is_said_as_click_says_it():
    result = CliRunner().invoke(main, ["colect"])
    assert result.exit_code == 2
    assert "No such command 'colect'" in result.output


def test_a_collect_of_feeds_alone_does_not_load_the_page_parser(tmp_path):
    """BeautifulSoup and soupsieve read listing pages only: a collect without a page feed
    does not pay for them (0.1 s a process)."""
    (tmp_path / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>One item</title><link>https://example.org/1</link>"
        "<description>A short text of some words.</description></item></channel></rss>",
        encoding="utf-8")
    (tmp_path / "feeds.yaml").write_text(
        f"settings:\n  database: {tmp_path / 'relay.db'}\nfeeds:\n"
        f"  - id: local\n    path: {tmp_path / 'feed.xml'}\n    kind: rss\n    lang: en\n",
        encoding="utf-8")
    shown, modules = _modules_after(["--config", str(tmp_path / "feeds.yaml"), "collect",
                                     "--all"])
    assert "local: 1 new" in shown
    for heavy in ("bs4", "soupsieve"):
        assert not _loaded(modules, heavy), heavy
