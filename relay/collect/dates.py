"""Date strings as sources write them -> aware UTC datetimes, or None.

One job: read the date a publisher wrote, in the forms and languages of the
feeds and pages relay reads (the corpus in ../shared/corpus), and never invent
one. Pure: no clock, no I/O.

Forms read by `parse_date` (the whole string is a date, spaces around it aside):
- ISO 8601 / W3C-DTF: `2017-01-07T10:00:00+09:00`, `2017-01-07 10:00`,
  `2017-01-07`;
- RFC 822 with day and month names in English, German, French, Portuguese,
  Spanish, Italian, Dutch or Russian (`Seg, 24 Set 2018 19:38:00 -0300`,
  `Do, 22 Dez 2016 10:00:00 +0100`), the day name optional and never checked,
  two-digit years as RFC 2822 reads them (`07 Dec 17` is 2017);
- a day, a month name and a year in those languages (`7 de janeiro de 2018`,
  `7 января 2017 г.`, `22. Dezember 2016`), or a month name, a day and a year
  (`January 7, 2017`);
- numbers year first: `2020/1/10 14:33:00`, `2017.01.07`, `2017-1-7 10:00`,
  `2017年1月7日 10時00分`, `2017年1月7日 10时30分`, `2017年1月7日`, `2017년 1월 7일 10:00`, and the
  Japanese eras `令和8年3月19日`, `R8.3.19` (`元` is year 1);
- numbers day first with dots, as in German and Russian: `07.01.2017 10:00`.
Slashed day-first or month-first dates (`07/01/2017`) are ambiguous and are
not read. A time is optional (`10:00`, `10:00:00`, `10時00分`, `10시 00분`);
so is a zone (`+0900`, `+09:00`, `Z`, `GMT`, `UTC`, or a US zone name in
RFC 822). A date with no zone is taken in `zone`, the caller's guess from the
source's language (`zone_for_lang`: Japan and Korea +09:00, China +08:00,
else UTC). An impossible date (`2017-02-30`) is None.

Every date returned is one relay keeps (`models.kept_date`: from 1970 on, never
past the year 9998); any other is None, and no input makes these functions raise (an
offset of +99:00, the year 9999 at -12:00, a struct_time of the year 10**9).
`from_struct_time` and `from_timestamp` read what feedparser and the file system give.

`find_date` reads a text that is a date in any of these forms, else the
first year-first numeric or era date anywhere in it (listing pages:
`2026年3月19日 外務省 ...`). `date_in_url` reads a
`/2017/01/07/` date from a link's path (an entry that has no date of its own
but whose publisher put the day in its address).

Why a table and not dateparser (measured on this machine, December 2026): dateparser
reads these forms too, but loads its locale data on first use (1.36 s per process
with no language given, 0.19 s with one; every ingest worker pays it), takes 10.6 ms
a string against 17 us here (15 s more on the corpus's 1,462 entries, whose whole
collect takes 4 s), brings 10 MB (dateparser, regex, pytz), and guesses where relay
must not: '07/01/2017' becomes 1 July, 'yesterday' reads the clock.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from relay.models import kept_date

JST = timezone(timedelta(hours=9))
_ZONES = {"ja": JST, "ko": JST, "zh": timezone(timedelta(hours=8))}

# Month names and abbreviations (lower case, accents as written); a longer word is read by
# its longest known prefix of 3 or more letters ('setembro' -> 'set', 'janvier' -> 'janv').
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate([
    "jan janv ene gen jän jänner januar janeiro enero gennaio januari янв",
    "feb fév fev févr fevr fevereiro febrero febbraio februari фев",
    "mar mär mrz mars março marzo maart mrt мар",
    "apr avr abr avril abril aprile апр",
    "may mai mei mag maio mayo maggio мая май",
    "jun juin junho junio giu giugno juni июн",
    "jul juil julho julio lug luglio juli июл",
    "aug aoû août aout ago agosto авг",
    "sep sept set setembro septiembre settembre сен",
    "oct okt out outubro octubre ott ottobre oktober окт",
    "nov novembro noviembre novembre ноя",
    "dec dez déc dic dezembro diciembre dicembre december дек",
], start=1):
    for _name in _names.split():
        _MONTHS[_name] = _number
_US_ZONES = {"EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "GMT", "UT", "UTC", "Z"}

_TIME = r"(\d{1,2})\s*[:時时点시]\s*(\d{2})(?:\s*[:分분]\s*(\d{2}))?\s*[分秒분초]?"
_OFFSET = r"(Z|[+-]\d{2}:?\d{2}|GMT|UTC)"
_TAIL = rf"(?:[\sT,]*{_TIME})?\s*{_OFFSET}?"
_YMD = re.compile(
    r"(\d{4})\s*(?:[/.\-]|年|년)\s*(\d{1,2})\s*(?:[/.\-]|月|월)\s*(\d{1,2})\s*[日일]?"
    r"\s*(?:\([^)]{1,3}\)|（[^）]{1,3}）)?")   # a day name in brackets: 2017年1月7日(土)
_ERA = re.compile(r"(令和|平成|R|H)\s*(\d{1,2}|元)\s*[年.]\s*(\d{1,2})\s*[月.]\s*(\d{1,2})\s*日?")
_ERAS = {"令和": 2018, "平成": 1988, "R": 2018, "H": 1988}
_DMY_DOTS = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_WORD = r"([^\W\d_]+)\.?"
_D_MONTH_Y = re.compile(rf"(\d{{1,2}})\.?\s+(?:de\s+)?{_WORD}\s+(?:de\s+)?(\d{{4}})(?:\s*г\.?)?",
                        re.IGNORECASE)
_MONTH_D_Y = re.compile(rf"{_WORD}\s+(\d{{1,2}}),?\s+(\d{{4}})", re.IGNORECASE)
_RFC822 = re.compile(r"(?:[^\W\d_]+\.?\s*,?\s*)?(\d{1,2})\s+([^\W\d_]+)\.?\s+(\d{2}|\d{4})"
                     r"(?:\s+(\d{1,2}:\d{2}(?::\d{2})?))?(?:\s+([+-]\d{2}:?\d{2}|[A-Za-z]{1,5}))?")
_URL_DATE = re.compile(r"/((?:19|20)\d{2})/(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])(?:/|$)")


def zone_for_lang(lang: str | None) -> tzinfo:
    """Where a date without a zone was most likely written, from the source's language."""
    return _ZONES.get((lang or "").lower()[:2], UTC)


def month_number(word: str) -> int | None:
    """1-12 for a month name or abbreviation in one of the module's languages."""
    w = unicodedata.normalize("NFC", word.lower().rstrip("."))
    for k in range(len(w), 2, -1):
        if w[:k] in _MONTHS:
            return _MONTHS[w[:k]]
    return None


def _utc(dt: datetime, zone: tzinfo) -> datetime | None:
    """`dt` (in `zone` when it names none) in UTC, when it is a date relay keeps."""
    return kept_date(dt if dt.tzinfo else dt.replace(tzinfo=zone))


def _make(y: int, mo: int, d: int, hh: str | None, mm: str | None, ss: str | None,
          offset: str | None, zone: tzinfo) -> datetime | None:
    try:
        dt = datetime(y, mo, d, int(hh or 0), int(mm or 0), int(ss or 0))
        if offset and offset.upper() not in ("Z", "GMT", "UTC"):
            sign = 1 if offset[0] == "+" else -1
            digits = offset[1:].replace(":", "")
            tz: tzinfo = timezone(sign * timedelta(hours=int(digits[:2]),
                                                   minutes=int(digits[2:])))
        elif offset:
            tz = UTC
        else:
            tz = zone
    except ValueError:          # no such day, or an offset of a day or more (+99:00)
        return None
    return _utc(dt.replace(tzinfo=tz), zone)


def _numeric(text: str, zone: tzinfo, whole: bool) -> datetime | None:
    era = _ERA.search(text)
    ymd = _YMD.search(text)
    if whole:
        era = _ERA.fullmatch(text) or (era if era and era.start() == 0 else None)
        ymd = ymd if ymd and ymd.start() == 0 else None
    if era and (not ymd or era.start() < ymd.start()):   # the first date wins
        year = 1 if era.group(2) == "元" else int(era.group(2))
        y, mo, d, end = _ERAS[era.group(1)] + year, int(era.group(3)), int(era.group(4)), era.end()
    elif ymd:
        y, mo, d, end = int(ymd.group(1)), int(ymd.group(2)), int(ymd.group(3)), ymd.end()
    else:
        return None
    tail = re.compile(_TAIL).match(text, end)
    if whole and (tail is None or text[tail.end():].strip()):
        return None
    if tail is None:
        return _make(y, mo, d, None, None, None, None, zone)
    return _make(y, mo, d, tail.group(1), tail.group(2), tail.group(3), tail.group(4), zone)


def parse_date(text: str, zone: tzinfo = UTC) -> datetime | None:
    """The date `text` is (see the module's forms), as aware UTC; None when it is none."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text or not any(c.isdigit() for c in text):
        return None
    try:
        iso = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        pass
    else:
        return _utc(iso, zone)
    numeric = _numeric(text, zone, whole=True)
    if numeric:
        return numeric
    m = _DMY_DOTS.match(text)
    if m:
        tail = re.compile(_TAIL).match(text, m.end())
        if tail and not text[tail.end():].strip():
            return _make(int(m.group(3)), int(m.group(2)), int(m.group(1)), tail.group(1),
                         tail.group(2), tail.group(3), tail.group(4), zone)
    return _rfc822(text, zone) or _named(text, zone)


def _rfc822(text: str, zone: tzinfo) -> datetime | None:
    m = _RFC822.fullmatch(text)
    if not m:
        return None
    month = month_number(m.group(2))
    if month is None:
        return None
    day, year, clock = m.group(1), m.group(3), m.group(4) or "00:00"
    tz = (m.group(5) or "").replace(":", "")
    if tz and tz[0] not in "+-" and tz.upper() not in _US_ZONES:
        return None
    if len(year) == 4 and int(year) < 100:
        return None     # the year 1, which the email module would read as two digits: 2001
    english = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
               "Dec"][month - 1]
    try:
        dt = parsedate_to_datetime(f"{day} {english} {year} {clock} {tz or ''}".strip())
    except (TypeError, ValueError, IndexError):
        return None
    return _utc(dt, zone)


def _named(text: str, zone: tzinfo) -> datetime | None:
    for pattern, order in ((_D_MONTH_Y, "dmy"), (_MONTH_D_Y, "mdy")):
        m = pattern.match(text)
        if not m:
            continue
        d, word, y = ((m.group(1), m.group(2), m.group(3)) if order == "dmy"
                      else (m.group(2), m.group(1), m.group(3)))
        month = month_number(word)
        if month is None:
            continue
        rest = text[m.end():]
        tail = re.compile(rf"[\s,]*(?:um|à|às|a las|alle|om|в)?{_TAIL}").match(rest)
        if tail is None or rest[tail.end():].strip(" .,"):
            return None
        return _make(int(y), month, int(d), tail.group(1), tail.group(2), tail.group(3),
                     tail.group(4), zone)
    return None


def find_date(text: str, zone: tzinfo = JST) -> datetime | None:
    """`text` as a date in any of the module's forms, else the first year-first or era
    date anywhere in it (a listing page's line)."""
    text = unicodedata.normalize("NFKC", text).strip()
    return parse_date(text, zone) or _numeric(text, zone, whole=False)


def date_in_url(url: str) -> datetime | None:
    """A `/2017/01/07/` day in a link's path, as midnight UTC; None when there is none."""
    try:
        m = _URL_DATE.search(urlsplit(url).path)
    except ValueError:          # not a URL at all ("http://[www.example.com/x")
        return None
    if not m:
        return None
    try:
        return kept_date(datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                  tzinfo=UTC))
    except ValueError:
        return None


def from_timestamp(seconds: Any) -> datetime | None:
    """Seconds since 1970 (a file's modification time) as UTC, when a date relay keeps."""
    try:
        return kept_date(datetime.fromtimestamp(seconds, tz=UTC))
    except (OverflowError, ValueError, TypeError, OSError):   # OSError: the C library's range
        return None


def from_struct_time(value: Sequence[Any] | None) -> datetime | None:
    """A UTC time tuple, as feedparser gives an entry's date (`published_parsed`), as UTC,
    when a date relay keeps."""
    if not value:
        return None
    try:
        return from_timestamp(calendar.timegm(tuple(value)[:6]))
    except (OverflowError, ValueError, TypeError, IndexError):
        return None
