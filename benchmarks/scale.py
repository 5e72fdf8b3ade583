"""Per-item ingest cost as the archive grows (issue 4's target: the 1M-item figure within
1.5x of the 10k one).

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--items 1000]

For each size, an archive of that many synthetic items is built directly with SQL (items,
stories, tags, the FTS index; LSH bands only for the items inside the story window, as
`prune_bands` keeps it), then `--items` new items are ingested through relay's real
pipeline (tokens, tags, dedup against the archive, store) and the per-item time printed,
with its ratio to the smallest size's figure measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ingest import make_feed  # noqa: E402

from relay import dedup  # noqa: E402
from relay.collect.feeds import parse_feed  # noqa: E402
from relay.config import builtin_topics  # noqa: E402
from relay.models import FeedKind, FeedSpec, Fetched  # noqa: E402
from relay.pipeline import ingest  # noqa: E402
from relay.store import Store, ts  # noqa: E402
from relay.tag import compile_taxonomy  # noqa: E402
from relay.tokens import tokenize, warm_up  # noqa: E402

TOPICS = [t.id for t in builtin_topics()]


def build(store: Store, size: int, now: datetime, rnd: random.Random) -> None:
    vocab = ["".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=rnd.randint(4, 9)))
             for _ in range(20000)]
    feed = FeedSpec(id="bulk", name="bulk", kind=FeedKind.RSS, url="https://bulk.example/")
    store.sync_feeds([feed])
    window = now - timedelta(days=dedup.STORY_WINDOW_DAYS)
    conn = store.conn
    batch = 20000
    for start in range(0, size, batch):
        rows, fts, tags, stories, recent = [], [], [], [], []
        for i in range(start, min(size, start + batch)):
            words = rnd.sample(vocab, 40)
            title, body = " ".join(words[:8]), " ".join(words[8:])
            # Spread over a year; the newest 2 % fall inside the story window.
            age = timedelta(days=365 * (1 - i / size))
            collected = now - age - timedelta(hours=1)
            rows.append((i + 1, "bulk", f"g{i}", f"https://bulk.example/{i}", title, body[:200],
                         body, "en", ts(collected), ts(collected), f"h{i}", i + 1))
            stories.append((i + 1, i + 1, ts(collected)))
            fts.append((i + 1, title, body))
            tags.append((i + 1, rnd.choice(TOPICS), 2.0, "[]"))
            if collected >= window:
                recent.append((i + 1, set(words)))
        with store.transaction():
            conn.executemany("INSERT INTO stories (id, first_item_id, first_seen_at, item_count)"
                             " VALUES (?,?,?,1)", stories)
            conn.executemany(
                "INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang,"
                " published_at, collected_at, content_hash, story_id) VALUES"
                " (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            conn.executemany("INSERT INTO items_fts (rowid, title, body) VALUES (?,?,?)", fts)
            conn.executemany("INSERT INTO item_tags VALUES (?,?,?,?)", tags)
            sigs = dedup.signatures(f for _, f in recent)
            for (item_id, _), sig in zip(recent, sigs, strict=True):
                assert sig is not None
                conn.execute("UPDATE items SET minhash = ? WHERE id = ?",
                             (sig.to_bytes(), item_id))
                conn.executemany("INSERT INTO lsh_bands VALUES (?,?,?)",
                                 [(b, h, item_id) for b, h in dedup.bands(sig)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--items", type=int, default=1000)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    warm_up()
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    now = datetime.now(UTC)
    entries = parse_feed(Fetched("new", "https://new.example/", 200,
                                 make_feed(args.items, seed=99)))
    feed = FeedSpec(id="new", name="new", kind=FeedKind.RSS, url="https://new.example/")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            with Store(Path(tmp) / f"a{size}.db") as store:
                started = time.perf_counter()
                build(store, size, now, random.Random(size))
                built = time.perf_counter() - started
                store.sync_feeds([feed])
                bands = store.conn.execute("SELECT COUNT(*) FROM lsh_bands").fetchone()[0]
                started = time.perf_counter()
                new, _ = ingest(feed, entries, store, taxonomy, now)
                per_item = (time.perf_counter() - started) / max(new, 1) * 1000
            results.append((size, per_item, built, bands))
    base = results[0][1]
    print(f"ingest of {args.items} new items into archives of growing size")
    print(f"{'archive':>10}  {'ms/item':>8}  {'vs first':>8}  {'bands':>9}  {'build s':>8}")
    for size, per_item, built, bands in results:
        print(f"{size:>10,}  {per_item:8.2f}  {per_item / base:7.2f}x  {bands:>9,}  {built:8.1f}")


if __name__ == "__main__":
    main()
