"""OPML: reading subscription lists safely, `relay feeds import` of a feed reader's real
export structure (tests/fixtures/feedly.opml) against a real HTTP server, and the round
trip `relay feeds export --opml` -> `relay feeds import` into an empty configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.config import load_config
from relay.errors import UsageError
from relay.pipeline.opml import OPML_NS, read_opml

FIXTURE = Path(__file__).parent / "fixtures" / "feedly.opml"
NOW = datetime.now(UTC)


def rss(title: str, lang: str = "en", link: str = "https://site.example/") -> str:
    items = "".join(f"<item><title>{title} item {i}</title><link>https://n.example/{i}</link>"
                    f"<pubDate>{format_datetime(NOW - timedelta(days=i))}</pubDate></item>"
                    for i in range(2))
    return (f'<rss version="2.0"><channel><title>{title}</title><language>{lang}</language>'
            f"<link>{link}</link>{items}</channel></rss>")


def run(config: Path, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), *args])


HEAD = """# Operator's comment: kept through imports.
settings:
  database: relay.db
feeds:
"""


# -- reading --------------------------------------------------------------------------------------

NESTED = b"""<?xml version="1.0"?><opml version="2.0"><head><title> My  feeds </title></head><body>
<outline text="Science"><outline text="Physics">
  <outline type="rss" text="Deep" xmlUrl="http://a.example/deep.xml"/></outline>
  <outline type="rss" title="Shallow" xmlurl="http://a.example/shallow.xml"/></outline>
<outline text="Top" xmlUrl="http://a.example/top.xml"/>
</body></opml>"""

BOMB = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<opml version="1.0"><head><title>&b;</title></head><body/></opml>"""

EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<opml version="1.0"><head><title>&x;</title></head><body/></opml>"""


def test_outlines_are_read_at_any_depth_with_their_folders():
    subs = read_opml(NESTED, "subs.opml")
    assert subs.title == "My feeds"
    assert [(o.name, o.url, o.folders, o.line) for o in subs.outlines] == [
        ("Deep", "http://a.example/deep.xml", ("Science", "Physics"), 3),
        ("Shallow", "http://a.example/shallow.xml", ("Science",), 4),   # xmlurl, title
        ("Top", "http://a.example/top.xml", (), 5)]


@pytest.mark.parametrize(
    ("data", "message"),
    [(BOMB, "refused"), (EXTERNAL, "refused"),
     (b"<opml><body><outline text='x'></body></opml>", "not well-formed XML"),
     (b"<rss version='2.0'><channel/></rss>", "its root is <rss>, not <opml>"),
     (b"", "not well-formed XML")],
    ids=["entity-expansion", "external-entity", "not-well-formed", "a-feed-not-a-list",
         "empty"])
def test_a_file_that_is_not_a_safe_opml_list_is_refused_whole(data, message):
    with pytest.raises(UsageError) as caught:
        read_opml(data, "subs.opml")
    assert message in caught.value.message and "subs.opml" in str(caught.value)


# -- import of a real reader's export structure ---------------------------------------------------


def test_a_feedly_export_is_imported_feed_by_feed(tmp_path, http_server):
    for name, title in [("qubit", "Qubit Lab"), ("ions", "Ion Traps"),
                        ("materials", "Materials"), ("notes", "Lab Notes"),
                        ("space", "Space Agency")]:
        http_server.add(f"/{name}.xml", rss(title))
    http_server.add("/closed.xml", "gone", status=404)
    opml = tmp_path / "feedly.opml"
    opml.write_text(FIXTURE.read_text(encoding="utf-8").replace("http://feeds.example",
                                                               http_server.url),
                    encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text(HEAD + f"  # already here\n  - {{id: mat, name: Mat, url: "
                      f"'{http_server.url}/materials.xml', allow_private: true}}\n",
                      encoding="utf-8")

    result = run(config, "feeds", "import", str(opml), "--allow-private")
    assert result.exit_code == 2, result.output      # the closed journal is a bad outline
    bad = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert bad == [f"Error: outline 'Closed Journal' ({opml}:16): cannot fetch it: HTTP 404 Not Found "
                   f"({http_server.url}/closed.xml)"]
    assert "skipped Materials & Devices: already configured as 'mat'" in result.stderr
    assert "folder 'Journals' names no topic: ignored" in result.stderr
    assert "folder 'Quantum'" not in result.stderr and "folder '宇宙'" not in result.stderr
    assert "4 added" in result.stderr and "1 skipped, 1 bad" in result.stderr

    text = config.read_text(encoding="utf-8")
    assert "# Operator's comment: kept through imports." in text and "# already here" in text
    assert text.count("by `relay feeds import` from feedly.opml") == 4
    feeds = {f.id: f for f in load_config(config, env={}).feeds}
    assert sorted(feeds) == ["ion-trap-weekly", "lab-notes-latest-articles", "mat",
                             "qubit-lab-news", "space-agency-releases"]
    qubit = feeds["qubit-lab-news"]
    assert (qubit.name, qubit.topics, qubit.site, qubit.lang, qubit.interval) == (
        "Qubit Lab News", ("quantum",), "http://qubit.example/", "en", 3600)
    assert feeds["ion-trap-weekly"].topics == ("quantum",)       # in two folders, once
    assert feeds["space-agency-releases"].topics == ("space",)   # 宇宙: space's ja label
    assert feeds["lab-notes-latest-articles"].site == "https://site.example/"   # the feed's

    again = run(config, "feeds", "import", str(opml), "--allow-private")
    assert "0 added" in again.stderr and "5 skipped" in again.stderr
    assert config.read_text(encoding="utf-8") == text


# -- the round trip -------------------------------------------------------------------------------

FULL = """  - id: nsf
    name: "NSF News & \\"Notes\\" <1>"
    url: {base}/nsf.xml
    site: https://nsf.example/
    mission: washington
    country: US
    lang: en
    topics: [quantum, ai]
    interval: 6h
    allow_private: true
  - id: jst
    name: JST
    url: {base}/jst.xml
    site: https://site.example/
    lang: ja
    enabled: false
    audience: [government]
    interval: 30m
    allow_private: true
  - id: plain
    name: Plain
    url: {base}/plain.xml
    site: https://site.example/
    lang: de
    allow_private: true
  - id: listing
    name: Listing
    kind: page
    url: {base}/list.html
    selectors: {{item: li, title: a, link: a}}
"""


def test_export_then_import_into_an_empty_config_gives_the_same_feeds(tmp_path, http_server):
    """The feeds as `feeds add` or `feeds import` write them (a site is always known: the
    one given, else the feed's own link; a language too); the NSF feed's site is not its
    feed's link, nor its language the feed's."""
    http_server.add("/nsf.xml", rss("NSF", lang="fr", link="https://other.example/"))
    http_server.add("/jst.xml", rss("JST", lang="ja"))
    http_server.add("/plain.xml", rss("Plain", lang="de"))
    source = tmp_path / "source.yaml"
    source.write_text(HEAD + FULL.format(base=http_server.url), encoding="utf-8")

    exported = run(source, "feeds", "export", "--opml")
    assert exported.exit_code == 0, exported.output
    assert "left out (not RSS/Atom feeds with a URL): listing (a page feed)" in exported.stderr
    text = exported.stdout
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml xmlns:relay=')
    assert ' version="2.0">' in text.splitlines()[1]
    assert f'xmlns:relay="{OPML_NS}"' in text and "<title>relay feeds (source.yaml)</title>" \
        in text and "<dateCreated>" in text
    assert ('<outline type="rss" text="NSF News &amp; &quot;Notes&quot; &lt;1&gt;" '
            'title="NSF News &amp; &quot;Notes&quot; &lt;1&gt;" '
            f'xmlUrl="{http_server.url}/nsf.xml" htmlUrl="https://nsf.example/" '
            'language="en" category="/quantum,/ai"') in text
    subs = read_opml(text.encode(), "export")
    assert [(o.name, o.folders) for o in subs.outlines] == [
        ('NSF News & "Notes" <1>', ("quantum",)), ("JST", ()), ("Plain", ())]

    opml = tmp_path / "relay.opml"
    opml.write_text(text, encoding="utf-8")
    empty = tmp_path / "empty.yaml"
    empty.write_text(HEAD.replace("feeds:\n", "feeds: []\n"), encoding="utf-8")
    imported = run(empty, "feeds", "import", str(opml), "--allow-private")
    assert imported.exit_code == 0, imported.output
    before = [f for f in load_config(source, env={}).feeds if f.kind.value == "rss"]
    after = list(load_config(empty, env={}).feeds)
    assert after == before     # every field: id, name, site, lang, topics, interval, ...


def test_a_feeds_names_per_language_make_the_round_trip(tmp_path, http_server):
    """A feed named per language (`name: {ja: ..., en: ...}`, as the demo's missions are)
    comes back with each name: the English digest names the source in English."""
    http_server.add("/boston.xml", rss("Boston", lang="ja"))
    source = tmp_path / "source.yaml"
    source.write_text(HEAD + f"""  - id: boston-cg
    name: {{ja: 在ボストン日本国総領事館, en: Consulate-General of Japan in Boston}}
    url: {http_server.url}/boston.xml
    site: https://site.example/
    lang: ja
    allow_private: true
""", encoding="utf-8")
    exported = run(source, "feeds", "export", "--opml")
    assert exported.exit_code == 0, exported.output
    opml = tmp_path / "relay.opml"
    opml.write_text(exported.stdout, encoding="utf-8")
    empty = tmp_path / "empty.yaml"
    empty.write_text(HEAD.replace("feeds:\n", "feeds: []\n"), encoding="utf-8")
    imported = run(empty, "feeds", "import", str(opml), "--allow-private")
    assert imported.exit_code == 0, imported.output
    assert "added boston-cg" in imported.stdout
    assert list(load_config(empty, env={}).feeds) == list(load_config(source, env={}).feeds)


def test_a_file_that_is_not_opml_changes_nothing(tmp_path):
    config = tmp_path / "feeds.yaml"
    config.write_text(HEAD.replace("feeds:\n", "feeds: []\n"), encoding="utf-8")
    before = config.read_text(encoding="utf-8")
    feed = tmp_path / "feed.xml"
    feed.write_text(rss("Not a list"), encoding="utf-8")
    for path in (feed, tmp_path / "missing.opml"):
        result = run(config, "feeds", "import", str(path))
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.startswith("Error: ") and str(path) in result.stderr
        assert "Traceback" not in result.stderr
    assert "its root is <rss>, not <opml>" in run(config, "feeds", "import", str(feed)).stderr
    assert config.read_text(encoding="utf-8") == before
