"""The real labelled set (benchmarks/quality/real.py): items are found again however links
are written, groups expand into pairs, a pair judged twice both ways is reported, and
every judged item is still found in relay's reading of the corpus (RELAY_CORPUS)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from relay.models import Entry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "quality"))

import real  # noqa: E402


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://www.boston.us.emb-japan.go.jp/x.html", "https://boston.us.emb-japan.go.jp/x.html",
     True),
    ("http://example.org/a/", "https://example.org/a", True),
    ("https://example.org/p?200601a", "https://example.org/p?200601a=", True),
    ("https://example.org/11.html#d25", "https://example.org/11.html#d26", False),
    ("https://example.org/a?id=1", "https://example.org/a?id=2", False),
], ids=["www", "scheme-and-slash", "bare-query-key", "fragment-tells-apart", "query-value"])
def test_loose_link(a, b, same):
    assert (real.loose_link(a) == real.loose_link(b)) is same


def _entry(guid: str, url: str, title: str) -> Entry:
    return Entry(feed_id="f", guid=guid, url=url, title=title, content_html="")


SOURCE = real.Source("f", "feeds/f.xml", [
    _entry("g1", "https://site.example/a#1", "Alpha"),
    _entry("https://site.example/list", "https://site.example/list", "Beta"),
    _entry("https://site.example/list#2", "https://site.example/list", "Gamma"),
])


@pytest.mark.parametrize(("key", "title"), [
    (real.Key("feeds/f.xml", "g1", "", "renamed"), "Alpha"),
    (real.Key("feeds/f.xml", "old-guid", "http://www.site.example/a#1", "Alpha"), "Alpha"),
    (real.Key("feeds/f.xml", "", "https://site.example/list", "Gamma"), "Gamma"),
    (real.Key("feeds/f.xml", "gone", "", " Beta "), "Beta"),
    (real.Key("feeds/f.xml", "gone", "https://elsewhere.example/", "Delta"), None),
    (real.Key("feeds/other.xml", "g1", "", "Alpha"), None),
], ids=["guid", "link-after-guid-change", "shared-link-title", "title", "none", "other-file"])
def test_find_entry(key, title):
    found = real.find_entry(key, {SOURCE.file: SOURCE})
    assert (found.title if found is not None else None) == title


def _key(n: int) -> dict[str, str]:
    return {"file": "feeds/f.xml", "guid": f"g{n}", "link": "", "title": f"t{n}"}


def test_groups_expand_into_pairs_and_conflicts_are_reported(tmp_path):
    path = tmp_path / "judged.jsonl"
    lines = [
        {"kind": "group", "source": "relay-story", "items": [
            {**_key(1), "label": "a"}, {**_key(2), "label": "a", "note": "uncertain"},
            {**_key(3), "label": "b"}]},
        {"kind": "pair", "source": "candidate", "a": _key(3), "b": _key(1), "same": True},
        {"kind": "pair", "source": "random", "a": _key(4), "b": _key(1), "same": False},
    ]
    path.write_text("\n".join(json.dumps(d) for d in lines), encoding="utf-8")
    pairs, problems = real.load_judged(path)
    got = {(p.a.guid, p.b.guid) if p.a.guid < p.b.guid else (p.b.guid, p.a.guid):
           (p.same, p.source, p.uncertain) for p in pairs}
    assert got == {("g1", "g2"): (True, "relay-story", True),
                   ("g1", "g3"): (False, "relay-story", False),
                   ("g2", "g3"): (False, "relay-story", False),
                   ("g1", "g4"): (False, "random", False)}
    assert len(problems) == 1 and "judged.jsonl:2" in problems[0]


@pytest.mark.corpus
def test_every_judged_item_is_found_in_the_corpus(corpus):
    pairs, problems = real.load_judged(real.JUDGED)
    assert not problems
    sources, _config = real.read_corpus(corpus)
    by_file = {s.file: s for s in sources}
    keys = {k for p in pairs for k in (p.a, p.b)}
    missing = [k for k in keys if real.find_entry(k, by_file) is None]
    assert not missing, missing[:5]
    assert len(pairs) >= 4000 and sum(p.source == "random" for p in pairs) >= 300


def _archive(tmp_path: Path) -> real.Archive:
    """A real SQLite file with the columns real.Archive reads."""
    import sqlite3

    from relay.text import content_hash
    db = tmp_path / "a.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, feed_id TEXT, guid TEXT,"
                 " url TEXT, title TEXT, story_id INTEGER, content_hash TEXT)")
    rows = [(1, "f", "https://x.example/list", "https://x.example/list", "Alpha", 10,
             content_hash("Alpha", "")),
            (2, "f", "https://x.example/list#Beta", "https://x.example/list", "Beta", 11,
             content_hash("Beta", "")),
            (3, "g", "g-own", "https://y.example/1", "Gamma", 12, content_hash("Gamma", ""))]
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return real.Archive(db)


@pytest.mark.parametrize(("feed", "entry", "item", "how"), [
    ("f", _entry("https://x.example/list", "https://x.example/list", "Alpha"), 1, "stored"),
    ("f", _entry("https://x.example/list", "https://x.example/list", "Beta"), 2, "stored"),
    ("f", _entry("https://x.example/list", "https://x.example/list", "Delta"), 1,
     "dropped: same guid in its feed"),
    ("h", _entry("h-1", "https://z.example/9", "Gamma"), 3, "dropped: same content"),
    ("h", _entry("h-2", "https://z.example/8", "Epsilon"), None, "missing"),
], ids=["stored", "guid-rewritten-by-relay", "feed-guid-duplicate", "copy-in-another-feed",
        "nowhere"])
def test_place(tmp_path, feed, entry, item, how):
    placed = real.place(entry, feed, _archive(tmp_path))
    assert placed.item == item and placed.how.startswith(how)
