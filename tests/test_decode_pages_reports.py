"""relay/collect/decode.py, pages.py and reports.py: bytes, listing pages and report files."""

from __future__ import annotations

import codecs
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.collect.decode import decode
from relay.collect.pages import parse_japanese_date, parse_page
from relay.collect.reports import read_reports
from relay.errors import FetchError, ParseError
from relay.models import Entry, Fetched

JA = "量子コンピュータの研究開発について、文部科学省が発表しました。"

# -- decode -------------------------------------------------------------------------------------

DECODE_CASES = [
    # (id, body, content type, expected text, expected codec or None to skip)
    ("utf8-bom", codecs.BOM_UTF8 + f"<p>{JA}</p>".encode(), "", f"<p>{JA}</p>", "utf-8-sig"),
    ("utf8-bom-beats-declared-sjis",
     codecs.BOM_UTF8 + f'<?xml version="1.0" encoding="Shift_JIS"?><rss>{JA}</rss>'.encode(),
     "", f'<?xml version="1.0" encoding="Shift_JIS"?><rss>{JA}</rss>', "utf-8-sig"),
    ("utf16-bom", f"<p>{JA}</p>".encode("utf-16"), "", f"<p>{JA}</p>", "utf-16"),
    # ① and 髙 exist in CP932 only: a strict Shift_JIS decoder fails on them
    ("cp932-declared-shift-jis",
     f'<?xml version="1.0" encoding="Shift_JIS"?><rss><title>①髙橋 {JA}</title></rss>'
     .encode("cp932"),
     "", f'<?xml version="1.0" encoding="Shift_JIS"?><rss><title>①髙橋 {JA}</title></rss>',
     "cp932"),
    ("cp932-http-charset-shift-jis", f"<p>①{JA}</p>".encode("cp932"),
     "text/html; charset=Shift_JIS", f"<p>①{JA}</p>", "cp932"),
    ("cp932-meta-charset", f'<meta charset="shift_jis"><p>①{JA}</p>'.encode("cp932"),
     "", f'<meta charset="shift_jis"><p>①{JA}</p>', "cp932"),
    # 𩸽 is in JIS X 0213 only: the declared codec fails, its 2004 superset decodes it
    ("euc-jp-declared-jis-x-0213-char",
     f'<?xml version="1.0" encoding="EUC-JP"?><p>𩸽 {JA}</p>'.encode("euc_jis_2004"), "",
     f'<?xml version="1.0" encoding="EUC-JP"?><p>𩸽 {JA}</p>', "euc_jis_2004"),
    ("shift-jis-declared-jis-x-0213-char",
     f'<meta charset="Shift_JIS"><p>𩸽 {JA}</p>'.encode("shift_jis_2004"), "",
     f'<meta charset="Shift_JIS"><p>𩸽 {JA}</p>', "shift_jis_2004"),
    ("euc-jp-undeclared", f"<html><body>{JA}</body></html>".encode("euc_jp"), "",
     f"<html><body>{JA}</body></html>", None),
    ("shift-jis-undeclared", f"<html><body>{JA}</body></html>".encode("cp932"), "",
     f"<html><body>{JA}</body></html>", None),
    ("http-charset-beats-meta", f'<meta charset="shift_jis"><p>{JA}</p>'.encode("euc_jp"),
     "text/html; charset=EUC-JP", f'<meta charset="shift_jis"><p>{JA}</p>', "euc_jp"),
    ("utf8-declared-iso-8859-1",
     '<?xml version="1.0" encoding="ISO-8859-1"?><rss>Café Zürich 量子</rss>'.encode(),
     "", '<?xml version="1.0" encoding="ISO-8859-1"?><rss>Café Zürich 量子</rss>', "utf-8"),
    ("utf8-http-iso-8859-1", "<p>Größe — naïve</p>".encode(), "text/html; charset=iso-8859-1",
     "<p>Größe — naïve</p>", "utf-8"),
    ("latin1-undeclared", "<p>Café à Zürich, Größe</p>".encode("latin-1"), "",
     "<p>Café à Zürich, Größe</p>", "cp1252"),
    ("cp1252-declared-iso-8859-1",
     '<meta charset="iso-8859-1"><p>“Quote” – naïve</p>'.encode("cp1252"), "",
     '<meta charset="iso-8859-1"><p>“Quote” – naïve</p>', "cp1252"),
    ("ascii", b"<p>hello</p>", "", "<p>hello</p>", None),
]


@pytest.mark.parametrize(
    ("body", "content_type", "text", "codec"),
    [c[1:] for c in DECODE_CASES], ids=[c[0] for c in DECODE_CASES],
)
def test_decode(body: bytes, content_type: str, text: str, codec: str | None) -> None:
    got_text, got_codec = decode(body, content_type)
    assert got_text == text
    if codec is not None:
        assert got_codec == codec


# -- Japanese dates -----------------------------------------------------------------------------

MIDNIGHT_JST_19_MARCH = datetime(2026, 3, 18, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026年3月19日", MIDNIGHT_JST_19_MARCH),
        ("2026年03月19日", MIDNIGHT_JST_19_MARCH),
        ("2026.03.19", MIDNIGHT_JST_19_MARCH),
        ("2026/3/19", MIDNIGHT_JST_19_MARCH),
        ("2026-03-19", MIDNIGHT_JST_19_MARCH),
        ("令和8年3月19日", MIDNIGHT_JST_19_MARCH),
        ("R8.3.19", MIDNIGHT_JST_19_MARCH),
        ("令和元年5月1日", datetime(2019, 4, 30, 15, 0, tzinfo=UTC)),
        ("平成31年4月30日", datetime(2019, 4, 29, 15, 0, tzinfo=UTC)),
        ("２０２６年３月１９日", MIDNIGHT_JST_19_MARCH),
        ("２０２６／０３／１９", MIDNIGHT_JST_19_MARCH),
        ("令和８年３月１９日", MIDNIGHT_JST_19_MARCH),
        ("掲載日：2026年3月19日（木）", MIDNIGHT_JST_19_MARCH),
        ("[2026.3.19] 報道発表", MIDNIGHT_JST_19_MARCH),
        ("garbage", None),
        ("", None),
        ("2026年13月1日", None),
        ("2026年2月30日", None),
        ("3月19日", None),
    ],
    ids=["kanji", "kanji-zero-padded", "dots", "slashes", "iso-date", "reiwa", "reiwa-short",
         "reiwa-gannen", "heisei", "full-width-kanji", "full-width-slashes",
         "full-width-reiwa", "embedded-in-label", "embedded-in-brackets", "garbage", "empty",
         "month-13", "february-30", "no-year"],
)
def test_parse_japanese_date(text: str, expected: datetime | None) -> None:
    assert parse_japanese_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-03-19T10:00:00+09:00", datetime(2026, 3, 19, 1, 0, tzinfo=UTC)),
     ("2026-03-19T23:30:00-05:00", datetime(2026, 3, 20, 4, 30, tzinfo=UTC))],
    ids=["jst-offset", "us-offset"],
)
def test_parse_japanese_date_iso8601_timestamp(text: str, expected: datetime) -> None:
    assert parse_japanese_date(text) == expected


# -- listing pages ------------------------------------------------------------------------------

SELECTORS = {"item": "ul.news li", "title": "a", "link": "a", "date": "span.date",
             "summary": "p.summary"}
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">{base}<title>報道発表</title></head>
<body>
<ul class="news">
  <li><span class="date">2026年3月19日</span> <a href="item1.html">量子技術の <b>新戦略</b></a>
      <p class="summary">概要 <b>一</b></p></li>
  <li><span class="date">令和8年3月20日</span><a href="/abs/item2.html">Second item</a></li>
  <li><span class="date">2026.3.21</span><a href="https://other.example/x">Third item</a></li>
  <li><span class="date">2026/3/22</span>No link in this one</li>
  <li><span class="date">2026/3/23</span><a href="item5.html">   </a></li>
</ul>
</body></html>
"""
PAGE_URL = "https://example.go.jp/press/index.html"


def fetched(html: str, url: str = PAGE_URL, encoding: str = "utf-8",
            content_type: str = "text/html") -> Fetched:
    return Fetched(feed_id="mofa-press", url=url, status=200, body=html.encode(encoding),
                   headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("base", "expected_urls"),
    [
        ("", ["https://example.go.jp/press/item1.html", "https://example.go.jp/abs/item2.html",
              "https://other.example/x"]),
        ('<base href="https://example.go.jp/news/">',
         ["https://example.go.jp/news/item1.html", "https://example.go.jp/abs/item2.html",
          "https://other.example/x"]),
        ('<base href="/archive/2026/">',
         ["https://example.go.jp/archive/2026/item1.html",
          "https://example.go.jp/abs/item2.html", "https://other.example/x"]),
    ],
    ids=["against-page-url", "against-base-href", "against-relative-base"],
)
def test_parse_page_links(base: str, expected_urls: list[str]) -> None:
    entries = parse_page(fetched(PAGE.format(base=base)), SELECTORS)
    assert [e.url for e in entries] == expected_urls


def test_parse_page_fields() -> None:
    entries = parse_page(fetched(PAGE.format(base="")), SELECTORS)
    # the items without a link or without a title text are skipped
    assert [e.title for e in entries] == ["量子技術の 新戦略", "Second item", "Third item"]
    assert [e.published_at for e in entries] == [
        datetime(2026, 3, 18, 15, tzinfo=UTC), datetime(2026, 3, 19, 15, tzinfo=UTC),
        datetime(2026, 3, 20, 15, tzinfo=UTC)]
    assert "概要" in entries[0].content_html
    assert entries[1].content_html == ""
    assert all(e.feed_id == "mofa-press" for e in entries)
    assert len({e.guid for e in entries}) == 3


def test_parse_page_decodes_shift_jis() -> None:
    html = PAGE.format(base="").replace('charset="utf-8"', 'charset="Shift_JIS"')
    html = html.replace("量子技術の", "①量子技術の")  # a CP932-only character
    entries = parse_page(fetched(html, encoding="cp932", content_type="text/html"), SELECTORS)
    assert entries[0].title == "①量子技術の 新戦略"


def test_parse_page_date_from_datetime_attribute() -> None:
    html = ('<div class="item"><time datetime="2026-03-19">19 March</time>'
            '<a href="/a">A</a></div>')
    (entry,) = parse_page(fetched(html), {"item": "div.item", "title": "a", "link": "a",
                                          "date": "time"})
    assert entry.published_at == MIDNIGHT_JST_19_MARCH


def test_parse_page_link_selector_on_a_container() -> None:
    html = '<div class="item"><h3 class="t">Title</h3><div class="l"><a href="/x">go</a></div></div>'
    (entry,) = parse_page(fetched(html), {"item": "div.item", "title": ".t", "link": "div.l"})
    assert (entry.title, entry.url) == ("Title", "https://example.go.jp/x")


@pytest.mark.parametrize(
    "item_selector", ["div.article", "ul.missing li"], ids=["class-absent", "nested-absent"])
def test_item_selector_matching_nothing_is_a_parse_error(item_selector: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_page(fetched(PAGE.format(base="")), {**SELECTORS, "item": item_selector})
    assert info.value.feed_id == "mofa-press"
    assert info.value.url == PAGE_URL
    assert item_selector in str(info.value)


# -- report files -------------------------------------------------------------------------------

REPORTS = {
    "2026-11-24-quantum.md": (
        "---\n"
        "title: コネチカット州が量子技術に1億2100万ドルを投資\n"
        "date: 2026-11-24\n"
        "topics: [quantum, research-funding]\n"
        "author: 在ボストン総領事館\n"
        "lang: ja\n"
        "url: https://example.org/reports/1\n"
        "colour: ignored\n"
        "---\n"
        "州政府は5年間で投資する。\n\n二段落目 <b>です</b>。\n"
    ),
    "heading.md": "# MIT and Harvard open an AI institute\n\nThe institute opens in 2027.\n",
    "broken.md": "---\ntitle: [unclosed\ndate: 2026-11-24\n---\nBody.\n",
    "not-a-mapping.md": "---\n- a\n- b\n---\nBody.\n",
    "plain.txt": "\n\nFirst line is the title\nSecond line.\n",
    "timed.markdown": "---\ntitle: Timed\ndate: 2026-11-24T09:00:00+09:00\n---\nx\n",
    "kanji-date.md": "---\ntitle: 漢字の日付\ndate: \"2026年11月24日\"\n---\nx\n",
    "page.html": "<h1>HTML report</h1><p>Body</p>\n",
    "notes.json": "{\"ignored\": true}\n",
}
MTIME = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
Read = tuple[list[Entry], list[ParseError | FetchError]]


@pytest.fixture
def reports(tmp_path: Path) -> Read:
    folder = tmp_path / "boston"
    folder.mkdir()
    for name, text in REPORTS.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    batch = read_reports("boston-reports", folder)
    return batch.entries, batch.errors


def test_reports_read_and_errors_returned(reports: Read) -> None:
    entries, errors = reports
    assert sorted(e.guid.rpartition("#")[0] for e in entries) == [
        "2026-11-24-quantum.md", "heading.md", "kanji-date.md", "page.html", "plain.txt",
        "timed.markdown"]
    assert sorted(Path(err.url).name for err in errors) == ["broken.md", "not-a-mapping.md"]
    for err in errors:
        assert isinstance(err, ParseError)
        assert err.feed_id == "boston-reports"
        assert Path(err.url).name in str(err)


def test_report_front_matter(reports: Read) -> None:
    entry = {e.guid.rpartition("#")[0]: e for e in reports[0]}["2026-11-24-quantum.md"]
    assert entry.title == "コネチカット州が量子技術に1億2100万ドルを投資"
    assert entry.published_at == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # midnight JST
    assert entry.topics == ("quantum", "research-funding")
    assert entry.author == "在ボストン総領事館"
    assert entry.lang == "ja"
    assert entry.url == "https://example.org/reports/1"
    assert entry.feed_id == "boston-reports"
    # Markdown is kept as text: paragraphs, with markup-looking text escaped
    assert entry.content_html.count("<p>") == 2
    assert "&lt;b&gt;" in entry.content_html


@pytest.mark.parametrize(
    ("guid", "title", "published_at"),
    [
        ("heading.md", "MIT and Harvard open an AI institute", MTIME),
        ("plain.txt", "First line is the title", MTIME),
        ("timed.markdown", "Timed", datetime(2026, 11, 24, 0, 0, tzinfo=UTC)),
        ("kanji-date.md", "漢字の日付", datetime(2026, 11, 23, 15, 0, tzinfo=UTC)),
    ],
    ids=["markdown-heading-no-front-matter", "text-first-line", "iso-timestamp-with-offset",
         "kanji-date"],
)
def test_report_title_and_date(reports: Read, guid: str, title: str,
                               published_at: datetime) -> None:
    entry = {e.guid.rpartition("#")[0]: e for e in reports[0]}[guid]
    assert entry.title == title
    assert entry.published_at == published_at


def test_report_title_is_first_heading_not_first_line(tmp_path: Path) -> None:
    (tmp_path / "r.md").write_text(
        "---\ndate: 2026-11-24\n---\n*Draft, not for circulation*\n\n"
        "# Boston biotech investment falls 22%\n\nBody.\n", encoding="utf-8")
    entries = read_reports("r", tmp_path).entries
    assert entries[0].title == "Boston biotech investment falls 22%"


def test_report_without_url_gets_a_file_uri(reports: Read) -> None:
    entry = {e.guid.rpartition("#")[0]: e for e in reports[0]}["heading.md"]
    assert entry.url.startswith("relay-report:boston-reports/heading.md#")  # no web page
    assert entry.topics == ()


def test_html_report_body_kept_as_html(reports: Read) -> None:
    entry = {e.guid.rpartition("#")[0]: e for e in reports[0]}["page.html"]
    assert entry.content_html.startswith("<h1>HTML report</h1>")


def test_reports_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(FetchError):
        read_reports("boston-reports", tmp_path / "absent")


def test_report_in_shift_jis_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "sjis.txt").write_bytes(f"報告の題名\n\n{JA}\n".encode("cp932"))
    batch = read_reports("r", tmp_path)
    entries, errors = batch.entries, batch.errors
    assert errors == []
    assert entries[0].title == "報告の題名"
