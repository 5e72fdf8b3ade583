"""The second reader of the real set (benchmarks/quality/second_reader.py): the blind list holds
every pair reader 1 judged same or doubted plus a fixed sample of the others and none of
reader 1's answers; reader 2's answers are kept in their own file; the agreement (Cohen's
kappa) and relay's figures under each reader are computed from them."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path

import pytest

from relay.models import Entry
from relay.text import content_hash

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "quality"))

import real  # noqa: E402
import second_reader  # noqa: E402

T, F = True, False


@pytest.mark.parametrize(("both", "want"), [
    ([(T, T)] * 5 + [(F, F)] * 5, 1.0),
    ([(T, F)] * 5 + [(F, T)] * 5, -1.0),
    ([(T, T)] * 20 + [(T, F)] * 5 + [(F, T)] * 10 + [(F, F)] * 15, 0.4),
    ([(T, T)] * 3, 1.0),
    ([], math.nan),
], ids=["agree", "always-opposite", "textbook", "one-answer-only", "empty"])
def test_kappa(both, want):
    got = second_reader.kappa(both)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def _key(n: int) -> real.Key:
    return real.Key("feeds/f.xml", f"g{n}", "", f"t{n}")


def _pairs() -> list[real.Pair]:
    pairs = [real.Pair(_key(1), _key(2), True, "relay-story"),
             real.Pair(_key(1), _key(3), True, "candidate", "uncertain: angle"),
             real.Pair(_key(2), _key(3), False, "candidate", "uncertain: close")]
    pairs += [real.Pair(_key(n), _key(n + 1), False, "random") for n in range(10, 60)]
    return pairs


def test_the_list_holds_every_same_and_doubted_pair_and_a_fixed_sample():
    pairs = _pairs()
    shown = second_reader.choose(pairs, seed=3, n_different=7)
    assert len(shown) == 3 + 7
    assert {second_reader.pair_id(p.a, p.b) for p in pairs[:3]} <= {
        second_reader.pair_id(p.a, p.b) for p in shown}
    again = second_reader.choose(list(reversed(pairs)), seed=3, n_different=7)
    assert [second_reader.pair_id(p.a, p.b) for p in again] == [
        second_reader.pair_id(p.a, p.b) for p in shown]


def test_merge_keeps_reader_two_apart_and_skips_unjudged(tmp_path):
    filled = tmp_path / "filled.jsonl"
    rows = [{"n": 1, "a": {**_key(2).as_json(), "date": "-", "text": "x"},
             "b": {**_key(1).as_json(), "date": "-", "text": "y"}, "same": True, "note": ""},
            {"n": 2, "a": _key(1).as_json(), "b": _key(3).as_json(), "same": False,
             "note": "hard: a feature"},
            {"n": 3, "a": _key(2).as_json(), "b": _key(3).as_json(), "same": None, "note": ""}]
    filled.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "second.jsonl"
    assert second_reader.merge(filled, out, "tester") == 2
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert set(lines[0]) == {"a", "b", "same", "note", "reader"}
    assert lines[0]["a"]["guid"] == "g1" and "text" not in lines[0]["a"]   # keys only, ordered
    got = second_reader.load_second(out)
    assert got == {second_reader.pair_id(_key(1), _key(2)): (True, ""),
                   second_reader.pair_id(_key(3), _key(1)): (False, "hard: a feature")}


def _world(tmp_path: Path) -> tuple[list[real.Source], real.Archive]:
    """Three entries of one feed; relay put 1 and 2 in one story, 3 in another."""
    db = tmp_path / "a.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, feed_id TEXT, guid TEXT,"
                 " url TEXT, title TEXT, story_id INTEGER, content_hash TEXT)")
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (n, "f", f"g{n}", f"https://x.example/{n}", f"t{n}", story, content_hash(f"t{n}", ""))
        for n, story in ((1, 10), (2, 10), (3, 11))])
    conn.commit()
    conn.close()
    entries = [Entry(feed_id="f", guid=f"g{n}", url=f"https://x.example/{n}", title=f"t{n}",
                     content_html="") for n in (1, 2, 3)]
    return [real.Source("f", "feeds/f.xml", entries)], real.Archive(db)


def test_compare_reports_agreement_and_figures_under_each_reader(tmp_path):
    sources, archive = _world(tmp_path)
    pairs = _pairs()[:3]
    second = {second_reader.pair_id(_key(1), _key(2)): (True, ""),
              second_reader.pair_id(_key(1), _key(3)): (False, "hard: a feature"),
              second_reader.pair_id(_key(2), _key(3)): (False, "")}
    lines = second_reader.compare(pairs, second, sources, archive)
    text = "\n".join(lines)
    assert "agreement: 2/3 = 0.667" in text
    assert "r1 same & r2 different 1" in text and "hard: a feature" in text
    # after the group's name: judged, same, merged, TP, FP, FN, P, R, F1
    rows = {g: ln[len(g):].split() for ln in lines for g in second_reader.GROUPS
            if ln.startswith(g + " ")}
    assert rows["reader 1"][:6] == ["3", "2", "1", "1", "0", "1"]
    assert rows["reader 2"][:6] == ["3", "1", "1", "1", "0", "0"]
    assert rows["both agree"][:6] == ["2", "1", "1", "1", "0", "0"]
    assert rows["all, r2 where given"][:6] == ["3", "1", "1", "1", "0", "0"]


@pytest.mark.corpus
def test_the_drafted_list_is_blind(corpus, tmp_path):
    out = tmp_path / "draft.jsonl"
    n = second_reader.draft(corpus, real.JUDGED, out)
    pairs, _ = real.load_judged(real.JUDGED)
    assert n == sum(p.same or p.uncertain for p in pairs) + second_reader.SAMPLE_DIFFERENT
    for line in out.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert set(row) == {"n", "a", "b", "same", "note"}
        assert row["same"] is None and row["note"] == ""
        assert set(row["a"]) == {"file", "guid", "link", "title", "date", "text"}
        assert row["a"]["text"] != "(not found in the corpus)"
    assert out.with_suffix(".md").exists()
