"""Ingest throughput: relay's parse + normalize + tokens + tag + dedup + store, against
the bare cost of feedparser parsing plus Sudachi tokenization of the same items,
measured side by side in one run (PERFORMANCE.md: compare only figures from one run).

    python benchmarks/ingest.py [--items 2000] [--repeat 3]

Prints items/s for both and relay's cost as a ratio of the bare cost.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser

from relay.collect.feeds import parse_feed
from relay.config import builtin_topics
from relay.models import FeedKind, FeedSpec, Fetched
from relay.pipeline import ingest
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.tokens import tokenize, warm_up

JA = ["量子コンピュータ", "研究拠点", "半導体", "人材育成", "予算", "大学", "国際共同研究", "経済安全保障",
      "核融合", "人工衛星", "スタートアップ", "投資", "州政府", "発表した", "支援する", "重要鉱物"]
EN = ["quantum", "computing", "funding", "university", "semiconductor", "fab", "researchers",
      "budget", "startup", "venture", "fusion", "energy", "satellite", "launch", "export",
      "controls", "the", "state", "announced", "million", "program", "talent", "visa"]


def _vocab(rnd: random.Random, alphabet: str, size: int, length: tuple[int, int]) -> list[str]:
    return ["".join(rnd.choices(alphabet, k=rnd.randint(*length))) for _ in range(size)]


def make_feed(n: int, seed: int = 7) -> bytes:
    """Items that, like real news, share common words but differ in names and figures."""
    rnd = random.Random(seed)
    ja_names = _vocab(rnd, "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモラリルレロ",
                      3000, (3, 6))
    en_names = _vocab(rnd, "abcdefghijklmnopqrstuvwxyz", 5000, (4, 9))
    now = datetime.now(UTC)
    items = []
    for i in range(n):
        if i % 2:
            words = JA + rnd.sample(ja_names, 12)
            title = "".join(rnd.choices(words, k=4)) + f"{i}"
            body = "。".join("、".join(rnd.choices(words, k=6)) for _ in range(8)) + "。"
        else:
            words = EN + rnd.sample(en_names, 15)
            title = " ".join(rnd.choices(words, k=8)) + f" {i}"
            body = ". ".join(" ".join(rnd.choices(words, k=14)) for _ in range(6)) + "."
        items.append(
            f"<item><title>{title}</title><link>https://bench.example/{i}</link>"
            f"<guid>b-{i}</guid><pubDate>{format_datetime(now - timedelta(minutes=i))}</pubDate>"
            f"<description>&lt;p&gt;{body}&lt;/p&gt;</description></item>")
    xml = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
           "<title>bench</title><link>https://bench.example/</link>"
           + "".join(items) + "</channel></rss>")
    return xml.encode("utf-8")


def bare(body: bytes) -> float:
    start = time.perf_counter()
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    for e in parsed.entries:
        lang = "ja" if any("\u3040" <= ch <= "\u9fff" for ch in e.title) else "en"
        tokenize(e.title, lang)
        tokenize(e.summary, lang)
    return time.perf_counter() - start


def relay_ingest(body: bytes, folder: Path) -> float:
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    feed = FeedSpec(id="bench", name="bench", kind=FeedKind.RSS, url="https://bench.example/")
    with Store(folder / f"bench-{time.monotonic_ns()}.db") as store:
        store.sync_feeds([feed])
        start = time.perf_counter()
        entries = parse_feed(Fetched("bench", "https://bench.example/feed", 200, body))
        new, _dups = ingest(feed, entries, store, taxonomy, datetime.now(UTC))
        elapsed = time.perf_counter() - start
    assert new == len(entries), (new, len(entries))
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warm_up()
    body = make_feed(args.items)
    bare_times, relay_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            bare_times.append(bare(body))
            relay_times.append(relay_ingest(body, Path(tmp)))
    b, r = statistics.median(bare_times), statistics.median(relay_times)
    print(f"items: {args.items} ({len(body) / 1e6:.1f} MB feed), median of {args.repeat}")
    print(f"bare feedparser + Sudachi: {args.items / b:8.0f} items/s ({1000 * b / args.items:.2f} ms/item)")
    print(f"relay ingest (all stages): {args.items / r:8.0f} items/s ({1000 * r / args.items:.2f} ms/item)")
    print(f"relay / bare: {r / b:.2f}x")


if __name__ == "__main__":
    main()
