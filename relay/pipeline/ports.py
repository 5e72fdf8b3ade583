"""The storage boundary: what the pipeline needs of an archive, as a Protocol.

`relay.store.Store` (SQLite) is the one engine today; a second one (another database, a
test double is not one: tests use the real SQLite file) is added by writing a class with
these methods, and no stage or use case changes. The pipeline's functions take an
`Archive`; only `pipeline.archive.open_archive` names the engine. Whatever an engine
meets in its own library is translated there, once, into relay's errors with a hint
(SQLite: `store.translate`, applied by every public method of the Store): a StoreError
for a failure of the archive, a RefusedError for a value it refuses.

Results are the typed values of `relay.models` (SearchHit, ItemView, StoryView,
ArchiveStatus, StoryRow, Subscriber, Delivery, FeedState), except the rows of the
ingest's and the health report's internals (dicts keyed by column name).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from relay.models import (
    ArchiveStatus,
    Delivery,
    DigestFailure,
    FeedSpec,
    FeedState,
    Item,
    ItemView,
    SearchHit,
    StoryRow,
    StoryView,
    Subscriber,
    Tag,
)


class Archive(Protocol):
    """An open archive (see the module's docstring)."""

    path: Path

    def __enter__(self) -> Archive:
        ...

    def __exit__(self, *exc: object) -> None:
        ...

    def close(self) -> None:
        ...

    def transaction(self) -> AbstractContextManager[None]:
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        ...

    def sync_feeds(self, feeds: Iterable[FeedSpec]) -> None:
        ...

    def feed_locations(self) -> dict[str, str]:
        ...

    def feed_audiences(self) -> dict[str, str]:
        ...

    def feed_state(self, feed_id: str) -> FeedState:
        ...

    def feed_rows(self, now: datetime) -> list[dict[str, Any]]:
        ...

    def recent_published(self, feed_id: str, limit: int = 30) -> list[datetime]:
        ...

    def record_fetch_ok(self, feed_id: str, now: datetime, next_at: datetime,
                        etag: str | None, last_modified: str | None,
                        status: int | None = None, moved_to: str | None = None,
                        partial: str | None = None,
                        counts: tuple[int, int, int] | None = (0, 0, 0)) -> None:
        ...

    def record_fetch_error(self, feed_id: str, now: datetime, next_at: datetime,
                           error: str, status: int | None = None,
                           disabled_reason: str | None = None, stage: str | None = None,
                           counts: tuple[int, int, int] = (0, 0, 0)) -> None:
        ...

    def disabled_feeds(self) -> dict[str, str]:
        ...

    def known_guids(self, feed_id: str, guids: Sequence[str]) -> set[str]:
        ...

    def guid_titles(self, feed_id: str, guids: Sequence[str]) -> dict[str, str]:
        ...

    def items_with_hash(self, content_hash: str, audience: Iterable[str] | None = None,
                        ) -> list[tuple[int, str, str, datetime | None]]:
        ...

    def items_with_url_key(self, key: str,
                           ) -> list[tuple[int, str, str, datetime | None, str, str, str]]:
        ...

    def item_links(self, after: int, batch: int) -> list[tuple[int, str, str, str]]:
        ...

    def set_links(self, links: Iterable[tuple[int, str, str]]) -> None:
        ...

    def story_candidates(self, band_keys: Sequence[tuple[int, int]],
                         since: datetime,
                         ) -> list[tuple[int, int, bytes, str, str, datetime | None, str]]:
        ...

    def body_tokens(self, item_id: int) -> list[str]:
        ...

    def recent_tokens(self, feed_id: str, limit: int) -> list[tuple[str, str]]:
        ...

    def prune_bands(self, before: datetime) -> int:
        ...

    def cross_candidates(self, values: Iterable[str], lang: str, since: datetime,
                         limit: int = 50, around: datetime | None = None,
                         days: float = 7.0) -> list[tuple[int, str, str, str]]:
        ...

    def cross_named(self, keys: Iterable[str], lang: str, since: datetime, limit: int,
                    around: datetime | None = None, days: float = 7.0,
                    ) -> list[tuple[int, str, str, str]]:
        ...

    def name_counts(self, keys: Iterable[str], most: int) -> dict[str, int]:
        ...

    def named_candidates(self, keys: Iterable[str], feed_id: str, since: datetime,
                         around: datetime | None, days: float, least: int,
                         limit: int = 20,
                         ) -> list[tuple[int, str, datetime | None, str, str]]:
        ...

    def insert_item(self, item: Item, minhash: bytes | None,
                    band_keys: Sequence[tuple[int, int]], story_id: int | None,
                    figures: Iterable[str] = (), name_keys: Iterable[str] = ()) -> int:
        ...

    def pending(self, task: str) -> bool:
        ...

    def done(self, task: str) -> None:
        ...

    def meta(self, key: str) -> str | None:
        ...

    def set_meta(self, key: str, value: str) -> None:
        ...

    def drop_signatures(self) -> None:
        ...

    def items_to_sign(self, since: datetime) -> list[tuple[int, str, str, str]]:
        ...

    def set_signature(self, item_id: int, minhash: bytes,
                      band_keys: Sequence[tuple[int, int]]) -> None:
        ...

    def items_for_retag(self, batch: int) -> Iterator[list[dict[str, Any]]]:
        ...

    def replace_tags(self, tags: Mapping[int, Sequence[Tag]]) -> None:
        ...

    def item(self, item_id: int) -> ItemView | None:
        ...

    def story(self, story_id: int) -> StoryView | None:
        ...

    def languages(self) -> list[str]:
        ...

    def search(self, match: str | None, *, topics: Sequence[str] = (),
               feeds: Sequence[str] = (), missions: Sequence[str] = (),
               langs: Sequence[str] = (), countries: Sequence[str] = (),
               story: int | None = None, since: datetime | None = None,
               until: datetime | None = None, limit: int = 20,
               order: str = "rank") -> list[SearchHit]:
        ...

    def export_rows(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        ...

    def story_rows(self, since: datetime, until: datetime, oldest: datetime,
                   topics: Sequence[str]) -> list[StoryRow]:
        ...

    def weekly_topic_counts(self, until: datetime, weeks: int = 8,
                            feeds: Sequence[str] | None = None) -> dict[str, list[int]]:
        ...

    def upsert_subscriber(self, s: Subscriber, now: datetime) -> bool:
        ...

    def deactivate_subscriber(self, email: str) -> bool:
        ...

    def subscribers(self, active_only: bool = True,
                    unreadable: list[tuple[str, str]] | None = None) -> list[Subscriber]:
        ...

    def digest_exists(self, subscriber_id: int, period: str) -> bool:
        ...

    def add_digest(self, *, subscriber_id: int, address: str, period: str, now: datetime,
                   since: datetime, until: datetime, subject: str, paths: dict[str, str],
                   story_ids: Sequence[int], message_id: str) -> int | None:
        ...

    def due_deliveries(self, now: datetime, ignore_retry_time: bool = False) -> list[Delivery]:
        ...

    def waiting_deliveries(self, now: datetime) -> tuple[int, datetime | None]:
        ...

    def claim_owners(self) -> list[str]:
        ...

    def release_claims(self, owner: str) -> int:
        ...

    def claim_delivery(self, delivery_id: int, now: datetime, owner: str,
                       stale_after: timedelta) -> bool:
        ...

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        ...

    def mark_failed(self, delivery_id: int, error: str, next_try_at: datetime | None) -> None:
        ...

    def record_digest_failure(self, address: str, stage: str, period: str, error: str,
                              now: datetime) -> None:
        ...

    def clear_digest_failure(self, address: str, stage: str) -> None:
        ...

    def digest_failures(self) -> list[DigestFailure]:
        ...

    def status(self) -> ArchiveStatus:
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None
              ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Someone's own read-only SQL: its column names and its rows (`relay sql`)."""
        ...

    def item_count(self) -> int:
        """How many items the archive holds (a retag's total)."""
        ...
