"""How well three readings save a broken feed: feedparser's loose parser, lxml's recover
mode, and relay's salvage (relay.collect.feeds.salvage). The figures behind the choice
written in relay/collect/feeds.py.

    RELAY_CORPUS=../shared/corpus python benchmarks/salvage.py

Every well-formed corpus feed with 4 entries or more is broken in 8 ways: cut at 30, 60
and 90% of its bytes; a mismatched tag, an HTML entity, a bare '&' or a control
character in the title of its middle entry; cut at 50% and followed by a server's error
page. For each reading it prints the entries equal to one of the intact document's
(title, link, content), the others ("garbled": cut short or changed), and how many
complete entries the broken document still holds ("expected": all of them for a fault
in the middle, the complete ones before the cut otherwise).
"""

from __future__ import annotations

import os
import re
import sys
import warnings
import xml.sax
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from relay.collect.decode import as_utf8_document
from relay.collect.feeds import _feedparse, salvage

_ENTRY = re.compile(rb"<(?:\w+:)?(?:item|entry)[\s>]")
_ENTRY_END = re.compile(rb"</(?:\w+:)?(?:item|entry)>")


def _key(e: Any) -> tuple[str, str, str]:
    content = [c.get("value", "") for c in e.get("content", []) or []]
    return (e.get("title", ""), e.get("link", ""),
            max([*content, e.get("summary", "") or ""], key=len))


def loose(doc: bytes) -> list[Any]:
    return list(_feedparse(doc).entries)


def recover(doc: bytes) -> list[Any]:
    root = etree.fromstring(doc, etree.XMLParser(recover=True, resolve_entities=False))
    if root is None:
        return []
    return list(_feedparse(etree.tostring(root, encoding="utf-8", xml_declaration=True)).entries)


def relay_salvage(doc: bytes) -> list[Any]:
    parsed = _feedparse(doc)
    if parsed.bozo and isinstance(parsed.bozo_exception, xml.sax.SAXException):
        again = _feedparse(salvage(doc).body)
        if not (again.bozo and isinstance(again.bozo_exception, xml.sax.SAXException)):
            return list(again.entries)
    return list(parsed.entries)


def breaks(doc: bytes) -> Iterator[tuple[str, bytes, int | None]]:
    """(kind, broken document, where it was cut or None)."""
    starts = [m.start() for m in _ENTRY.finditer(doc)]
    middle = starts[len(starts) // 2]
    title = doc.find(b">", doc.find(b"<title", middle)) + 1
    for share in (0.3, 0.6, 0.9):
        cut = int(len(doc) * share)
        yield f"cut at {share:.0%}", doc[:cut], cut
    close = doc.find(b"</title>", middle)
    yield "mismatched tag", doc[:close] + doc[close + 8:], None
    yield "HTML entity", doc[:title] + b"&nbsp;&eacute;" + doc[title:], None
    yield "bare &", doc[:title] + b"R&D " + doc[title:], None
    yield "control char", doc[:title] + b"\x0b" + doc[title:], None
    cut = len(doc) // 2
    yield "error page at 50%", doc[:cut] + (b"<!-- Exception rendering module on server -->"
                                            b"<html><body>500</body></html>"), cut


def main() -> None:
    corpus = Path(os.environ.get("RELAY_CORPUS", "../shared/corpus"))
    if not (corpus / "feeds").is_dir():
        sys.exit(f"no corpus at {corpus}: set RELAY_CORPUS")
    warnings.simplefilter("ignore")
    readings: dict[str, Callable[[bytes], list[Any]]] = {
        "feedparser loose": loose, "lxml recover": recover, "relay salvage": relay_salvage}
    totals: dict[tuple[str, str], list[int]] = {}
    docs = 0
    for path in sorted((corpus / "feeds").iterdir()):
        doc, _codec = as_utf8_document(path.read_bytes())
        intact = _feedparse(doc)
        if intact.bozo or len(intact.entries) < 4:
            continue
        docs += 1
        truth = {_key(e) for e in intact.entries}
        for kind, broken, cut in breaks(doc):
            expected = len(truth) if cut is None else len(_ENTRY_END.findall(doc[:cut]))
            for name, read in readings.items():
                entries = read(broken)
                good = sum(_key(e) in truth for e in entries)
                row = totals.setdefault((kind, name), [0, 0, 0])
                row[0] += good
                row[1] += len(entries) - good
                row[2] += expected
    print(f"{docs} feeds, each broken 8 ways")
    print(f"{'break':18} {'reading':17} {'intact':>7} {'garbled':>8} {'expected':>9}")
    for (kind, name), (good, garbled, expected) in totals.items():
        print(f"{kind:18} {name:17} {good:7} {garbled:8} {expected:9}")
    print("(an HTML entity or a bare '&' changes the title it is put in: that entry differs"
          " from the intact one in every reading)")


if __name__ == "__main__":
    main()
