"""relay/config.py: feeds.yaml -> Config, or a ConfigError naming file, line and key."""

from __future__ import annotations

import textwrap
from datetime import time
from pathlib import Path

import pytest

from relay.config import load_config, parse_interval, parse_weekly
from relay.errors import ConfigError
from relay.models import FeedKind

BUILTIN_IDS = (
    "ai", "semiconductors", "quantum", "fusion", "space", "biotech", "critical-minerals",
    "energy-gx", "research-funding", "talent", "startups", "economic-security",
)

VALID = """\
settings:
  timezone: Europe/Berlin
  database: data/archive.db
  digests_dir: out
  user_agent: "relay-test/1.0"
  smtp:
    url: "smtp+starttls://relay:${SMTP_PASSWORD}@mail.example.org:587"
    sender: relay@example.org
    timeout: 10
  digest:
    weekly: "fri 17:30"
    daily: "07:15"
    max_age_days: 7
    max_per_topic: 5

feeds:
  - id: nsf-news
    name: NSF News
    url: https://www.nsf.gov/rss/rss_www_news.xml
    mission: washington
    country: us
    lang: en
    topics: [research-funding, talent]
    interval: 3h
  - id: boston-reports
    name: 在ボストン総領事館 報告
    path: reports/boston
    kind: reports
    lang: ja
    interval: 30m
    enabled: false
  - id: mofa-press
    url: https://www.mofa.go.jp/mofaj/press/release/index.html
    kind: page
    selectors: {item: "ul.list li", title: a, link: a, date: span.date}
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- valid configurations -----------------------------------------------------------------------


def test_valid_config_loads_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), env={"SMTP_PASSWORD": "s3cret"})
    s = config.settings
    assert s.timezone == "Europe/Berlin"
    # relative paths are relative to the configuration file's folder
    assert s.database == (tmp_path / "data" / "archive.db").resolve()
    assert s.digests_dir == (tmp_path / "out").resolve()
    assert s.user_agent == "relay-test/1.0"
    assert s.smtp.url == "smtp+starttls://relay:s3cret@mail.example.org:587"
    assert s.smtp.sender == "relay@example.org"
    assert s.smtp.timeout == 10.0
    assert (s.digest.weekly_day, s.digest.weekly_time) == (4, time(17, 30))
    assert s.digest.daily_time == time(7, 15)
    assert (s.digest.max_age_days, s.digest.max_per_topic) == (7, 5)


def test_valid_config_loads_feeds(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), env={"SMTP_PASSWORD": "s3cret"})
    assert [f.id for f in config.feeds] == ["nsf-news", "boston-reports", "mofa-press"]
    nsf, boston, mofa = config.feeds
    assert nsf.kind is FeedKind.RSS  # the default kind
    assert nsf.name == "NSF News"
    assert nsf.url == "https://www.nsf.gov/rss/rss_www_news.xml"
    assert nsf.path is None
    assert (nsf.mission, nsf.country, nsf.lang) == ("washington", "US", "en")
    assert nsf.topics == ("research-funding", "talent")
    assert nsf.interval == 3 * 3600
    assert nsf.enabled is True
    assert boston.kind is FeedKind.REPORTS
    assert boston.url is None
    assert boston.path == tmp_path / "reports" / "boston"
    assert boston.interval == 1800
    assert boston.enabled is False
    assert mofa.kind is FeedKind.PAGE
    assert mofa.name == "mofa-press"  # the id when no name is given
    assert mofa.selectors == {"item": "ul.list li", "title": "a", "link": "a",
                              "date": "span.date"}
    assert config.feed("mofa-press") is mofa


def test_builtin_taxonomy_when_no_topics_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID), env={"SMTP_PASSWORD": "x"})
    assert config.topics_builtin is True
    assert tuple(t.id for t in config.topics) == BUILTIN_IDS
    for topic in config.topics:
        assert topic.labels.get("ja") and topic.labels.get("en"), topic.id
        assert topic.terms.get("ja") and topic.terms.get("en"), topic.id


def test_topics_section_replaces_builtin(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        topics:
          - id: robotics
            label: {en: Robotics, ja: ロボット}
            terms: {en: [robot, robotics], ja: [ロボット]}
        feeds:
          - id: a
            url: https://example.org/feed.xml
            topics: [robotics]
        """)
    config = load_config(write(tmp_path, text), env={})
    assert config.topics_builtin is False
    assert [t.id for t in config.topics] == ["robotics"]
    assert config.topics[0].terms == {"en": ("robot", "robotics"), "ja": ("ロボット",)}
    assert config.feeds[0].topics == ("robotics",)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "# nothing yet\n"), env={})
    assert config.feeds == ()
    assert config.settings.timezone == "Asia/Tokyo"
    assert config.settings.database == (tmp_path / "storage" / "relay.db").resolve()
    assert tuple(t.id for t in config.topics) == BUILTIN_IDS


@pytest.mark.parametrize(
    ("section", "env", "expected_url"),
    [
        ("", {"RELAY_SMTP_URL": "smtps://u:p@mail.example.org:465"},
         "smtps://u:p@mail.example.org:465"),
        ('settings:\n  smtp: {url: "smtp://127.0.0.1:2525", sender: a@example.org}\n',
         {"RELAY_SMTP_URL": "smtp+starttls://u:p@mx.example.org:587"},
         "smtp+starttls://u:p@mx.example.org:587"),
        ('settings:\n  smtp: {url: "smtp://127.0.0.1:2525", sender: a@example.org}\n',
         {}, "smtp://127.0.0.1:2525"),
        ('settings:\n  smtp: {url: "smtp://127.0.0.1:2525", sender: a@example.org}\n',
         {"RELAY_SMTP_URL": ""}, "smtp://127.0.0.1:2525"),
    ],
    ids=["override-without-smtp-section", "override-beats-file", "no-override",
         "empty-override-ignored"],
)
def test_relay_smtp_url_override(
    tmp_path: Path, section: str, env: dict[str, str], expected_url: str
) -> None:
    config = load_config(write(tmp_path, section), env=env)
    assert config.settings.smtp.url == expected_url


def test_override_keeps_sender(tmp_path: Path) -> None:
    text = 'settings:\n  smtp: {url: "smtp://127.0.0.1:2525", sender: a@example.org}\n'
    config = load_config(write(tmp_path, text), env={"RELAY_SMTP_URL": "smtp://mx:25"})
    assert config.settings.smtp.sender == "a@example.org"


def test_repository_feeds_yaml_loads() -> None:
    config = load_config(Path(__file__).parents[1] / "feeds.yaml", env={})
    assert config.topics_builtin is True
    assert tuple(t.id for t in config.topics) == BUILTIN_IDS
    assert config.feeds
    ids = [f.id for f in config.feeds]
    assert len(ids) == len(set(ids))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    assert "nope.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1h", 3600), ("6H", 21600), ("1d", 86400), ("45s", 45), (" 2 h ", 7200)],
    ids=["minutes", "hour", "upper-case", "day", "seconds", "spaces"],
)
def test_parse_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("mon 08:00", (0, time(8, 0))), ("Friday 17:30", (4, time(17, 30))),
     ("SUN 0:05", (6, time(0, 5)))],
    ids=["mon", "full-day-name", "upper-case-one-digit-hour"],
)
def test_parse_weekly(text: str, expected: tuple[int, time]) -> None:
    assert parse_weekly(text) == expected


# -- invalid configurations ---------------------------------------------------------------------
#
# Each case is a whole file; the line the error must name carries the marker "# <-".

FEED = "feeds:\n  - id: a\n    url: https://example.org/feed.xml\n"

INVALID: list[tuple[str, str, str, str]] = [
    # (id, yaml, key path, message fragment)
    ("unknown-top-key", "settings: {}\nfeedz: []  # <-\n", "feedz", "unknown key"),
    ("unknown-settings-key",
     "settings:\n  timezone: Asia/Tokyo\n  colour: blue  # <-\n",
     "settings.colour", "unknown key"),
    ("unknown-smtp-key",
     "settings:\n  smtp:\n    url: smtp://127.0.0.1:25\n    port: 25  # <-\n",
     "settings.smtp.port", "unknown key"),
    ("unknown-digest-key",
     "settings:\n  digest:\n    monthly: '1 08:00'  # <-\n",
     "settings.digest.monthly", "unknown key"),
    ("unknown-feed-key", FEED + "    intervall: 1h  # <-\n", "feeds[0] (a).intervall",
     "unknown key"),
    ("unknown-selectors-key",
     "feeds:\n  - id: a\n    url: https://example.org/\n    kind: page\n    selectors:\n"
     "      item: li\n      title: a\n      link: a\n      colour: red  # <-\n",
     "feeds[0] (a).selectors.colour", "unknown key"),
    ("unknown-topic-key",
     "topics:\n  - id: x\n    terms: {en: [x]}\n    weight: 2  # <-\n",
     "topics[0].weight", "unknown key"),
    ("string-for-int",
     "settings:\n  digest:\n    max_per_topic: ten  # <-\n",
     "settings.digest.max_per_topic", "an integer"),
    ("list-for-string", FEED + "    name: [a, b]  # <-\n", "feeds[0] (a).name", "a string"),
    ("string-for-bool", FEED + "    enabled: 'yes'  # <-\n", "feeds[0] (a).enabled",
     "true or false"),
    ("int-for-string-selector",
     "feeds:\n  - id: a\n    url: https://example.org/\n    kind: page\n"
     "    selectors: {item: 1, title: a, link: a}  # <-\n",
     "feeds[0] (a).selectors.item", "a string"),
    ("list-for-mapping", "settings:\n  smtp: [a, b]  # <-\n", "settings.smtp", "mapping"),
    ("bool-for-int-max-age",
     "settings:\n  digest:\n    max_age_days: true  # <-\n",
     "settings.digest.max_age_days", "boolean"),
    ("bool-for-number-timeout",
     "settings:\n  smtp:\n    timeout: false  # <-\n",
     "settings.smtp.timeout", "boolean"),
    ("zero-max-per-topic",
     "settings:\n  digest:\n    max_per_topic: 0  # <-\n",
     "settings.digest.max_per_topic", "from 1 to 1000"),
    ("duplicate-feed-id",
     FEED + "  - id: a  # <-\n    url: https://example.org/other.xml\n",
     "feeds[1] (a).id", "duplicate feed id"),
    ("duplicate-topic-id",
     "topics:\n  - id: x\n    terms: {en: [x]}\n  - id: x  # <-\n    terms: {en: [y]}\n",
     "topics[1].id", "duplicate topic id"),
    ("unknown-topic-in-feed",
     FEED + "    topics:\n      - quantum\n      - warp-drive  # <-\n",
     "feeds[0] (a).topics[1]", "warp-drive"),
    ("custom-topics-hide-builtin",
     "topics:\n  - id: robotics\n    terms: {en: [robot]}\n"
     "feeds:\n  - id: a\n    url: https://example.org/feed.xml\n    topics:\n      - ai  # <-\n",
     "feeds[0] (a).topics[0]", "unknown topic 'ai'"),
    ("url-and-path",
     "feeds:\n  - id: a  # <-\n    url: https://example.org/feed.xml\n    path: reports/a\n",
     "feeds[0] (a)", "exactly one of url: or path:"),
    ("neither-url-nor-path",
     "feeds:\n  - id: a  # <-\n    name: A\n",
     "feeds[0] (a)", "exactly one of url: or path:"),
    ("url-not-http", "feeds:\n  - id: a\n    url: ftp://example.org/feed  # <-\n",
     "feeds[0] (a).url", "http(s)"),
    ("bad-interval", FEED + "    interval: 90x  # <-\n", "feeds[0] (a).interval", "90x"),
    ("zero-interval", FEED + "    interval: 0h  # <-\n", "feeds[0] (a).interval", "interval"),
    ("interval-without-unit", FEED + "    interval: 3600  # <-\n", "feeds[0] (a).interval",
     "interval"),
    ("bad-weekly-time",
     "settings:\n  digest:\n    weekly: 'mon 25:00'  # <-\n",
     "settings.digest.weekly", "time"),
    ("bad-weekly-day",
     "settings:\n  digest:\n    weekly: 'someday 08:00'  # <-\n",
     "settings.digest.weekly", "weekday"),
    ("bad-daily-time",
     "settings:\n  digest:\n    daily: 8am  # <-\n",
     "settings.digest.daily", "time"),
    ("unknown-timezone",
     "settings:\n  timezone: Mars/Olympus_Mons  # <-\n",
     "settings.timezone", "Mars/Olympus_Mons"),
    ("page-feed-without-selectors",
     "feeds:\n  - id: a  # <-\n    url: https://example.org/news\n    kind: page\n",
     "feeds[0] (a).selectors", "item, link, title"),
    ("page-feed-missing-link-selector",
     "feeds:\n  - id: a\n    url: https://example.org/news\n    kind: page\n"
     "    selectors: {item: li, title: a}  # <-\n",
     "feeds[0] (a).selectors", "link"),
    ("selectors-on-rss-feed", FEED + "    selectors: {item: li}  # <-\n",
     "feeds[0] (a).selectors", "only page feeds"),
    ("unknown-kind", FEED + "    kind: atom  # <-\n", "feeds[0] (a).kind", "atom"),
    ("unknown-lang", FEED + "    lang: english  # <-\n", "feeds[0] (a).lang",
     "'english' is not an ISO 639-1 language code"),
    ("feed-id-not-slug", "feeds:\n  - id: Bad_Id  # <-\n    url: https://example.org/f\n",
     "feeds[0] (Bad_Id).id", "slug"),
    ("feed-without-id", "feeds:\n  - name: A  # <-\n    url: https://example.org/f\n",
     "feeds[0].id", "required"),
    ("feed-not-a-mapping", "feeds:\n  - just-a-string  # <-\n", "feeds[0]", "mapping"),
    ("unset-env-in-smtp-url",
     "settings:\n  smtp:\n    url: 'smtp://relay:${RELAY_TEST_UNSET}@mail.example.org'  # <-\n",
     "settings.smtp.url", "RELAY_TEST_UNSET"),
    ("bad-smtp-scheme",
     "settings:\n  smtp:\n    url: 'http://mail.example.org'  # <-\n",
     "settings.smtp.url", "smtp://"),
    ("sender-not-an-address",
     "settings:\n  smtp:\n    sender: relay  # <-\n",
     "settings.smtp.sender", "not a plain address"),
    ("sender-with-header-injection",
     "settings:\n  smtp:\n    sender: \"a@b.example\\nBcc: x@y.example\"  # <-\n",
     "settings.smtp.sender", "not a plain address"),
    ("sender-with-display-name",
     "settings:\n  smtp:\n    sender: \"<a@b.example>\"  # <-\n",
     "settings.smtp.sender", "not a plain address"),
    ("interval-too-long",
     "feeds:\n  - id: a\n    url: https://a.example/f\n    interval: 99999999999d  # <-\n",
     "feeds[0] (a).interval", "longer than 30 days"),
    ("type-names-are-plain",
     "feeds:\n  - id: a\n    url: https://a.example/f\n    name: [x, y]  # <-\n",
     "feeds[0] (a).name", "must be a string or a mapping of language codes to names"),
    ("name-unknown-language",
     FEED + "    name:\n      ja: 在ボストン日本国総領事館\n      jp: Boston  # <-\n",
     "feeds[0] (a).name.jp", "'jp' is not an ISO 639-1 language code"),
    ("name-empty", FEED + "    name:\n      en: ''  # <-\n", "feeds[0] (a).name.en",
     "must be a non-empty name"),
    ("name-empty-mapping", FEED + "    name: {}  # <-\n", "feeds[0] (a).name",
     "is an empty mapping: give one name, or names per language"),
    ("lang-bad-region", FEED + "    lang: zh-  # <-\n", "feeds[0] (a).lang",
     "'zh-' is not an ISO 639-1 language code"),
    ("lang-bad-primary", FEED + "    lang: xx-CN  # <-\n", "feeds[0] (a).lang",
     "'xx-CN' is not an ISO 639-1 language code"),
    ("name-blank-string", FEED + "    name: '  '  # <-\n", "feeds[0] (a).name",
     "must not be empty"),
    ("mission-name-unknown-language",
     "missions:\n  - id: boston\n    name: {ja: 在ボストン日本国総領事館, english: Boston}  # <-\n",
     "missions[0] (boston).name.english", "not an ISO 639-1 language code"),
    ("mission-name-empty",
     "missions:\n  - id: boston\n    name: {ja: 在ボストン日本国総領事館, en: ''}  # <-\n",
     "missions[0] (boston).name.en", "must be a non-empty name"),
    ("mission-without-name", "missions:\n  - id: boston  # <-\n", "missions[0].name",
     "is required"),
    ("mission-unknown-key",
     "missions:\n  - id: boston\n    name: {en: Boston}\n    city: Boston  # <-\n",
     "missions[0].city", "unknown key"),
    ("mission-duplicate",
     "missions:\n  - id: boston\n    name: {en: A}\n  - id: boston  # <-\n    name: {en: B}\n",
     "missions[1].id", "duplicate mission id"),
    ("broken-yaml",
     "settings:\n  timezone: Asia/Tokyo\n  database: x: y  # <-\n",
     "", "invalid YAML"),
    ("yaml-tab-indent", "settings:\n\ttimezone: UTC  # <-\n", "", "invalid YAML"),
    ("duplicate-yaml-key",
     "settings:\n  timezone: Asia/Tokyo\n  timezone: UTC  # <-\n",
     "", "duplicate key"),
    ("top-level-list", "- a  # <-\n- b\n", "", "must be a mapping"),
]

# The spec promises a line for every error, also for a scalar where a section belongs.
INVALID_PARAMS = [pytest.param(*case[1:], id=case[0]) for case in INVALID] + [
    pytest.param("settings: {}\nfeeds: 5  # <-\n", "feeds", "list", id="feeds-not-a-list"),
    pytest.param("settings: 5  # <-\n", "settings", "mapping", id="settings-not-a-mapping"),
    pytest.param("feeds: []\ntopics: 5  # <-\n", "topics", "list", id="topics-not-a-list"),
    pytest.param("feeds: []\nmissions: 5  # <-\n", "missions", "list",
                 id="missions-not-a-list"),
]


def test_names_per_language_and_any_language_code(tmp_path: Path) -> None:
    path = write(tmp_path, """
missions:
  - id: boston
    name: {ja: 在ボストン日本国総領事館, en: Consulate-General of Japan in Boston}
feeds:
  - id: boston-cg
    name: {ja: 在ボストン日本国総領事館, en: Consulate-General of Japan in Boston}
    url: https://www.boston.us.emb-japan.go.jp/rss.xml
    mission: boston
    lang: ja
  - id: bbc-chinese
    name: {en: BBC Chinese}
    url: https://feeds.bbci.co.uk/zhongwen/simp/rss.xml
    lang: zh
  - id: plain
    name: Plain Name
    url: https://plain.example/rss.xml
    lang: pt
  - id: regional
    url: https://regional.example/rss.xml
    lang: pt_BR
  - id: mainland
    url: https://mainland.example/rss.xml
    lang: zh-CN
""")
    config = load_config(path)
    boston, bbc, plain, regional, mainland = config.feeds
    assert (regional.lang, mainland.lang) == ("pt", "zh")   # the region is dropped
    assert boston.name == "在ボストン日本国総領事館"          # its own lang's name for the archive
    assert boston.names["en"] == "Consulate-General of Japan in Boston"
    assert (bbc.name, bbc.lang) == ("BBC Chinese", "zh")
    assert (plain.name, plain.names, plain.lang) == ("Plain Name", {}, "pt")
    assert config.missions == {"boston": {"ja": "在ボストン日本国総領事館",
                                          "en": "Consulate-General of Japan in Boston"}}


@pytest.mark.parametrize(("text", "key_path", "fragment"), INVALID_PARAMS)
def test_invalid_config(tmp_path: Path, text: str, key_path: str, fragment: str) -> None:
    lines = text.splitlines()
    marked = [i + 1 for i, line in enumerate(lines) if "# <-" in line]
    assert len(marked) == 1, "each case marks exactly one line"
    path = write(tmp_path, text, name="relay-test.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"SMTP_PASSWORD": "unused"})
    message = str(info.value)
    assert f"relay-test.yaml:{marked[0]})" in message
    assert key_path in message
    if key_path:
        assert message.startswith(f"{key_path}: ")
    assert fragment in message


def test_the_builtin_taxonomy_is_read_once_into_the_cache_folder(tmp_path, monkeypatch):
    """Read through ruamel, the taxonomy cost every command 0.15-0.25 s: what it gives is
    kept as JSON and read back the same; a damaged copy is read from the YAML again."""
    from relay import config
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config.builtin_topics.cache_clear()
    try:
        read = config.builtin_topics()
        [kept] = (tmp_path / "relay").glob("taxonomy-*.json")
        config.builtin_topics.cache_clear()
        assert config.builtin_topics() == read          # from the JSON
        assert all(isinstance(terms, tuple) for t in read for terms in t.terms.values())
        kept.write_text("[{", encoding="utf-8")
        config.builtin_topics.cache_clear()
        assert config.builtin_topics() == read          # from the YAML again
        config.builtin_topics.cache_clear()
        assert kept.read_text(encoding="utf-8") != "[{"  # and kept again
        assert {t.id for t in read} >= {"ai", "semiconductors", "space"}
    finally:
        config.builtin_topics.cache_clear()


def test_a_cache_folder_that_cannot_be_written_still_gives_the_topics(tmp_path, monkeypatch):
    """A home without a writable cache (a hardened service, a read-only container): the
    taxonomy is read from its YAML each time, and nothing fails."""
    from relay import config
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    config.builtin_topics.cache_clear()
    try:
        assert [t.id for t in config.builtin_topics()][:2] == ["ai", "semiconductors"]
    finally:
        config.builtin_topics.cache_clear()
