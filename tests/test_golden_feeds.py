"""Golden files for the nastiest real-world feeds of ../shared/corpus (RELAY_CORPUS).

`tests/golden/feeds/<corpus file name>.json` holds what relay reads from that file
with `parse_feed(Fetched("corpus", "https://corpus.example/<name>", 200, bytes))`:
"entries" (how many) and "first_entries" (the first three: title as the archive
stores it, i.e. after `relay.text.html_to_text`; url; guid; published_at in ISO
UTC or null), or "error" for a document that is no feed at all. Provenance: "source"
is the corpus file, "odd" one line of `SOURCES.md` saying what is odd about it.

Goldens change only on an explicit flag: `RELAY_UPDATE_GOLDEN=1` rewrites them from
the current code and skips. A golden where relay is wrong was corrected BY HAND (its
"bug" field says what relay produces instead); its test is a strict xfail listed in
BUGS, and the flag never overwrites it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relay.collect.feeds import parse_feed, parse_local_date
from relay.errors import ParseError
from relay.models import Fetched
from relay.text import html_to_text

pytestmark = pytest.mark.corpus

GOLDEN = Path(__file__).parent / "golden" / "feeds"
UPDATE = os.environ.get("RELAY_UPDATE_GOLDEN") == "1"
FIRST = 3

# SOURCES.md "The nastiest real-world cases", items 1-15, in its order ...
NASTY = [
    "ja_cp932-declared-sjis_atom_y-moto.xml",
    "ja_eucjp-undeclared_rss2_feedparser-fixture.xml",
    "ja_sjis-undeclared_atom_feedparser-fixture.xml",
    "fr_latin1-undeclared_rss2_cerclepsy.xml",
    "pt_latin1-undeclared_rss2_uol-noticias.xml",
    "en_decl-latin1-actual-utf8_rss2_dailymail.xml",
    "en_rss2_reuters-most-read_truncated-server-error.xml",
    "en_atom-inside-xhtml_tablix-blog.xml",
    "nl_rss2_fcutrecht_bogus-prolog.xml",
    "en_rss2_pcmag-dvorak_illegally-nested.xml",
    "en_rss2_braingle_guid-dupes.xml",
    "en_rss2_neverwinter_relative-links.xml",
    "de_utf8_rss2_contentwind_german-dates.xml",
    "ru_utf8_rss2_yandex-news.xml",
    "en_utf8_rss2_nasa-image-of-the-day.xml",
    "ja_sjis_rss1_2ch-top10news-ncr.rdf",
]
# ... its "Also:" line: BOMs, no XML declaration, CRLF/LF mix, whitespace (and a PI
# after blank lines) before the root ...
ALSO = [
    "de_utf8_rss1_orf-at.rdf",
    "de_utf8_rss2_derstandard-at.xml",
    "en_rss1_biorxiv-plant-biology.rdf",
    "ja_utf8_rss1_hatena-group-crlf.rdf",
    "ja_utf8_rss2_kanpo-gazette-toc_2025-07-24.xml",
    "ja_utf8_rss1_hatena-diary.rdf",
]
# ... and every other Japanese Shift_JIS / CP932 / EUC-JP feed (lower-case labels included).
JAPANESE_LEGACY = [
    "ja_eucjp_rss1_ycf-nanet-blog.rdf",
    "ja_eucjp_atom_ycf-nanet-blog.xml",
    "ja_eucjp_rss1_overcube-blog.rdf",
    "ja_eucjp_atom_overcube-blog.xml",
    "ja_eucjp_rss091_artifact-jp.xml",
    "ja_eucjp_rss1_tls-org.rdf",
    "ja_eucjp_rss1_tdiary-ishinao.rdf",
    "ja_sjis_rss1_10e-org.rdf",
    "ja_sjis_rss2_moon-light-theatre-news.xml",
    "ja_sjis_atom_setsuzei119.xml",
    "ja_sjis_rss1_yasuhisa.rdf",
]
GOLDEN_FEEDS = NASTY + ALSO + JAPANESE_LEGACY

# (file, aspect) -> what relay gets wrong; aspect is "first_entries", "entries" or
# "provenance". Such a golden holds the right value, written by hand, with a "bug" field.
# (Empty now: the one bug these goldens found, blank entries made from the empty
# <item /> nested in pcmag's items and from cerclepsy's empty 4th item, was fixed in
# 0f3846d while they were being written; both goldens are the hand-corrected ones.)
BUGS: dict[tuple[str, str], str] = {}


def _case(name: str, aspect: str) -> Any:
    reason = BUGS.get((name, aspect))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(name, id=name.rsplit(".", 1)[0], marks=marks)


def _read(corpus: Path, name: str) -> bytes:
    path = corpus / "feeds" / name
    assert path.is_file(), f"corpus file missing: {path}"
    return path.read_bytes()


@functools.cache
def _actual(corpus: Path, name: str) -> dict[str, Any]:
    """What relay reads from one corpus feed, in the golden's shape."""
    fetched = Fetched("corpus", f"https://corpus.example/{name}", 200, _read(corpus, name))
    try:
        entries = parse_feed(fetched)
    except ParseError as exc:
        return {"entries": 0, "error": "ParseError: " + exc.message.split(":", 1)[0],
                "first_entries": []}
    return {
        "entries": len(entries),
        "first_entries": [
            {"title": html_to_text(e.title), "url": e.url, "guid": e.guid,
             "published_at": e.published_at.astimezone(UTC).isoformat()
             if e.published_at else None}
            for e in entries[:FIRST]
        ],
    }


def _odd_line(sources: str, name: str) -> str:
    """The SOURCES.md line about `name`: its numbered 'nastiest' item, else its table cell."""
    tick = f"`{name}`"
    for line in sources.splitlines():
        if tick in line and re.match(r"\d+\. ", line):
            return line.strip()
    for line in sources.splitlines():
        if line.startswith(f"| {tick} |"):
            return line.split("|")[5].strip()
    raise AssertionError(f"{name} is not described in SOURCES.md")


def _golden(corpus: Path, name: str) -> dict[str, Any]:
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        if any(n == name for n, _aspect in BUGS):
            pytest.skip(f"{path.name} was corrected by hand (a relay bug): edit it by hand")
        sources = (corpus / "SOURCES.md").read_text(encoding="utf-8")
        fresh = {"source": name, "odd": _odd_line(sources, name), **_actual(corpus, name)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fresh, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        pytest.skip(f"RELAY_UPDATE_GOLDEN=1: wrote {path.name}")
    if not path.is_file():
        pytest.fail(f"no golden {path}: run once with RELAY_UPDATE_GOLDEN=1, then read it")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", [_case(n, "first_entries") for n in GOLDEN_FEEDS])
def test_golden_first_entries(corpus: Path, name: str) -> None:
    golden = _golden(corpus, name)
    actual = _actual(corpus, name)
    assert actual.get("error") == golden.get("error")
    assert actual["first_entries"] == golden["first_entries"]


@pytest.mark.parametrize("name", [_case(n, "entries") for n in GOLDEN_FEEDS])
def test_golden_entry_count(corpus: Path, name: str) -> None:
    assert _actual(corpus, name)["entries"] == _golden(corpus, name)["entries"]


@pytest.mark.parametrize("name", [_case(n, "provenance") for n in GOLDEN_FEEDS])
def test_golden_provenance(corpus: Path, name: str) -> None:
    golden = _golden(corpus, name)
    sources = (corpus / "SOURCES.md").read_text(encoding="utf-8")
    assert golden["source"] == name
    assert golden["odd"] and golden["odd"] in sources, "the 'odd' line is no longer in SOURCES.md"
    assert set(golden) <= {"source", "odd", "entries", "first_entries", "error", "bug"}
    # A hand-corrected golden says so; a generated one must not pretend to be.
    assert ("bug" in golden) == any(n == name for n, _aspect in BUGS)


def test_every_golden_file_has_a_case() -> None:
    files = {p.name.removesuffix(".json") for p in GOLDEN.glob("*.json")}
    assert files == set(GOLDEN_FEEDS)
    assert len(GOLDEN_FEEDS) == len(set(GOLDEN_FEEDS))


# -- oddities the first three entries do not reach ----------------------------------------------


def test_contentwind_german_date_is_on_the_channel_and_is_read(corpus: Path) -> None:
    # The German 'Do, 22 Dez 2016' is the channel's <lastBuildDate>; its one item has an
    # English pubDate (golden). feedparser cannot read the German one, relay's fallback can.
    text = _read(corpus, "de_utf8_rss2_contentwind_german-dates.xml").decode("utf-8-sig")
    m = re.search(r"<lastBuildDate>([^<]+)</lastBuildDate>", text)
    assert m and m.group(1) == "Do, 22 Dez 2016 17:36:00 +0000"
    assert parse_local_date(m.group(1)) == datetime(2016, 12, 22, 17, 36, tzinfo=UTC)


def test_y_moto_cp932_only_characters_survive_in_content(corpus: Path) -> None:
    # A strict shift_jis decode fails at byte 14092 on '①' (SOURCES.md, nasty case 1).
    name = "ja_cp932-declared-sjis_atom_y-moto.xml"
    entries = parse_feed(Fetched("corpus", f"https://corpus.example/{name}", 200,
                                 _read(corpus, name)))
    assert any("①" in e.content_html for e in entries)
    assert not any("\ufffd" in e.content_html + e.title for e in entries)
