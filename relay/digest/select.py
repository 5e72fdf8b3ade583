"""Which stories one subscriber gets in one digest, ranked and grouped by topic.

Input: the archive's rows for every story that has an item that may count in
the window (from `store.story_rows`), the subscriber, the topics, the feeds.
Rules:
- which items are this window's news (`counts`): an item seen after its
  feed's first collection counts in the window it was first seen in (new to
  the archive: an undated item, or a dated one that arrived late, as a
  listing page dated by the day does); an item of its feed's first collection
  (the feed's backlog, `backlog`) counts only by its date, in the window it
  was published in, and an undated one never; and no item published more than
  `max_age_days` before the window's end ever counts as news. A story is in
  the window when one of its items counts there; a row says whether it counts
  (`counts`, set by the caller from the function; a row without it counts);
- need-to-know first: an item of a feed with an `audience` exists for the
  subscriber only when one of their `groups` is in it; items they may not see
  are removed before anything else, so a story told only by restricted
  sources is invisible to them and a restricted source is never named in
  their "also" line (a security property, tested as one);
- an item is visible to the subscriber when it passes that, its language is
  one of the subscriber's `langs` and its feed's mission one of their
  `missions` (an empty list admits all); a story is shown when at least one of
  its visible items counts in the window (news to this subscriber: a story
  whose only new item is in a language they do not read does not bring back
  its old items they already got) and at least one of its visible items is on
  the subscriber's topics, and shows visible items only (the old ones too);
- a story appears once, under the first of the subscriber's topics (in the
  subscriber's order) that any of its items is tagged with;
- the reader's language first: its lead (headline) is an item in the digest's
  language (`ui_lang`) when the story has one, a mission report among those
  first; else a mission report; else its earliest item. The others are named in
  an "also" line, items in the digest's language first. Both paths (`select`
  and `select_ranked`) order a story's items with `_story`;
- stories are ranked by topic score, then number of sources, then mission
  reports first, then recency; at most `max_per_topic` per topic, the rest
  counted as `more`.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from relay.models import FeedKind, Story, StoryItem, StoryRow, Subscriber, Topic, TopicSection


def may_see(row: StoryRow, sub: Subscriber) -> bool:
    """Need-to-know: an item of a feed with an audience is only for those groups."""
    audience = row.audience or ()
    return not audience or bool(set(audience) & set(sub.groups))


def _visible(row: StoryRow, sub: Subscriber) -> bool:
    return may_see(row, sub) and (not sub.langs or row.lang in sub.langs) and (
        not sub.missions or row.mission in sub.missions) and (
        not sub.countries or row.country in sub.countries)


def counts(row: StoryRow, since: datetime, until: datetime, oldest: datetime) -> bool:
    """Whether an item is news of the window (since, until] (the module's rule)."""
    published, seen = row.published_at, row.collected_at
    if seen > until or (published is not None and published < oldest):
        return False
    if row.backlog:
        return published is not None and since < published <= until
    return since < seen


def when(row: StoryRow) -> datetime:
    """An item's date for ordering: published, else first seen."""
    return row.published_at or row.collected_at


def _story_item(row: StoryRow) -> StoryItem:
    return StoryItem(
        item_id=row.id, feed_id=row.feed_id, feed_name=row.feed_name,
        mission=row.mission, url=row.url, title=row.title, summary=row.summary,
        lang=row.lang, published_at=row.published_at,
        is_report=_is_report(row), collected_at=row.collected_at,
    )


def select(
    rows: Iterable[StoryRow],
    subscriber: Subscriber,
    topics: Sequence[Topic],
    max_per_topic: int,
) -> tuple[TopicSection, ...]:
    """The sections of one digest (only topics with at least one story)."""
    wanted = [t for t in (next((x for x in topics if x.id == tid), None)
                          for tid in subscriber.topics) if t is not None]
    wanted_ids = [t.id for t in wanted]
    by_story: dict[int, list[StoryRow]] = defaultdict(list)
    for row in rows:
        if _visible(row, subscriber):
            by_story[row.story_id].append(row)

    # Rank on cheap keys first; build the shown stories only (a week can hold thousands).
    placed: dict[str, list[tuple[tuple[float, int, bool, float], int, dict[str, float]]]] = (
        defaultdict(list))
    for story_id, items in by_story.items():
        if not any(row.counts for row in items):
            continue                  # nothing new that this subscriber can see
        scores: dict[str, float] = {}
        for row in items:
            for tid, score in row.tags.items():
                if score > scores.get(tid, 0.0):
                    scores[tid] = score
        home = next((tid for tid in wanted_ids if tid in scores), None)
        if home is None:
            continue
        key = (-scores[home], -len({r.feed_id for r in items}),
               not any(_is_report(r) for r in items),
               -max(when(r) for r in items).timestamp())
        placed[home].append((key, story_id, scores))

    sections = []
    for topic in wanted:
        ranked = sorted(placed.get(topic.id, []), key=lambda entry: entry[0])
        if not ranked:
            continue
        stories = tuple(_story(story_id, by_story[story_id], scores, topic.id, subscriber,
                               wanted_ids) for _key, story_id, scores in ranked[:max_per_topic])
        sections.append(TopicSection(topic=topic, stories=stories,
                                     more=max(0, len(ranked) - max_per_topic)))
    return tuple(sections)


def _story(story_id: int, rows: Sequence[StoryRow], scores: Mapping[str, float],
           topic: str, subscriber: Subscriber, wanted_ids: Sequence[str]) -> Story:
    """One shown story: its items best first (the digest's language, then a mission
    report, then the earliest), its topics in the subscriber's order first."""
    ordered = sorted(rows, key=lambda r: (
        r.lang != subscriber.ui_lang, not _is_report(r), when(r)))
    story_topics = tuple(t for t in wanted_ids if t in scores) + tuple(
        sorted(t for t in scores if t not in wanted_ids))
    return Story(id=story_id, items=tuple(_story_item(r) for r in ordered),
                 topics=story_topics, score=scores[topic])


def _is_report(row: StoryRow) -> bool:
    return row.feed_kind == FeedKind.REPORTS.value or bool(row.mission)


@dataclass
class RankedWindow:
    """Every story of one digest window ranked per topic once, for all the subscribers who
    see every item of it (no language or mission filter, every audience in their groups):
    their digests are then a walk down these lists instead of a ranking each."""

    members: dict[str, set[int]]                       # topic -> stories in the window
    ranked: dict[str, list[int]]                       # topic -> stories, best first
    scores: dict[int, dict[str, float]]
    rows: dict[int, Sequence[StoryRow]]
    audiences: set[str] = field(default_factory=set)   # groups any item is restricted to
    restricted: bool = False
    having: dict[str, set[int]] = field(default_factory=dict)   # topic -> stories tagged


def rank_window(rows_by_story: Mapping[int, Sequence[StoryRow]],
                members: Mapping[str, set[int]]) -> RankedWindow:
    scores: dict[int, dict[str, float]] = {}
    keys: dict[int, tuple[int, bool, float]] = {}
    audiences: set[str] = set()
    restricted = False
    for story_id, items in rows_by_story.items():
        s: dict[str, float] = {}
        for row in items:
            for topic, score in row.tags.items():
                if score > s.get(topic, 0.0):
                    s[topic] = score
            if row.audience:
                restricted = True
                audiences.update(row.audience)
        scores[story_id] = s
        keys[story_id] = (-len({r.feed_id for r in items}),
                          not any(_is_report(r) for r in items),
                          -max(when(r) for r in items).timestamp())
    having: dict[str, list[int]] = defaultdict(list)   # topic -> stories tagged with it
    for story_id, s_scores in scores.items():
        for topic in s_scores:
            having[topic].append(story_id)
    ranked = {topic: sorted(ids, key=lambda sid: (-scores[sid][topic], *keys[sid]))
              for topic, ids in having.items()}
    return RankedWindow(dict(members), ranked, scores, dict(rows_by_story), audiences,
                        restricted, {t: set(ids) for t, ids in having.items()})


def select_ranked(window: RankedWindow, subscriber: Subscriber, topics: Sequence[Topic],
                  max_per_topic: int) -> tuple[TopicSection, ...] | None:
    """The same sections as `select`, from a ranked window; None when the subscriber
    filters or may not see every item (then `select` must decide item by item). The
    window's `members` are the stories with an item that counts: every item is
    visible here, so each has one this subscriber sees."""
    if subscriber.langs or subscriber.missions or subscriber.countries or (
            window.restricted and not window.audiences <= set(subscriber.groups)):
        return None
    if window.restricted and any(
            row.audience and not may_see(row, subscriber)
            for items in window.rows.values() for row in items):
        return None
    wanted = [t for t in (next((x for x in topics if x.id == tid), None)
                          for tid in subscriber.topics) if t is not None]
    wanted_ids = [t.id for t in wanted]
    # A story goes under the first of the subscriber's topics it has: set operations.
    remaining = set().union(*(window.members.get(t, set()) for t in wanted_ids))
    placed: dict[str, set[int]] = {}
    for t in wanted_ids:
        placed[t] = remaining & window.having.get(t, set())
        remaining -= placed[t]
    sections = []
    for topic in wanted:
        mine = placed.get(topic.id, set())
        if not mine:
            continue
        shown = []
        for story_id in window.ranked.get(topic.id, []):
            if story_id in mine:
                shown.append(story_id)
                if len(shown) == max_per_topic:
                    break
        stories = tuple(_story(story_id, window.rows[story_id], window.scores[story_id],
                               topic.id, subscriber, wanted_ids) for story_id in shown)
        sections.append(TopicSection(topic=topic, stories=stories,
                                     more=len(mine) - len(shown)))
    return tuple(sections)
