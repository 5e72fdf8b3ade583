"""Search over a big archive built from real text (issue 12, point 1).

    RELAY_CORPUS=../shared/corpus python benchmarks/search.py --db /tmp/search-1m.db \
        [--items 1000000] [--runs 3]

The archive is built once through relay's real schema (the store's migrations) and cached
at `--db` (reused when it holds `--items` items): 50 feeds (half Japanese, half English, in
ten countries), a year of dates (3 % undated), each item a title and 2-6 sentences drawn
from the corpus's real text (the livedoor news articles and titles, the agencies' news
titles, the WikiRef220 English news texts), its FTS columns the tokens relay's ingest
writes (`relay.tokens.tokenize`, each sentence tokenized once) and its tags those relay's
tagger gives them. The vocabulary is a real one, so a common word (日本, said) matches a
large part of the archive and a rare one a few items.

Then a fixed mix of queries (Japanese and English words, common and rare, phrases,
OR/NOT/prefix, topic/country/feed/lang/since filters with and without words) runs through
the library call (`relay.pipeline.search`, the use case `relay search` calls) and, for
each query with words, through the bare FTS query (`items_fts MATCH ? ORDER BY rank
LIMIT 20`) on the same expression, each `--runs` times after one warm-up. It prints
p50/p90/p99 per class and overall, and the library call's ratio to the bare query.
`--process N` also times N `relay search` processes (the CLI's whole cost).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay import pipeline
from relay.config import builtin_topics
from relay.models import Config, FeedKind, FeedSpec, Settings
from relay.search import to_fts
from relay.store import Store, ts
from relay.tag import compile_taxonomy, tag
from relay.text import excerpt
from relay.tokens import tokenize, warm_up

NOW = datetime(2026, 12, 1, tzinfo=UTC)
Piece = tuple[str, str]                 # (text, its tokens space-joined)

# (class, query, filters): fixed, so that runs compare.
QUERIES: list[tuple[str, str | None, dict[str, object]]] = [
    ("ja common", "日本", {}), ("ja common", "女性", {}), ("ja common", "映画", {}),
    ("ja common", "発表", {}), ("ja common", "情報", {}), ("ja common", "スマートフォン", {}),
    ("ja common", "デジタル", {}),
    ("ja rare", "量子", {}), ("ja rare", "核融合", {}), ("ja rare", "半導体", {}),
    ("ja rare", "こども家庭庁", {}), ("ja rare", "マイナンバーカード", {}),
    ("ja rare", "サムゲタン", {}),
    ("en common", "said", {}), ("en common", "government", {}), ("en common", "police", {}),
    ("en common", "people", {}), ("en common", "president", {}), ("en common", "year", {}),
    ("en rare", "quantum", {}), ("en rare", "lottery", {}), ("en rare", "referendum", {}),
    ("en rare", "Heinsohn", {}), ("en rare", "semiconductor", {}), ("en rare", "Bataclan", {}),
    ("phrase", '"Malaysia Airlines"', {}), ("phrase", '"Prime Minister"', {}),
    ("phrase", '"マイナンバーカード の"', {}), ("phrase", '"the police said"', {}),
    ("phrase", '"デジタル 庁"', {}),
    ("boolean", "quantum OR 量子", {}), ("boolean", "Paris NOT attack", {}),
    ("boolean", "elect*", {}), ("boolean", "スマホ OR スマートフォン", {}),
    ("boolean", "(Greece OR Cyprus) debt", {}), ("boolean", "govern* NOT police", {}),
    ("words+filter", "日本", {"langs": ["ja"], "since": timedelta(days=30)}),
    ("words+filter", "said", {"countries": ["DE"]}),
    ("words+filter", "police", {"feeds": ["en-07"]}),
    ("words+filter", "情報", {"topics": ["ai"]}),
    ("words+filter", "government", {"topics": ["economic-security"], "countries": ["US"]}),
    ("words+filter", "映画", {"since": timedelta(days=7)}),
    ("words+filter", "発表", {"countries": ["JP"], "topics": ["talent"]}),
    ("words+filter", "year", {"langs": ["en"], "feeds": ["en-03", "en-04"]}),
    ("filter only", None, {"topics": ["ai"], "countries": ["DE"]}),
    ("filter only", None, {"topics": ["ai"]}),
    ("filter only", None, {"countries": ["JP"]}),
    ("filter only", None, {"feeds": ["ja-11"]}),
    ("filter only", None, {"langs": ["en"]}),
    ("filter only", None, {"since": timedelta(days=7)}),
    ("filter only", None, {"topics": ["quantum"], "langs": ["ja"]}),
    ("filter only", None, {"topics": ["space"], "countries": ["US"], "since": timedelta(days=90)}),
    ("filter only", None, {}),
]

COUNTRIES = {"ja": ["JP"] * 8 + ["KR", "TW"], "en": ["US", "US", "GB", "DE", "FR", "AU", "IN",
                                                    "DE", "US", "GB"]}
MISSIONS = ["news", "government", "research", "industry", "policy"]


def _sentences(text: str, lang: str) -> Iterator[str]:
    cut = r"(?<=[。！？])|\n+" if lang == "ja" else r"(?<=[.!?])\s+|\n+"
    for s in re.split(cut, text):
        s = " ".join(s.split())
        if len(s) >= (12 if lang == "ja" else 30):
            yield s


def _piece(text: str, lang: str) -> Piece:
    return text, " ".join(tokenize(text, lang))


def load_pool(corpus: Path) -> dict[str, tuple[list[Piece], list[Piece]]]:
    """Per language, (titles, sentences) of the corpus's real text, each tokenized once."""
    data = corpus / "datasets"
    titles: dict[str, list[str]] = {"ja": [], "en": []}
    bodies: dict[str, list[str]] = {"ja": [], "en": []}
    for path in sorted((data / "livedoor-news-corpus-sample").glob("*/*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 3 and lines[0].startswith("http"):
            titles["ja"].append(lines[2])
            bodies["ja"].extend(_sentences("\n".join(lines[3:]), "ja"))
    with open(data / "livedoor_news_titles_index.tsv", encoding="utf-8") as f:
        titles["ja"].extend(row["title"] for row in csv.DictReader(f, delimiter="\t"))
    for name in ("jp_digital-agency_news_items.csv", "jp_children-families-agency_news_items.csv"):
        with open(data / name, encoding="utf-8") as f:
            titles["ja"].extend(row[2].split("::")[-1] for row in csv.reader(f)
                                if len(row) > 2 and row[2] != "タイトル")
    for path in sorted((data / "wikiref220-news-topic-clusters").glob("*.txt")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if lines:
            titles["en"].append(lines[0].strip())
            bodies["en"].extend(_sentences("\n".join(lines[1:]), "en"))
    # English headlines: the corpus has few, so a sentence's opening words serve too.
    titles["en"].extend(" ".join(s.split()[:random.Random(i).randint(6, 12)])
                        for i, s in enumerate(bodies["en"]))
    return {lang: ([_piece(t, lang) for t in dict.fromkeys(titles[lang]) if t.strip()],
                   [_piece(s, lang) for s in dict.fromkeys(bodies[lang])])
            for lang in ("ja", "en")}


def feeds() -> list[FeedSpec]:
    out = []
    for lang in ("ja", "en"):
        for n in range(25):
            out.append(FeedSpec(id=f"{lang}-{n:02d}", name=f"{lang} feed {n}", kind=FeedKind.RSS,
                                url=f"https://{lang}{n}.example/feed", lang=lang,
                                country=COUNTRIES[lang][n % 10], mission=MISSIONS[n % 5]))
    return out


def build(db: Path, size: int, corpus: Path) -> float:
    """The archive of `size` items at `db` (made anew); returns the seconds it took."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    warm_up()
    pool = load_pool(corpus)
    print(f"pool: ja {len(pool['ja'][0]):,} titles {len(pool['ja'][1]):,} sentences;"
          f" en {len(pool['en'][0]):,} titles {len(pool['en'][1]):,} sentences"
          f" ({time.perf_counter() - started:.0f} s)", flush=True)
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    rnd = random.Random(12)
    specs = feeds()
    with Store(db) as store:
        store.sync_feeds(specs)
        conn = store.conn
        conn.execute("PRAGMA synchronous = OFF")
        batch = 20000
        for start in range(0, size, batch):
            rows, fts, tags, stories = [], [], [], []
            for i in range(start, min(size, start + batch)):
                feed = specs[rnd.randrange(50)]
                lang = feed.lang or "en"
                titles, sentences = pool[lang]
                title, title_toks = titles[rnd.randrange(len(titles))]
                body = [sentences[rnd.randrange(len(sentences))] for _ in range(rnd.randint(2, 6))]
                text = ("" if lang == "ja" else " ").join(s for s, _ in body)
                text_toks = " ".join(t for _, t in body)
                collected = NOW - timedelta(days=365 * (1 - i / size))
                published = None if rnd.random() < 0.03 else collected - timedelta(hours=1)
                rows.append((i + 1, feed.id, f"g{i}", f"https://x.example/{i}", f"x.example/{i}",
                             title, excerpt(text, 600), text, lang,
                             published and ts(published), ts(collected), f"h{i}", i + 1))
                stories.append((i + 1, i + 1, ts(collected)))
                fts.append((i + 1, title_toks, text_toks))
                for t in tag(title_toks.split(), text_toks.split(), taxonomy):
                    tags.append((i + 1, t.topic, t.score, "[]"))
            with store.transaction():
                conn.executemany("INSERT INTO stories (id, first_item_id, first_seen_at,"
                                 " item_count) VALUES (?,?,?,1)", stories)
                conn.executemany(
                    "INSERT INTO items (id, feed_id, guid, url, url_key, title, summary, text,"
                    " lang, published_at, collected_at, content_hash, story_id) VALUES"
                    " (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                conn.executemany("INSERT INTO items_fts (rowid, title, body) VALUES (?,?,?)",
                                 fts)
                conn.executemany("INSERT INTO item_tags VALUES (?,?,?,?)", tags)
            if start % 100000 == 0:
                print(f"  {start + len(rows):,} items ({time.perf_counter() - started:.0f} s)",
                      flush=True)
        with store.transaction():
            conn.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
    return time.perf_counter() - started


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _filters(f: dict[str, object]) -> dict[str, object]:
    out = dict(f)
    if isinstance(out.get("since"), timedelta):
        out["since"] = NOW - out["since"]  # type: ignore[operator]
    return out


def run(db: Path, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    config = Config(path=Path("feeds.yaml"), settings=Settings(), topics=builtin_topics(),
                    feeds=tuple(feeds()))
    timings: dict[str, tuple[list[float], list[float]]] = {}
    warm_up()
    with Store(db) as store:
        held = store.languages()
        for cls, query, filters in QUERIES:
            kwargs = _filters(filters)
            lib, bare = timings.setdefault(cls, ([], []))
            match = to_fts(query, tokenize, (), held) if query else None
            for n in range(runs + 1):
                started = time.perf_counter()
                hits = pipeline.search(config, store, query, **kwargs)  # type: ignore[arg-type]
                took = (time.perf_counter() - started) * 1000
                if n:
                    lib.append(took)
                if match is None:
                    continue
                started = time.perf_counter()
                store.conn.execute("SELECT rowid FROM items_fts WHERE items_fts MATCH ?"
                                   " ORDER BY rank LIMIT 20", (match,)).fetchall()
                if n:
                    bare.append((time.perf_counter() - started) * 1000)
            shown = " ".join(f"{k}={v.days if isinstance(v, timedelta) else v}"
                             for k, v in filters.items())
            print(f"  {cls:12} {query or '-':24} {shown:44.44} {len(hits):3} hits"
                  f"  {statistics.median(lib[-runs:]):8.1f} ms", flush=True)
    return timings


def report(timings: dict[str, tuple[list[float], list[float]]]) -> None:
    print(f"\n{'class':14}{'p50':>8}{'p90':>8}{'p99':>8}   bare FTS{'p50':>6}{'p90':>8}"
          f"{'p99':>8}  p50 ratio")
    rows = [*timings.items(), ("all with words", (
        [t for c, (lib, _) in timings.items() if c != "filter only" for t in lib],
        [t for _, (_, bare) in timings.items() for t in bare])),
        ("all", ([t for lib, _ in timings.values() for t in lib], []))]
    for cls, (lib, bare) in rows:
        line = f"{cls:14}" + "".join(f"{_pct(lib, q):8.1f}" for q in (0.5, 0.9, 0.99))
        if bare:
            line += "   " + " " * 8 + "".join(f"{_pct(bare, q):8.1f}" for q in (0.5, 0.9, 0.99))
            line += f"  {_pct(lib, 0.5) / _pct(bare, 0.5):7.2f}x"
        print(line)


def processes(db: Path, n: int) -> None:
    """`relay search` as whole processes against the archive (a config naming its feeds)."""
    cfg = db.with_suffix(".feeds.yaml")
    cfg.write_text("feeds:\n" + "".join(
        f"  - id: {f.id}\n    url: {f.url}\n    lang: {f.lang}\n    country: {f.country}\n"
        for f in feeds()), encoding="utf-8")
    times = []
    for i in range(n + 1):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "relay", "--config", str(cfg), "--db", str(db),
                        "search", ["日本", "said", "quantum OR 量子"][i % 3]],
                       check=True, capture_output=True)
        if i:
            times.append((time.perf_counter() - started) * 1000)
    print(f"\n`relay search` as a process, {n} runs: p50 {statistics.median(times):.0f} ms,"
          f" max {max(times):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/tmp/relay-search-bench.db"))
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--process", type=int, default=0, help="time N `relay search` processes")
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()
    corpus = Path(os.environ.get("RELAY_CORPUS", "../shared/corpus"))
    if not (corpus / "datasets").is_dir():
        sys.exit(f"no corpus datasets at {corpus}: set RELAY_CORPUS=../shared/corpus")
    held = 0
    if args.db.exists():
        with Store(args.db) as store:
            held = store.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    if held != args.items:
        print(f"building {args.items:,} items at {args.db}", flush=True)
        print(f"built in {build(args.db, args.items, corpus):.0f} s", flush=True)
    else:
        print(f"reusing {args.db} ({held:,} items)")
    if args.build_only:
        return
    print(f"{len(QUERIES)} queries, {args.runs} runs each after one warm-up; times in ms")
    report(run(args.db, args.runs))
    if args.process:
        processes(args.db, args.process)


if __name__ == "__main__":
    main()
