"""Salvage and the truth about pages: a broken feed document gives its complete entries
and is marked partial with the reason; a listing page that yields nothing is an error.

Fixtures (written for these tests): tests/salvage/whole.xml (8 press releases),
truncated.xml (the same cut inside the 8th entry: a dropped connection), and
malformed-middle.xml (entry 4 lost its </title>, entry 6 has '&nbsp;' and bare '&').
"""

from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.collect.feeds import read_feed_document
from relay.collect.pages import parse_page
from relay.errors import ParseError
from relay.models import Fetched
from relay.store import Store

HERE = Path(__file__).parent / "salvage"
TITLES = ["Cabinet Office opens quantum testbed call", "MEXT budget request for fusion research",
          "Semiconductor export rules revised", "AI safety institute hires 40 researchers",
          "Space agency picks lunar lander partners", "Rare earth stockpile to double by 2030",
          "Startup visa extended to two years", "Hydrogen grid pilot starts in Kobe"]


def _read(body: bytes | str) -> tuple[list[str], str | None]:
    data = body.encode() if isinstance(body, str) else body
    entries, _ttl, partial = read_feed_document(Fetched("t", "https://t.example/feed", 200, data))
    return [e.title for e in entries], partial


def _rss(*items: str, close: str = "</channel></rss>") -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            "<link>https://t.example/</link>" + "".join(items) + close)


def _item(n: int, title: str = "") -> str:
    return (f"<item><title>{title or f'Notice {n}'}</title><link>https://t.example/{n}</link>"
            f"<description>Text of notice {n}.</description></item>\n")


def _atom(*entries: str, close: str = "</feed>") -> str:
    return ('<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>' + "".join(entries)
            + close)


def _entry(n: int) -> str:
    return (f'<entry><title>Entry {n}</title><link href="https://t.example/e{n}"/>'
            f"<id>tag:t.example,2026:{n}</id><updated>2026-11-0{n}T00:00:00Z</updated>"
            f"<summary>Summary {n}.</summary></entry>\n")


RDF = ('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
       ' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://t.example/"><title>R</title>'
       "<link>https://t.example/</link></channel>\n"
       + "".join(f'<item rdf:about="https://t.example/r{n}"><title>Item {n}</title>'
                 f"<link>https://t.example/r{n}</link></item>\n" for n in (1, 2, 3)))
NOTICES = [f"Notice {n}" for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("document", "titles", "partial"),
    [
        (_rss(*map(_item, (1, 2, 3))), NOTICES, None),
        (_rss(*map(_item, (1, 2, 3)))[:-60], NOTICES[:2],
         "document truncated after 2 entries (line 3: unclosed token)"),
        (_rss(*map(_item, (1, 2, 3)), close="").replace("notice 3.</description></item>\n",
                                                        "not"), NOTICES[:2],
         "document truncated after 2 entries (line 3: no element found)"),
        (_rss(*map(_item, (1, 2, 3)), close="<!-- Exception rendering module on server -->"),
         NOTICES, "document truncated after 3 entries (line 4: no element found)"),
        (_rss(_item(1), _item(2).replace("</title>", ""), _item(3)), ["Notice 1", "Notice 3"],
         "1 unreadable entry skipped, 2 entries read (line 2: mismatched tag)"),
        (_rss(_item(1), _item(2).replace("</title>", ""), _item(3))[:-40], ["Notice 1"],
         "document truncated after 1 entry, 1 unreadable entry skipped (line 2: mismatched tag)"),
        (_rss(_item(1), _item(2, "R&D caf&eacute;&nbsp;AT&T"), _item(3)),
         ["Notice 1", "R&D café\u00a0AT&T", "Notice 3"], None),
        (_rss(_item(1), _item(2, "a\x0bb"), _item(3)), ["Notice 1", "ab", "Notice 3"], None),
        (_rss(*map(_item, (1, 2, 3))) + "<html><body>500</body></html>", NOTICES, None),
        (_rss(*map(_item, (1, 2, 3))).replace("<title>T</title>", "<title>T</titel>"), NOTICES,
         "document broken outside its entries, 3 entries read (line 1: mismatched tag)"),
        (_atom(*map(_entry, (1, 2, 3)))[:-30], ["Entry 1", "Entry 2"],
         "document truncated after 2 entries (line 3: no element found)"),
        (_atom(*map(_entry, (1, 2, 3)))[:-4], ["Entry 1", "Entry 2", "Entry 3"],
         "document truncated after 3 entries (line 4: unclosed token)"),
        (RDF[:-20], ["Item 1", "Item 2"],
         "document truncated after 2 entries (line 4: no element found)"),
    ],
    ids=["well-formed", "truncated-in-a-tag", "truncated-in-text", "server-exception-at-end",
         "mismatched-tag-middle", "mismatched-then-truncated", "entities-and-bare-amp-mended",
         "control-char-mended", "junk-after-document", "broken-channel-header",
         "atom-truncated", "atom-truncated-in-last-tag", "rdf-truncated"],
)
def test_salvage_keeps_complete_entries(document, titles, partial):
    assert _read(document) == (titles, partial)


def test_a_document_broken_before_its_first_entry_is_a_failure():
    with pytest.raises(ParseError, match=r"document truncated after 0 entries \(line 1"):
        _read(_rss(close=""))


def test_truncated_fixture_keeps_its_seven_complete_entries():
    titles, partial = _read((HERE / "truncated.xml").read_bytes())
    assert titles == TITLES[:7]
    assert partial == "document truncated after 7 entries (line 60: no element found)"


def test_malformed_middle_fixture_skips_the_broken_entry_only():
    titles, partial = _read((HERE / "malformed-middle.xml").read_bytes())
    assert titles == [t for t in TITLES if not t.startswith("AI safety")]
    assert partial == "1 unreadable entry skipped, 7 entries read (line 35: mismatched tag)"
    whole, _ = _read((HERE / "whole.xml").read_bytes())
    assert whole == TITLES and _ == None  # noqa: E711


def test_a_document_that_declares_entities_is_not_salvaged():
    """expat would expand them ("billion laughs"): feedparser's loose reading stands."""
    laughs = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
              + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
                        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
              + "]>" + _rss(_item(1, "&i;"), _item(2)))[:-40]
    titles, partial = _read(laughs)
    assert titles[0] == "&i;" and partial is None


def test_a_document_with_nothing_to_salvage_is_an_error():
    with pytest.raises(ParseError, match="not a readable feed"):
        _read("<<<< this is not xml at all")


# -- listing pages that yield nothing ---------------------------------------------------------

PAGE = """<html><body><ul class="news">
<li><span class="t">Notice one</span></li>
<li><span class="t">Notice two</span></li>
</ul></body></html>"""


@pytest.mark.parametrize(
    ("selectors", "message"),
    [
        ({"item": "div.news-item", "title": "a"},
         "the item selector 'div.news-item' matches nothing on the page"),
        ({"item": "ul.news li", "title": "span.t"},
         "the item selector 'ul.news li' matches 2 elements but none has a title 'span.t'"
         " and a link (an <a href>)"),
        ({"item": "ul.news li", "title": "h3", "link": "a.more"},
         "the item selector 'ul.news li' matches 2 elements but none has a title 'h3' and a"
         " link 'a.more'"),
    ],
    ids=["matches-nothing", "matches-without-links", "matches-without-titles"],
)
def test_page_that_yields_nothing_is_an_error(selectors, message):
    with pytest.raises(ParseError) as raised:
        parse_page(Fetched("p", "https://p.example/", 200, PAGE.encode(),
                           {"content-type": "text/html; charset=utf-8"}), selectors)
    assert raised.value.message == message
    assert "check the selectors" in raised.value.hint


# -- through relay collect, feeds, status and the health mail, over HTTP ----------------------

def _config(tmp_path: Path, http_server, smtp_url: str = "smtp://127.0.0.1:9") -> Path:
    good = http_server.add("/good.xml", _rss(*map(_item, (1, 2, 3))))
    truncated = http_server.add("/truncated.xml", (HERE / "truncated.xml").read_bytes())
    nothing = http_server.add("/nothing.html", PAGE, content_type="text/html; charset=utf-8")
    no_item = http_server.add("/no-item.html", PAGE, content_type="text/html; charset=utf-8")
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""settings:
  database: relay.db
  admin_email: ops@example.org
  smtp: {{url: "{smtp_url}", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:
  - id: good
    url: {good}
    allow_private: true
  - id: truncated
    url: {truncated}
    allow_private: true
  - id: nothing-page
    url: {nothing}
    kind: page
    allow_private: true
    selectors: {{item: "div.news-item", title: "a", link: "a"}}
  - id: no-item-page
    url: {no_item}
    kind: page
    allow_private: true
    selectors: {{item: "ul.news li", title: "span.t", link: "a"}}
""", encoding="utf-8")
    return config


def test_partial_feed_and_empty_pages_are_shown_everywhere(tmp_path, http_server, smtp_server):
    config = _config(tmp_path, http_server, smtp_server.url)
    runner = CliRunner()
    collected = runner.invoke(main, ["--config", str(config), "collect", "--json"])
    assert collected.exit_code == 1      # the two pages failed; the partial feed did not
    reports = {r["feed"]: r for r in json.loads(collected.stdout)}
    assert reports["good"]["ok"] and reports["good"]["new"] == 3
    assert reports["truncated"]["ok"] and reports["truncated"]["new"] == 7
    assert reports["truncated"]["partial"] == (
        "document truncated after 7 entries (line 60: no element found)")
    assert "matches nothing" in reports["nothing-page"]["error"]
    assert "none has a title 'span.t'" in reports["no-item-page"]["error"]
    with Store(tmp_path / "relay.db") as store:
        titles = [r[0] for r in store.conn.execute(
            "SELECT title FROM items WHERE feed_id = 'truncated' ORDER BY id")]
    assert titles == TITLES[:7]

    rows = {r["id"]: r for r in json.loads(
        runner.invoke(main, ["--config", str(config), "feeds", "--json"]).stdout)}
    assert rows["truncated"]["partial"].startswith("document truncated after 7 entries")
    assert rows["truncated"]["error_count"] == 0 and rows["good"]["partial"] is None
    assert rows["nothing-page"]["error_count"] == 1
    assert "div.news-item" in rows["nothing-page"]["last_error"]
    table = runner.invoke(main, ["--config", str(config), "feeds"]).output
    assert "partial: document truncated after 7" in table
    assert "the item selector 'div.news-item' matches" in table
    assert "the item selector 'ul.news li' matches" in table
    status = runner.invoke(main, ["--config", str(config), "status"]).output
    assert "feeds: 4 (2 failing, 1 partial)" in status

    mailed = runner.invoke(main, ["--config", str(config), "feeds", "mail"])
    assert mailed.exit_code == 0, mailed.output
    (message,) = smtp_server.messages
    text = email.message_from_bytes(message.data, policy=default).get_body(
        ("plain",)).get_content()
    assert "Failing (the last fetch failed): 2" in text
    assert "nothing-page: the item selector 'div.news-item' matches nothing" in text
    assert "no-item-page: the item selector 'ul.news li' matches 2 elements" in text
    assert "Partial (a broken document: what it gave is stored): 1" in text
    assert ("truncated: partial: document truncated after 7 entries (line 60: no element"
            " found)") in text


def test_partial_feed_alone_exits_0_and_is_read_whole_next_time(tmp_path, http_server):
    config = _config(tmp_path, http_server)
    runner = CliRunner()
    first = runner.invoke(main, ["--config", str(config), "collect", "good", "truncated"])
    assert first.exit_code == 0, first.output
    assert ("truncated: 7 new, 0 duplicate; partial: document truncated after 7 entries"
            in first.output)
    assert "2 feeds, 10 new items, 0 failed, 1 partial" in first.output
    with Store(tmp_path / "relay.db") as store:
        assert store.feed_state("truncated").etag is None     # no 304 for a partial document
    # The publisher's next answer is whole: the missing entry comes, the feed is well.
    http_server.add("/truncated.xml", (HERE / "whole.xml").read_bytes())
    second = runner.invoke(main, ["--config", str(config), "collect", "truncated"])
    assert second.exit_code == 0 and "truncated: 1 new, 7 duplicate" in second.output
    assert "partial" not in second.output
    rows = {r["id"]: r for r in json.loads(
        runner.invoke(main, ["--config", str(config), "feeds", "--json"]).stdout)}
    assert rows["truncated"]["partial"] is None


def test_feeds_check_shows_a_partial_document_as_ok(tmp_path, http_server):
    config = _config(tmp_path, http_server)
    result = CliRunner().invoke(main, ["--config", str(config), "feeds", "check", "truncated",
                                       "--json"])
    assert result.exit_code == 0, result.output
    (check,) = json.loads(result.stdout)
    assert check["ok"] and check["entries"] == 7 and check["error"] is None
    assert check["partial"] == "document truncated after 7 entries (line 60: no element found)"
