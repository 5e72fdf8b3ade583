"""Dates as sources write them (relay.collect.dates): every supported form, each with the
string it came from, and what is not a date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from relay.collect.dates import JST, date_in_url, find_date, parse_date, zone_for_lang
from relay.collect.feeds import parse_feed
from relay.models import Fetched

CST = timezone(timedelta(hours=8))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (id, text, zone for a zone-less date, expected UTC) -- "corpus:" names the file it came from
PARSE = [
    # RFC 822 with local names
    ("pt-rfc822 corpus:pt_latin1-undeclared_rss2_uol-noticias",
     "Seg, 24 Set 2018 19:38:00 -0300", UTC, utc(2018, 9, 24, 22, 38)),
    ("de-rfc822 corpus:de_utf8_rss2_contentwind_german-dates",
     "Do, 22 Dez 2016 17:36:00 +0000", UTC, utc(2016, 12, 22, 17, 36)),
    ("fr-rfc822", "jeu., 22 déc. 2016 10:00:00 +0100", UTC, utc(2016, 12, 22, 9, 0)),
    ("es-rfc822", "sáb, 07 ene 2017 10:00:00 +0100", UTC, utc(2017, 1, 7, 9, 0)),
    ("it-rfc822", "sab, 07 gen 2017 10:00:00 +0100", UTC, utc(2017, 1, 7, 9, 0)),
    ("nl-rfc822", "za, 07 jan 2017 10:00:00 +0100", UTC, utc(2017, 1, 7, 9, 0)),
    ("nl-rfc822-mrt", "di, 07 mrt 2017 10:00:00 +0100", UTC, utc(2017, 3, 7, 9, 0)),
    ("ru-rfc822", "Сб, 07 янв 2017 18:20:03 +0300", UTC, utc(2017, 1, 7, 15, 20, 3)),
    ("ru-no-day-name corpus:ru_utf8_rss2_yandex-news",
     "07 Jan 2017 17:12:53 +0300", UTC, utc(2017, 1, 7, 14, 12, 53)),
    ("two-digit-year corpus:en_rss2_neverwinter_relative-links",
     "Thu, 07 Dec 17 10:00:29 -0800", UTC, utc(2017, 12, 7, 18, 0, 29)),
    ("us-zone corpus:en_rss2_pcmag-dvorak_illegally-nested",
     "Wed, 17 Jan 2018 15:50:00 EST", UTC, utc(2018, 1, 17, 20, 50)),
    ("no-seconds corpus:en_utf8_rss2_nasa-image-of-the-day",
     "Fri, 04 Jun 2021 09:17 EDT", UTC, utc(2021, 6, 4, 13, 17)),
    ("rfc822-colon-offset", "Sa, 07 Jan 2017 10:00:00 +09:00", UTC, utc(2017, 1, 7, 1, 0)),
    ("rfc822-no-zone-in-feed-zone", "Mi, 19 Aug 2026 10:00:00", JST, utc(2026, 8, 19, 1, 0)),
    # day, month name, year
    ("pt-long", "7 de janeiro de 2018", UTC, utc(2018, 1, 7)),
    ("es-long-with-time", "19 de agosto de 2026 10:00", UTC, utc(2026, 8, 19, 10, 0)),
    ("it-long", "7 gennaio 2017", UTC, utc(2017, 1, 7)),
    ("de-long", "22. Dezember 2016", UTC, utc(2016, 12, 22)),
    ("ru-long", "7 января 2017 г.", UTC, utc(2017, 1, 7)),
    ("fr-long", "7 février 2017", UTC, utc(2017, 2, 7)),
    ("en-month-first", "January 7, 2017", UTC, utc(2017, 1, 7)),
    # year first
    ("zh-slashes corpus:zh_gb2312_rss2_kc0011", "2020/1/10 14:33:00", CST,
     utc(2020, 1, 10, 6, 33)),
    ("ja-naive-iso corpus:ja_sjis_rss1_yasuhisa", "2006-01-03 21:32:56", JST,
     utc(2006, 1, 3, 12, 32, 56)),
    ("iso-minutes", "2017-01-07 10:00", UTC, utc(2017, 1, 7, 10, 0)),
    ("iso-zone corpus:ja_eucjp_rss1_overcube-blog", "2006-01-01T00:00:00+09:00", UTC,
     utc(2005, 12, 31, 15, 0)),
    ("iso-z corpus:en_atom_google-alerts-slack", "2019-07-10T11:53:37Z", UTC,
     utc(2019, 7, 10, 11, 53, 37)),
    ("iso-date corpus:en_rss1_biorxiv-plant-biology", "2019-08-27", UTC, utc(2019, 8, 27)),
    ("unpadded-dashes", "2017-1-7 10:00", UTC, utc(2017, 1, 7, 10, 0)),
    ("dots", "2017.01.07", UTC, utc(2017, 1, 7)),
    ("ja-kanji corpus:ja_utf8_rss2_gov-online-ministries", "2026年7月2日", JST,
     utc(2026, 7, 1, 15, 0)),
    ("zh-kanji", "2017年1月7日", CST, utc(2017, 1, 6, 16, 0)),
    ("zh-kanji-time", "2017年01月07日 10时30分", CST, utc(2017, 1, 7, 2, 30)),
    ("ja-kanji-time-and-day-name", "2017年1月7日(土) 10時00分", JST, utc(2017, 1, 7, 1, 0)),
    ("ko-hangul", "2017년 1월 7일", JST, utc(2017, 1, 6, 15, 0)),
    ("ko-hangul-time", "2017년 1월 7일 10:00", JST, utc(2017, 1, 7, 1, 0)),
    ("ko-hangul-zone", "2026년 8월 21일 09:00 +09:00", UTC, utc(2026, 8, 21, 0, 0)),
    ("ja-era", "令和8年3月19日", JST, utc(2026, 3, 18, 15, 0)),
    ("ja-era-short", "R8.3.19", JST, utc(2026, 3, 18, 15, 0)),
    ("fullwidth-digits", "２０２６年３月１９日", JST, utc(2026, 3, 18, 15, 0)),
    # day first with dots
    ("de-dots", "07.01.2017 10:00", UTC, utc(2017, 1, 7, 10, 0)),
    ("ru-dots", "07.01.2017", UTC, utc(2017, 1, 7)),
    # no date
    ("empty", "", UTC, None),
    ("words", "yesterday", UTC, None),
    ("ambiguous-slashes", "07/01/2017", UTC, None),
    ("impossible-day", "2017-02-30", UTC, None),
    ("unknown-month", "7 Brumaire 2017", UTC, None),
    ("month-without-day", "令和7年3月", JST, None),
    ("date-then-words", "2017-01-07 and more", UTC, None),
]


@pytest.mark.parametrize(("text", "zone", "expected"),
                         [pytest.param(t, z, e, id=i) for i, t, z, e in PARSE])
def test_parse_date(text, zone, expected):
    assert parse_date(text, zone) == expected


FIND = [
    ("gov-online-item corpus:ja_utf8_gov-online-info-listing_p0",
     "内閣府 2025年5月23日 月例経済報告（5月）を掲載しました", utc(2025, 5, 22, 15, 0)),
    ("ko-in-text", "외교부 2017년 1월 7일 보도자료", utc(2017, 1, 6, 15, 0)),
    ("time-after-date corpus:ja_utf8_nhk-news-article_trimmed", "2026年7月8日6:23",
     utc(2026, 7, 7, 21, 23)),
    ("a-whole-german-date", "22. Dezember 2016", utc(2016, 12, 21, 15, 0)),
    ("a-whole-portuguese-date", "Seg, 24 Set 2018 19:38:00 -0300", utc(2018, 9, 24, 22, 38)),
    ("no-date", "月例経済報告（5月）", None),
]


@pytest.mark.parametrize(("text", "expected"),
                         [pytest.param(t, e, id=i) for i, t, e in FIND])
def test_find_date_in_a_listing_line(text, expected):
    assert find_date(text) == expected


URLS = [
    ("japantimes corpus:en_utf8_rss2_japantimes",
     "http://www.japantimes.co.jp/news/2017/01/07/business/trump-shock/", utc(2017, 1, 7)),
    ("uol corpus:pt_latin1-undeclared_rss2_uol-noticias",
     "https://noticias.uol.com.br/politica/2018/09/24/ibope.htm", utc(2018, 9, 24)),
    ("year-and-month-only corpus:pt_latin1-undeclared_rss2_uol-noticias",
     "https://www1.folha.uol.com.br/poder/2018/09/promotoria.shtml", None),
    ("query-not-path", "https://example.org/a?d=/2017/01/07/", None),
    ("impossible", "https://example.org/2017/02/30/a", None),
    ("none", "https://example.org/article/12345", None),
]


@pytest.mark.parametrize(("url", "expected"), [pytest.param(u, e, id=i) for i, u, e in URLS])
def test_date_in_url(url, expected):
    assert date_in_url(url) == expected


@pytest.mark.parametrize(("lang", "offset"), [
    pytest.param("ja", 9, id="ja"), pytest.param("ko-KR", 9, id="ko"),
    pytest.param("zh-cn", 8, id="zh"), pytest.param("pt-BR", 0, id="pt"),
    pytest.param(None, 0, id="none")])
def test_zone_for_lang(lang, offset):
    assert datetime(2026, 1, 1, tzinfo=zone_for_lang(lang)).utcoffset() == timedelta(hours=offset)


def _feed(language: str, items: str) -> Fetched:
    body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t'
            f'</title><link>https://example.org/</link><language>{language}</language>'
            f"{items}</channel></rss>").encode()
    return Fetched("f", "https://example.org/feed.xml", 200, body)


def test_a_feed_reads_its_dates_and_invents_none():
    entries = parse_feed(_feed("zh-cn", """
      <item><title>a</title><link>https://example.org/a</link>
        <pubDate>2020/1/10 14:33:00</pubDate></item>
      <item><title>b</title><link>https://example.org/b</link>
        <pubDate>Seg, 24 Set 2018 19:38:00 -0300</pubDate></item>
      <item><title>c</title><link>https://example.org/news/2017/01/07/c/</link></item>
      <item><title>d</title><link>https://example.org/d</link></item>
      <item><title>e</title><link>https://example.org/e</link><pubDate>soon</pubDate></item>
    """))
    dates = {e.title: e.published_at for e in entries}
    assert dates == {
        "a": utc(2020, 1, 10, 6, 33),        # feedparser alone says 1 December 2020
        "b": utc(2018, 9, 24, 22, 38),       # feedparser alone reads no Portuguese
        "c": utc(2017, 1, 7),                # the day in its link
        "d": None,                           # no date: none invented
        "e": None,
    }
