"""Search the archive: a query in any language, the filters, and each hit's snippet
with the query's words marked. The one composition of the search stage (to_fts,
query_tokens, highlight) with the tokenizer and the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from relay.errors import UsageError
from relay.langs import primary
from relay.models import Config, SearchHit
from relay.pipeline.ports import Archive
from relay.search import highlight, query_tokens, to_fts
from relay.tokens import spans, tokenize


def search(config: Config, store: Archive, query: str | None = None, *,
           topics: Sequence[str] = (), feeds: Sequence[str] = (),
           missions: Sequence[str] = (), langs: Sequence[str] = (),
           countries: Sequence[str] = (), story: int | None = None,
           since: datetime | None = None, until: datetime | None = None,
           limit: int = 20, order: str = "rank") -> list[SearchHit]:
    """The items matching `query` (words, "phrases", OR, NOT, prefix*; None: every item)
    and the filters, best first (`order` rank) or newest first (`order` date)."""
    for t in topics:
        if config.topic(t) is None:
            raise UsageError(f"unknown topic {t!r}", hint=", ".join(x.id for x in config.topics),
                             field="topic")
    codes = []
    for lang in langs:
        code = primary(lang)               # pt_BR is pt
        if code is None:
            raise UsageError(f"{lang!r} is not an ISO 639-1 language code "
                             "(ja, en, zh, pt, zh-CN, ...)", field="lang")
        codes.append(code)
    langs = tuple(dict.fromkeys(codes))
    # Without languages, a word is stemmed as each language the archive holds items in.
    held = store.languages() if query and not langs else []
    match = to_fts(query, tokenize, langs, held) if query else None
    wanted = query_tokens(query, tokenize, langs, held) if query else set()
    hits = store.search(match, topics=topics, feeds=feeds, missions=missions, langs=langs,
                        countries=countries, story=story, since=since, until=until,
                        limit=limit, order=order)
    if not wanted:
        return hits
    return [replace(h, snippet=highlight(spans(h.summary, h.lang), wanted)) for h in hits]
