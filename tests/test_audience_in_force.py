"""Need-to-know follows the configuration in force (issue 10, points 2 and 6).

- Whatever reads the archive for a subscriber (digest build, preview, the topics'
  Atom feeds, the public trend counts) applies feeds.yaml as it is now, not as the
  last collect left the archive's feeds table: an `audience` added, a feed removed
  (its items are nobody's), a feed renamed, a topic removed.
- A restricted copy never hides a public one: an exact duplicate is one only within
  one audience, in either order of collection, and a feed's audience changing later
  lets the copies it hid be stored on the next collect.
Real HTTP on 127.0.0.1, the real CLI, the archive in a real SQLite file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.models import StoryRow
from relay.store import Store

DATE = format_datetime(datetime.now(UTC) - timedelta(hours=3))
CABLE = ("Quantum computing export licence talks held in confidence",
         "Officials discussed quantum computing export licences for qubit control systems "
         "with allied missions in confidence.", "https://cable.example/talks")
WIRE = ("Quantum computing center opens in Hartford with 120 qubit machine",
        "The Hartford quantum computing center opened with a 120 qubit superconducting "
        "machine built by Nutmeg Quantum Consortium engineers, the state said on Monday.",
        "https://wire.example/hartford")
ARTICLE = ("Quantum sensing network links three observatories by qubit relay",
           "Three observatories were linked by a quantum sensing network that relays qubit "
           "states over 40 kilometres of fibre, the consortium said on Tuesday.",
           "https://news.example/2026/quantum-sensing-network")


def rss(title: str, items: list[tuple[str, str, str]]) -> str:
    body = "".join(f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid>"
                   f"<pubDate>{DATE}</pubDate><description>{d}</description></item>"
                   for t, d, u in items)
    return (f'<rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://x.example/</link>{body}</channel></rss>")


def feed_yaml(url: str, feed_id: str, name: str, extra: str = "") -> str:
    return (f"  - id: {feed_id}\n    name: {name}\n    url: {url}\n    lang: en\n"
            f"    allow_private: true\n{extra}")


class Relay:
    """The CLI on one configuration file in tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.config = tmp_path / "feeds.yaml"
        self.runner = CliRunner()

    def write(self, feeds: str, topics: str = "") -> None:
        self.config.write_text(
            "settings:\n  database: relay.db\n  fetch: {host_delay: 0}\n"
            '  smtp: {url: "smtp://127.0.0.1:1", sender: "relay@example.org"}\n'
            + topics + "feeds:\n" + feeds, encoding="utf-8")

    def __call__(self, *args: str) -> str:
        result = self.runner.invoke(main, ["--config", str(self.config), *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    def subscribe(self, address: str, groups: str = "") -> None:
        self("subscribe", address, "--topics", "quantum", "--ui-lang", "en",
             *(("--groups", groups) if groups else ()))

    def preview(self, address: str) -> str:
        out = self("digest", "preview", "--subscriber", address).strip()
        return Path(out).read_text(encoding="utf-8") if out else ""

    def built(self, address: str) -> str:
        files = sorted((self.tmp / "digests").glob(f"*/{address}.*"))
        files = [f for f in files if f.parent.name != "preview"]
        return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)

    def atom(self, topic: str = "quantum") -> str:
        return (self.tmp / "digests" / "feeds" / f"{topic}.xml").read_text(encoding="utf-8")


@pytest.fixture
def relay(tmp_path: Path) -> Relay:
    return Relay(tmp_path)


def _two_feeds(http_server, relay: Relay) -> tuple[str, str]:
    cable = http_server.add("/cable.xml", rss("Cable", [CABLE]))
    wire = http_server.add("/wire.xml", rss("Wire", [WIRE]))
    relay.write(feed_yaml(cable, "cable", "Cable Service") + feed_yaml(wire, "wire", "Public Wire"))
    relay("collect")
    relay.subscribe("office@uni.example")
    relay.subscribe("desk@gov.example", groups="gov")
    return cable, wire


def test_an_audience_added_applies_without_a_collect(http_server, relay):
    """Point 2: `audience: [gov]` added after the collect holds for build, preview, Atom
    and the trend counts, though no collect has run since."""
    cable, wire = _two_feeds(http_server, relay)
    assert CABLE[0] in relay.preview("office@uni.example")     # public, as configured then
    relay.write(feed_yaml(cable, "cable", "Cable Service", "    audience: [gov]\n")
                + feed_yaml(wire, "wire", "Public Wire"))
    preview = relay.preview("office@uni.example")
    assert WIRE[0] in preview
    assert CABLE[0] not in preview and "Cable Service" not in preview
    relay("digest", "build")
    office = relay.built("office@uni.example")
    assert WIRE[0] in office
    for leak in (CABLE[0], "Cable Service", "cable.example"):
        assert leak not in office, leak
    desk = relay.built("desk@gov.example")
    assert CABLE[0] in desk and WIRE[0] in desk
    atom = relay.atom()
    assert WIRE[0] in atom
    for leak in (CABLE[0], "Cable Service", "cable.example"):
        assert leak not in atom, leak
    assert len(feedparser.parse(atom.encode()).entries) == 1
    assert "▁▁▁▁▁▁▁█" in office     # the trend counts the public item only


def test_a_removed_feed_is_nobodys(http_server, relay):
    """When in doubt, restrict: the items of a feed no longer configured reach no
    subscriber and no Atom feed (its audience is not known any more)."""
    _cable, wire = _two_feeds(http_server, relay)
    relay.write(feed_yaml(wire, "wire", "Public Wire"))
    for address in ("office@uni.example", "desk@gov.example"):
        preview = relay.preview(address)
        assert WIRE[0] in preview and CABLE[0] not in preview, address
    relay("digest", "build")
    assert CABLE[0] not in relay.built("desk@gov.example")
    assert CABLE[0] not in relay.atom() and WIRE[0] in relay.atom()


def test_a_renamed_feed_keeps_its_items_under_its_rules_now(http_server, relay):
    """A feed's new name is the one shown; a feed whose id changed (same source) gives
    its archived items the new entry's rules: here an audience."""
    cable, wire = _two_feeds(http_server, relay)
    relay.write(feed_yaml(cable, "cable", "Diplomatic Cable") + feed_yaml(wire, "wire", "Wire"))
    preview = relay.preview("office@uni.example")
    assert "Diplomatic Cable" in preview and "Cable Service" not in preview
    relay.write(feed_yaml(cable, "cables", "Cables", "    audience: [gov]\n")
                + feed_yaml(wire, "wire", "Public Wire"))
    assert CABLE[0] not in relay.preview("office@uni.example")
    desk = relay.preview("desk@gov.example")
    assert CABLE[0] in desk and "Cables" in desk


def test_a_removed_topic_is_published_no_more(http_server, relay):
    """A topic taken out of the configuration: its Atom feed is withdrawn, and no digest
    names it."""
    topics = ("topics:\n  - id: quantum\n    label: {en: Quantum matters}\n"
              "    terms: {en: [quantum, qubit]}\n"
              "  - id: sensing\n    label: {en: Sensing matters}\n"
              "    terms: {en: [observatories, sensing]}\n")
    news = http_server.add("/news.xml", rss("News", [ARTICLE]))
    relay.write(feed_yaml(news, "news", "News"), topics)
    relay("collect")
    for address in ("office@uni.example", "late@uni.example"):
        relay("subscribe", address, "--topics", "quantum,sensing", "--ui-lang", "en")
    assert "Sensing matters" in relay.preview("late@uni.example")
    relay("digest", "build", "--subscriber", "office@uni.example")
    assert ARTICLE[0] in relay.atom("sensing")
    relay.write(feed_yaml(news, "news", "News"), topics.split("  - id: sensing")[0])
    relay("digest", "build", "--subscriber", "office@uni.example")   # exists; feeds published
    assert not (relay.tmp / "digests" / "feeds" / "sensing.xml").exists()
    assert ARTICLE[0] in relay.atom("quantum")
    preview = relay.preview("late@uni.example")
    assert ARTICLE[0] in preview and "Sensing matters" not in preview


# -- point 6: a duplicate key is scoped by audience -------------------------------------


def _copies(http_server, relay: Relay, first: str, second: str,
            restricted: str = "    audience: [gov]\n", public: str = "",
            other_link: bool = False) -> None:
    article = ARTICLE if not other_link else (*ARTICLE[:2], "https://mirror.example/q")
    urls = {"cable": http_server.add("/cable.xml", rss("Cable", [ARTICLE])),
            "wire": http_server.add("/wire.xml", rss("Wire", [article]))}
    relay.write(feed_yaml(urls["cable"], "cable", "Cable Service", restricted)
                + feed_yaml(urls["wire"], "wire", "Public Wire", public))
    relay("collect", first)
    relay("collect", second)
    relay.subscribe("office@uni.example")
    relay.subscribe("desk@gov.example", groups="gov")


def _stored(relay: Relay) -> list[str]:
    with Store(relay.tmp / "relay.db") as store:
        return sorted(r[0] for r in store.conn.execute("SELECT feed_id FROM items"))


@pytest.mark.parametrize("order", [("cable", "wire"), ("wire", "cable")],
                         ids=["restricted-first", "public-first"])
@pytest.mark.parametrize("other_link", [False, True], ids=["same-url", "same-content"])
def test_a_restricted_copy_never_hides_the_public_one(http_server, relay, order, other_link):
    _copies(http_server, relay, *order, other_link=other_link)
    assert _stored(relay) == ["cable", "wire"]
    relay("digest", "build")
    office = relay.built("office@uni.example")
    assert ARTICLE[0] in office and "Public Wire" in office and "Cable Service" not in office
    assert ARTICLE[0] in relay.built("desk@gov.example")
    assert ARTICLE[0] in relay.atom() and "Cable Service" not in relay.atom()


@pytest.mark.parametrize("audiences", [("", ""), ("    audience: [gov]\n", "    audience: [gov]\n"),
                                       ("    audience: [gov, mod]\n",
                                        "    audience: [mod, gov]\n")],
                         ids=["both-public", "both-gov", "same-groups-other-order"])
def test_copies_within_one_audience_are_still_one_item(http_server, relay, audiences):
    _copies(http_server, relay, "cable", "wire", *audiences)
    assert _stored(relay) == ["cable"]


def test_a_feed_made_restricted_later_lets_the_copies_it_hid_in(http_server, relay):
    """The public copy kept was the wire's; the wire is then restricted: the next
    collect reads every document whole again (their validators are dropped), and the
    other public feed's copy, a duplicate no more, is stored for the public."""
    urls = {"wire": http_server.add("/wire.xml", rss("Wire", [ARTICLE])),
            "mirror": http_server.add("/mirror.xml", rss("Mirror", [ARTICLE]))}
    relay.write(feed_yaml(urls["wire"], "wire", "Wire") + feed_yaml(urls["mirror"], "mirror",
                                                                   "Mirror"))
    relay("collect", "wire")
    relay("collect", "mirror")
    assert _stored(relay) == ["wire"]
    relay("collect", "mirror")                            # 304: nothing read again
    assert http_server.hits("/mirror.xml")[-1].get("if-none-match")
    relay.write(feed_yaml(urls["wire"], "wire", "Wire", "    audience: [gov]\n")
                + feed_yaml(urls["mirror"], "mirror", "Mirror"))
    relay("collect", "mirror")
    assert not http_server.hits("/mirror.xml")[-1].get("if-none-match")
    assert _stored(relay) == ["mirror", "wire"]
    relay.subscribe("office@uni.example")
    preview = relay.preview("office@uni.example")
    assert ARTICLE[0] in preview and "Mirror" in preview


# -- the pure rules -----------------------------------------------------------------------

def _config(*feeds):
    from relay.config import builtin_topics
    from relay.models import Config, FeedKind, FeedSpec, Settings
    return Config(path=Path("feeds.yaml"), settings=Settings(), topics=builtin_topics(),
                  feeds=tuple(FeedSpec(id=i, name=i.title(), kind=FeedKind.RSS, url=u,
                                       audience=tuple(a)) for i, u, a in feeds))


@pytest.mark.parametrize(("configured", "stored", "expected"), [
    ([("a", "https://a/x", [])], {"a": "https://a/x"}, {"a": "a"}),
    # the id's entry rules, whatever its address now
    ([("a", "https://a/new", ["gov"])], {"a": "https://a/x"}, {"a": "a"}),
    # removed: nobody's
    ([("a", "https://a/x", [])], {"a": "https://a/x", "b": "https://b/x"}, {"a": "a"}),
    # renamed: the one entry of the same address
    ([("b2", "https://b/x", ["gov"])], {"b": "https://b/x"}, {"b": "b2"}),
    # renamed, the new id collected since: both ids follow the one entry
    ([("b2", "https://b/x", [])], {"b": "https://b/x", "b2": "https://b/x"},
     {"b": "b2", "b2": "b2"}),
    # two entries of that address: which one rules is not known, so neither
    ([("c1", "https://c/x", []), ("c2", "https://c/x", ["gov"])], {"c": "https://c/x"}, {}),
], ids=["same-id", "same-id-new-url", "removed", "renamed", "renamed-collected",
        "ambiguous-address"])
def test_which_configured_feed_governs_archived_items(configured, stored, expected):
    from relay.store import governing
    got = governing(_config(*configured).feeds, stored)
    assert {k: v.id for k, v in got.items()} == expected


@pytest.mark.parametrize(("feed_id", "tags", "expected"), [
    ("a", {"quantum": 3.0, "gone": 2.0},
     {"feed_id": "a", "feed_name": "A", "audience": ("gov",), "tags": {"quantum": 3.0}}),
    ("b", {"quantum": 3.0}, None),
], ids=["configured-overlaid", "unconfigured-left-out"])
def test_rows_are_read_under_the_configuration_in_force(feed_id, tags, expected):
    from relay.pipeline.in_force import in_force
    from relay.store import governing
    config = _config(("a", "https://a/x", ["gov"]))
    row = StoryRow(id=1, story_id=1, feed_id=feed_id, feed_name="Old name", feed_kind="rss",
                   mission=None, country=None, url="https://a/1", title="t", summary="s",
                   lang="en", published_at=None, collected_at=datetime(2026, 11, 1, tzinfo=UTC),
                   tags=tags)
    got = in_force([row], governing(config.feeds, {"a": "https://a/x", "b": "https://b/x"}),
                   [t.id for t in config.topics])
    if expected is None:
        assert got == []
    else:
        assert len(got) == 1 and {k: getattr(got[0], k) for k in expected} == expected


def test_sync_retires_unconfigured_feeds_and_rereads_after_an_audience_change(tmp_path):
    from relay.store import NOBODY
    config = _config(("a", "https://a/x", ["gov", "mod"]), ("b", "https://b/x", []))
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds(config.feeds)
        store.conn.execute("UPDATE feeds SET etag = 'e'")
        store.sync_feeds(_config(("a", "https://a/x", ["mod", "gov"]),
                                 ("b", "https://b/x", [])).feeds)
        rows = dict(store.conn.execute("SELECT id, audience FROM feeds"))
        assert rows == {"a": '["gov", "mod"]', "b": "[]"}
        assert {r[0] for r in store.conn.execute("SELECT etag FROM feeds")} == {"e"}
        store.sync_feeds(_config(("a", "https://a/x", ["gov", "mod"])).feeds)   # b removed
        assert dict(store.conn.execute("SELECT id, audience FROM feeds"))["b"] == NOBODY
        assert {r[0] for r in store.conn.execute("SELECT etag FROM feeds")} == {None}
        store.sync_feeds(_config(("a", "https://a/x", ["gov", "mod"]),
                                 ("b2", "https://b/x", ["gov"])).feeds)    # b renamed b2
        assert dict(store.conn.execute("SELECT id, audience FROM feeds")) == {
            "a": '["gov", "mod"]', "b": '["gov"]', "b2": '["gov"]'}


def test_a_renamed_feed_is_no_new_source_of_copies(http_server, relay):
    """A feed whose id changed offers its entries again under its new id: they are
    copies of its own archived items (one audience), not new items."""
    news = http_server.add("/news.xml", rss("News", [ARTICLE]))
    relay.write(feed_yaml(news, "news", "News"))
    relay("collect")
    relay.write(feed_yaml(news, "newswire", "News Wire"))
    relay("collect")
    assert _stored(relay) == ["news"]


def test_the_daemon_builds_under_the_configuration_on_disk(http_server, relay, caplog):
    """`relay run` loaded feeds.yaml at its start; an audience added since holds for its
    next build, and a file that no longer loads builds nothing."""
    from relay.config import load_config
    from relay.daemon import Daemon
    from relay.models import Frequency
    cable, wire = _two_feeds(http_server, relay)
    daemon = Daemon(load_config(relay.config, env={}), relay.tmp / "relay.db",
                    reload=lambda: load_config(relay.config, env={}))
    daemon.store = Store(relay.tmp / "relay.db")
    try:
        relay.config.write_text(relay.config.read_text(encoding="utf-8") + "  - id: [\n",
                                encoding="utf-8")
        daemon._guard("digest:weekly", daemon._digest(Frequency.WEEKLY))()
        assert "configuration does not load" in caplog.text
        assert not relay.built("office@uni.example")
        relay.write(feed_yaml(cable, "cable", "Cable Service", "    audience: [gov]\n")
                    + feed_yaml(wire, "wire", "Public Wire"))
        daemon._guard("digest:weekly", daemon._digest(Frequency.WEEKLY))()
    finally:
        daemon.store.close()
    office = relay.built("office@uni.example")
    assert WIRE[0] in office and CABLE[0] not in office
    assert CABLE[0] in relay.built("desk@gov.example")


def test_a_restricted_feed_left_out_for_a_typo_leaks_nothing_to_its_address_twin(
        http_server, relay):
    """A restricted feed whose entry is left out (a typo: exit 2, as if removed) while a
    public entry reads the same address: its archived items are not taken for the public
    feed's (a rename never makes restricted items public), in previews, builds, Atom or
    trend counts, and a collect keeps them."""
    cable, wire = _two_feeds(http_server, relay)
    restricted = feed_yaml(cable, "cable", "Cable Service", "    audience: [gov]\n")
    relay.write(restricted + feed_yaml(wire, "wire", "Public Wire"))
    relay("collect", "--all")
    twin = feed_yaml(cable, "twin", "Twin", "    interval: 1d\n")
    relay.write(restricted + "    intervl: 5x\n" + twin + feed_yaml(wire, "wire", "Public Wire"))
    result = relay.runner.invoke(main, ["--config", str(relay.config), "digest", "preview",
                                        "--subscriber", "office@uni.example"])
    assert result.exit_code == 2 and "left out" in result.stderr, result.output
    preview = Path(result.stdout.strip()).read_text(encoding="utf-8")
    assert WIRE[0] in preview and CABLE[0] not in preview
    built = relay.runner.invoke(main, ["--config", str(relay.config), "digest", "build"])
    assert built.exit_code == 2, built.output
    office = relay.built("office@uni.example")
    assert WIRE[0] in office and CABLE[0] not in office
    assert CABLE[0] not in relay.atom() and "▁▁▁▁▁▁▁█" in office
    with Store(relay.tmp / "relay.db") as store:
        assert store.conn.execute(
            "SELECT COUNT(*) FROM items WHERE feed_id = 'cable'").fetchone()[0] == 1
    # Fixed: the feed is the gov desk's again.
    relay.write(restricted + twin + feed_yaml(wire, "wire", "Public Wire"))
    relay("collect", "--all")
    with Store(relay.tmp / "relay.db") as store:
        assert store.feed_audiences()["cable"] == '["gov"]'


@pytest.mark.parametrize(("stored_audience", "heir_audience", "governed"), [
    ('["gov"]', [], False),           # restricted items never made public by a rename
    ('["gov"]', ["mod"], True),       # restricted to restricted: the new entry's rules
    ("[]", ["gov"], True),
    ("[]", [], True),
    ('["!unconfigured"]', [], False),  # nobody's stays nobody's unless restricted anew
    ('["!unconfigured"]', ["gov"], True),
])
def test_a_rename_never_makes_restricted_items_public(stored_audience, heir_audience,
                                                      governed):
    from relay.store import governing
    got = governing(_config(("b2", "https://b/x", heir_audience)).feeds, {"b": "https://b/x"},
                    {"b": stored_audience})
    assert ("b" in got) is governed


def test_the_daemon_under_a_lenient_reload_restricts_a_left_out_feed(http_server, relay,
                                                                     caplog):
    """`relay run` reloads feeds.yaml as the CLI loads it (a wrong feed entry left out):
    a restricted feed whose entry got a typo reaches nobody at the next build, its collect
    job says it is unknown and harms no other job, and its items stay archived."""
    from relay.cli import Ctx
    from relay.daemon import Daemon
    from relay.models import Frequency
    cable, wire = _two_feeds(http_server, relay)
    restricted = feed_yaml(cable, "cable", "Cable Service", "    audience: [gov]\n")
    relay.write(restricted + feed_yaml(wire, "wire", "Public Wire"))
    ctx = Ctx(relay.config, None, 0)
    daemon = Daemon(ctx.config(), relay.tmp / "relay.db", reload=ctx.config)
    daemon.store = Store(relay.tmp / "relay.db")
    try:
        relay.write(restricted + "    intervl: 5x\n" + feed_yaml(wire, "wire", "Public Wire"))
        daemon._guard("digest:weekly", daemon._digest(Frequency.WEEKLY))()
        assert [f.id for f in daemon.config.feeds] == ["wire"]
        daemon.store.conn.execute("UPDATE feeds SET next_fetch_at = NULL")   # all due
        daemon._guard("collect:cable", daemon._collect("cable"))()
        assert "unknown feed id 'cable'" in caplog.text
        daemon._guard("collect:wire", daemon._collect("wire"))()
        assert daemon.store.feed_state("wire").error_count == 0
        assert daemon.store.conn.execute(
            "SELECT COUNT(*) FROM items WHERE feed_id = 'cable'").fetchone()[0] == 1
    finally:
        daemon.store.close()
    assert ctx.left_out == 1
    office, desk = relay.built("office@uni.example"), relay.built("desk@gov.example")
    assert WIRE[0] in office and WIRE[0] in desk
    assert CABLE[0] not in office and CABLE[0] not in desk
