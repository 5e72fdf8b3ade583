"""The README documents what relay really has: every command, every configuration key,
the Quick start commands CI runs; and every command's --help ends with an example.

In the manner of simonw/sqlite-utils `tests/test_docs.py`: the lists come from the code
(the click group, relay.config's key sets), so a new command or key without
documentation fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from relay import config
from relay.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
QUICK_START = (
    "pip install -e . && relay demo",
    "pip install -e '.[test]' && python -m pytest",
)
# Groups whose --help lacks an example today; strict, so adding one turns this red
# until the entry is removed.
HELP_WITHOUT_EXAMPLE: set[str] = set()


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand below `group`, as name paths, depth first."""
    found: list[tuple[str, ...]] = []
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


COMMANDS = _commands(main)


def _key_paths() -> list[str]:
    """Every configuration key, spelt with its section so the README's table can be checked."""
    sections = [
        ("settings.", config.SETTINGS_KEYS),
        ("smtp.", config.SMTP_KEYS),
        ("digest.", config.DIGEST_KEYS),
        ("settings.fetch.", config.FETCH_KEYS),
        ("topics[].", config.TOPIC_KEYS),
        ("feeds[].", config.FEED_KEYS),
        ("missions[].", config.MISSION_KEYS),
        ("selectors.", config.SELECTOR_KEYS),
    ]
    return [prefix + key for prefix, keys in sections for key in sorted(keys)]


def _shell_lines(text: str) -> list[str]:
    """The command lines of the README's ```sh blocks."""
    lines: list[str] = []
    for block in re.findall(r"^```(?:sh|bash|console)\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip().removeprefix("$ ")
            if line:
                lines.append(line)
    return lines


def _relay_invocations(line: str) -> list[list[str]]:
    """The argument lists of every `relay ...` in one shell line."""
    calls = []
    for segment in re.split(r"&&|\|\||[|;]", line):
        words = shlex.split(segment)
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)  # VAR=value prefix
        if words and words[0] == "relay":
            calls.append(words[1:])
    return calls


def test_the_walk_finds_the_commands():
    assert ("check",) in COMMANDS and ("digest", "build") in COMMANDS
    assert len(COMMANDS) >= 14


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(readme, path):
    name = "relay " + " ".join(path)
    assert re.search(re.escape(name) + r"(?![\w-])", readme), f"README.md never mentions {name!r}"


@pytest.mark.parametrize("key", _key_paths())
def test_every_config_key_is_in_the_readme_in_backticks(readme, key):
    # `feeds[].selectors.item` satisfies selectors.item; `settings.smtp.url` smtp.url.
    pattern = r"`(?:[\w\[\]-]+\.)*" + re.escape(key) + "`"
    assert re.search(pattern, readme), f"README.md has no `{key}` (in backticks)"


@pytest.mark.parametrize("command", QUICK_START)
def test_quick_start_commands_are_exact_copy_paste_lines(readme, command):
    assert command in _shell_lines(readme), f"README.md has no ```sh line {command!r}"


def _help_cases() -> list[object]:
    missing = pytest.mark.xfail(strict=True, reason="no Example in its docstring yet (relay/cli/)")
    return [
        pytest.param(p, marks=missing) if " ".join(p) in HELP_WITHOUT_EXAMPLE else p
        for p in [(), *COMMANDS]
    ]


@pytest.mark.parametrize("path", _help_cases(), ids=lambda p: " ".join(("relay", *p)))
def test_every_help_has_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"relay {' '.join(path)} --help shows no example"


def test_readme_shell_examples_name_real_commands(readme):
    """A command in a ```sh block exists (planned ones such as `feeds add` stay in prose)."""
    checked = 0
    for line in _shell_lines(readme):
        for args in _relay_invocations(line):
            group: click.Command = main
            words = list(args)
            while isinstance(group, click.Group):
                while words and words[0].startswith("-"):
                    option = words.pop(0)
                    if option in ("--config", "--db") and words:
                        words.pop(0)
                if not words:
                    break
                name = words.pop(0)
                command = group.get_command(click.Context(group), name)
                assert command is not None, (
                    f"README runs `relay {' '.join(args)}`: there is no command {name!r}"
                )
                group = command
            checked += 1
    assert checked >= 5


def test_the_migrate_example_shows_this_relays_schema_version(readme):
    """`relay migrate` prints the schema version; the README's example must be this
    relay's (the lead renumbers migrations on merge, and the example went stale)."""
    from relay.store import MIGRATIONS
    current = len(MIGRATIONS)
    assert f"schema version {current}, up to date" in readme
    assert f"schema version {current - 1}: this relay needs {current}," in readme


def test_readme_log_lines_have_the_shape_relay_writes(readme):
    """A log line shown in the README is stamped as relay stamps it off systemd (ISO 8601
    with the zone's offset, daemon.ZonedFormatter), not in logging's default shape."""
    import logging

    from relay.daemon import log_formatter
    shape = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                       r"(DEBUG|INFO|WARNING|ERROR) \S+ ")
    record = logging.LogRecord("relay", logging.WARNING, __file__, 1, "failed feed=%s",
                               ("x",), None)
    assert shape.match(log_formatter({}).format(record))
    stamped = [line for line in readme.splitlines()
               if re.match(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", line)]
    assert stamped, "the README shows log lines (relay collect, relay run)"
    assert [line for line in stamped if not shape.match(line)] == []


def test_how_it_works_names_the_module_of_every_use_case(readme):
    """README's "How it works" finds each use case by its name: every module of
    relay/pipeline that holds a use case (a function the package exports) is in its
    table (OPML, metrics and relay sql came without their rows)."""
    import inspect

    import relay.pipeline as pipeline
    section = readme.split("## How it works", 1)[1].split("\n## ", 1)[0]
    missing = []
    for name, home in pipeline._HOMES.items():
        value = getattr(pipeline, name)
        if not home.startswith("relay.pipeline.") or not inspect.isfunction(value):
            continue
        module = "pipeline/" + home.rsplit(".", 1)[1] + ".py"
        if f"`{module}`" not in section:
            missing.append(f"{name} ({module})")
    assert missing == []
