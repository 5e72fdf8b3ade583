"""HTML listing pages without a feed -> `Entry` values, by CSS selectors.

The feed's `selectors` (from feeds.yaml) say where things are: `item` selects
each listed article in the page; `title`, `link`, `date` and `summary` are
applied inside one item (`link` takes the href of the element it selects,
or of the item's first link when it selects no <a>). Rules:
- the page is decoded by `decode` (charset sniffing: many Japanese
  government pages declare Shift_JIS but write CP932, or declare nothing);
- links are kept as published (query and fragment untouched), made absolute
  against the page's <base href>, else its URL (a page read from `path:`: its
  `base_url`); a relative link in a local page with neither stays as written;
- an item's date is its `date` element (its `datetime` attribute first) when
  that is a date in any form `relay.collect.dates` reads (`22. Dezember 2016`,
  `Seg, 24 Set 2018`, ...), else the first year-first or era date in it, or in
  the item's text when there is no `date` selector: 2026年3月19日, 2026/3/19,
  2026.03.19, 2026-03-19, 2017년 1월 7일, 令和8年3月19日, R8.3.19, with a time
  when one follows, and ISO 8601; without a zone it is Japan time. An item
  with no date has none (None);
- an item without a title or link is skipped; a page where `item` matches
  nothing, or where no match has both a title and a link, is a `ParseError`
  naming the selectors (the selectors or the site changed): a page that yields
  nothing is never "ok".
Selectors are applied with BeautifulSoup + soupsieve.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from relay.collect.dates import JST, find_date
from relay.collect.decode import decode
from relay.collect.feeds import is_web, join_link
from relay.errors import ParseError
from relay.models import Entry, Fetched

if TYPE_CHECKING:
    from bs4 import BeautifulSoup


def parse_japanese_date(text: str) -> datetime | None:
    """The first date in `text` in one of the module's forms, as UTC."""
    return find_date(text, JST)



def _links_base(soup: BeautifulSoup, fetched: Fetched) -> str:
    """The page's <base href> made absolute against its URL (or, read from a file, its
    `base_url`); "" for a local page with neither a `base_url` nor an absolute <base>."""
    start = fetched.base if is_web(fetched.base) else ""
    tag = soup.find("base", href=True)
    href = str(tag["href"]).strip() if tag else ""
    if href and (start or is_web(href)):
        return join_link(start, href, start)
    return start


def parse_page(fetched: Fetched, selectors: dict[str, str]) -> list[Entry]:
    # Imported here: a collect without page feeds does not load them (0.1 s).
    from bs4 import BeautifulSoup
    from soupsieve import SelectorSyntaxError

    text, _codec = decode(fetched.body, fetched.headers.get("content-type", ""))
    soup = BeautifulSoup(text, "html.parser")
    base = _links_base(soup, fetched)
    try:
        items = soup.select(selectors["item"])
    except SelectorSyntaxError as exc:
        raise ParseError(f"bad item selector {selectors['item']!r}: {exc}",
                         feed_id=fetched.feed_id, url=fetched.url) from exc
    if not items:
        raise ParseError(f"the item selector {selectors['item']!r} matches nothing on the page",
                         feed_id=fetched.feed_id, url=fetched.url,
                         hint="the site may have changed; check the selectors in feeds.yaml")
    entries: list[Entry] = []
    for node in items:
        title_node = node.select_one(selectors["title"]) if selectors.get("title") else node
        link_node = node.select_one(selectors["link"]) if selectors.get("link") else None
        if link_node is not None and link_node.name != "a":
            link_node = link_node.find("a", href=True) or link_node
        if link_node is None or not link_node.get("href"):
            link_node = node.find("a", href=True)
        if title_node is None or link_node is None or not link_node.get("href"):
            continue
        title = title_node.get_text(" ", strip=True)
        if not title:
            continue
        href = str(link_node["href"]).strip()
        url = join_link(base, href, href) if base and not is_web(href) else href
        published = None
        if selectors.get("date"):
            date_node = node.select_one(selectors["date"])
            if date_node is not None:
                published = parse_japanese_date(
                    str(date_node.get("datetime") or "") or date_node.get_text(" ", strip=True))
        else:
            published = parse_japanese_date(node.get_text(" ", strip=True))
        summary = ""
        if selectors.get("summary"):
            summary_node = node.select_one(selectors["summary"])
            summary = summary_node.decode_contents() if summary_node is not None else ""
        entries.append(Entry(feed_id=fetched.feed_id, guid=url + "#" + title, url=url,
                             title=title, content_html=summary, published_at=published))
    if not entries:
        raise ParseError(_no_item(selectors, len(items)), feed_id=fetched.feed_id,
                         url=fetched.url,
                         hint="the site may have changed; check the selectors in feeds.yaml")
    return entries


def _no_item(selectors: dict[str, str], matched: int) -> str:
    """Why a page whose items all lack a title or a link gave nothing, naming the selectors."""
    title = f"title {selectors['title']!r}" if selectors.get("title") else "title (its text)"
    link = f"link {selectors['link']!r}" if selectors.get("link") else "link (an <a href>)"
    return (f"the item selector {selectors['item']!r} matches {matched} "
            f"{'element' if matched == 1 else 'elements'} but none has a {title} and a {link}")
