"""The ranked-window path gives exactly the sections `select` gives, on random windows:
the same stories in the same places, each led by the same item (the reader's language
first) with the same "also" order."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from relay.config import builtin_topics
from relay.digest.select import rank_window, select, select_ranked
from relay.models import StoryRow, Subscriber

TOPICS = builtin_topics()
IDS = [t.id for t in TOPICS]
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def window(seed: int, stories: int = 300, restricted: bool = False):
    rnd = random.Random(seed)
    rows, n = [], 0
    for sid in range(1, stories + 1):
        for _ in range(rnd.choice((1, 1, 1, 2, 3))):
            n += 1
            rows.append(StoryRow(
                id=n, story_id=sid, feed_id=f"f{rnd.randint(1, 8)}",
                feed_name="F", feed_kind="rss",
                mission=rnd.choice((None, None, "boston")), country=None, url=f"https://x/{n}",
                title=f"t{n}", summary="s", lang=rnd.choice(("ja", "en", "zh")),
                published_at=T0 + timedelta(minutes=n * 7),
                collected_at=T0 + timedelta(minutes=n * 7),
                tags={t: float(rnd.randint(2, 6)) for t in rnd.sample(IDS, rnd.randint(1, 3))},
                audience=("government",) if restricted and rnd.random() < 0.1 else (),
            ))
    by_story, members = defaultdict(list), defaultdict(set)
    for r in rows:
        by_story[r.story_id].append(r)
        r.counts = rnd.random() < 0.7   # most items are news of the window, not all
        if r.counts:
            for t in r.tags:
                members[t].add(r.story_id)
    in_window = {r.id for r in rows if any(r.story_id in m for m in members.values())}
    return rows, by_story, members, in_window


def ids(sections):
    return [(s.topic.id, [(st.id, [i.item_id for i in st.items]) for st in s.stories], s.more)
            for s in sections]


@pytest.mark.parametrize("seed", range(6))
def test_ranked_path_equals_select(seed):
    rows, by_story, members, _ = window(seed)
    ranked = rank_window(by_story, members)
    rnd = random.Random(seed)
    for _ in range(20):
        sub = Subscriber(email="a@b.example", topics=tuple(rnd.sample(IDS, rnd.randint(1, 4))),
                         ui_lang=rnd.choice(("ja", "en")))
        wanted = set().union(*(members.get(t, set()) for t in sub.topics))
        sub_rows = [r for sid in wanted for r in by_story[sid]]
        fast = select_ranked(ranked, sub, TOPICS, 5)
        assert fast is not None
        assert ids(fast) == ids(select(sub_rows, sub, TOPICS, 5))
        for story in (st for section in fast for st in section.stories):
            if any(i.lang == sub.ui_lang for i in story.items):
                assert story.lead.lang == sub.ui_lang     # the reader's language first


def test_filters_and_restricted_windows_take_the_general_path():
    rows, by_story, members, _ = window(1, restricted=True)
    ranked = rank_window(by_story, members)
    public = Subscriber(email="a@b.example", topics=("ai",))
    assert select_ranked(ranked, public, TOPICS, 5) is None
    insider = Subscriber(email="a@b.example", topics=("ai",), groups=("government",))
    assert select_ranked(ranked, insider, TOPICS, 5) is not None
    filtered = Subscriber(email="a@b.example", topics=("ai",), langs=("ja",))
    assert select_ranked(ranked, filtered, TOPICS, 5) is None


@pytest.mark.parametrize("seed", range(3))
def test_a_filtered_subscriber_gets_a_story_only_through_a_news_item_they_see(seed):
    rows, by_story, members, _ = window(seed)
    rnd = random.Random(seed)
    shown_somewhere = 0
    for _ in range(20):
        langs = tuple(rnd.sample(("ja", "en", "zh"), rnd.randint(1, 2)))
        sub = Subscriber(email="a@b.example", topics=tuple(rnd.sample(IDS, rnd.randint(1, 4))),
                         ui_lang="ja", langs=langs)
        wanted = set().union(*(members.get(t, set()) for t in sub.topics))
        sections = select([r for sid in wanted for r in by_story[sid]], sub, TOPICS, 50)
        shown = {st.id for section in sections for st in section.stories}
        # Due: an item in their languages counts, and one in their languages is on a topic.
        due = {sid for sid in wanted
               if any(r.counts and r.lang in langs for r in by_story[sid])
               and any(t in sub.topics for r in by_story[sid] if r.lang in langs
                       for t in r.tags)}
        assert shown <= due
        assert len(shown) + sum(section.more for section in sections) == len(due)
        shown_somewhere += len(shown)
    assert shown_somewhere
