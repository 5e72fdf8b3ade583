"""relay.collect.pages over the real HTML pages of ../shared/corpus/pages (RELAY_CORPUS).

Every listing page of the corpus (SOURCES.md) is read with selectors determined by
reading its HTML: entry count, first titles, absolute links, dates in the forms the
pages use (2025年5月23日, <time datetime>, 2008/02/05, ISO 8601 with +09:00), and
charset sniffing on the two CP932 pages (`charset=x-sjis`; Shift_JIS declared but
CP932 written). The gov-online-info feed of the repository's feeds.yaml is checked
with its own selectors against the corpus copies of its page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from relay.collect.decode import decode
from relay.collect.pages import parse_japanese_date, parse_page
from relay.config import load_config
from relay.errors import ParseError
from relay.models import Entry, FeedKind, Fetched

pytestmark = pytest.mark.corpus

REPO = Path(__file__).resolve().parents[1]
JST = timezone(timedelta(hours=9))
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_MOJIBAKE = re.compile(r"\ufffd|Ã.|â€|ã\x81|ã\x82|ã\x83|ç¹|è¨")

GOV_P0 = "ja_utf8_gov-online-info-listing_p0.html"
GOV_P1 = "ja_utf8_gov-online-info-listing_p1.html"
GOV_URL = "https://www.gov-online.go.jp/info/index.html"   # the pages' og:url
GOV = {"item": "ul.p-newsList li.p-newsList__item", "title": ".p-newsList__title",
       "link": "a.p-newsList__link", "date": "time.p-newsList__date",
       "summary": ".p-newsList__categoryLabel"}
WEBRY = "ja_cp932-declared-sjis_webry-blog.html"
WEBRY_URL = "http://hardsoft.at.webry.info/200802/article_1.html"
CHUO = "ja_cp932_x-sjis_chuo-u-page.html"
CHUO_URL = "http://www2.chuo-u.ac.jp/suishin/yomenai.html"


def _jst_midnight(y: int, m: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    """Midnight in Japan, or the time of day a page gives after the date."""
    return datetime(y, m, d, hour, minute, tzinfo=JST).astimezone(UTC)


def _fetched(corpus: Path, page: str, url: str, feed_id: str = "corpus-page") -> Fetched:
    path = corpus / "pages" / page
    assert path.is_file(), f"corpus page missing: {path}"
    return Fetched(feed_id, url, 200, path.read_bytes())


def _flat(text: str) -> str:
    """ASCII whitespace runs as one space, as a browser shows them (the pages indent their
    markup inside titles); the ideographic space U+3000 is the publisher's and stays."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


@dataclass(frozen=True)
class Listing:
    page: str
    url: str
    selectors: dict[str, str]
    count: int
    titles: tuple[str, ...]                   # the first titles, whitespace flattened
    first_date: datetime | None
    hosts: tuple[str, ...]                    # every link's host is one of these
    summary_has: tuple[str, ...] = ()         # in the first entry's summary HTML
    japanese: bool = False


LISTINGS = [
    pytest.param(Listing(
        GOV_P0, GOV_URL, GOV, 20,
        ("月例経済報告（5月）を掲載しました",
         "行政機関における公益通報者保護法に係る対応の徹底について",
         "プレコンセプションケアの提供のあり方に関する検討会 ～性と健康に関する正しい知識の"
         "普及に向けて～　の「プレコンセプションケア推進5か年計画 （最終報告）」を掲載しました"),
        _jst_midnight(2025, 5, 23), (".go.jp",), ("内閣府",), japanese=True),
        id="gov-online-p0"),
    pytest.param(Listing(
        GOV_P1, GOV_URL, GOV, 20,
        ("日韓双方における入国手続の円滑化措置の実施",
         "第12回科学技術予測調査：科学技術等の中長期的な将来予測に関するアンケート調査"
         "（デルファイ調査）を公表しました",
         "STOP！熱中症　クールワークキャンペーン（職場における熱中症予防対策）"),
        _jst_midnight(2025, 5, 22), (".go.jp",), ("外務省",), japanese=True),
        id="gov-online-p1"),
    # No date selector: the date is found in the item's text, '内閣府 2025年5月23日 ...'.
    pytest.param(Listing(
        GOV_P0, GOV_URL, {k: v for k, v in GOV.items() if k != "date"}, 20,
        ("月例経済報告（5月）を掲載しました",), _jst_midnight(2025, 5, 23), (".go.jp",),
        japanese=True),
        id="gov-online-p0-date-from-text"),
    # Articles of every section; <time datetime="2019-05-24T18:25:44+09:00"> on the first four.
    pytest.param(Listing(
        "en_japantimes-homepage.html", "https://www.japantimes.co.jp/",
        {"item": "article", "title": "hgroup > p > a", "link": "hgroup > p > a",
         "date": "time"}, 61,
        ("Japan downgrades prospects for economy due to China-U.S. trade war",
         "As a rare ally on good terms with Trump, Japan has the chance to raise its global "
         "standing"),
        datetime(2019, 5, 24, 9, 25, 44, tzinfo=UTC), ("www.japantimes.co.jp",)),
        id="japantimes-home"),
    # Relative links only: made absolute against the page URL.
    pytest.param(Listing(
        "de_utf8_faz-homepage-listing_trimmed.html", "https://www.faz.net/aktuell/",
        {"item": "article[data-selector=teaser-object]", "title": "a", "link": "a",
         "summary": "p"}, 5,
        ("U-BOOTE FÜR KANADA : Kernstück der gemeinsamen Verteidigung - ohne Trump",
         "U-BOOTE AUS KIEL : TKMS bekommt Zuschlag für Milliarden-Auftrag aus Kanada"),
        None, ("www.faz.net",), ("Deutschland feiert den Zuschlag",)),
        id="faz-relative-links"),
    # Shift_JIS declared, CP932 written ('①', '㍉' in the body), with a <base href>.
    pytest.param(Listing(
        WEBRY, WEBRY_URL,
        {"item": "div#blog", "title": "#blog-head h2", "link": "#blog-head p.response a",
         "date": "#blog-head p.date", "summary": "#blog-body"}, 1,
        ("Perl 5.8.x で shiftjis 、CP932、MacJapanese の違い",),
        _jst_midnight(2008, 2, 5, 0, 14), ("hardsoft.at.webry.info",),
        ("① ② ③", "㍉ ㌔ ㌢", "Shift JISには3種類ある"), japanese=True),
        id="webry-article"),
    pytest.param(Listing(
        WEBRY, WEBRY_URL,
        {"item": "#trackback tr", "title": "td.cont > a", "link": "td.cont > a",
         "date": "td.sub", "summary": "blockquote"}, 1,
        ("ActivePerl 5.8.X　で日本語処理をする",), _jst_midnight(2008, 2, 6, 22, 24),
        ("hardsoft.at.webry.info",), ("標準入出力やPerl/Tkも日本語で",), japanese=True),
        id="webry-trackbacks"),
    pytest.param(Listing(
        WEBRY, WEBRY_URL, {"item": "table#theme li", "title": "a", "link": "a"}, 6,
        ("Shift JIS", "Perl", "日本語", "クイズ", "漢字", "英語"), None,
        ("hardsoft.at.webry.info", "webryblog.biglobe.ne.jp"), japanese=True),
        id="webry-themes"),
    # Previous / next article with their dates in the link text: '前記事(2008/01/31)'.
    pytest.param(Listing(
        WEBRY, WEBRY_URL, {"item": "table.navi td", "title": "a", "link": "a"}, 6,
        ("<< 前記事(2008/01/31)", "ブログのトップへ", "後記事(2008/02/08) >>"),
        _jst_midnight(2008, 1, 31), ("hardsoft.at.webry.info",), japanese=True),
        id="webry-navigation"),
    # charset=x-sjis; half-width kana and IBM extension characters (SJIS FA40-).
    pytest.param(Listing(
        CHUO, CHUO_URL,
        {"item": "body", "title": "h1", "link": "a", "summary": "p:nth-of-type(5)"}, 1,
        ("相手がまともに読めない字",), None, ("www2.chuo-u.ac.jp",),
        ("ｱｲｳｴｵ", "ﾜｦﾝ", "ｧｨｩｪｫｯ"), japanese=True),
        id="chuo-x-sjis-halfwidth-kana"),
    pytest.param(Listing(
        CHUO, CHUO_URL, {"item": "body", "title": "p:nth-of-type(6)", "link": "a"}, 1,
        (), None, ("www2.chuo-u.ac.jp",), japanese=True),
        id="chuo-x-sjis-ibm-extensions"),
    # An article page read as a one-item listing: '2026年7月8日6:23' (6:23 JST: the time
    # after a date is read).
    pytest.param(Listing(
        "ja_utf8_nhk-news-article_trimmed.html",
        "https://news.web.nhk/newsweb/na/na-k10015171421000",
        {"item": "main", "title": "h1", "link": "a", "date": "h1 + div"}, 1,
        ("台風9号 10日以降に沖縄 先島諸島接近へ 非常に強い勢力を維持",),
        _jst_midnight(2026, 7, 8, 6, 23), ("news.web.nhk",), japanese=True),
        id="nhk-article-2026"),
]


@pytest.mark.parametrize("case", LISTINGS)
def test_corpus_listing(corpus: Path, case: Listing) -> None:
    entries = parse_page(_fetched(corpus, case.page, case.url), case.selectors)
    assert len(entries) == case.count
    assert [_flat(e.title) for e in entries[: len(case.titles)]] == list(case.titles)
    assert entries[0].published_at == case.first_date
    for e in entries:
        parts = urlsplit(e.url)
        assert parts.scheme in ("http", "https") and parts.hostname, e.url
        assert parts.hostname.endswith(case.hosts), e.url
        assert e.title and not _MOJIBAKE.search(e.title + e.content_html), e.title
        if case.japanese:
            assert _JAPANESE.search(e.title) or e.title.isascii(), e.title
    for text in case.summary_has:
        assert text in entries[0].content_html


def test_chuo_ibm_extension_characters_are_read(corpus: Path) -> None:
    (entry,) = parse_page(_fetched(corpus, CHUO, CHUO_URL),
                          {"item": "body", "title": "p:nth-of-type(6)", "link": "a"})
    # ⅰ..ⅹ, ㈱ № ℡ and the IBM kanji 纊褜鍈銈 exist in CP932 only, not in Shift_JIS.
    assert entry.title.startswith("ⅰ ⅱ ⅲ ⅳ ⅴ ⅵ ⅶ ⅷ ⅸ ⅹ Ⅰ Ⅱ Ⅲ Ⅳ Ⅴ")
    assert "㈱ № ℡ ∵ 纊 褜 鍈 銈" in entry.title
    assert entry.url == "http://www2.chuo-u.ac.jp/suishin/Yomenai_JIS.html"


@pytest.mark.parametrize(
    ("page", "codec"),
    [(CHUO, "cp932"), (WEBRY, "cp932"), (GOV_P0, "utf-8"),
     ("en_japantimes-homepage.html", "utf-8-sig")],
    ids=["x-sjis-label", "shift_jis-label-cp932-bytes", "utf-8", "utf-8-bom"],
)
def test_page_charset_sniffing(corpus: Path, page: str, codec: str) -> None:
    text, used = decode((corpus / "pages" / page).read_bytes())
    assert used == codec
    assert "\ufffd" not in text


@pytest.mark.parametrize("page", [GOV_P0, GOV_P1], ids=["p0", "p1"])
def test_gov_online_dates_from_text_equal_time_datetime(corpus: Path, page: str) -> None:
    with_attr = parse_page(_fetched(corpus, page, GOV_URL), GOV)
    from_text = parse_page(_fetched(corpus, page, GOV_URL),
                           {k: v for k, v in GOV.items() if k != "date"})
    assert [e.published_at for e in from_text] == [e.published_at for e in with_attr]
    assert all(e.published_at is not None for e in with_attr)


def test_heise_page_is_no_listing(corpus: Path) -> None:
    # The saved heise homepage has an empty <body> (filled by JavaScript): the selectors
    # match nothing, which relay reports as the site having changed.
    with pytest.raises(ParseError, match="matches nothing"):
        parse_page(_fetched(corpus, "de_heise-page.html", "https://www.heise.de/"),
                   {"item": "article", "title": "h3", "link": "a"})


# -- the gov-online-info feed of feeds.yaml, on the corpus copies of its page -------------------


def _gov_online_entries(corpus: Path) -> list[Entry]:
    config = load_config(REPO / "feeds.yaml", env={})
    spec = config.feed("gov-online-info")
    assert spec is not None and spec.kind is FeedKind.PAGE and spec.url
    out: list[Entry] = []
    for page in (GOV_P0, GOV_P1):
        entries = parse_page(_fetched(corpus, page, spec.url, feed_id=spec.id), spec.selectors)
        assert len(entries) == 20, page            # feeds.yaml: "20 items each"
        out += entries
    return out


def test_feeds_yaml_gov_online_selectors_read_the_corpus_pages(corpus: Path) -> None:
    entries = _gov_online_entries(corpus)
    assert {e.feed_id for e in entries} == {"gov-online-info"}
    for e in entries:
        assert _JAPANESE.search(e.title), e.title
        parts = urlsplit(e.url)
        assert parts.scheme in ("http", "https") and parts.hostname, e.url
        assert parts.hostname.endswith(".go.jp"), e.url
        assert e.published_at is not None
        assert _jst_midnight(2025, 5, 1) <= e.published_at <= _jst_midnight(2025, 5, 23)
        # the summary is the ministry's name, as feeds.yaml says
        assert e.content_html and "<" not in e.content_html, e.content_html
    assert len({e.guid for e in entries}) == len(entries)
    first = entries[0]
    assert (first.title, first.url, first.content_html, first.published_at) == (
        "月例経済報告（5月）を掲載しました",
        "https://www5.cao.go.jp/keizai3/getsurei/getsurei-index.html", "内閣府",
        _jst_midnight(2025, 5, 23))
    mofa = [e for e in entries if e.content_html == "外務省"]
    assert mofa and all(urlsplit(e.url).hostname == "www.mofa.go.jp" for e in mofa)


# -- Japanese dates as the corpus pages write them ----------------------------------------------


DATES = [
    # (id, text copied from a corpus page, expected)
    ("gov-online-time-text", "2025年5月23日", _jst_midnight(2025, 5, 23)),
    ("gov-online-time-datetime", "2025-05-23", _jst_midnight(2025, 5, 23)),
    ("gov-online-item-text", "内閣府 2025年5月23日 月例経済報告（5月）を掲載しました",
     _jst_midnight(2025, 5, 23)),
    ("japantimes-iso-jst", "2019-05-24T18:25:44+09:00",
     datetime(2019, 5, 24, 9, 25, 44, tzinfo=UTC)),
    ("webry-created", "作成日時 ： 2008/02/05 00:14", _jst_midnight(2008, 2, 5, 0, 14)),
    ("webry-trackback", "ハードなソフトの話 2008/02/06 22:24", _jst_midnight(2008, 2, 6, 22, 24)),
    ("nhk-published", "2026年7月8日6:23", _jst_midnight(2026, 7, 8, 6, 23)),
    ("nhk-updated", "(2026年7月8日7:10更新)", _jst_midnight(2026, 7, 8, 7, 10)),
    # era year and month without a day (gov-online titles) are no date
    ("era-month-no-day", "機械受注統計調査報告（令和7年3月実績および令和7年4～6月見通し）", None),
    ("era-in-brackets", "2020年基準 消費者物価指数 全国 2025年(令和7年)4月分", None),
    ("era-fiscal-year", "毎月勤労統計調査　令和6年度分結果確報", None),
    # the gov-online item text shape with an era date (no such item on the saved pages)
    ("era-item-text", "外務省 令和7年5月23日 日・パラグアイ首脳会談", _jst_midnight(2025, 5, 23)),
    ("first-date-wins-over-a-later-era-date",
     "環境省 2025年5月23日 令和7年4月1日施行の改正について", _jst_midnight(2025, 5, 23)),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param(text, expected, id=case_id) for case_id, text, expected in DATES],
)
def test_japanese_dates_as_the_pages_write_them(text: str, expected: datetime | None) -> None:
    assert parse_japanese_date(text) == expected
