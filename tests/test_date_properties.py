"""Property tests over date parsing (issue 10): whatever a source writes, reading its date
never raises, and a date read is one relay keeps (`models.kept_date`: from 1970, before
the year 9999, at most a day ahead of the clock when one is given) that reads back from
the archive's form (`store.ts` / `store.from_ts`). A fixed budget, derandomized: the same
examples on every run. Each failure these found is a named case in test_date_range.py's
tables."""

from __future__ import annotations

import string
import time
from datetime import UTC, datetime, timedelta, timezone
from html import escape

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.collect.dates import (
    date_in_url,
    find_date,
    from_struct_time,
    from_timestamp,
    parse_date,
    zone_for_lang,
)
from relay.collect.feeds import read_feed_document
from relay.models import AHEAD, EARLIEST, LATEST, Fetched, kept_date
from relay.store import from_ts, ts

BUDGET = settings(max_examples=250, derandomize=True, deadline=None, database=None)

MONTHS = ["Jan", "Dec", "janvier", "Dez", "setembro", "января", "Foo"]
DAYS = ["Mon", "Fri", "Seg", "Do", ""]
ZONES = st.one_of(
    st.sampled_from([zone_for_lang(x) for x in ("ja", "zh", "ko", "en", None)]),
    st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))),
)
YEAR = st.one_of(st.sampled_from([0, 1, 17, 69, 70, 99, 100, 1969, 1970, 2026, 9998, 9999,
                                   10000, 99999]), st.integers(0, 99999))
MONTH = st.one_of(st.integers(1, 12), st.integers(0, 99))
DAY = st.one_of(st.integers(1, 31), st.integers(0, 99))
HOUR = st.one_of(st.sampled_from([0, 23, 24]), st.integers(0, 99))
MINUTE = st.one_of(st.sampled_from([0, 59, 60]), st.integers(0, 99))
OFFSET = st.one_of(
    st.sampled_from(["", "Z", " GMT", " UTC", " EST", " +0900", " -1200", " +1400", " -2359",
                     " +2400", " +9999", " -0000"]),
    st.builds(lambda s, h, m, colon: f" {s}{h:02d}{':' if colon else ''}{m:02d}",
              st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99), st.booleans()))
FIELDS = (YEAR, MONTH, DAY, HOUR, MINUTE, MINUTE, OFFSET)


def _iso(y, mo, d, h, mi, s, off):
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{off.strip()}"


def _rfc822(day, d, mon, y, h, mi, s, off):
    return f"{day + ', ' if day else ''}{d:02d} {mon} {y:04d} {h:02d}:{mi:02d}:{s:02d}{off}"


def _japanese(y, mo, d, h, mi, s, off):
    return f"{y}年{mo}月{d}日 {h}時{mi:02d}分{off}"


def _dotted(y, mo, d, h, mi, s, off):
    return f"{d:02d}.{mo:02d}.{y} {h:02d}:{mi:02d}{off}"


def _era(y, mo, d, h, mi, s, off):
    return f"R{y % 100}.{mo}.{d}"


DATE_LIKE = st.one_of(
    st.builds(_iso, *FIELDS),
    st.builds(_rfc822, st.sampled_from(DAYS), DAY, st.sampled_from(MONTHS), *FIELDS[:1],
              *FIELDS[3:]),
    *(st.builds(f, *FIELDS) for f in (_japanese, _dotted, _era)),
)
TEXT = st.one_of(st.text(), DATE_LIKE, st.text(alphabet=string.digits + " -/.:T+Z年月日,"))


def _kept(value: datetime | None, now: datetime | None = None) -> None:
    """`value` is no date, or a date relay keeps that reads back from the archive."""
    if value is None:
        return
    assert value.utcoffset() == timedelta(0)
    assert EARLIEST <= value < LATEST
    if now is not None:
        assert value <= now + AHEAD
    assert from_ts(ts(value)) == value.replace(microsecond=0)


@BUDGET
@given(TEXT, ZONES)
def test_parse_date_never_raises_and_keeps_only_sane_dates(text, zone):
    _kept(parse_date(text, zone))


@BUDGET
@given(TEXT, ZONES)
def test_find_date_never_raises_and_keeps_only_sane_dates(text, zone):
    _kept(find_date(text, zone))


@BUDGET
@given(st.one_of(st.text(), st.builds(lambda y, m, d, rest: f"https://x.example/{y}/{m}/{d}/{rest}",
                                      YEAR, MONTH, DAY, st.text())))
def test_date_in_url_never_raises_and_keeps_only_sane_dates(url):
    _kept(date_in_url(url))


ANY = st.one_of(st.integers(), st.floats(allow_nan=True), st.none(), st.text(max_size=3))


@BUDGET
@given(st.one_of(
    st.lists(st.one_of(st.integers(), YEAR), max_size=12).map(tuple),
    st.lists(ANY, max_size=12).map(tuple),
    st.tuples(*[st.integers()] * 9).map(time.struct_time),
    st.tuples(st.integers(-99999, 99999), MONTH, DAY, HOUR, MINUTE, MINUTE, *[DAY] * 3
              ).map(time.struct_time),
))
def test_from_struct_time_never_raises_and_keeps_only_sane_dates(value):
    _kept(from_struct_time(value))


@BUDGET
@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-10**12, 10**12), ANY))
def test_from_timestamp_never_raises_and_keeps_only_sane_dates(seconds):
    _kept(from_timestamp(seconds))


@BUDGET
@given(st.one_of(st.datetimes(), st.datetimes(timezones=ZONES)),
       st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1)))
def test_kept_date_never_raises_and_bounds_what_it_keeps(value, now):
    _kept(kept_date(value, now.replace(tzinfo=UTC)), now.replace(tzinfo=UTC))


@BUDGET
@given(st.one_of(st.text(), st.builds(_iso, *FIELDS[:-1], st.just("Z"))))
def test_any_stored_text_reads_as_a_kept_date_or_none(text):
    _kept(from_ts(text))


@BUDGET
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31)))
def test_every_kept_date_reads_back_from_the_archive(value):
    value = value.replace(tzinfo=UTC)
    assert from_ts(ts(value)) == value.replace(microsecond=0)


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(st.lists(TEXT, min_size=1, max_size=3), st.sampled_from(["pubDate", "dc:date"]))
def test_a_feed_entry_dated_anyhow_is_read_with_a_sane_date_or_none(dates, element):
    items = "".join(f"<item><title>t{n}</title><link>https://x.example/{n}</link>"
                    f"<{element}>{escape(_xml_chars(d))}</{element}></item>"
                    for n, d in enumerate(dates))
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>x</title>'
            f"<link>https://x.example/</link>{items}</channel></rss>").encode()
    entries, _ttl, _partial = read_feed_document(
        Fetched("f", "https://x.example/feed", 200, body))
    for entry in entries:
        _kept(entry.published_at)


def _xml_chars(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (a feed that has them is another
    test's business: salvage)."""
    return "".join(c for c in text if c in "\t\n\r" or " " <= c <= "\ud7ff"
                   or "\ue000" <= c <= "\ufffd" or c >= "\U00010000")
