"""The values that travel through relay's pipeline.

Plain frozen dataclasses and enums, with no behaviour beyond small derived
properties: configuration (Settings, Topic, FeedSpec, Config), collection
(FeedState, Fetched, Entry), the archive (Item, Tag), people and mail
(Subscriber, Story, Digest, Delivery) and run reports (FeedReport).
Times are timezone-aware UTC datetimes, within the range of dates relay keeps
(`kept_date`: a rule the sources and the archive share). This module imports nothing of
relay.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit


class FeedKind(enum.StrEnum):
    RSS = "rss"          # RSS 0.9x/1.0(RDF)/2.0 and Atom: feedparser reads them all
    PAGE = "page"        # an HTML listing page read with CSS selectors
    REPORTS = "reports"  # a folder of report files written by mission staff


class Frequency(enum.StrEnum):
    WEEKLY = "weekly"
    DAILY = "daily"


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


LANGS = ("ja", "en", "de", "fr")      # the taxonomy's: topic labels, terms, excludes
UI_LANGS = ("ja", "en")               # a digest's (items may be in any ISO 639-1 language)

# The dates relay keeps. A date a source gives before EARLIEST, or more than AHEAD after
# the time relay reads it, is a publisher's error, not a date: the item has none (it keeps
# when relay first saw it). LATEST bounds a kept date whatever the clock says: every
# zone's local time of a kept date, and a year added to it, are dates Python can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)


def kept_date(value: datetime | None, now: datetime | None = None) -> datetime | None:
    """`value` in UTC when it is a date relay keeps (EARLIEST <= value < LATEST and, with
    `now`, at most AHEAD after it), else None; a naive value is taken as UTC. Never raises."""
    if value is None:
        return None
    try:
        utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):      # the year 9999 in -12:00 is the year 10000
        return None
    if not EARLIEST <= utc < LATEST or (now is not None and utc > now + AHEAD):
        return None
    return utc


def local_name(names: dict[str, str], lang: str, default: str) -> str:
    """A name in the reader's language, else in English, else the first one given."""
    return names.get(lang) or names.get("en") or next(iter(names.values()), "") or default


@dataclass(frozen=True)
class SmtpSettings:
    url: str = "smtp://127.0.0.1:1025"
    sender: str = "relay@localhost"
    timeout: float = 30.0
    allow_plaintext_auth: bool = False   # user:password over smtp:// without TLS


@dataclass(frozen=True)
class SmtpTarget:
    """A checked SMTP URL."""

    scheme: str                 # smtp | smtps | smtp+starttls
    host: str
    port: int
    user: str | None
    password: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


# An e-mail address relay sends from or to: a dot-atom local part of printable ASCII (no
# control character, space, quote or bracket can reach a header) at a domain of LDH
# labels; 254 characters at most (RFC 5321). The one rule for subscribers, the sender
# and the admin address.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
LOCAL_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def valid_address(address: str, local_domain: bool = False) -> bool:
    """Whether `address` is one relay sends from or to; `local_domain`: a host's own
    mailbox (relay@localhost, the default sender) will do, as for the sender and the
    admin address; a subscriber's needs a dotted domain."""
    pattern = LOCAL_ADDRESS if local_domain else ADDRESS
    return len(address) <= 254 and pattern.fullmatch(address) is not None


def parse_smtp_url(url: str, allow_plaintext_auth: bool = False) -> SmtpTarget:
    """smtp://host[:port], smtps://..., smtp+starttls://..., with optional user:password;
    ValueError says what is wrong without repeating the URL (it may hold a password).
    Credentials over plain smtp:// (no TLS) are refused unless `allow_plaintext_auth`."""
    if any(ch.isspace() or not ch.isprintable() for ch in url.strip()):
        raise ValueError("must not hold spaces or control characters")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise ValueError("must start with smtp://, smtps:// or smtp+starttls://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    if not parts.hostname:
        raise ValueError("names no host (smtp://host:port)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("takes no path, query or fragment (smtp://host:port)")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if bool(user) != bool(password):
        # half the credentials: no login would happen (a password alone was ignored)
        raise ValueError("needs both a user and a password to log in (user:password@host)")
    if user and parts.scheme == "smtp" and not allow_plaintext_auth:
        raise ValueError("sends the password in clear over smtp://: use smtps:// or "
                         "smtp+starttls://, or set settings.smtp.allow_plaintext_auth: true")
    return SmtpTarget(parts.scheme, parts.hostname,
                      port or (465 if parts.scheme == "smtps" else 25), user, password)


@dataclass(frozen=True)
class DigestSettings:
    weekly_day: int = 0            # Monday = 0, as datetime.weekday()
    weekly_time: time = time(8, 0)
    daily_time: time = time(8, 0)
    max_age_days: int = 14
    max_per_topic: int = 10
    send_empty: bool = False       # a short "nothing new on your topics" digest, or none
    max_message_bytes: int = 5_000_000   # one digest's .eml; over it, stories are left out


@dataclass(frozen=True)
class FetchSettings:
    concurrency: int = 10          # requests in flight, all hosts
    per_host: int = 2              # requests in flight to one host
    host_delay: float = 1.0        # seconds between two request starts to one host
    timeout: float = 60.0          # total seconds for one request
    max_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class LimitSettings:
    """Caps on what one source may put in the archive (over a cap: trimmed or skipped,
    and counted on the feed's row)."""

    max_title_chars: int = 500         # a longer title is cut (at a word, with "…")
    max_summary_chars: int = 50_000    # an entry's summary or content, as text: cut
    max_entries: int = 1_000           # entries taken per fetch, newest first: the rest skipped


@dataclass(frozen=True)
class Settings:
    timezone: str = "Asia/Tokyo"
    database: Path = Path("storage/relay.db")
    digests_dir: Path = Path("digests")
    user_agent: str = ""
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    admin_email: str = ""          # who gets the weekly feed-health mail
    base_url: str = ""             # https://... where unsubscribe links are served
    secret: str = ""               # signs unsubscribe links (from the environment)
    workers: int | None = None     # ingest worker processes (None: one per CPU, at most 4)


@dataclass(frozen=True)
class Topic:
    id: str
    labels: dict[str, str]                   # lang -> label
    terms: dict[str, tuple[str, ...]]        # lang -> terms
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels.get("en") or self.id


@dataclass(frozen=True)
class FeedSpec:
    id: str
    name: str
    kind: FeedKind
    url: str | None = None
    path: Path | None = None
    mission: str | None = None
    country: str | None = None
    lang: str | None = None
    topics: tuple[str, ...] = ()
    interval: int = 3600                      # seconds
    enabled: bool = True
    selectors: dict[str, str] = field(default_factory=dict)
    allow_private: bool = False               # may reach loopback/private addresses
    audience: tuple[str, ...] = ()            # subscriber groups that may see it; () = all
    fulltext: bool = False                    # fetch each new item's page for its text
    base_url: str | None = None               # what a path: feed's relative links are under
    names: dict[str, str] = field(default_factory=dict)   # lang -> name, when given so
    site: str | None = None                   # the publisher's web site (OPML htmlUrl)

    @property
    def location(self) -> str:
        return self.url or str(self.path)


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    topics: tuple[Topic, ...]
    feeds: tuple[FeedSpec, ...]
    topics_builtin: bool = True
    missions: dict[str, dict[str, str]] = field(default_factory=dict)  # slug -> lang -> name
    feed_errors: tuple[Exception, ...] = ()   # feed entries left out (ConfigError each)

    def topic(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def feed(self, feed_id: str) -> FeedSpec | None:
        return next((f for f in self.feeds if f.id == feed_id), None)


@dataclass(frozen=True)
class FeedState:
    """What the archive remembers of a feed between runs."""

    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    next_fetch_at: datetime | None = None
    last_ok_at: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    disabled_reason: str | None = None
    moved_to: str | None = None


@dataclass(frozen=True)
class Fetched:
    """The answer for one source: bytes and headers, or 'not modified'."""

    feed_id: str
    url: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    max_age: int | None = None                # Cache-Control max-age, seconds
    moved_to: str | None = None               # final URL when every redirect was permanent
    base_url: str | None = None               # the URL a local file stands for (base_url:)

    @property
    def base(self) -> str:
        """What the document's relative links are relative to, before its own xml:base,
        <base href> or channel link: the URL it was fetched from or stands for."""
        return self.base_url or self.url

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Entry:
    """One parsed entry of a source, before normalizing."""

    feed_id: str
    guid: str
    url: str
    title: str
    content_html: str
    published_at: datetime | None = None
    author: str = ""
    lang: str | None = None
    topics: tuple[str, ...] = ()              # topics the source itself assigns (reports)


@dataclass
class Document:
    """What one source's document gave: its entries (at most `settings.limits.max_entries`,
    newest first), its RSS <ttl> in seconds, why it was read only in part, how many
    entries could not be read (left out, each alone) and how many were over the cap."""

    entries: list[Entry]
    ttl: int | None = None
    partial: str | None = None
    skipped: int = 0
    over_cap: int = 0


@dataclass(frozen=True)
class Tag:
    topic: str
    score: float
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    """One normalized, tagged article or report, ready to store."""

    feed_id: str
    guid: str
    url: str                                  # the link as published (resolved, not rewritten)
    url_key: str                              # text.url_key(url): a duplicate key, never shown
    title: str
    summary: str
    text: str
    lang: str
    published_at: datetime | None             # None: the source gave no date
    collected_at: datetime                    # first seen
    content_hash: str
    index_title: str                          # normalized tokens, space-joined, for FTS
    index_text: str
    tags: tuple[Tag, ...] = ()


@dataclass(frozen=True)
class Subscriber:
    email: str
    topics: tuple[str, ...]
    frequency: Frequency = Frequency.WEEKLY
    ui_lang: str = "ja"
    langs: tuple[str, ...] = ()               # empty: every language
    missions: tuple[str, ...] = ()            # empty: every mission
    countries: tuple[str, ...] = ()           # empty: every country
    name: str = ""
    org: str = ""
    groups: tuple[str, ...] = ()              # need-to-know groups (feeds' audience)
    id: int | None = None
    active: bool = True
    token: str = ""
    last_digest_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class StoryItem:
    """One source's telling of a story, as a digest shows it."""

    item_id: int
    feed_id: str
    feed_name: str
    mission: str | None
    url: str
    title: str
    summary: str
    lang: str
    published_at: datetime | None             # None: the source gave no date
    is_report: bool
    collected_at: datetime | None = None      # first seen


@dataclass(frozen=True)
class Story:
    id: int
    items: tuple[StoryItem, ...]              # best first
    topics: tuple[str, ...]
    score: float = 0.0

    @property
    def lead(self) -> StoryItem:
        return self.items[0]


@dataclass(frozen=True)
class TopicSection:
    topic: Topic
    stories: tuple[Story, ...]
    more: int = 0                             # stories beyond max_per_topic
    trend: tuple[int, ...] = ()               # items per week, oldest first (8 weeks)


@dataclass(frozen=True)
class Digest:
    subscriber: Subscriber
    period: str                               # 2026-W48 or 2026-11-27
    since: datetime
    until: datetime
    sections: tuple[TopicSection, ...]
    subject: str = ""
    html: str = ""
    text: str = ""
    left_out: int = 0                         # stories dropped to keep under size_limit
    size_limit: int = 0                       # bytes (settings.digest.max_message_bytes)

    @property
    def story_ids(self) -> tuple[int, ...]:
        return tuple(s.id for sec in self.sections for s in sec.stories)


@dataclass(frozen=True)
class Delivery:
    id: int
    digest_id: int
    address: str
    status: DeliveryStatus
    attempts: int
    message_id: str
    eml_path: str
    last_error: str | None = None
    period: str = ""                          # its digest's


@dataclass
class FeedReport:
    """What one collect did with one source (mutable while the run fills it)."""

    feed_id: str
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    not_modified: bool = False
    error: str | None = None
    partial: str | None = None      # why the document was read only in part (not an error)
    stage: str | None = None        # where it failed: fetch, parse or store
    skipped: int = 0                # entries that could not be read or stored: left out
    trimmed: int = 0                # entries whose title or summary was cut to its cap
    over_cap: int = 0               # entries beyond settings.limits.max_entries: not taken
    moved_to: str | None = None     # the URL every redirect moved it to (permanently)
    disabled: str | None = None     # why the archive disabled it now (410 Gone)
    interrupted: bool = False       # stopped between items (SIGTERM): read whole next time

    @property
    def ok(self) -> bool:
        return self.error is None


def utc_text(dt: datetime) -> str:
    """A time as relay writes it (the archive, `--json`): UTC to the second with a Z, the
    year in four digits (2026-11-27T03:00:00Z)."""
    d = dt.astimezone(UTC)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"


# -- what the archive answers (Store -> pipeline -> drivers) -----------------------------------


@dataclass(frozen=True)
class SearchHit:
    """One item found by `search`; `snippet` has the query's words marked (empty without a
    query). `published_at` None: the source gave no date (`collected_at`: first seen)."""

    id: int
    feed_id: str
    feed_name: str
    mission: str | None
    country: str | None
    url: str
    title: str
    summary: str
    lang: str
    published_at: datetime | None
    collected_at: datetime | None
    story_id: int | None
    topics: tuple[str, ...]
    rank: float = 0.0
    snippet: str = ""


@dataclass(frozen=True)
class ItemView:
    """One archived item in full, as `show` presents it."""

    id: int
    feed_id: str
    feed_name: str
    mission: str | None
    country: str | None
    guid: str
    url: str
    title: str
    summary: str
    text: str
    lang: str
    published_at: datetime | None
    collected_at: datetime | None
    story_id: int | None
    tags: tuple[Tag, ...]             # each topic, its score and the terms that matched


@dataclass(frozen=True)
class StoryView:
    """One story and every source's telling of it, oldest first."""

    id: int
    items: tuple[SearchHit, ...]

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for i in self.items for t in i.topics))


@dataclass(frozen=True)
class FailingFeed:
    feed: str
    stage: str | None
    error: str | None


@dataclass(frozen=True)
class DigestFailure:
    """A subscriber whose digest could not be built or sent (cleared when it is)."""

    address: str
    stage: str
    period: str | None
    error: str
    at: datetime | None


@dataclass(frozen=True)
class ArchiveStatus:
    """The archive at a glance (`status`)."""

    database: str
    items: int
    stories: int
    multi_source_stories: int
    feeds: int
    failing_feeds: int
    partial_feeds: int
    failing: tuple[FailingFeed, ...]
    last_collected_at: datetime | None
    subscribers: int
    digests: int
    deliveries: dict[str, int]
    digest_failures: tuple[DigestFailure, ...]
    topics: dict[str, int]


@dataclass
class StoryRow:
    """One item of a story in a digest's window, as `Store.story_rows` reads it. The
    pipeline sets its feed's attributes and `tags` as the configuration in force says,
    and `counts`: whether the item is news of the window (`digest.select.counts`)."""

    id: int
    story_id: int
    feed_id: str
    feed_name: str
    feed_kind: str
    mission: str | None
    country: str | None
    url: str
    title: str
    summary: str
    lang: str
    published_at: datetime | None
    collected_at: datetime
    tags: dict[str, float] = field(default_factory=dict)
    audience: tuple[str, ...] = ()
    backlog: bool = False                     # came with its feed's first collection
    counts: bool = True
