"""Entries -> normalized, tagged, deduplicated items in the archive; and retagging.

`prepare` tokenizes each entry once and hands the tokens to tagging, the story
features and the index; `ingest` stores a feed's new entries in one transaction
(an item whole or not at all), dropping exact copies and joining near-duplicates
to their story; `retag` re-applies the taxonomy from the indexed tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relay import dedup
from relay.models import (
    Config,
    Entry,
    FeedSpec,
    Item,
)
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


def ingest(feed: FeedSpec, entries: Sequence[Entry], store: Store, taxonomy: Taxonomy,
           now: datetime, should_stop: Callable[[], bool] = lambda: False) -> tuple[int, int]:
    """Store the new entries of one feed; returns (new, duplicates)."""
    seen_guids: set[str] = set()
    fresh: list[Entry] = []
    for e in entries:
        if e.guid not in seen_guids:
            seen_guids.add(e.guid)
            fresh.append(e)
    known = store.known_guids(feed.id, [e.guid for e in fresh])
    fresh = [e for e in fresh if e.guid not in known]
    duplicates = len(entries) - len(fresh)
    prepared = [prepare(e, feed, taxonomy, now) for e in fresh]
    sigs = dedup.signatures(p.features for p in prepared)
    new = 0
    window = now - timedelta(days=dedup.STORY_WINDOW_DAYS)
    with store.transaction():
        batch_hashes: set[str] = set()
        for p, sig in zip(prepared, sigs, strict=True):
            if should_stop():
                break
            item = p.item
            if item.content_hash in batch_hashes or _archived_copy(store, item) is not None:
                duplicates += 1
                continue
            batch_hashes.add(item.content_hash)
            band_keys = dedup.bands(sig) if sig is not None else []
            story = None
            if sig is not None:
                chosen = dedup.choose_story(sig, store.story_candidates(band_keys, window))
                story = chosen[0] if chosen else None
            title_tokens, body_tokens = item.index_title.split(), item.index_text.split()
            figures = dedup.figures([*title_tokens, *body_tokens])
            if story is None and figures:   # the same event told in another language?
                crossed = dedup.choose_cross_story(
                    item.lang, title_tokens, body_tokens,
                    store.cross_candidates(figures, item.lang, window))
                story = crossed[0] if crossed else None
            store.insert_item(item, sig.to_bytes() if sig is not None else None, band_keys, story,
                              figures)
            new += 1
    return new, duplicates


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
