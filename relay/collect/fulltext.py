"""An article's web page -> its main text, for feeds whose entries are one-liners.

A feed with `fulltext: true` gets, for each *new* entry, its linked page fetched
(through the same client and politeness limits as feeds) and its main text
extracted with trafilatura (boilerplate, navigation, comments and tables left
out). Rules:
- the extracted text replaces the entry's content only when it is longer than
  what the feed gave, so a failed or poor extraction never loses the summary;
- a page is decoded by `decode` first (Japanese sites mislabel charsets);
- text is returned as simple paragraphs of escaped HTML, like any feed content.
Pure given the fetched bytes; the fetching is the pipeline's.
"""

from __future__ import annotations

import html

from relay.collect.decode import decode
from relay.models import Fetched

MAX_PAGES_PER_FEED = 30     # per collect: a feed that suddenly lists 500 items waits


def extract_article(fetched: Fetched) -> str | None:
    """The main text of an article page, or None when nothing article-like is found."""
    import trafilatura  # imported here: only full-text feeds pay for lxml and friends

    text, _codec = decode(fetched.body, fetched.headers.get("content-type", ""))
    extracted = trafilatura.extract(text, url=fetched.url, include_comments=False,
                                    include_tables=False, favor_precision=True)
    return extracted.strip() if extracted and extracted.strip() else None


def as_content(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip())
