"""Pure time maths: when a feed is due, how long a failing feed waits, and
which digest period a moment belongs to.

- A feed is due when it has never been fetched or its `next_fetch_at` has
  passed. After a success the next fetch is `interval` later; after the n-th
  failure in a row it is `interval * 2**(n-1)` later, capped at MAX_BACKOFF.
- A feed is silent when it used to produce items and its newest is older
  than SILENT_GAPS of its usual gaps (the median gap between its items).
- Periods are named in the configured time zone: a weekly period is the ISO
  week (`2026-W48`), a daily one the date (`2026-11-27`).
Every function takes `now` (aware UTC) as a parameter; nothing reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from relay.models import Frequency

MAX_BACKOFF = timedelta(days=1)
SILENT_GAPS = 3
MIN_GAP = timedelta(hours=1)   # a burst of items minutes apart is not the feed's rhythm
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def is_due(next_fetch_at: datetime | None, now: datetime) -> bool:
    return next_fetch_at is None or next_fetch_at <= now


def next_fetch_after_success(now: datetime, interval: int) -> datetime:
    return now + timedelta(seconds=interval)


def next_fetch_after_failure(now: datetime, interval: int, failures: int) -> datetime:
    """`failures` counts this one too (1 on the first failure)."""
    delay = timedelta(seconds=interval) * (2 ** max(0, min(failures - 1, 20)))
    return now + min(delay, max(MAX_BACKOFF, timedelta(seconds=interval)))


def period_of(now: datetime, frequency: Frequency, tz: str) -> str:
    local = now.astimezone(ZoneInfo(tz))
    if frequency is Frequency.WEEKLY:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.date().isoformat()


def parse_period(text: str) -> Frequency:
    """The frequency a period name belongs to; ValueError when it is neither form."""
    problem = ValueError(f"{text!r} is not a period like 2026-W48 or 2026-11-27")
    try:
        m = _WEEK.match(text)
        if m:
            date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)  # validates the week
            return Frequency.WEEKLY
        if _DAY.match(text):
            date.fromisoformat(text)
            return Frequency.DAILY
    except ValueError:
        raise problem from None
    raise problem


def period_bounds(period: str, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of a period in UTC."""
    zone = ZoneInfo(tz)
    m = _WEEK.match(period)
    if m:
        start_day = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        days = 7
    else:
        start_day = date.fromisoformat(period)
        days = 1
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=days)).astimezone(UTC)


def local_time(dt: datetime, tz: str) -> datetime:
    return dt.astimezone(ZoneInfo(tz))


def usual_gap(published: Sequence[datetime]) -> timedelta | None:
    """The median time between a feed's consecutive items (distinct times only), or None
    when there are too few items to tell."""
    times = sorted(set(published))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if len(gaps) < 2:
        return None
    return sorted(gaps)[len(gaps) // 2]


def is_silent(published: Sequence[datetime], now: datetime, gaps: int = SILENT_GAPS) -> bool:
    """A feed that used to produce items and has produced none for `gaps` of its usual gaps
    (a stale feed that still answers 200 is caught here, not by its status)."""
    gap = usual_gap(published)
    if gap is None:
        return False
    return now - max(published) > gaps * max(gap, MIN_GAP)
