"""relay/schedule.py: when a feed is due, backoff, and digest periods in the configured zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relay.models import Frequency
from relay.schedule import (
    MAX_BACKOFF,
    is_due,
    next_fetch_after_failure,
    next_fetch_after_success,
    parse_period,
    period_bounds,
    period_of,
)

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
WEEKLY, DAILY = Frequency.WEEKLY, Frequency.DAILY


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "frequency", "tz", "expected"),
    [
        (utc(2026, 11, 29, 16, 0), WEEKLY, "Asia/Tokyo", "2026-W49"),   # Mon 30 Nov 01:00 JST
        (utc(2026, 11, 29, 16, 0), WEEKLY, "UTC", "2026-W48"),          # still Sunday in UTC
        (utc(2026, 11, 29, 16, 0), DAILY, "Asia/Tokyo", "2026-11-30"),
        (utc(2026, 11, 29, 16, 0), DAILY, "UTC", "2026-11-29"),
        (utc(2026, 11, 29, 14, 59), WEEKLY, "Asia/Tokyo", "2026-W48"),  # Sun 23:59 JST
        (utc(2026, 11, 27, 3, 0), DAILY, "America/New_York", "2026-11-26"),
        (utc(2027, 1, 1, 12, 0), WEEKLY, "Asia/Tokyo", "2026-W53"),     # ISO year, not calendar
        (utc(2026, 1, 1, 12, 0), WEEKLY, "Asia/Tokyo", "2026-W01"),
        (utc(2026, 3, 2, 0, 0), WEEKLY, "Asia/Tokyo", "2026-W10"),      # zero-padded week
    ],
    ids=["weekly-tokyo-already-monday", "weekly-utc-still-sunday", "daily-tokyo-next-day",
         "daily-utc", "weekly-tokyo-last-minute", "daily-new-york-behind", "iso-week-53",
         "first-week", "two-digit-week"],
)
def test_period_of(now: datetime, frequency: Frequency, tz: str, expected: str) -> None:
    assert period_of(now, frequency, tz) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-W48", WEEKLY), ("2026-W53", WEEKLY), ("2026-W01", WEEKLY),
     ("2026-11-27", DAILY), ("2028-02-29", DAILY)],
    ids=["week", "week-53-exists-in-2026", "first-week", "day", "leap-day"],
)
def test_parse_period(text: str, expected: Frequency) -> None:
    assert parse_period(text) is expected


@pytest.mark.parametrize(
    "text",
    ["2025-W53", "2026-W00", "2026-W54", "2026-13-01", "2026-02-30", "2026-w48", "2026-W4",
     "2026-11", "W48", "27.11.2026", "", "2026-11-27 "],
    ids=["no-week-53-in-2025", "week-zero", "week-54", "month-13", "feb-30", "lower-case-w",
         "one-digit-week", "month-only", "week-only", "german-date", "empty", "trailing-space"],
)
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a period"):
        parse_period(text)


@pytest.mark.parametrize(
    ("period", "tz", "start", "end"),
    [
        ("2026-W49", "Asia/Tokyo", utc(2026, 11, 29, 15), utc(2026, 12, 6, 15)),
        ("2026-W48", "UTC", utc(2026, 11, 23), utc(2026, 11, 30)),
        ("2026-11-27", "Asia/Tokyo", utc(2026, 11, 26, 15), utc(2026, 11, 27, 15)),
        ("2026-03-29", "Europe/Berlin", utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),  # 23 h
        ("2026-10-25", "Europe/Berlin", utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),  # 25 h
        ("2026-W53", "Asia/Tokyo", utc(2026, 12, 27, 15), utc(2027, 1, 3, 15)),
    ],
    ids=["week-tokyo", "week-utc", "day-tokyo", "day-dst-starts", "day-dst-ends",
         "week-across-new-year"],
)
def test_period_bounds(period: str, tz: str, start: datetime, end: datetime) -> None:
    assert period_bounds(period, tz) == (start, end)


@pytest.mark.parametrize(
    ("period", "frequency", "tz"),
    [("2026-W49", WEEKLY, "Asia/Tokyo"), ("2026-11-27", DAILY, "Asia/Tokyo"),
     ("2026-03-29", DAILY, "Europe/Berlin"), ("2026-W13", WEEKLY, "America/New_York")],
    ids=["week-tokyo", "day-tokyo", "day-dst", "week-dst"],
)
def test_period_bounds_round_trip(period: str, frequency: Frequency, tz: str) -> None:
    start, end = period_bounds(period, tz)
    assert start.tzinfo is not None and end.tzinfo is not None
    assert period_of(start, frequency, tz) == period
    assert period_of(end - timedelta(microseconds=1), frequency, tz) == period
    assert period_of(end, frequency, tz) != period


@pytest.mark.parametrize(
    ("next_fetch_at", "due"),
    [(None, True), (NOW - timedelta(seconds=1), True), (NOW, True),
     (NOW + timedelta(seconds=1), False)],
    ids=["never-fetched", "past", "exactly-now", "future"],
)
def test_is_due(next_fetch_at: datetime | None, due: bool) -> None:
    assert is_due(next_fetch_at, NOW) is due


def test_next_fetch_after_success() -> None:
    assert next_fetch_after_success(NOW, 3600) == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("interval", "failures", "delay"),
    [
        (3600, 1, timedelta(hours=1)),
        (3600, 2, timedelta(hours=2)),
        (3600, 3, timedelta(hours=4)),
        (3600, 4, timedelta(hours=8)),
        (3600, 5, timedelta(hours=16)),
        (3600, 6, MAX_BACKOFF),          # 32 h capped
        (3600, 50, MAX_BACKOFF),         # no overflow
        (1800, 3, timedelta(hours=2)),
        (6 * 3600, 3, timedelta(hours=24)),
        (6 * 3600, 4, MAX_BACKOFF),      # 48 h capped
    ],
    ids=["first-failure", "second-doubles", "third", "fourth", "fifth", "capped-at-a-day",
         "many-failures", "half-hour-interval", "six-hours-reaches-cap", "six-hours-capped"],
)
def test_backoff(interval: int, failures: int, delay: timedelta) -> None:
    assert next_fetch_after_failure(NOW, interval, failures) == NOW + delay


def test_backoff_never_exceeds_a_day_for_short_intervals() -> None:
    delays = [next_fetch_after_failure(NOW, 600, n) - NOW for n in range(1, 30)]
    assert delays == sorted(delays)
    assert max(delays) == MAX_BACKOFF == timedelta(days=1)
