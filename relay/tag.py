"""Topic tagging: which topics of the taxonomy an item is about, and why.

Inputs: the item's title and body as normalized token lists (from `tokens`),
a `Taxonomy` compiled once from the topics with the same tokenizer, and the
feed's own topics. Output: `Tag`s with a score and the terms that matched.

Rules:
- a term matches as a contiguous sequence of tokens, never as a substring
  ("ai" does not match inside "main"; 核融合 = 核 融合 does not match 文理 融合);
- every topic's terms of every language are tried (a Japanese report that
  writes "AI" or "CHIPS Act" matches the English terms);
- a match inside a span matched by one of the topic's `exclude` phrases
  does not count ("quantum leap", "fusion cuisine");
- one mention counts once per topic: of overlapping matches of one topic the
  longest wins (生成AI, not 生成AI and AI);
- a hit in the title weighs TITLE_WEIGHT, in the body 1 per occurrence, at
  most MAX_HITS_PER_TERM occurrences of one term counted; a topic is tagged
  when its score reaches THRESHOLD;
- the feed's topics are always added (terms: "feed"), and so are the topics a
  report's author gave (terms: "report").
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from relay.models import Tag, Topic

TITLE_WEIGHT = 2.0
BODY_WEIGHT = 1.0
THRESHOLD = 2.0
MAX_HITS_PER_TERM = 3
FEED_TERM = "feed"
SOURCE_TERM = "report"     # topics a report's author gave in its front matter

Tokenizer = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class _Phrase:
    topic: str
    term: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """Terms and exclusions as token sequences, indexed by their first token."""

    topic_ids: tuple[str, ...]
    terms: dict[str, list[_Phrase]] = field(default_factory=dict)
    excludes: dict[str, list[_Phrase]] = field(default_factory=dict)


def compile_taxonomy(topics: Iterable[Topic], tokenize: Tokenizer) -> Taxonomy:
    terms: dict[str, list[_Phrase]] = defaultdict(list)
    excludes: dict[str, list[_Phrase]] = defaultdict(list)
    ids: list[str] = []
    for topic in topics:
        ids.append(topic.id)
        for target, source in ((terms, topic.terms), (excludes, topic.exclude)):
            seen: set[tuple[str, ...]] = set()
            for lang, words in source.items():
                for word in words:
                    toks = tuple(tokenize(word, lang))
                    if toks and toks not in seen:
                        seen.add(toks)
                        target[toks[0]].append(_Phrase(topic.id, word, toks))
    return Taxonomy(tuple(ids), dict(terms), dict(excludes))


def _matches(
    tokens: Sequence[str], index: dict[str, list[_Phrase]]
) -> list[tuple[_Phrase, int]]:
    found: list[tuple[_Phrase, int]] = []
    n = len(tokens)
    for i, tok in enumerate(tokens):
        for phrase in index.get(tok, ()):
            k = len(phrase.tokens)
            if i + k <= n and tuple(tokens[i : i + k]) == phrase.tokens:
                found.append((phrase, i))
    return found


def _hits(tokens: Sequence[str], taxonomy: Taxonomy) -> dict[str, dict[str, int]]:
    """topic -> term -> occurrences, exclusions applied."""
    blocked: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for phrase, start in _matches(tokens, taxonomy.excludes):
        blocked[phrase.topic].append((start, start + len(phrase.tokens)))
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    taken: dict[str, list[tuple[int, int]]] = defaultdict(list)
    # Longest first: one mention counts once for a topic (生成AI is not also AI).
    found = sorted(_matches(tokens, taxonomy.terms), key=lambda m: (-len(m[0].tokens), m[1]))
    for phrase, start in found:
        end = start + len(phrase.tokens)
        if any(s < end and start < e for s, e in blocked.get(phrase.topic, ())):
            continue
        if any(s < end and start < e for s, e in taken[phrase.topic]):
            continue
        taken[phrase.topic].append((start, end))
        out[phrase.topic][phrase.term] += 1
    return out


def tag(
    title_tokens: Sequence[str],
    body_tokens: Sequence[str],
    taxonomy: Taxonomy,
    feed_topics: Iterable[str] = (),
    source_topics: Iterable[str] = (),
) -> tuple[Tag, ...]:
    """The topics of one item, best score first."""
    scores: dict[str, float] = defaultdict(float)
    terms: dict[str, set[str]] = defaultdict(set)
    for tokens, weight in ((title_tokens, TITLE_WEIGHT), (body_tokens, BODY_WEIGHT)):
        for topic, by_term in _hits(tokens, taxonomy).items():
            for term, count in by_term.items():
                scores[topic] += weight * min(count, MAX_HITS_PER_TERM)
                terms[topic].add(term)
    tags = {
        topic: Tag(topic, score, tuple(sorted(terms[topic])))
        for topic, score in scores.items()
        if score >= THRESHOLD
    }
    for given, term in ((feed_topics, FEED_TERM), (source_topics, SOURCE_TERM)):
        for topic in given:
            old = tags.get(topic)
            if old is None:
                tags[topic] = Tag(topic, THRESHOLD, (term,))
            elif term not in old.terms:
                tags[topic] = Tag(topic, old.score, (*old.terms, term))
    order = {t: i for i, t in enumerate(taxonomy.topic_ids)}
    return tuple(sorted(tags.values(), key=lambda t: (-t.score, order.get(t.topic, 99))))
