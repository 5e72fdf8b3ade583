"""Entries -> normalized, tagged, deduplicated items in the archive; and retagging.

`prepare` tokenizes each entry once and hands the tokens to tagging, the story
features and the index; `ingest` stores a feed's new entries in one transaction
(an item whole or not at all), dropping exact copies (the guid within the feed,
the content hash, the URL key: see `_archived_copy`; two entries of one feed with
different titles are never copies, see `told_apart`) and joining near-duplicates
to their story; `retag` re-applies the taxonomy from the indexed tokens;
`key_links`, once after migration 11, gives archived rows their links back from
their guids where it can, and the others a key that meets their link with `www.`.
An item's `published_at` is the entry's date as the source gave it, or None (no
date, or one out of the range relay keeps, `models.kept_date`: before 1970 or more
than a day ahead; never the collection time); `collected_at` is
when relay first saw it.
"""

from __future__ import annotations

import logging
import math
import pickle
import re
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from relay import dedup
from relay.collect.feeds import newest
from relay.errors import CollectError, ParseError
from relay.models import (
    Config,
    Document,
    Entry,
    FeedKind,
    FeedSpec,
    Item,
    LimitSettings,
    kept_date,
)
from relay.pipeline import workers
from relay.pipeline.ports import Archive
from relay.pipeline.progress import OnProgress, Tally
from relay.store import ARCHIVE_ERRORS, SYSTEM_ERRORS, audience_key, old_key
from relay.tag import Taxonomy, compile_taxonomy, tag
from relay.text import content_hash, detect_lang, excerpt, fold, html_to_text, url_key
from relay.tokens import tokenize

log = logging.getLogger("relay")


CAPS = LimitSettings()          # the default caps (settings.limits)
_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'）」]+", re.IGNORECASE)


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
    figures: set[str] = field(default_factory=set)
    trimmed: bool = False       # its title or text was cut to its cap
    names: set[str] = field(default_factory=set)
    told: dedup.Told = ((), ())     # its Latin-script names (dedup.latin_told)


def cap(text: str, limit: int) -> str:
    """`text` at most `limit` characters: cut at the last space of its last fifth (else
    anywhere) and ended with "…"."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ", limit * 4 // 5)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


# Markup around a text rarely outweighs it 10 to 1: an entry's HTML is cut there before it
# is read as text, so a 10 MB summary costs what its cap does.
HTML_PER_CHAR = 10

# Reports in another language found by names, those sharing most names first: each is
# scored (dedup.cross_score), and a name shared by many items (a place) would bring many.
NAME_CANDIDATES = 10


def _title(entry: Entry) -> str:
    """The title as stored: plain text on one line."""
    return " ".join(html_to_text(entry.title).split()) or "(untitled)"


def told_apart(entries: Sequence[Entry], archived: Mapping[str, str]) -> list[Entry]:
    """The entries, those whose guid is only their link renamed `<link>#<title>` when
    that guid already names an entry of the feed with another title (earlier in the
    document, or in the archive: `archived` maps such guids to their stored titles).

    A feed without ids gets its links as guids, and an aggregator links several notices
    to one listing page (corpus: gov-online, 3 notices on bousai.go.jp/index.html in one
    snapshot): two entries of one feed with different titles are never one entry. An
    entry with an id of its own keeps it (a retitled entry is the same entry)."""
    owners = {guid: fold(title) for guid, title in archived.items()}
    out: list[Entry] = []
    for e in entries:
        if e.url and e.guid == e.url:
            title = _title(e)
            if owners.setdefault(e.guid, fold(title)) != fold(title):
                e = replace(e, guid=f"{e.url}#{title}")
        out.append(e)
    return out


def listing_keys(entries: Sequence[Entry]) -> set[str]:
    """The URL keys that one document gives to entries of different titles: listing
    pages, not articles (see `_archived_copy`)."""
    keys = [url_key(e.url) if e.url else "" for e in entries]
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    titles: dict[str, set[str]] = {}
    for key, e in zip(keys, entries, strict=True):
        if key and counts[key] > 1:
            titles.setdefault(key, set()).add(fold(_title(e)))
    return {key for key, seen in titles.items() if len(seen) > 1}


def prepare(entry: Entry, feed: FeedSpec, taxonomy: Taxonomy, now: datetime,
            limits: LimitSettings = CAPS) -> _Prepared:
    """Normalize, tokenize once, tag: one entry -> one item ready for dedup and store;
    its title and text cut to their caps (`settings.limits`)."""
    title = _title(entry)
    html = entry.content_html
    text = html_to_text(html[:limits.max_summary_chars * HTML_PER_CHAR])
    trimmed = (len(title) > limits.max_title_chars or len(text) > limits.max_summary_chars
               or len(html) > limits.max_summary_chars * HTML_PER_CHAR)
    title, text = cap(title, limits.max_title_chars), cap(text, limits.max_summary_chars)
    # The declared language (the entry's, else the feed's) stands when it is plausible
    # for the text: detect_lang judges title and text together.
    lang = detect_lang(f"{title}\n{text}", hint=entry.lang or feed.lang)
    title_tokens = tokenize(title, lang)
    # Addresses in the text ("についてはこちら:https://www.kanpo.go.jp/20250723/...") are
    # neither words to search nor figures of a story.
    text_tokens = tokenize(_URL.sub(" ", text), lang)
    own = [t for t in entry.topics if t in taxonomy.topic_ids]  # a report's front matter
    tags = tag(title_tokens, text_tokens, taxonomy, feed.topics, own)
    # No date is no date: never the collection time (the item keeps it as collected_at),
    # and one before 1970 or more than a day ahead is a publisher's error, not a date.
    published = kept_date(entry.published_at, now)
    item = Item(
        feed_id=feed.id, guid=entry.guid, url=entry.url, url_key=url_key(entry.url), title=title,
        summary=excerpt(text, 600), text=text, lang=lang, published_at=published,
        collected_at=now, content_hash=content_hash(title, text),
        index_title=" ".join(title_tokens), index_text=" ".join(text_tokens), tags=tags,
    )
    # Read here, in the worker, once: the names rule reads them again in the main process.
    told = dedup.latin_told(title, text) if lang not in dedup.UNSPACED else ((), ())
    return _Prepared(item, dedup.features(title_tokens, text_tokens),
                     dedup.figures([*title_tokens, *text_tokens]), trimmed,
                     dedup.name_keys(lang, title, text, [*title_tokens, *text_tokens], told),
                     told)


@dataclass
class Ready:
    """An item prepared for storing: its MinHash signature, LSH band keys and figures."""

    item: Item
    minhash: bytes | None
    band_keys: list[tuple[int, int]]
    figures: set[str]
    common: frozenset[str] = frozenset()      # what its feed repeats (dedup.template)
    trimmed: bool = False                     # its title or text was cut to its cap
    names: set[str] = field(default_factory=set)   # its names' keys (dedup.name_keys)
    told: dedup.Told = ((), ())               # its Latin-script names (dedup.latin_told)


def prepare_all(feed: FeedSpec, entries: Sequence[Entry], taxonomy: Taxonomy,
                now: datetime, prior: dedup.Profile | None = None,
                limits: LimitSettings = CAPS) -> tuple[list[Ready], int]:
    """Everything about a batch of entries that needs no archive: pure, so it runs in a
    worker process as well as here. What the feed repeats across the batch and its
    recent items (`prior`) is left out of the signatures and figures; signatures are
    computed in bulk (`dedup.signatures`). An entry that cannot be prepared is logged with its
    guid and left out: it harms only itself. Returns the items and how many were left
    out."""
    prepared = []
    for e in entries:
        try:
            prepared.append(prepare(e, feed, taxonomy, now, limits))
        except Exception as exc:
            log.warning("feed=%s guid=%s cannot be prepared, skipped: %s: %s", feed.id,
                        e.guid, type(exc).__name__, exc)
            log.info("feed=%s guid=%s", feed.id, e.guid, exc_info=exc)
    common = dedup.template([p.features for p in prepared], prior)
    sigs = dedup.signatures(p.features - common for p in prepared)
    return [Ready(p.item, sig.to_bytes() if sig is not None else None,
                  dedup.bands(sig) if sig is not None else [], p.figures - common, common,
                  p.trimmed, p.names, p.told)
            for p, sig in zip(prepared, sigs, strict=True)], len(entries) - len(prepared)


def feed_profile(store: Archive, feed_id: str) -> dedup.Profile:
    """What a feed's latest archived items are made of, to learn its template from."""
    return dedup.profile(dedup.features(title.split(), body.split())
                         for title, body in store.recent_tokens(feed_id, dedup.PROFILE_ITEMS))


_worker_taxonomies: dict[int, Taxonomy] = {}


def _prepare_in_worker(feed: FeedSpec, entries: Sequence[Entry], key: int, blob: bytes,
                       now: datetime, prior: dedup.Profile | None = None,
                       limits: LimitSettings = CAPS) -> tuple[list[Ready], int]:
    """`prepare_all` in a worker process; the taxonomy arrives pickled and is unpickled
    once per worker (62 KB: 3 ms a time)."""
    taxonomy = _worker_taxonomies.get(key)
    if taxonomy is None:
        _worker_taxonomies.clear()
        taxonomy = _worker_taxonomies[key] = pickle.loads(blob)
    return prepare_all(feed, entries, taxonomy, now, prior, limits)


def _parse(parse: Callable[[], Document]) -> Document | CollectError:
    try:
        return parse()
    except CollectError as exc:     # an answer, not a failure of the worker
        return exc
    except Exception as exc:        # a defect this document alone meets: it fails, alone
        return Unreadable.of(exc)


class Unreadable(ParseError):
    """A defect met by one document while it was read (any exception of the parser);
    `trace`: its traceback as text (it may come from a worker process), shown by -v."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace

    @classmethod
    def of(cls, exc: BaseException) -> Unreadable:
        return cls(f"cannot read the document ({type(exc).__name__}: {exc})",
                   "".join(traceback.format_exception(exc)))


CHUNK = 50                    # entries per job for a worker process
POOL_MIN = 300                # new entries in one run before workers are worth starting
POOL_MIN_BYTES = 600_000      # or bytes of documents to parse (about as many items)
AHEAD = 4000                  # entries in the workers' hands ahead of the store at most
PARSE_AHEAD = 2               # documents per worker in its hands at most
QUEUED = 64                   # feeds queued ahead of the store at most
_POLL = 0.5                   # seconds between looks at should_stop while waiting


@dataclass
class Outcome:
    """What became of one feed's batch: its entries (as parsed), what was new and what
    was a duplicate, its <ttl>, what was left out or cut (see `FeedReport`); or the
    error that stopped it, and at which stage (parse or store)."""

    entries: list[Entry] = field(default_factory=list)
    new: int = 0
    duplicates: int = 0
    ttl: int | None = None
    error: Exception | None = None
    stage: str | None = None
    partial: str | None = None      # why the document was read only in part
    skipped: int = 0
    trimmed: int = 0
    over_cap: int = 0

    def failed(self, exc: Exception, stage: str) -> None:
        self.error, self.stage = exc, stage


Stored = Callable[[Outcome], None]


@dataclass
class _Group:
    """What storing one group of a batch's items did: new and duplicate items, and the
    new items' URL keys by content hash."""

    new: int = 0
    duplicates: int = 0
    hashes: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Batch:
    """One feed on its way into the archive: a document to parse (`parse`, in a worker
    while `parsing`), then its new entries in chunks (`started`), prepared by workers
    (`jobs`, once `sent`) or here when it is stored."""

    feed: FeedSpec
    stored: Stored
    outcome: Outcome = field(default_factory=Outcome)
    parse: Callable[[], Document] | None = None
    parsing: Future[Document | CollectError] | None = None
    started: bool = False
    chunks: list[list[Entry]] = field(default_factory=list)
    sent: bool = False
    jobs: list[Future[tuple[list[Ready], int]]] = field(default_factory=list)
    listings: set[str] = field(default_factory=set)   # URL keys of several titles here
    prior: dedup.Profile | None = None        # the feed's latest archived items

    def ready(self) -> bool:
        return self.started and all(job.done() for job in self.jobs)

    def size(self) -> int:
        return sum(map(len, self.chunks))

    def futures(self) -> list[Future[Any]]:
        return [*([self.parsing] if self.parsing is not None else []), *self.jobs]


class Ingester:
    """Stores feeds' new entries in the order they are added, while worker processes
    (when there are any, and enough work to repay them) parse the documents and prepare
    the entries added after: `add` (entries) or `add_document` (a fetched feed) each
    feed, then `finish`, and `close` in any case (it drops what is still queued).

    Each feed's `stored(outcome)` runs right after its items are committed. Items are
    prepared outside the write transaction (the archive stays open to other writers)
    and stored one transaction for each group of ready chunks. Without workers every
    `add` stores at once: the sequential ingest."""

    def __init__(self, store: Archive, taxonomy: Taxonomy, now: datetime, workers: int = 0,
                 should_stop: Callable[[], bool] = lambda: False,
                 limits: LimitSettings = CAPS) -> None:
        self.store, self.taxonomy, self.now = store, taxonomy, now
        self.workers, self.should_stop, self.limits = workers, should_stop, limits
        self._fresh = 0
        self._bytes = 0
        self._blob: bytes | None = None
        self._queue: deque[Batch] = deque()

    def add(self, feed: FeedSpec, entries: Sequence[Entry], stored: Stored,
            ttl: int | None = None) -> None:
        """Queue a feed's entries; store those queued before whose preparing is done."""
        batch = Batch(feed, stored, Outcome(list(entries), ttl=ttl))
        self._filter(batch)
        self._queue.append(batch)
        self._drain(block=False)

    def add_document(self, feed: FeedSpec, parse: Callable[[], Document], size: int,
                     stored: Stored) -> None:
        """Queue a feed whose entries `parse` (picklable) gives, `size` bytes to parse:
        in a worker when the run is large enough, else here and now."""
        self._bytes += size
        self._queue.append(Batch(feed, stored, parse=parse))
        self._drain(block=False)

    def finish(self) -> None:
        """Store everything queued (unless told to stop: the rest is dropped unstored)."""
        self._drain(block=True)
        self.close()

    def close(self) -> None:
        """Drop whatever is still queued, and the workers' jobs for it."""
        while self._queue:
            for future in self._queue.popleft().futures():
                future.cancel()

    # -- handing out work ---------------------------------------------------------------

    def _executor(self) -> ProcessPoolExecutor | None:
        """The worker pool: started once the run is large enough, used whenever it is up."""
        try:
            if self._fresh < POOL_MIN and self._bytes < POOL_MIN_BYTES:
                return workers.running(self.workers)
            return workers.pool(self.workers)
        except workers.NestedRun:
            raise                  # in a worker: this run must not happen at all
        except Exception as exc:   # no pool to be had: no /dev/shm, no forkserver...
            workers.mark_broken(exc)
            return None

    def _submit(self, executor: ProcessPoolExecutor, fn: Callable[..., Any],
                *args: Any) -> Future[Any] | None:
        try:
            return executor.submit(fn, *args)
        except Exception as exc:   # a broken or vanished pool
            workers.mark_broken(exc)
            return None

    def _pump(self) -> None:
        """Collect finished parses, then hand out work in feed order while there is room:
        first the preparing of parsed feeds, then more documents to parse."""
        for batch in self._queue:
            if batch.parsing is not None and batch.parsing.done():
                self._parsed(batch, self._outcome(batch.parsing, batch))
        executor = self._executor()
        ahead = sum(b.size() for b in self._queue if b.jobs)
        for batch in self._queue:
            if not batch.started or batch.sent:
                continue
            if executor is not None and ahead > AHEAD and batch is not self._queue[0]:
                break
            batch.sent = True
            if executor is not None and batch.chunks:
                blob = self._taxonomy_blob()
                prior = self._prior(batch)
                jobs = [self._submit(executor, _prepare_in_worker, batch.feed, chunk,
                                     hash(blob), blob, self.now, prior, self.limits)
                        for chunk in batch.chunks]
                if all(job is not None for job in jobs):
                    batch.jobs = [job for job in jobs if job is not None]
                    ahead += batch.size()
                else:
                    for job in jobs:
                        if job is not None:
                            job.cancel()
                    executor = None
        in_hand = sum(1 for b in self._queue if b.parsing is not None)
        for batch in self._queue:
            if batch.parse is None or batch.parsing is not None:
                continue
            if executor is None:
                self._parsed(batch, _parse(batch.parse))
            elif in_hand < PARSE_AHEAD * max(1, self.workers):
                batch.parsing = self._submit(executor, _parse, batch.parse)
                if batch.parsing is None:
                    executor = None
                    self._parsed(batch, _parse(batch.parse))
                else:
                    in_hand += 1

    def _prior(self, batch: Batch) -> dedup.Profile:
        """The feed's profile as the archive has it before the batch is stored: read once
        a batch, so a chunk is prepared alike in a worker and here."""
        if batch.prior is None:
            batch.prior = feed_profile(self.store, batch.feed.id)
        return batch.prior

    def _taxonomy_blob(self) -> bytes:
        if self._blob is None:
            self._blob = pickle.dumps(self.taxonomy)
        return self._blob

    def _outcome(self, job: Future[Any], batch: Batch) -> Document | CollectError:
        try:
            result: Document | CollectError = job.result()
            return result
        except (BrokenProcessPool, CancelledError) as exc:
            workers.mark_broken(exc)
            assert batch.parse is not None
            return _parse(batch.parse)
        except Exception as exc:    # its answer could not come back (unpicklable...)
            return Unreadable.of(exc)

    def _parsed(self, batch: Batch, result: Document | CollectError) -> None:
        batch.parse = batch.parsing = None
        if isinstance(result, CollectError):
            batch.outcome.failed(result, "parse")
            batch.started = batch.sent = True
            return
        outcome = batch.outcome
        try:
            outcome.entries, outcome.ttl, outcome.partial = result.entries, result.ttl, \
                result.partial
            outcome.skipped, outcome.over_cap = result.skipped, result.over_cap
        except Exception as exc:    # not a document's reading: this feed fails alone
            outcome.failed(Unreadable.of(exc), "parse")
            batch.started = batch.sent = True
            return
        self._filter(batch)

    def _filter(self, batch: Batch) -> None:
        """Drop the entries this feed already gave (by guid); chunk the rest. A failure
        here (the archive's answers) fails this feed alone, at the store stage."""
        try:
            self._new_entries(batch)
        except ARCHIVE_ERRORS:
            raise                   # the archive's, not this feed's: the run ends
        except Exception as exc:
            batch.outcome.failed(exc, "store")
            batch.chunks, batch.started, batch.sent = [], True, True

    def _new_entries(self, batch: Batch) -> None:
        outcome = batch.outcome
        outcome.entries, over = newest(outcome.entries, self.limits.max_entries)
        outcome.over_cap += over
        linked = [e.guid for e in batch.outcome.entries if e.url and e.guid == e.url]
        entries = batch.outcome.entries = told_apart(
            batch.outcome.entries,
            self.store.guid_titles(batch.feed.id, linked) if linked else {})
        batch.listings = listing_keys(entries)
        seen: set[str] = set()
        fresh: list[Entry] = []
        for e in entries:
            if e.guid not in seen:
                seen.add(e.guid)
                fresh.append(e)
        known = self.store.known_guids(batch.feed.id, [e.guid for e in fresh])
        fresh = [e for e in fresh if e.guid not in known]
        # Chunks of even size: each learns the feed's template from its own entries too,
        # so none is left with a handful (101 entries: 34 + 34 + 33, not 50 + 50 + 1).
        size = math.ceil(len(fresh) / math.ceil(len(fresh) / CHUNK)) if fresh else CHUNK
        batch.chunks = [fresh[i:i + size] for i in range(0, len(fresh), size)]
        batch.outcome.duplicates = len(entries) - len(fresh)
        batch.started = True
        self._fresh += len(fresh)

    # -- storing, in order --------------------------------------------------------------

    def _await(self, job: Future[Any]) -> bool:
        """Wait for `job` (False if told to stop first), handing out work meanwhile: the
        store goes in feed order, the workers need not."""
        while not job.done():
            if self.should_stop():
                return False
            others = [f for b in self._queue for f in b.futures() if not f.done()]
            wait([job, *others], timeout=_POLL, return_when=FIRST_COMPLETED)
            self._pump()
        return True

    def _drain(self, block: bool) -> None:
        while not self.should_stop():
            self._pump()
            if not self._queue:
                return
            head = self._queue[0]
            crowded = len(self._queue) > QUEUED or sum(b.size() for b in self._queue) > AHEAD
            if not head.started:
                if not (block or crowded):
                    return
                if head.parsing is None:      # not handed out (no room): read it here
                    assert head.parse is not None
                    self._parsed(head, _parse(head.parse))
                elif not self._await(head.parsing):
                    return
                continue
            if not (block or crowded or head.ready()):
                return
            self._queue.popleft()
            if head.outcome.error is None:
                try:
                    head.outcome.new, stored_dups = self._store(head)
                    head.outcome.duplicates += stored_dups
                except ARCHIVE_ERRORS:
                    raise                   # the archive's, not this feed's: the run ends
                except Exception as exc:    # this feed alone: what it committed stays
                    head.outcome.failed(exc, "store")
                    for job in head.jobs:
                        job.cancel()
            head.stored(head.outcome)

    def _prepared(self, batch: Batch, i: int) -> list[Ready] | None:
        """Chunk i of a batch, prepared (None if told to stop while waiting); the entries
        that could not be prepared are counted as the feed's skipped ones."""
        done = self._prepare_chunk(batch, i)
        if done is None:
            return None
        ready, skipped = done
        batch.outcome.skipped += skipped
        batch.outcome.trimmed += sum(r.trimmed for r in ready)
        return ready

    def _prepare_chunk(self, batch: Batch, i: int) -> tuple[list[Ready], int] | None:
        if batch.jobs:
            if not self._await(batch.jobs[i]):
                return None
            try:
                return batch.jobs[i].result()
            except (BrokenProcessPool, CancelledError) as exc:
                workers.mark_broken(exc)
        return prepare_all(batch.feed, batch.chunks[i], self.taxonomy, self.now,
                           self._prior(batch), self.limits)

    def _ready_chunks(self, batch: Batch) -> Iterator[list[Ready]]:
        """A batch's prepared items, as many chunks at a time as are ready: chunk after
        chunk as the workers finish them, or all at once when prepared here."""
        i, n = 0, len(batch.chunks)
        while i < n and not self.should_stop():
            group: list[Ready] = []
            while i < n and (not group or not batch.jobs or batch.jobs[i].done()):
                prepared = self._prepared(batch, i)
                if prepared is None:
                    return
                group += prepared
                i += 1
            yield group

    def _store(self, batch: Batch) -> tuple[int, int]:
        """Store a batch's items, one transaction for each group of ready chunks; returns
        (new, duplicates)."""
        new = duplicates = 0
        window = self.now - timedelta(days=dedup.STORY_WINDOW_DAYS)
        store = self.store
        batch_hashes: dict[str, set[str]] = {}    # content hash -> URL keys in this batch
        for prepared in self._ready_chunks(batch):
            with store.transaction():
                # Known guids again, under the write lock: another relay process may
                # have stored this feed since the batch was queued.
                known = store.known_guids(batch.feed.id, [r.item.guid for r in prepared])
                # The group whole in one savepoint first: one savepoint an item made
                # SQLite write each item's full-text index apart (FTS5 flushes at every
                # savepoint: 0.15 ms an item). Only when an item is refused is the group
                # stored again, each item in its own savepoint (see `_insert`).
                try:
                    with store.savepoint():
                        group = self._store_group(batch, prepared, known, window,
                                                  batch_hashes, guarded=False)
                except SYSTEM_ERRORS:
                    raise
                except Exception:
                    group = self._store_group(batch, prepared, known, window, batch_hashes,
                                              guarded=True)
                for content, keys in group.hashes.items():
                    batch_hashes.setdefault(content, set()).update(keys)
                new, duplicates = new + group.new, duplicates + group.duplicates
        for job in batch.jobs:
            job.cancel()
        return new, duplicates

    def _store_group(self, batch: Batch, prepared: list[Ready], known: set[str],
                     window: datetime, batch_hashes: Mapping[str, set[str]], guarded: bool,
                     ) -> _Group:
        """Store a group of a batch's items in the open transaction. `guarded`: each item
        in its own savepoint, one that fails skipped; else the first that fails raises.
        `batch_hashes`: the content hashes of the batch's earlier groups."""
        group = _Group()
        store = self.store
        for ready in prepared:
            if self.should_stop():
                break
            item = ready.item
            if (item.guid in known or any(
                    _same_link(key, item.url_key)
                    for keys in (batch_hashes, group.hashes)
                    for key in keys.get(item.content_hash, ()))
                    or _archived_copy(store, item, item.url_key in batch.listings,
                                      batch.feed.kind is not FeedKind.REPORTS,
                                      ready.common, batch.feed.audience)
                    is not None):
                group.duplicates += 1
                continue
            if not guarded:
                self._write(ready, window)
            elif not self._insert(batch, ready, window):
                continue
            group.hashes.setdefault(item.content_hash, set()).add(item.url_key)
            group.new += 1
        return group

    def _write(self, ready: Ready, window: datetime) -> None:
        item = ready.item
        self.store.insert_item(item, ready.minhash, ready.band_keys,
                               self._story(item, ready, window), ready.figures, ready.names)

    def _insert(self, batch: Batch, ready: Ready, window: datetime) -> bool:
        """Store one item whole, or nothing of it: an item the archive refuses (a value
        it cannot bind) is skipped and counted; a failure of the archive itself (disk
        full, locked, read-only) is no item's and fails the feed."""
        item = ready.item
        try:
            with self.store.savepoint():
                self._write(ready, window)
        except SYSTEM_ERRORS:
            raise
        except Exception as exc:
            batch.outcome.skipped += 1
            log.warning("feed=%s guid=%s cannot be stored, skipped: %s: %s", batch.feed.id,
                        item.guid, type(exc).__name__, exc)
            log.info("feed=%s guid=%s", batch.feed.id, item.guid, exc_info=exc)
            return False
        return True

    def _story(self, item: Item, ready: Ready, window: datetime) -> int | None:
        """The story an item joins: same language first, then across languages."""
        store = self.store
        if ready.minhash is not None:
            candidates = [dedup.Telling(feed, tuple(title.split()), None, published, story,
                                        blob, item_id, dedup.outlet(raw),
                                        dedup.multiword_names(raw))
                          for item_id, story, blob, feed, title, published, raw in
                          store.story_candidates(ready.band_keys, window)]
            new = dedup.Telling(item.feed_id, tuple(item.index_title.split()),
                                tuple(item.index_text.split()), item.published_at,
                                outlet=dedup.outlet(item.title),
                                heads=dedup.multiword_names(item.title))
            chosen = dedup.choose_story(dedup.Signature.from_bytes(ready.minhash), new,
                                        candidates, ready.common, store.body_tokens)
            if chosen:
                return chosen[0]
        # The same event told in another language? Found by its figures or its names,
        # published within the story window.
        around, days = item.published_at, dedup.STORY_WINDOW_DAYS
        crossing = [*store.cross_candidates(ready.figures, item.lang, window,
                                            around=around, days=days),
                    *store.cross_named(ready.names, item.lang, window, NAME_CANDIDATES,
                                       around=around, days=days)]
        crossed = dedup.choose_cross_story(item.lang, item.index_title.split(),
                                           item.index_text.split(), crossing)
        if crossed:
            return crossed[0]
        if item.lang not in dedup.UNSPACED:     # another outlet's words on one event?
            return self._named_story(item, ready.told, window)
        return None

    def _named_story(self, item: Item, told: dedup.Told, window: datetime) -> int | None:
        """The story another outlet tells in other words, found by rare names
        (`dedup.choose_named_story`; `told`: the item's `dedup.latin_told`)."""
        new = dedup.Named.told(item.feed_id, item.published_at, item.title, told)
        mine = new.names()
        counts = self.store.name_counts(mine, dedup.RARE_ITEMS + 1)
        rare = [k for k in mine if counts.get(k, 0) <= dedup.RARE_ITEMS]
        headed = frozenset(rare) & new.heads()
        if not headed:      # every rule needs a rare name in both titles
            return None
        candidates = [dedup.Named.of(feed, published, title, text, story)
                      for story, feed, published, title, text in self.store.named_candidates(
                          rare, item.feed_id, window, item.published_at, dedup.NAMED_DAYS, 1)
                      if dedup.may_name_together(headed, title)]
        return dedup.choose_named_story(new, candidates, counts)


def ingest(feed: FeedSpec, entries: Sequence[Entry], store: Archive, taxonomy: Taxonomy,
           now: datetime, should_stop: Callable[[], bool] = lambda: False,
           workers: int = 0) -> tuple[int, int]:
    """Store the new entries of one feed; returns (new, duplicates)."""
    outcomes: list[Outcome] = []
    ingester = Ingester(store, taxonomy, now, workers, should_stop)
    try:
        ingester.add(feed, entries, outcomes.append)
        ingester.finish()
    finally:
        ingester.close()
    return (outcomes[0].new, outcomes[0].duplicates) if outcomes else (0, 0)


def _archived_copy(store: Archive, item: Item, listing: bool = False,
                   by_url: bool = True, common: frozenset[str] = frozenset(),
                   audience: Sequence[str] = ()) -> int | None:
    """An archived item that is this one (`common`: what its feed repeats), of a feed of
    the same `audience` (the item's feed's; as the feeds table has it, synced before a
    collect). A copy is one within one audience only: a restricted copy never hides a
    public one, nor a public copy a restricted one (which that public feed, restricted
    later, would take from its audience):

    - the same content (title and text, with some letters or digits in it): in another
      feed published within the story window, or in this feed with the same link
      (`_same_link`);
    - the same URL key (`text.url_key`) and title: in another feed published within the
      story window, or in this feed when the entry has no id of its own (its guid is its
      link): an entry that has one is another entry (a weekly "今週の大臣日程" on one
      page), and so is one whose link is the feed's own page for lack of any;
    - the same URL key in another feed, an article retitled (`dedup.retitled`: published
      within the story window, and a short entry's title within the other's, each
      without its feed's template), unless the key is a listing page, one that names
      entries of different titles (in the archive, or in this document: `listing`).

    The URL alone is not enough within one feed, nor for a listing page: aggregators
    link several different notices to one ministry's listing page (corpus: gov-online,
    bousai.go.jp/index.html), and a diary links each day's entries to one page with a
    fragment each. So two entries of one feed with different titles are never copies of
    each other. An empty key (an entry with no link) matches nothing. A mission report's
    `url` names the article it reports on, not the report: reports are no URL copies of
    anything, nor anything of them (`by_url` False for a report; the store leaves
    reports out of its answer). What is not a copy may still join a story.
    """
    if any(ch.isalnum() for ch in f"{item.title}{item.text}"):   # "★★★" is no content
        for found, feed, key, published in store.items_with_hash(item.content_hash, audience):
            if (feed != item.feed_id and _near(item.published_at, published)) or (
                    feed == item.feed_id and _same_link(key, item.url_key)):
                return found
    if not item.url_key or not by_url:
        return None
    title = fold(item.title)
    every = store.items_with_url_key(item.url_key)
    scope = audience_key(audience)
    matches = [m[:6] for m in every if m[6] == scope]
    own_id = item.guid != item.url and not item.guid.startswith(f"{item.url}#")
    same = next((m[0] for m in matches if fold(m[1]) == title and (
        (m[2] != item.feed_id and _near(item.published_at, m[3]))
        or (m[2] == item.feed_id and not own_id))), None)
    if same is not None or listing or len({fold(m[1]) for m in every}) > 1:
        return same   # a listing page is one whoever's entries name it
    mine = dedup.Telling(item.feed_id, tuple(item.index_title.split()),
                         tuple(item.index_text.split()), item.published_at)
    for i, _t, feed, published, head, body in matches:
        if feed == item.feed_id:
            continue
        theirs = dedup.Telling(feed, tuple(head.split()), tuple(body.split()), published)
        if dedup.retitled(mine, theirs, common, dedup.template([], feed_profile(store, feed))):
            return i
    return None


def _near(a: datetime | None, b: datetime | None) -> bool:
    """Published within the story window of each other (or either undated)."""
    return dedup.days_apart(a, b) <= dedup.STORY_WINDOW_DAYS


def _same_link(a: str, b: str) -> bool:
    """Two entries of one feed with the same content are one entry when they link the
    same page (whatever its scheme, with or without `www.`: a feed that moved to https
    gives its backlog again), or either links none: a diary's daily "あさ" posts, each
    with its own link and no text, are different entries."""
    return not a or not b or _bare(a) == _bare(b)


def _bare(key: str) -> str:
    """A URL key without its scheme and a leading `www.`."""
    rest = key.split("://", 1)[-1]
    return rest[4:] if rest.startswith("www.") else rest


def sign_window(store: Archive, now: datetime) -> int:
    """After a migration dropped the signatures (their hash changed): sign the items of
    the story window again from their indexed tokens, so that new items still find the
    stories they belong to. Done once, under the write lock (two collects at once sign
    once); returns how many items were signed. An archive whose recorded scheme
    (`dedup.SCHEME`) is not relay's has its signatures dropped and signed again here."""
    recorded = store.meta("minhash_scheme")
    if recorded is not None and recorded != dedup.SCHEME:
        log.warning("the archive's story signatures are of another scheme (%s, not %s): "
                    "signing the story window again", recorded, dedup.SCHEME)
        store.drop_signatures()
    if not store.pending("sign-window"):
        if recorded is None:
            store.set_meta("minhash_scheme", dedup.SCHEME)
        return 0
    with store.transaction():
        if not store.pending("sign-window"):
            return 0        # another process did it while this one waited
        rows = store.items_to_sign(now - timedelta(days=dedup.STORY_WINDOW_DAYS))
        feats = [dedup.features(title.split(), body.split()) for _, _, title, body in rows]
        by_feed: dict[str, list[int]] = {}
        for i, (_, feed_id, _, _) in enumerate(rows):
            by_feed.setdefault(feed_id, []).append(i)
        for feed_id, indexes in by_feed.items():   # each feed's template, as ingest learns it
            common = dedup.template([], feed_profile(store, feed_id))
            for i in indexes:
                feats[i] = feats[i] - common
        sigs = dedup.signatures(feats) if rows else []
        for (item_id, _feed, _title, _body), sig in zip(rows, sigs, strict=True):
            if sig is not None:
                store.set_signature(item_id, sig.to_bytes(), dedup.bands(sig))
        store.set_meta("minhash_scheme", dedup.SCHEME)
        store.done("sign-window")
    if rows:
        log.info("signed %d items of the story window again (MinHash hash changed)", len(rows))
    return len(rows)


def key_links(store: Archive, batch: int = 2000) -> int:
    """After the migration that split links from their keys (11), once, under the write
    lock: give every archived item its link and URL key. An old row's url is the
    pre-migration-11 canonical form (`_old_canonical_url`): `www.` removed, fragment
    dropped, query sorted. So:
    - when its guid is an http(s) URL whose old form is that url, the guid is the link
      as published: url = guid, url_key = url_key(guid) (most RSS guids are the link);
    - otherwise its link is known only in the old form, which cannot say whether the host
      had `www.`: its key is `store.old_key` (marked, without `www.`), and a new link
      meets it when its own key without `www.` is that (`Store.items_with_url_key`), so
      the same article seen again (`http://www.overcube.com/...` in another feed) is a
      duplicate, not a new item. The mark keeps the looser match to old rows: new rows'
      keys keep `www.`. (Query order and fragments the old form lost are not guessed.)
    - a url that is no http(s) URL: url_key(url).
    Returns how many rows changed."""
    if not store.pending("url-key"):
        return 0
    changed = restored = 0
    with store.transaction():
        if not store.pending("url-key"):
            return 0        # another process did it while this one waited
        last = 0
        while rows := store.item_links(last, batch):
            fresh = []
            for item_id, guid, url, key in rows:
                given = guid.strip()
                if given.lower().startswith(("http://", "https://")) and \
                        _old_canonical_url(given) == url:
                    link, new_key = given, url_key(given)
                    restored += link != url
                else:
                    link, new_key = url, url_key(url)
                    new_key = old_key(new_key) or new_key
                if (link, new_key) != (url, key):
                    fresh.append((item_id, link, new_key))
            store.set_links(fresh)
            changed += len(fresh)
            last = rows[-1][0]
        store.done("url-key")
    log.info("computed the links and URL keys of the archive again: %d changed, %d links"
             " restored from their guids", changed, restored)
    return changed


# The trackers relay dropped before migration 11 (commit 7ec2a87), for `_old_canonical_url`.
_OLD_TRACKING = re.compile(
    r"^(utm_[a-z]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|yclid|_hsenc|_hsmi"
    r"|igshid|ref_src|cmpid|s_cid|ncid|spm|mkt_tok|__twitter_impression)$",
    re.IGNORECASE,
)


def _old_canonical_url(url: str) -> str:
    """The pre-migration-11 form of a link, the one old rows' items.url holds (relay's
    `canonical_url` before links were stored as published): lower-case scheme and host,
    no `www.`, no default port, runs of `/` as one and no trailing `/` on a non-root
    path, the query parsed, stripped of `_OLD_TRACKING`, sorted and encoded again (so
    `?200601a` became `?200601a=`), no fragment. Only to recognise old rows (`key_links`)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    host = host.removeprefix("www.")
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    netloc = f"{host}:{port}" if port else host
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not _OLD_TRACKING.match(k))
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def retag(config: Config, store: Archive, batch: int = 2000,
          on_progress: OnProgress | None = None) -> tuple[int, int]:
    """Apply the configured taxonomy to the whole archive again, from the tokens the index
    already holds (no re-tokenizing); topics a report's author gave are kept. Returns
    (items, items whose topics changed); `on_progress` hears of each batch (its items,
    and as `items` the ones whose topics changed)."""
    taxonomy = taxonomy_for(config)
    feed_topics = {f.id: f.topics for f in config.feeds}
    items = changed = 0
    tally = Tally("retag", store.item_count(), "items", on_progress)
    for rows in store.items_for_retag(batch):
        new_tags = {}
        for r in rows:
            tags = tag(r["title_tokens"].split(), r["body_tokens"].split(), taxonomy,
                       feed_topics.get(r["feed_id"], ()), r["report_topics"])
            if {t.topic for t in tags} != set(r["topics"]):
                changed += 1
            new_tags[r["id"]] = tags
        store.replace_tags(new_tags)
        tally.step(changed - tally.items, units=len(rows))
        items += len(rows)
    return items, changed
