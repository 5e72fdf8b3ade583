"""Ingest throughput: relay's parse + normalize + tokens + tag + dedup + store, against
the bare cost of feedparser parsing plus Sudachi tokenization of the same items,
measured side by side in one run (PERFORMANCE.md: compare only figures from one run).

    python benchmarks/ingest.py [--items 2000] [--repeat 3]

Prints items/s for both and relay's cost as a ratio of the bare cost.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from pathlib import Path

import feedparser

from relay.collect.feeds import parse_feed, read_feed
from relay.config import builtin_topics
from relay.models import FeedKind, FeedSpec, Fetched
from relay.pipeline import ingest, workers
from relay.pipeline.ingesting import Ingester, Outcome
from relay.store import Store
from relay.tag import Taxonomy, compile_taxonomy
from relay.tokens import _sudachi, tokenize, warm_up

JA = ["量子コンピュータ", "研究拠点", "半導体", "人材育成", "予算", "大学", "国際共同研究", "経済安全保障",
      "核融合", "人工衛星", "スタートアップ", "投資", "州政府", "発表した", "支援する", "重要鉱物"]
EN = ["quantum", "computing", "funding", "university", "semiconductor", "fab", "researchers",
      "budget", "startup", "venture", "fusion", "energy", "satellite", "launch", "export",
      "controls", "the", "state", "announced", "million", "program", "talent", "visa"]


KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモラリルレロガギグゲゴザジズゼゾダデドバビブベボパピプペポ"
JA_PARTICLES = ["の", "は", "を", "が", "に", "と", "で", "も", "から", "として", "により", "について"]
JA_ENDINGS = ["した", "する", "している", "された", "を発表した", "を進める", "となる", "だ"]


def _vocab(rnd: random.Random, alphabet: str, size: int, length: tuple[int, int]) -> list[str]:
    return ["".join(rnd.choices(alphabet, k=rnd.randint(*length))) for _ in range(size)]


class _Zipf:
    """Content words drawn with Zipf-Mandelbrot frequencies (the k-th word 1/(k + 30)
    as often), as in real text once its function words are set aside: two unrelated
    items share a few common words, not most of them. The topic words are shuffled
    in among the others."""

    def __init__(self, rnd: random.Random, words: list[str]) -> None:
        self.rnd, self.words = rnd, words[:]
        rnd.shuffle(self.words)
        self.weights = list(itertools.accumulate(1 / (k + 30) for k in range(len(words))))

    def take(self, k: int) -> list[str]:
        return self.rnd.choices(self.words, cum_weights=self.weights, k=k)


def make_feed(n: int, seed: int = 7, lang: str = "mixed", chars: int = 0) -> bytes:
    """Items that, like real news, share common words (Zipf-distributed over a 4,000-word
    vocabulary) but differ in names and figures; no two tell one story. `lang` ja or en
    makes a feed in that language that says so (<language>); `chars` makes each body at
    least that long (PERFORMANCE.md's figures are for 600 characters)."""
    rnd = random.Random(seed)
    # Katakana words: Sudachi keeps an unknown katakana run whole, as it keeps a real
    # word; random kanji would fall apart into the same few single characters.
    ja_words = _Zipf(rnd, JA + _vocab(rnd, KATAKANA, 4000, (2, 5)))
    ja_names = [w + "社" for w in _vocab(rnd, KATAKANA, 3000, (3, 6))]
    en_words = _Zipf(rnd, EN + _vocab(rnd, "abcdefghijklmnopqrstuvwxyz", 4000, (3, 10)))
    en_names = [w.capitalize() for w in _vocab(rnd, "abcdefghijklmnopqrstuvwxyz", 5000, (4, 9))]
    now = datetime.now(UTC)
    items = []
    for i in range(n):
        japanese = lang == "ja" or (lang == "mixed" and i % 2)
        figure = f"{rnd.randint(2, 900)}"
        if japanese:
            names = rnd.sample(ja_names, 3)

            def sentence(names: list[str] = names) -> str:
                words = ja_words.take(5) + [rnd.choice(names)]
                rnd.shuffle(words)
                return "".join(w + rnd.choice(JA_PARTICLES) for w in words[:-1]) + words[-1] \
                    + rnd.choice(JA_ENDINGS) + "。"
            title = f"{names[0]}{ja_words.take(1)[0]}、{figure}億円の{ja_words.take(1)[0]}"
            body = "".join(sentence() for _ in range(4))
            while len(body) < chars:
                body += sentence()
        else:
            names = rnd.sample(en_names, 3)

            def sentence(names: list[str] = names) -> str:
                words = en_words.take(12) + [rnd.choice(names)]
                rnd.shuffle(words)
                return " ".join(words).capitalize() + "."
            title = f"{names[0]} {' '.join(en_words.take(5))} ${figure} million"
            body = " ".join(sentence() for _ in range(4))
            while len(body) < chars:
                body += " " + sentence()
        items.append(
            f"<item><title>{title}</title><link>https://bench.example/{i}</link>"
            f"<guid>b-{i}</guid><pubDate>{format_datetime(now - timedelta(minutes=i))}</pubDate>"
            f"<description>&lt;p&gt;{body}&lt;/p&gt;</description></item>")
    xml = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
           "<title>bench</title><link>https://bench.example/</link>"
           + (f"<language>{lang}</language>" if lang in ("ja", "en") else "")
           + "".join(items) + "</channel></rss>")
    return xml.encode("utf-8")


def bare(body: bytes) -> float:
    """feedparser, then relay's own tokens: Sudachi for Japanese, Snowball for the rest
    (the strict baseline: relay's cheap English path counts for it, not for relay)."""
    start = time.perf_counter()
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    for e in parsed.entries:
        lang = "ja" if any("\u3040" <= ch <= "\u9fff" for ch in e.title) else "en"
        tokenize(e.title, lang)
        tokenize(e.summary, lang)
    return time.perf_counter() - start


def bare_sudachi(body: bytes) -> float:
    """The issue's words: feedparser, then Sudachi over every item (normalized forms)."""
    tokenizer = _sudachi()
    start = time.perf_counter()
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    for e in parsed.entries:
        for text in (e.title, e.summary):
            [m.normalized_form() for m in tokenizer.tokenize(text)]
    return time.perf_counter() - start


def relay_ingest(body: bytes, folder: Path, workers: int = 0) -> tuple[float, float, float]:
    """Seconds for relay's parse + ingest of the feed, for the ingest alone (from parsed
    entries to stored, the issue's definition), and the main process's CPU seconds in
    the ingest alone: with workers, the part that does not spread over the cores, and a
    figure that other processes on a busy machine change far less than the elapsed
    time."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    feed = FeedSpec(id="bench", name="bench", kind=FeedKind.RSS, url="https://bench.example/")
    with Store(folder / f"bench-{time.monotonic_ns()}.db") as store:
        store.sync_feeds([feed])
        start = time.perf_counter()
        entries = parse_feed(Fetched("bench", "https://bench.example/feed", 200, body))
        parsed, cpu = time.perf_counter(), time.process_time()
        new, _dups = ingest(feed, entries, store, taxonomy, datetime.now(UTC), workers=workers)
        end, cpu = time.perf_counter(), time.process_time() - cpu
    assert new == len(entries), (new, len(entries))
    return end - start, end - parsed, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lang", default="ja,en,mixed",
                    help="feeds to measure: ja / en (declared), mixed (undeclared, detected)")
    ap.add_argument("--chars", type=int, default=600, help="at least this many per body")
    ap.add_argument("--corpus", type=Path, help="also the real feeds of this folder "
                    "(e.g. ../shared/corpus/feeds), each file as one feed")
    ap.add_argument("--workers", type=int, default=workers.resolve(None),
                    help="relay's worker processes (default: what relay would use here)")
    args = ap.parse_args()
    warm_up()
    print(f"{workers.usable_cpus()} CPUs; relay with {args.workers} worker processes, and "
          "with none (everything in one process)")
    if args.workers:
        started = time.perf_counter()
        pool = workers.pool(args.workers)
        assert pool is not None
        list(pool.map(abs, range(args.workers * 4)))
        print(f"worker processes started in {time.perf_counter() - started:.2f} s "
              "(once per relay process; not in the figures below)")
    print("relay's time per item as a multiple of two baselines, measured in this run:\n"
          "  A = feedparser + Sudachi over every item (the issue's bare cost)\n"
          "  B = feedparser + relay's own tokens (Sudachi for Japanese, Snowball for the "
          "rest: stricter)\n'parse+ingest' is relay from the feed's bytes to stored items; "
          "'ingest' from parsed entries to stored.")
    if args.corpus:
        corpus(args.corpus, args.repeat, args.workers)
    print(f"synthetic feeds: {args.items} items each, bodies of at least {args.chars} "
          f"characters, median of {args.repeat}")
    for lang in args.lang.split(","):
        body = make_feed(args.items, lang=lang, chars=args.chars)
        base_a: list[float] = []
        base_b: list[float] = []
        runs: dict[int, list[tuple[float, float, float]]] = {args.workers: [], 0: []}
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                base_a.append(bare_sudachi(body))
                base_b.append(bare(body))
                for n_workers in runs:
                    runs[n_workers].append(relay_ingest(body, Path(tmp), n_workers))
        n = args.items
        a, b = statistics.median(base_a), statistics.median(base_b)
        print(f"{lang} ({len(body) / 1e6:.1f} MB): A {1000 * a / n:.2f} ms, "
              f"B {1000 * b / n:.2f} ms")
        for n_workers in (args.workers, 0):
            whole = statistics.median(t for t, _, _ in runs[n_workers])
            alone = statistics.median(t for _, t, _ in runs[n_workers])
            cpu = statistics.median(c for _, _, c in runs[n_workers])
            label = f"{n_workers} workers" if n_workers else "1 process"
            print(f"  relay, {label:>9}: parse+ingest {1000 * whole / n:5.2f} ms "
                  f"({whole / a:.2f}x A, {whole / b:.2f}x B, {n / whole:5.0f} items/s); "
                  f"ingest {1000 * alone / n:5.2f} ms ({alone / a:.2f}x A, {alone / b:.2f}x B)"
                  + (f"; main process CPU {1000 * cpu / n:5.2f} ms" if n_workers else ""))


def corpus(folder: Path, repeat: int, n_workers: int) -> None:
    """Relay's ingest of every real feed in `folder` against bare parse + tokenize of the
    same files (tokenized as ja when the text has kana or kanji, else en). Relay reads
    the feeds as `collect` does: it parses one while workers prepare those before."""
    bodies = [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    tokenizer = _sudachi()
    base_a: list[float] = []
    base_b: list[float] = []
    relay_times: list[float] = []
    single_times: list[float] = []
    main_cpu: list[float] = []
    items = 0
    for _ in range(repeat):
        started = time.perf_counter()
        for body in bodies:
            parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
            for e in parsed.entries:
                for text in (e.get("title", ""), e.get("summary", "")):
                    [m.normalized_form() for m in tokenizer.tokenize(text)]
        base_a.append(time.perf_counter() - started)
        started = time.perf_counter()
        for body in bodies:
            parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
            for e in parsed.entries:
                text = f"{e.get('title', '')} {e.get('summary', '')}"
                ja = any("\u3040" <= ch <= "\u9fff" for ch in text)
                tokenize(text, "ja" if ja else "en")
        base_b.append(time.perf_counter() - started)
        for n, times in ((n_workers, relay_times), (0, single_times)):
            cpu = time.process_time()
            elapsed, items = _corpus_ingest(bodies, taxonomy, n)
            times.append(elapsed)
            if n:
                main_cpu.append(time.process_time() - cpu)
    a, b = statistics.median(base_a), statistics.median(base_b)
    print(f"real feeds from {folder}: {len(bodies)} files, {items} items, median of {repeat}: "
          f"A {1000 * a / items:.2f} ms, B {1000 * b / items:.2f} ms per item")
    for label, times in ((f"{n_workers} workers", relay_times), ("1 process", single_times)):
        r = statistics.median(times)
        print(f"  relay, {label:>9}: parse+ingest {1000 * r / items:5.2f} ms ({r / a:.2f}x A, "
              f"{r / b:.2f}x B, {items / r:5.0f} items/s)"
              + (f"; main process CPU {1000 * statistics.median(main_cpu) / items:5.2f} ms"
                 if times is relay_times and main_cpu else ""))


def _corpus_ingest(bodies: list[bytes], taxonomy: Taxonomy, n_workers: int) -> tuple[float, int]:
    items = [0]

    def stored(outcome: Outcome) -> None:   # the corpus's one truncated file is an error
        items[0] += outcome.new + outcome.duplicates

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "c.db") as store:
        feeds = [FeedSpec(id=f"c{i}", name="c", kind=FeedKind.RSS, url="https://c.example/")
                 for i in range(len(bodies))]
        store.sync_feeds(feeds)
        started = time.perf_counter()
        ingester = Ingester(store, taxonomy, datetime.now(UTC), n_workers)
        for feed, body in zip(feeds, bodies, strict=True):
            fetched = Fetched(feed.id, "https://c.example/", 200, body)
            ingester.add_document(feed, partial(read_feed, fetched, None), len(body),
                                  stored)
        ingester.finish()
        return time.perf_counter() - started, items[0]


if __name__ == "__main__":
    main()
