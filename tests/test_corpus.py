"""Real-world feeds from ../shared/corpus (RELAY_CORPUS): every file parses, Japanese
feeds in Shift_JIS / CP932 / EUC-JP give readable titles, and the whole corpus goes
through the pipeline into a real archive."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.collect.feeds import parse_feed, read_feed_document
from relay.errors import ParseError
from relay.models import Fetched
from relay.text import html_to_text

pytestmark = pytest.mark.corpus

# A server exception cut the document before any item: partial, with no entry.
TRUNCATED = "en_rss2_reuters-most-read_truncated-server-error.xml"
# Published double-encoded through a lossy codepage: ftfy can only partly repair it.
MOJIBAKE_AT_SOURCE = {"ru_utf8_rss2_yandex-news.xml"}
_MOJIBAKE = re.compile(r"[\ufffd]|Ã.|â€|ã\x81|ã\x82|ã\x83")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _feeds(corpus: Path) -> list[Path]:
    return sorted((corpus / "feeds").iterdir())


def _parse(path: Path):
    return parse_feed(Fetched("corpus", f"https://corpus.example/{path.name}", 200,
                              path.read_bytes()))


def test_every_corpus_feed_parses(corpus):
    files = _feeds(corpus)
    assert len(files) >= 60
    for path in files:
        if path.name == TRUNCATED:
            continue        # test_truncated_feed_is_partial
        entries = _parse(path)
        assert entries, f"{path.name}: no entries"
        for e in entries:
            assert e.guid and e.url.startswith("http"), f"{path.name}: {e}"
        if path.name not in MOJIBAKE_AT_SOURCE:
            titles = [html_to_text(e.title) for e in entries]  # as normalize stores them
            bad = [t for t in titles if _MOJIBAKE.search(t)]
            assert not bad, f"{path.name}: mojibake in {bad[:2]}"


def test_truncated_feed_with_no_complete_entry_fails(corpus):
    """The Reuters document breaks (a server's exception) before its first entry ends:
    nothing to keep, so the feed fails, saying where."""
    path = corpus / "feeds" / TRUNCATED
    fetched = Fetched("corpus", f"https://corpus.example/{path.name}", 200, path.read_bytes())
    with pytest.raises(ParseError, match=r"truncated after 0 entries \(line 19: no element"):
        read_feed_document(fetched)


def test_only_the_truncated_corpus_feed_is_partial(corpus):
    for path in _feeds(corpus):
        fetched = Fetched("corpus", f"https://corpus.example/{path.name}", 200,
                          path.read_bytes())
        if path.name == TRUNCATED:
            continue
        partial = read_feed_document(fetched)[2]
        assert partial is None, (path.name, partial)


def test_japanese_legacy_encodings_give_readable_titles(corpus):
    japanese = [p for p in _feeds(corpus) if p.name.startswith("ja_")
                and re.search(r"sjis|eucjp|cp932", p.name)]
    assert len(japanese) >= 14
    for path in japanese:
        titles = [e.title for e in _parse(path)]
        readable = [t for t in titles if _JAPANESE.search(t)]
        assert len(readable) >= len(titles) // 2, f"{path.name}: {titles[:3]}"


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("ja_cp932-declared-sjis_atom_y-moto.xml", "さらなる防寒対策"),
        ("ja_eucjp-undeclared_rss2_feedparser-fixture.xml", "ゲーム三昧な正月"),
        ("ja_sjis-undeclared_atom_feedparser-fixture.xml", "DrecomRSSに記事投稿が反映されない…"),
        ("ja_eucjp_atom_overcube-blog.xml", "あけましておめでとうございます"),
        ("ja_sjis_atom_setsuzei119.xml", "節税対策を万全にする保険"),
        ("en_decl-latin1-actual-utf8_rss2_dailymail.xml", "Could the infamous Black Dahlia case"),
        ("fr_latin1-undeclared_rss2_cerclepsy.xml", "Perturbateurs endocriniens : quels effet"),
    ],
    ids=["cp932-declared-sjis", "eucjp-undeclared", "sjis-undeclared", "eucjp-atom",
         "sjis-fullwidth", "utf8-declared-latin1", "latin1-undeclared"],
)
def test_nasty_encodings_golden_first_title(corpus, name, title):
    assert _parse(corpus / "feeds" / name)[0].title.startswith(title)


def test_german_localized_dates_are_read(corpus):
    entry = _parse(corpus / "feeds" / "de_utf8_rss2_contentwind_german-dates.xml")[0]
    assert entry.published_at is not None and entry.published_at.year == 2016


def test_whole_corpus_through_the_pipeline(corpus, tmp_path):
    lines = ["settings:", "  database: corpus.db", "feeds:"]
    for i, path in enumerate(_feeds(corpus)):
        lines += [f"  - id: f{i}", f"    name: {path.name}", f"    path: {path}"]
    config = tmp_path / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "collect", "--json"])
    assert result.exit_code == 1, result.output  # the truncated feed fails, alone
    reports = json.loads(result.stdout)
    failed = [r for r in reports if not r["ok"]]
    assert len(failed) == 1 and "truncated after 0 entries" in failed[0]["error"]
    assert not [r for r in reports if r["partial"]]
    assert sum(r["new"] for r in reports) > 1300
    # The gov-online snapshots overlap day to day: the shared items are stored once.
    assert sum(r["duplicates"] for r in reports) > 30
    found = json.loads(runner.invoke(
        main, ["--config", str(config), "search", "外務省", "--format", "json"]).stdout)
    assert found and all("外務省" in (r["title"] + r["summary"]) for r in found[:5])


def test_corpus_items_get_their_language(corpus, tmp_path):
    """Every corpus feed as relay-corpus.yaml lists it (no lang: hints): the items of the
    zh, ru, pt and nl feeds get their language, no Japanese item is taken for Chinese,
    and en/de/fr stay right. Feed ids start with the language of their file name."""
    runner = CliRunner()
    args = ["--config", str(corpus / "relay-corpus.yaml"), "--db", str(tmp_path / "c.db")]
    runner.invoke(main, [*args, "collect", "--all"])
    rows = [json.loads(line) for line in runner.invoke(
        main, [*args, "export", "--format", "jsonl"]).stdout.splitlines()]
    confusion: dict[str, dict[str, int]] = {}
    for row in rows:
        prefix = row["feed"].split("-")[0]
        counts = confusion.setdefault(prefix, {})
        counts[row["lang"]] = counts.get(row["lang"], 0) + 1
    for prefix in ("zh", "ru", "pt", "nl", "de", "en", "fr"):
        assert set(confusion[prefix]) == {prefix}, confusion
    assert "zh" not in confusion["ja"] and "zh" not in confusion["gov"], confusion
    assert confusion["ja"]["ja"] >= 0.99 * sum(confusion["ja"].values()), confusion
