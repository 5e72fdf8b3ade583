"""Dates outside the sane range (before 1970, more than a day ahead) are no date, from every
source (feeds, pages, report files); a stored time that cannot be read never stops a
command; archives that hold such values are repaired by a migration (issue 10, point 1 and
the date part of point 3)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay import store as store_module
from relay.cli import main
from relay.collect.dates import date_in_url, find_date, from_struct_time, from_timestamp, parse_date
from relay.collect.feeds import read_feed_document
from relay.collect.fetch import retry_after
from relay.collect.reports import check_report
from relay.errors import ParseError
from relay.models import Fetched, kept_date
from relay.store import Store, from_ts, ts

NOW = datetime.now(UTC)
GOOD = NOW - timedelta(days=1)
BAD_DATES = {   # title: the date its feed gives
    "Quantum lab dated the year 1": "Mon, 01 Jan 0001 00:00:00 GMT",
    "Quantum network dated the last second of 9999": "Fri, 31 Dec 9999 23:59:59 -1200",
    "Quantum sensing dated before 1970": "Wed, 31 Dec 1969 23:59:59 GMT",
    "Quantum chip dated next year": format_datetime(NOW + timedelta(days=365)),
}
GOOD_TITLE = "Quantum computing centre opens"


def _rss(items: dict[str, str]) -> str:
    body = "".join(
        f"<item><title>{title}</title><link>https://mission.example/{n}</link>"
        f"<description>{title}: the quantum computing news of the week, item {n}.</description>"
        f"<pubDate>{date}</pubDate></item>"
        for n, (title, date) in enumerate(items.items()))
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<title>Mission news</title><link>https://mission.example/</link>"
            f"<description>news</description>{body}</channel></rss>")


@pytest.fixture
def site(tmp_path: Path, http_server) -> Path:
    url = http_server.add("/mixed.rss", _rss({**BAD_DATES, GOOD_TITLE: format_datetime(GOOD)}))
    return _config(tmp_path, f"""
  - id: mixed
    name: Mission news
    url: {url}
    allow_private: true   # the test server is on 127.0.0.1
    kind: rss
    topics: [quantum]
""")


def _config(folder: Path, feeds: str) -> Path:
    """feeds.yaml in `folder` with these feeds, its archive and digests beside it."""
    config = folder / "feeds.yaml"
    config.write_text(f"""
settings:
  timezone: Asia/Tokyo
  database: {folder / 'relay.db'}
  digests_dir: {folder / 'digests'}
  smtp: {{url: "smtp://127.0.0.1:1", sender: "relay@example.org"}}
  fetch: {{host_delay: 0}}
feeds:{feeds}""", encoding="utf-8")
    return config


def _relay(config: Path, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), *args])


def _readers_work(config: Path) -> None:
    """Every command that reads the archive's times exits 0, with no traceback."""
    assert _relay(config, "subscribe", "reader@uni.example", "--topics",
                  "quantum").exit_code == 0
    with sqlite3.connect(config.parent / "relay.db") as conn:
        item_ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id")]
    for args in (["digest", "build"], ["digest", "preview", "--subscriber", "reader@uni.example"],
                 ["search", "quantum"], ["search", "quantum", "--order", "date"],
                 ["feeds"], ["feeds", "--json"], ["export"], ["status"],
                 *(["show", str(i)] for i in item_ids)):
        result = _relay(config, *args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "Traceback" not in result.output, (args, result.output)


def test_items_dated_out_of_range_are_kept_undated_and_every_command_works(site):
    collected = _relay(site, "collect")
    assert collected.exit_code == 0, (collected.output, collected.exception)
    with sqlite3.connect(site.parent / "relay.db") as conn:
        rows = dict(conn.execute("SELECT title, published_at FROM items"))
        seen = {r[0] for r in conn.execute("SELECT collected_at FROM items")}
    assert rows == {**dict.fromkeys(BAD_DATES), GOOD_TITLE: store_module.ts(GOOD)}
    assert len(seen) == 1 and store_module.from_ts(seen.pop()) is not None   # first seen kept
    _readers_work(site)
    shown = _relay(site, "show", "1")
    assert "published: unknown (first seen" in shown.output


def test_commands_survive_times_in_the_archive_that_cannot_be_read(site, caplog):
    """An archive written before the fix (or by hand): its unreadable times are no date,
    each named in a warning."""
    assert _relay(site, "collect").exit_code == 0
    with sqlite3.connect(site.parent / "relay.db") as conn:
        conn.execute("UPDATE items SET published_at = '1-01-01T00:00:00Z' WHERE id = 1")
        conn.execute("UPDATE items SET published_at = 'the day before yesterday' WHERE id = 2")
        conn.execute("UPDATE items SET published_at = '2026-02-30T00:00:00Z' WHERE id = 3")
        conn.execute("UPDATE feeds SET next_fetch_at = '99999-01-01T00:00:00Z',"
                     " last_ok_at = 'soon', first_collected_at = '1-01-01T00:00:00Z'")
    _readers_work(site)
    shown = _relay(site, "show", "1")
    assert "published: unknown (first seen" in shown.output
    assert ("the archive holds the time 'the day before yesterday', which relay cannot read"
            in caplog.text)
    exported = {r["id"]: r["published_at"] for r in map(json.loads, _relay(
        site, "export").output.splitlines())}
    assert exported[1] is exported[2] is exported[3] is None
    assert exported[5] == store_module.ts(GOOD)


def test_migration_repairs_dates_that_cannot_be_read_back(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    ours = next(n for n, m in enumerate(store_module.MIGRATIONS, start=1)
                if isinstance(m, str) and "published_at < '1970-01-01T00:00:00Z'" in m)
    for number, script in enumerate(store_module.MIGRATIONS[:ours - 1], start=1):
        if callable(script):
            script(conn)
        else:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO feeds (id, name, url, kind) VALUES ('f', 'F', 'https://f.example/',"
                 " 'rss')")
    published = {
        1: "1-01-01T00:00:00Z",          # the year 1 as strftime wrote it
        2: "0001-01-01T00:00:00Z",       # readable, but before 1970
        3: "1969-12-31T23:59:59Z",
        4: "2026-02-30T00:00:00Z",       # no such day
        5: "10000-01-01T00:00:00Z",
        6: "2026-08-01 10:00:00",        # not the stored form
        7: "2026-09-01T00:00:00Z",       # more than a day after it was collected
        8: "2026-08-01T10:00:00Z",       # good
        9: "1970-01-01T00:00:00Z",       # good: the first second of the range
        10: "2026-08-03T00:00:00Z",      # good: a day after it was collected
        11: None,
    }
    for item_id, value in published.items():
        conn.execute(
            "INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang,"
            " published_at, collected_at, content_hash) VALUES"
            " (?, 'f', ?, 'https://f.example/', 't', '', '', 'en', ?, '2026-08-02T00:00:00Z',"
            " ?)", (item_id, str(item_id), value, str(item_id)))
    conn.commit()
    conn.close()
    with Store(db) as store:
        rows = dict(store.conn.execute("SELECT id, published_at FROM items"))
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(
            store_module.MIGRATIONS)
    assert rows == {**dict.fromkeys(range(1, 8)), 8: "2026-08-01T10:00:00Z",
                    9: "1970-01-01T00:00:00Z", 10: "2026-08-03T00:00:00Z", 11: None}


PAGE_DATES = {   # title: the <time> of its listing line (attribute, text)
    "Quantum lab listed on the year 1": ("0001-01-01T00:00:00+09:00", "0001年1月1日"),
    "Quantum network listed on the last day of 9999": ("9999-12-31T23:59:59-12:00", ""),
    "Quantum sensing listed in 1969": ("", "1969年12月31日"),
    "Quantum chip listed for next year": ("", f"{NOW.year + 1}年1月1日"),
    "Quantum centre listed yesterday": (GOOD.isoformat(), ""),
}
REPORT_DATES = {   # file: its front matter's date
    "year-1.md": "0001-01-01",
    "year-9999.md": "9999-12-31T23:59:59-12:00",
    "rfc822-year-1.md": "'Mon, 01 Jan 0001 00:00:00 GMT'",
    "before-1970.md": "1969-12-31",
}
SAVED = (NOW - timedelta(hours=3)).replace(microsecond=0)   # the reports' modification time


@pytest.fixture
def sources(tmp_path: Path, http_server) -> Path:
    lines = "".join(f'<li><a href="/news/{n}">{title}</a> <time datetime="{attr}">{text}</time>'
                    "</li>" for n, (title, (attr, text)) in enumerate(PAGE_DATES.items()))
    page = http_server.add("/news.html", f"<html><body><ul class='list'>{lines}</ul></body></html>",
                           content_type="text/html; charset=utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, date in REPORT_DATES.items():
        (inbox / name).write_text(f"---\ntitle: Report {name}\ndate: {date}\n---\nQuantum news.\n",
                                  encoding="utf-8")
        os.utime(inbox / name, (SAVED.timestamp(), SAVED.timestamp()))
    (inbox / "saved-in-1969.md").write_text("---\ntitle: Report saved in 1969\n---\nQuantum.\n",
                                            encoding="utf-8")
    os.utime(inbox / "saved-in-1969.md", (-86400, -86400))
    return _config(tmp_path, f"""
  - id: listing
    url: {page}
    allow_private: true   # the test server is on 127.0.0.1
    kind: page
    selectors: {{item: "ul.list li", title: a, link: a, date: time}}
    topics: [quantum]
  - id: reports
    path: {inbox}
    kind: reports
    topics: [quantum]
""")


def test_pages_and_reports_dated_out_of_range_are_kept_undated(sources):
    """A listing page's dates and a report's front matter: out of range is no date (a report
    then has its file's modification time, as one without a date has), never an error."""
    collected = _relay(sources, "collect")
    assert collected.exit_code == 0, (collected.output, collected.exception)
    with sqlite3.connect(sources.parent / "relay.db") as conn:
        rows = dict(conn.execute("SELECT title, published_at FROM items"))
    saved = store_module.ts(SAVED)
    assert rows == {**dict.fromkeys(list(PAGE_DATES)[:4]),
                    "Quantum centre listed yesterday": store_module.ts(GOOD),
                    **{f"Report {name}": saved for name in REPORT_DATES},
                    "Report saved in 1969": None}
    assert not list((sources.parent / "inbox" / "rejected").glob("*.md"))
    _readers_work(sources)


@pytest.mark.parametrize(
    ("date", "problem"),
    [("0001-01-01", "date datetime.date(1, 1, 1) is not a date like 2026-11-24 (from 1970 on)"),
     ("9999-12-31T23:59:59-12:00", "is not a date like 2026-11-24"),
     ("'Mon, 01 Jan 0001 00:00:00 GMT'", "is not a date like 2026-11-24"),
     ("1969-12-31", "is not a date like 2026-11-24")],
    ids=["year-1", "year-9999-west", "rfc822-year-1", "before-1970"],
)
def test_submit_refuses_a_report_dated_out_of_range(tmp_path, date, problem):
    report = tmp_path / "report.md"
    report.write_text(f"---\ntitle: A report\ndate: {date}\ntopics: [quantum]\n---\nText.\n",
                      encoding="utf-8")
    with pytest.raises(ParseError, match=re.escape(problem)):
        check_report(report, {"quantum"})


JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("read", "value", "expected"),
    [
        # the two dates
        (parse_date, "Mon, 01 Jan 0001 00:00:00 GMT", None),       # was 2001: read as '01'
        (parse_date, "Fri, 31 Dec 9999 23:59:59 -1200", None),     # OverflowError
        # found by test_date_properties.py
        (parse_date, "0001/1/010:00:00-2400", None),               # ValueError: a day's offset
        (parse_date, "0001/1/010:00:00", None),                    # OverflowError in +09:00
        (parse_date, "0001-01-0100000", None),
        (parse_date, "000110010000000", None),                     # the year 1, kept
        (find_date, "0001/1/1", None),                             # OverflowError in +09:00
        (find_date, "00010101", None),
        (date_in_url, "/1900/1/1", None),
        (from_struct_time, (1, 1, 0, -18_824_438_465_016, 0, -1, 0, 0, 0), None),   # OSError
        (from_struct_time, (1, 1, 0, 24, 0, 0, 0, 0, 0), None),   # the year 1, kept
        (from_ts, "0000-1-1T0:0:0Z", None),                        # ValueError: year 0
        (from_ts, "0", None),                                      # ValueError
        # the edges of the range
        (parse_date, "1969-12-31T23:59:59Z", None),
        (parse_date, "1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        (parse_date, "Thu, 01 Jan 1970 09:00:00 +0900", datetime(1970, 1, 1, tzinfo=UTC)),
        (parse_date, "Wed, 31 Dec 69 23:59:59 GMT", None),         # two digits: 1969
        (parse_date, "9998-12-31T23:59:59Z", datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (parse_date, "9998-12-31T23:59:59-12:00", None),           # the year 9999 in UTC
        (from_struct_time, (2026, 11, 30, 10, 0, 0, 0, 334, 0),
         datetime(2026, 11, 30, 10, tzinfo=UTC)),
        (from_timestamp, 0, datetime(1970, 1, 1, tzinfo=UTC)),
        (from_timestamp, -1, None),
        (from_timestamp, float("nan"), None),
        (from_timestamp, 1e20, None),                              # OverflowError
        (from_ts, "1-01-01T00:00:00Z", None),                      # what strftime wrote
        (from_ts, "2026-02-30T00:00:00Z", None),
        (from_ts, "9999-06-01T00:00:00Z", None),
        (from_ts, "2026-11-30T10:00:00Z", datetime(2026, 11, 30, 10, tzinfo=UTC)),
    ],
    ids=["rfc822-year-1", "rfc822-9999-west",
         "offset-of-a-day", "year-1-in-japan", "iso-compact-time-year-1", "iso-compact-year-1",
         "find-year-1-in-japan", "find-compact-year-1", "url-1900",
         "struct-huge-hour", "struct-year-1", "stored-year-0", "stored-digit",
         "before-1970", "first-second", "first-second-in-japan", "two-digit-69",
         "last-kept-second", "9999-in-utc", "struct-good", "timestamp-0", "timestamp-before",
         "timestamp-nan", "timestamp-huge", "stored-strftime-year-1", "stored-no-such-day",
         "stored-9999", "stored-good"],
)
def test_dates_read_are_kept_or_none(read, value, expected):
    """Every reader of dates: a date relay keeps, or None; never an exception."""
    if read in (parse_date, find_date):
        assert read(value, JST) == expected
    else:
        assert read(value) == expected


@pytest.mark.parametrize(
    ("published", "expected"),
    [(NOW + timedelta(days=1), NOW + timedelta(days=1)),
     (NOW + timedelta(days=1, seconds=1), None),
     (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)),
     (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), None),
     (datetime(1, 1, 1, tzinfo=JST), None),                      # year 0 in UTC: no error
     (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=12))), None),
     (datetime(2026, 11, 30, 10), datetime(2026, 11, 30, 10, tzinfo=UTC))],   # naive: UTC
    ids=["a-day-ahead", "a-day-and-a-second-ahead", "1970", "before-1970", "year-1-in-japan",
         "year-10000-in-utc", "naive"],
)
def test_kept_date(published, expected):
    assert kept_date(published, NOW) == expected


@pytest.mark.parametrize(
    ("value", "stored"),
    [(datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),   # strftime wrote '1-01-01...'
     (datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "0999-12-31T23:59:59Z"),
     (datetime(2026, 11, 30, 19, 0, tzinfo=JST), "2026-11-30T10:00:00Z")],
    ids=["year-1", "year-999", "from-japan"],
)
def test_stored_times_have_four_digit_years(value, stored):
    assert ts(value) == stored


def test_a_feed_entry_dated_0001_has_no_date():
    """Found by test_date_properties.py: feedparser reads a bare '0001' as the year 1."""
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
            b"<title>t</title><link>https://x.example/1</link><pubDate>0001</pubDate>"
            b"</item></channel></rss>")
    (entry,), _ttl, _partial = read_feed_document(Fetched("f", "https://x.example/", 200, body))
    assert entry.published_at is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("Fri, 31 Dec 9999 23:59:59 -1200", None), ("Mon, 01 Jan 0001 00:00:00 +1400", 0.0),
     ("²", None), ("120", 120.0), ("", None)],
    ids=["9999-west", "year-1-east", "superscript-two", "seconds", "empty"],
)
def test_retry_after_never_raises(value, seconds):
    """A server's Retry-After: a date or seconds; anything else is none ('²' is a digit to
    str.isdigit, not to float)."""
    waited = retry_after(value, NOW)
    assert waited == seconds or (seconds is None and value and waited and waited > 0)


def test_search_dates_out_of_range_ask_for_everything_up_to_the_edge(site):
    assert _relay(site, "collect").exit_code == 0
    everything = _relay(site, "search", "quantum", "--format", "json").output
    for args in (["--since", "0001-01-01"], ["--until", "9999-12-31"],
                 ["--since", "99999999999d"], ["--since", "1969-12-31", "--until", "9999-12-31"]):
        result = _relay(site, "search", "quantum", "--format", "json", *args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert result.output == everything, args
    refused = _relay(site, "search", "quantum", "--since", "²d")
    assert refused.exit_code == 2 and "is not a date like 2026-11-01 or 7d" in refused.output
