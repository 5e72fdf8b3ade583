"""Validation of settings, of the YAML itself and of search queries (issue 10, point 8):
only finite numbers in sensible ranges; YAML too deep, too large or with a "billion
laughs" of aliases, and queries too long or too deep, are one-line errors, exit 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.config import MAX_YAML_CHARS, load_config
from relay.errors import ConfigError, QueryError
from relay.search import MAX_NESTING, to_fts
from relay.store import Store
from relay.tokens import tokenize

# Billion laughs: nine levels of ten aliases each, 10**9 values once expanded; the error
# names the first anchor past a million (lol5).
LAUGHS = "lol0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha, ha]\n" + "".join(
    f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" + ("  # <-" if i == 5 else "")
    + "\n" for i in range(1, 10))
# Each alias only 10 deep, but chained: 100 deep once expanded; c4 is the first past 32.
CHAINED = "c0: &c0 [x]\n" + "".join(
    f"c{i}: &c{i} " + "[" * 10 + f"*c{i - 1}" + "]" * 10 + ("  # <-" if i == 4 else "") + "\n"
    for i in range(1, 10))

# (id, yaml with the line to be named marked "# <-", fragment of the message)
BAD_CONFIG = [
    ("host-delay-infinite", "settings:\n  fetch:\n    host_delay: .inf  # <-\n",
     "settings.fetch.host_delay: must be from 0 to 3600 seconds, not inf"),
    ("fetch-timeout-nan", "settings:\n  fetch:\n    timeout: .nan  # <-\n",
     "settings.fetch.timeout: must be from 1 to 3600 seconds, not nan"),
    ("fetch-timeout-below-a-second", "settings:\n  fetch: {timeout: 0.5}  # <-\n",
     "settings.fetch.timeout: must be from 1 to 3600"),
    ("fetch-timeout-float-overflow", "settings:\n  fetch:\n    timeout: 1e400  # <-\n",
     "not inf"),
    ("host-delay-negative", "settings:\n  fetch:\n    host_delay: -1  # <-\n",
     "settings.fetch.host_delay: must be from 0"),
    ("host-delay-a-week", "settings:\n  fetch:\n    host_delay: 604800  # <-\n",
     "settings.fetch.host_delay: must be from 0 to 3600 seconds"),
    ("concurrency-huge", "settings:\n  fetch:\n    concurrency: 1000000  # <-\n",
     "settings.fetch.concurrency: must be from 1 to 1000"),
    ("per-host-zero", "settings:\n  fetch:\n    per_host: 0  # <-\n",
     "settings.fetch.per_host: must be from 1 to 100"),
    ("max-bytes-huge-hex", "settings:\n  fetch:\n    max_bytes: 0x" + "f" * 2000 + "  # <-\n",
     "settings.fetch.max_bytes: must be from 1024 to 1073741824 bytes, not a huge number"),
    ("smtp-timeout-nan", "settings:\n  smtp:\n    timeout: .nan  # <-\n",
     "settings.smtp.timeout: must be from 1 to 3600 seconds, not nan"),
    ("smtp-timeout-negative", "settings:\n  smtp:\n    timeout: -5  # <-\n",
     "settings.smtp.timeout: must be from 1"),
    ("smtp-timeout-infinite", "settings:\n  smtp:\n    timeout: -.inf  # <-\n", "not -inf"),
    ("max-age-overflows-timedelta",
     "settings:\n  digest:\n    max_age_days: 99999999999  # <-\n",
     "settings.digest.max_age_days: must be from 1 to 3650 days"),
    ("max-per-topic-overflows-sqlite",
     "settings:\n  digest:\n    max_per_topic: 99999999999999999999  # <-\n",
     "settings.digest.max_per_topic: must be from 1 to 1000"),
    ("integer-beyond-python-str-limit", "settings:\n  workers: 1" + "0" * 5000 + "  # <-\n",
     "invalid YAML: cannot read this value"),
    ("impossible-date", "settings:\n  timezone: 2001-02-30  # <-\n",
     "invalid YAML: cannot read this value (day is out of range for month)"),
    ("explicit-tag-bad-int", "settings:\n  workers: !!int four  # <-\n",
     "invalid YAML: cannot read this value"),
    ("page-selector-not-css",
     "feeds:\n  - id: a\n    url: https://a.example/\n    kind: page\n    selectors:\n"
     "      item: li\n      title: a\n      link: 'a['  # <-\n",
     "feeds[0] (a).selectors.link: 'a[' is not a CSS selector (Malformed attribute selector"),
    ("integer-setting-given-a-float", "settings:\n  limits: {max_title_chars: 1e3}  # <-\n",
     "settings.limits.max_title_chars: must be an integer, not a number"),
    ("integer-setting-given-an-exponent", "settings:\n  digest:\n"
     "    max_message_bytes: 1e308  # <-\n",
     "settings.digest.max_message_bytes: must be an integer, not a number"),
    # need-to-know fails closed: an audience key left empty is not "everyone"
    ("audience-empty-list", "feeds:\n  - id: a\n    url: https://a.example/\n"
     "    audience: []  # <-\n", "feeds[0] (a).audience: names no group"),
    ("audience-left-blank", "feeds:\n  - id: a\n    url: https://a.example/\n"
     "    audience:  # <-\n", "feeds[0] (a).audience: names no group"),
    ("yaml-5000-deep-flow", "feeds: " + "[" * 5000 + "]" * 5000 + "  # <-\n",
     "invalid YAML: nested deeper than 32 levels"),
    ("yaml-5000-deep-block", "- " * 5000 + "x  # <-\n", "nested deeper than 32 levels"),
    ("yaml-billion-laughs", LAUGHS, "more than 1,000,000 values once its aliases are expanded"),
    ("yaml-deep-through-aliases", CHAINED, "nested deeper than 32 levels (through aliases)"),
]


@pytest.mark.parametrize(("text", "fragment"), [pytest.param(t, f, id=i) for i, t, f in BAD_CONFIG])
def test_bad_config_names_the_line(tmp_path: Path, text: str, fragment: str) -> None:
    marked = [i + 1 for i, line in enumerate(text.splitlines()) if "# <-" in line]
    assert len(marked) == 1
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert fragment in str(info.value)
    assert str(info.value).endswith(f"feeds.yaml:{marked[0]})")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", [
    pytest.param("settings:\n  fetch:\n    host_delay: .inf\n", id="host-delay-infinite"),
    pytest.param("feeds: " + "[" * 5000 + "]" * 5000 + "\n", id="yaml-5000-deep"),
    pytest.param(LAUGHS, id="billion-laughs"),
])
def test_relay_check_refuses_with_exit_2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(path), "check"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: ")
    assert "Traceback" not in result.output


def test_a_config_too_large_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("# " + "x" * MAX_YAML_CHARS + "\nfeeds: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than 2,000,000 characters"):
        load_config(path)


def test_reused_anchors_and_aliases_within_bounds_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n"
        "  - &base {id: a, url: 'https://a.example/f', kind: page,\n"
        "           selectors: &sel {item: li, title: a, link: a}}\n"
        "  - {id: b, url: 'https://b.example/f', kind: page, selectors: *sel}\n"
        "  - {id: c, url: 'https://c.example/f', kind: page, selectors: &sel {item: p,"
        " title: a, link: a}}\n", encoding="utf-8")
    feeds = load_config(path).feeds
    assert [f.selectors["item"] for f in feeds] == ["li", "li", "p"]


# -- queries --------------------------------------------------------------------------------------

BAD_QUERY = [
    # (id, query, fragment of the message, fragment of `where`)
    ("50000-nested-parentheses", "(" * 50000 + "a" + ")" * 50000, "longer than 1000",
     "((((("),
    ("eleven-levels", "(" * 11 + "a" + ")" * 11, f"deeper than {MAX_NESTING}", "(((("),
    ("nested-with-words", "".join(f"w{i} (" for i in range(33)) + "z" + ")" * 33,
     f"deeper than {MAX_NESTING}", "w0 (w1"),
    ("50000-words", " OR ".join(["a"] * 50000), "longer than 1000", "a OR a"),
    ("newline-is-escaped", "quantum\n)", "unbalanced", "quantum\\n)"),
    ("nul-is-escaped", "\x00", "no words", "\\x00"),
    ("ideographic-space-is-kept", "量子\u3000OR", "OR needs a word after it", "量子\u3000OR"),
    ("lone-surrogate-is-escaped", "\udcff", "not valid text at character 1", "\\udcff"),
    # found by test_properties: Sudachi raised UnicodeEncodeError on a lone surrogate
    ("lone-surrogate-before-han", "\ud800㐀", "not valid text at character 1", "\\ud800㐀"),
]


@pytest.mark.parametrize(("query", "fragment", "where"),
                         [pytest.param(q, f, w, id=i) for i, q, f, w in BAD_QUERY])
def test_bad_query_is_a_query_error_on_one_line(query: str, fragment: str, where: str) -> None:
    with pytest.raises(QueryError) as info:
        to_fts(query, tokenize)
    assert fragment in info.value.message
    assert where in info.value.where
    assert len(info.value.where) <= 81
    assert "\n" not in str(info.value)
    str(info.value).encode("utf-8")        # printable: no lone surrogate left


@pytest.mark.parametrize("depth", [1, MAX_NESTING])
@pytest.mark.parametrize("pattern", ["w{i} AND (", "w{i} NOT (", "量子 OR (", "量* (", "("])
def test_the_deepest_query_allowed_is_valid_fts5(tmp_path: Path, pattern: str,
                                                depth: int) -> None:
    store = Store(tmp_path / "relay.db")
    try:
        query = "".join(pattern.format(i=i) for i in range(depth)) + "量子" + ")" * depth
        store.search(to_fts(query, tokenize, (), ["en", "de", "pt", "ja"]))
        # the bound is what keeps it so: SQLite refuses an expression 33 levels deep
        deep = "".join(f"w{i} AND (" for i in range(33)) + "z" + ")" * 33
        with pytest.raises(QueryError, match="the search cannot run: fts5: parser stack "
                           "overflow") as caught:
            store.search(deep)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    finally:
        store.close()


def test_search_with_50000_parentheses_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  database: relay.db\nfeeds: []\n", encoding="utf-8")
    Store(tmp_path / "relay.db").close()
    result = CliRunner().invoke(main, ["--config", str(config), "search",
                                       "(" * 50000 + "a" + ")" * 50000])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: the query is longer than 1000 characters")
    assert len(result.output.splitlines()) == 1


# -- one wrong feed entry harms only itself ----------------------------------------------------

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<link>https://good.example/</link><item><title>Quantum funding grows</title>
<link>https://good.example/a</link><description>Qubits.</description></item>
</channel></rss>"""
TWO_FEEDS = """settings:
  database: relay.db
feeds:
  - id: good
    path: good.xml
    base_url: https://good.example/
  - id: broken
    path: good.xml
    interval: 90x  # <-
  - id: good
    path: good.xml
"""


def test_a_wrong_feed_entry_is_left_out_and_the_others_load(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(TWO_FEEDS, encoding="utf-8")
    config = load_config(path, strict=False)
    assert [f.id for f in config.feeds] == ["good"]
    assert [str(e) for e in config.feed_errors] == [
        f"feeds[1] (broken).interval: '90x' is not an interval like 30m, 1h, 6h, 1d "
        f"({path}:9)",
        f"feeds[2] (good).id: duplicate feed id 'good' ({path}:10)"]
    with pytest.raises(ConfigError, match=r"feeds\[1\] \(broken\)\.interval"):
        load_config(path)                                  # strict: the file is wrong


def test_a_wrong_setting_still_stops_a_lenient_load(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("settings:\n  fetch: {host_delay: .inf}\n" + TWO_FEEDS.split("\n", 2)[2],
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="host_delay"):
        load_config(path, strict=False)


def test_collect_runs_the_other_feeds_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "good.xml").write_text(RSS, encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text(TWO_FEEDS, encoding="utf-8")
    runner = CliRunner()
    check = runner.invoke(main, ["--config", str(config), "check"])
    assert check.exit_code == 2 and "feeds[1] (broken).interval" in check.output
    assert len(check.output.splitlines()) == 1
    collected = runner.invoke(main, ["--config", str(config), "collect"])
    assert collected.exit_code == 2, collected.output
    errors = [line for line in collected.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: feeds[1] (broken).interval: '90x' is not an interval like 30m, 1h, 6h, 1d "
        f"({config}:9); this feed is left out until it is fixed",
        f"Error: feeds[2] (good).id: duplicate feed id 'good' ({config}:10); this feed is "
        "left out until it is fixed"]
    store = Store(tmp_path / "relay.db")
    try:
        assert [r.title for r in store.search(None)] == ["Quantum funding grows"]
    finally:
        store.close()
    found = runner.invoke(main, ["--config", str(config), "search", "quantum"])
    assert found.exit_code == 2 and "Quantum funding grows" in found.stdout
