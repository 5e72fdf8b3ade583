"""Entries -> normalized, tagged, deduplicated items in the archive; and retagging.

`prepare` tokenizes each entry once and hands the tokens to tagging, the story
features and the index; `ingest` stores a feed's new entries in one transaction
(an item whole or not at all), dropping exact copies and joining near-duplicates
to their story; `retag` re-applies the taxonomy from the indexed tokens.
"""

from __future__ import annotations

import logging
import pickle
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from relay import dedup
from relay.errors import CollectError
from relay.models import (
    Config,
    Entry,
    FeedSpec,
    Item,
)
from relay.pipeline import workers
from relay.store import Store
from relay.tag import Taxonomy, compile_taxonomy, tag
from relay.text import canonical_url, content_hash, detect_lang, excerpt, fold, html_to_text
from relay.tokens import tokenize

log = logging.getLogger("relay")


FUTURE_SLACK = timedelta(days=1)


_taxonomies: dict[str, Taxonomy] = {}


def taxonomy_for(config: Config) -> Taxonomy:
    """The compiled taxonomy of a configuration, compiled once per distinct topic list."""
    key = repr(config.topics)
    if key not in _taxonomies:
        _taxonomies[key] = compile_taxonomy(config.topics, tokenize)
    return _taxonomies[key]


@dataclass
class _Prepared:
    item: Item
    features: set[str] = field(default_factory=set)


def prepare(entry: Entry, feed: FeedSpec, taxonomy: Taxonomy, now: datetime) -> _Prepared:
    """Normalize, tokenize once, tag: one entry -> one item ready for dedup and store."""
    title = " ".join(html_to_text(entry.title).split()) or "(untitled)"   # one line
    text = html_to_text(entry.content_html)
    # A declared en/de/fr is trusted unless the text is plainly Japanese; a declared ja
    # is checked too (Japanese sites carry English items).
    hint = entry.lang or feed.lang
    detected = detect_lang(f"{title}\n{text}", hint=hint)
    lang = hint if hint in ("en", "de", "fr") and detected != "ja" else detected
    title_tokens = tokenize(title, lang)
    text_tokens = tokenize(text, lang)
    own = [t for t in entry.topics if t in taxonomy.topic_ids]  # a report's front matter
    tags = tag(title_tokens, text_tokens, taxonomy, feed.topics, own)
    published = entry.published_at or now
    if published > now + FUTURE_SLACK:
        published = now   # publishers post future dates (SOURCES.md hazard 5)
    item = Item(
        feed_id=feed.id, guid=entry.guid, url=canonical_url(entry.url), title=title,
        summary=excerpt(text, 600), text=text, lang=lang, published_at=published,
        collected_at=now, content_hash=content_hash(title, text),
        index_title=" ".join(title_tokens), index_text=" ".join(text_tokens), tags=tags,
    )
    return _Prepared(item, dedup.features(title_tokens, text_tokens))


@dataclass
class Ready:
    """An item prepared for storing: its MinHash signature, LSH band keys and figures."""

    item: Item
    minhash: bytes | None
    band_keys: list[tuple[int, int]]
    figures: set[str]


def prepare_all(feed: FeedSpec, entries: Sequence[Entry], taxonomy: Taxonomy,
                now: datetime) -> list[Ready]:
    """Everything about a batch of entries that needs no archive: pure, so it runs in a
    worker process as well as here. Signatures are computed in bulk (datasketch)."""
    prepared = [prepare(e, feed, taxonomy, now) for e in entries]
    sigs = dedup.signatures(p.features for p in prepared)
    return [Ready(p.item, sig.to_bytes() if sig is not None else None,
                  dedup.bands(sig) if sig is not None else [],
                  dedup.figures([*p.item.index_title.split(), *p.item.index_text.split()]))
            for p, sig in zip(prepared, sigs, strict=True)]


_worker_taxonomies: dict[int, Taxonomy] = {}


def _prepare_in_worker(feed: FeedSpec, entries: Sequence[Entry], key: int, blob: bytes,
                       now: datetime) -> list[Ready]:
    """`prepare_all` in a worker process; the taxonomy arrives pickled and is unpickled
    once per worker (62 KB: 3 ms a time)."""
    taxonomy = _worker_taxonomies.get(key)
    if taxonomy is None:
        _worker_taxonomies.clear()
        taxonomy = _worker_taxonomies[key] = pickle.loads(blob)
    return prepare_all(feed, entries, taxonomy, now)


Parsed = tuple[list[Entry], int | None]     # a document's entries and its <ttl>


def _parse(parse: Callable[[], Parsed]) -> Parsed | CollectError:
    try:
        return parse()
    except CollectError as exc:     # an answer, not a failure of the worker
        return exc


CHUNK = 50                    # entries per job for a worker process
POOL_MIN = 300                # new entries in one run before workers are worth starting
POOL_MIN_BYTES = 600_000      # or bytes of documents to parse (about as many items)
AHEAD = 4000                  # entries prepared ahead of the store at most (bounds memory)
QUEUED = 64                   # feeds queued ahead of the store at most


@dataclass
class Outcome:
    """What became of one feed's batch: its entries (as parsed), what was new and what
    was a duplicate, its <ttl>; or the error that stopped its parse."""

    entries: list[Entry] = field(default_factory=list)
    new: int = 0
    duplicates: int = 0
    ttl: int | None = None
    error: CollectError | None = None


Stored = Callable[[Outcome], None]


@dataclass
class Batch:
    """One feed's entries on their way into the archive."""

    feed: FeedSpec
    stored: Stored
    outcome: Outcome = field(default_factory=Outcome)
    parsing: Future[Parsed | CollectError] | None = None
    parse: Callable[[], Parsed] | None = None
    chunks: list[list[Entry]] = field(default_factory=list)
    jobs: list[Future[list[Ready]]] = field(default_factory=list)

    def parsed(self) -> bool:
        return self.parsing is None

    def ready(self) -> bool:
        return self.parsed() and all(job.done() for job in self.jobs)

    def size(self) -> int:
        return sum(map(len, self.chunks))


class Ingester:
    """Stores feeds' new entries in the order they are added, while worker processes
    (when there are any, and enough work to repay them) parse the documents and prepare
    the entries added after: `add` (entries) or `add_document` (a fetched feed) each
    feed, then `finish`. Each feed's `stored(outcome)` runs right after its transaction
    commits. Without workers every `add` stores at once: the sequential ingest."""

    def __init__(self, store: Store, taxonomy: Taxonomy, now: datetime, workers: int = 0,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.store, self.taxonomy, self.now = store, taxonomy, now
        self.workers, self.should_stop = workers, should_stop
        self._fresh = 0
        self._bytes = 0
        self._blob: bytes | None = None
        self._queue: deque[Batch] = deque()

    def add(self, feed: FeedSpec, entries: Sequence[Entry], stored: Stored,
            ttl: int | None = None) -> None:
        """Queue a feed's entries; store those queued before whose preparing is done."""
        batch = Batch(feed, stored, Outcome(list(entries), ttl=ttl))
        self._start(batch)
        self._queue.append(batch)
        self._drain(block=False)

    def add_document(self, feed: FeedSpec, parse: Callable[[], Parsed], size: int,
                     stored: Stored) -> None:
        """Queue a feed whose entries `parse` (picklable) gives, `size` bytes to parse:
        in a worker when the run is large enough, else here and now."""
        self._bytes += size
        executor = self._executor()
        batch = Batch(feed, stored, parse=parse)
        if executor is not None:
            try:
                batch.parsing = executor.submit(_parse, parse)
            except Exception as exc:   # no pool to be had (a broken one, no forkserver)
                workers.mark_broken(exc)
        if batch.parsing is None:
            self._parsed(batch, _parse(parse))
        self._queue.append(batch)
        self._drain(block=False)

    def finish(self) -> None:
        """Store everything queued (unless told to stop: the rest is dropped unstored)."""
        self._drain(block=True)
        while self._queue:
            self._cancel(self._queue.popleft())

    def _executor(self) -> ProcessPoolExecutor | None:
        """The worker pool: started once the run is large enough, used whenever it is up."""
        if self._fresh < POOL_MIN and self._bytes < POOL_MIN_BYTES:
            return workers.running(self.workers)
        return workers.pool(self.workers)

    def _parsed(self, batch: Batch, result: Parsed | CollectError) -> None:
        batch.parsing = None
        if isinstance(result, CollectError):
            batch.outcome.error = result
        else:
            batch.outcome.entries, batch.outcome.ttl = result
            self._start(batch)

    def _expand_parsed(self) -> None:
        """Documents the workers have parsed go on to be prepared at once."""
        for batch in self._queue:
            if batch.parsing is not None and batch.parsing.done():
                try:
                    result = batch.parsing.result()
                except BrokenProcessPool as exc:
                    workers.mark_broken(exc)
                    assert batch.parse is not None
                    result = _parse(batch.parse)
                self._parsed(batch, result)

    def _await(self, job: Future[Any]) -> None:
        """Wait for `job`, keeping the workers fed: documents parsed meanwhile are sent
        on to be prepared (the store goes in feed order; the workers need not)."""
        while not job.done():
            parsing = [b.parsing for b in self._queue if b.parsing is not None]
            wait([job, *parsing], return_when=FIRST_COMPLETED)
            self._expand_parsed()

    def _drain(self, block: bool) -> None:
        self._expand_parsed()
        while self._queue and not self.should_stop():
            head = self._queue[0]
            if head.parsing is not None:
                if not block and len(self._queue) <= QUEUED:
                    return
                self._await(head.parsing)
                self._expand_parsed()
            crowded = len(self._queue) > QUEUED or sum(b.size() for b in self._queue) > AHEAD
            if not (block or head.ready() or crowded):
                return
            self._queue.popleft()
            if head.outcome.error is None:
                head.outcome.new, stored_dups = self._store(head)
                head.outcome.duplicates += stored_dups
            head.stored(head.outcome)

    def _start(self, batch: Batch) -> None:
        """Drop the entries this feed already gave (by guid) and start preparing the rest."""
        entries = batch.outcome.entries
        seen: set[str] = set()
        fresh: list[Entry] = []
        for e in entries:
            if e.guid not in seen:
                seen.add(e.guid)
                fresh.append(e)
        known = self.store.known_guids(batch.feed.id, [e.guid for e in fresh])
        fresh = [e for e in fresh if e.guid not in known]
        batch.chunks = [fresh[i:i + CHUNK] for i in range(0, len(fresh), CHUNK)]
        batch.outcome.duplicates = len(entries) - len(fresh)
        self._fresh += len(fresh)
        executor = self._executor() if fresh else None
        if executor is not None:
            if self._blob is None:
                self._blob = pickle.dumps(self.taxonomy)
            key = hash(self._blob)
            try:
                batch.jobs = [executor.submit(_prepare_in_worker, batch.feed, chunk, key,
                                              self._blob, self.now) for chunk in batch.chunks]
            except Exception as exc:   # no pool to be had (a broken one, no forkserver)
                workers.mark_broken(exc)
                batch.jobs = []

    def _prepared(self, batch: Batch, i: int) -> list[Ready]:
        if batch.jobs:
            try:
                self._await(batch.jobs[i])
                return batch.jobs[i].result()
            except BrokenProcessPool as exc:
                workers.mark_broken(exc)
        return prepare_all(batch.feed, batch.chunks[i], self.taxonomy, self.now)

    def _store(self, batch: Batch) -> tuple[int, int]:
        """Store a batch's items (in one transaction); returns (new, duplicates)."""
        new = duplicates = 0
        window = self.now - timedelta(days=dedup.STORY_WINDOW_DAYS)
        store = self.store
        with store.transaction():
            batch_hashes: set[str] = set()
            for i in range(len(batch.chunks)):
                if self.should_stop():
                    break
                for ready in self._prepared(batch, i):
                    if self.should_stop():
                        break
                    item = ready.item
                    if item.content_hash in batch_hashes or _archived_copy(store, item) is not None:
                        duplicates += 1
                        continue
                    batch_hashes.add(item.content_hash)
                    story = None
                    if ready.minhash is not None:
                        chosen = dedup.choose_story(
                            dedup.Signature.from_bytes(ready.minhash),
                            store.story_candidates(ready.band_keys, window))
                        story = chosen[0] if chosen else None
                    if story is None and ready.figures:   # the same event in another language?
                        crossed = dedup.choose_cross_story(
                            item.lang, item.index_title.split(), item.index_text.split(),
                            store.cross_candidates(ready.figures, item.lang, window))
                        story = crossed[0] if crossed else None
                    store.insert_item(item, ready.minhash, ready.band_keys, story, ready.figures)
                    new += 1
        self._cancel(batch)
        return new, duplicates

    def _cancel(self, batch: Batch) -> None:
        if batch.parsing is not None:
            batch.parsing.cancel()
        for job in batch.jobs:
            job.cancel()


def ingest(feed: FeedSpec, entries: Sequence[Entry], store: Store, taxonomy: Taxonomy,
           now: datetime, should_stop: Callable[[], bool] = lambda: False,
           workers: int = 0) -> tuple[int, int]:
    """Store the new entries of one feed; returns (new, duplicates)."""
    outcomes: list[Outcome] = []
    ingester = Ingester(store, taxonomy, now, workers, should_stop)
    ingester.add(feed, entries, outcomes.append)
    ingester.finish()
    return (outcomes[0].new, outcomes[0].duplicates) if outcomes else (0, 0)


def _archived_copy(store: Store, item: Item) -> int | None:
    """An archived item that is this one: the same content; or the same canonical URL
    in another feed (the same article through two feeds, retitled or not); or the same
    URL and title in this feed.

    Within one feed the URL alone is not enough: aggregators link several different
    items to one listing page (corpus: the gov-online ministries feed).
    """
    found = store.item_with_hash(item.content_hash)
    if found is not None:
        return found
    title = fold(item.title)
    return next((i for i, t, feed in store.items_with_url(item.url)
                 if feed != item.feed_id or fold(t) == title), None)


def retag(config: Config, store: Store, batch: int = 2000) -> tuple[int, int]:
    """Apply the configured taxonomy to the whole archive again, from the tokens the index
    already holds (no re-tokenizing); topics a report's author gave are kept. Returns
    (items, items whose topics changed)."""
    taxonomy = taxonomy_for(config)
    feed_topics = {f.id: f.topics for f in config.feeds}
    items = changed = 0
    for rows in store.items_for_retag(batch):
        new_tags = {}
        for r in rows:
            tags = tag(r["title_tokens"].split(), r["body_tokens"].split(), taxonomy,
                       feed_topics.get(r["feed_id"], ()), r["report_topics"])
            if {t.topic for t in tags} != set(r["topics"]):
                changed += 1
            new_tags[r["id"]] = tags
        store.replace_tags(new_tags)
        items += len(rows)
    return items, changed
