"""Draws the pairs to judge for the real set (real/judged.jsonl); the judging is by hand.

    python benchmarks/quality/real_draft.py --db /tmp/corpus.db --out /tmp/draft

`--db` is an archive of `relay collect --all` over relay-corpus.yaml (collected by this
script when it does not exist). Writes to `--out`:

- `stories.txt` / `stories.json`: every story of two or more items relay formed, with
  each member (stored items, and entries relay dropped as exact copies of one of them);
- `candidates.txt` / `candidates.json`: pairs found without relay's story algorithm:
  two entries of different files, or of one aggregator file (the yahoo-news feeds), whose
  titles share enough: title token Jaccard >= JACCARD (tokens of `relay.tokens.tokenize`
  in the entry's language, lowercased, without one-character tokens and pure
  punctuation), or share a rare token (in at most RARE titles) that is a name or figure
  of >= 4 characters and Jaccard >= 0.15; plus every pair of entries of two files with
  the same guid (the gov-online daily snapshots, the same blog's RSS 1.0 and Atom feeds);
- `random.txt` / `random.json`: RANDOM pairs of entries of two different files drawn
  with random.Random(SEED);
- `body.txt` / `body.json`: the BODY pairs (of different files, or of one file of the
  news feeds in NEWS_FILES) whose title and first 300 characters of text share the most
  rare tokens (weight: the sum of log(N/df) over shared tokens of >= 3 characters in at
  most 5 entries; at least 12), leaving out pairs already drawn above and exact copies:
  pairs of one story that titles alone do not show.

The lists are drafts: nothing in them is a judgement.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real  # noqa: E402

JACCARD = 0.3
RARE = 3
RANDOM = 330
SEED = 9
AGGREGATORS = ("yahoo-news",)
BODY = 80
NEWS_FILES = ("yahoo", "yandex", "orf", "nytimes", "lefigaro", "reuters", "japantoday",
              "japantimes", "lemonde")


@dataclass
class Inv:
    n: int
    key: real.Key
    feed_id: str
    text: str
    published: str
    stored: int | None
    how: str
    story: int | None
    lang: str


def inventory(corpus: Path, db: Path) -> list[Inv]:
    from relay.text import html_to_text
    if not db.exists():
        real.run_collect(corpus, db)
    archive = real.Archive(db)
    import sqlite3
    langs = dict(sqlite3.connect(db).execute("SELECT id, lang FROM items").fetchall())
    sources, _ = real.read_corpus(corpus)
    out: list[Inv] = []
    for src in sources:
        for e in src.entries:
            placed = real.place(e, src.feed_id, archive)
            story = archive.items[placed.item].story if placed.item is not None else None
            out.append(Inv(len(out), real.key_of(src, e), src.feed_id,
                           " ".join(html_to_text(e.content_html).split())[:300],
                           e.published_at.isoformat()[:16] if e.published_at else "-",
                           placed.item, placed.how, story,
                           langs.get(placed.item, "") if placed.item else ""))
    return out


def line(i: Inv, width: int = 110) -> str:
    return (f"#{i.n} [{Path(i.key.file).stem[:40]}] {i.published} {i.lang} {i.how}\n"
            f"    T: {i.key.title[:width]}\n    X: {i.text[:160]}")


def tokens(inv: list[Inv], with_text: bool = False) -> list[set[str]]:
    from relay.tokens import tokenize
    out = []
    for i in inv:
        lang = i.lang or "en"
        text = f"{i.key.title} {i.text}" if with_text else i.key.title
        toks = {t.lower() for t in tokenize(text, lang)}
        out.append({t for t in toks if len(t) > 1 and any(c.isalnum() for c in t)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=real.DEFAULT_CORPUS)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    inv = inventory(args.corpus, args.db)
    (args.out / "inventory.json").write_text(json.dumps(
        [{"n": i.n, **i.key.as_json(), "text": i.text, "published": i.published,
          "how": i.how, "story": i.story, "lang": i.lang, "stored": i.stored} for i in inv],
        ensure_ascii=False, indent=0), encoding="utf-8")

    # (a) relay's stories
    by_story: dict[int, list[Inv]] = defaultdict(list)
    for i in inv:
        if i.story is not None:
            by_story[i.story].append(i)
    multi = {s: m for s, m in by_story.items() if len(m) > 1}
    with open(args.out / "stories.txt", "w", encoding="utf-8") as f:
        for s, members in sorted(multi.items()):
            f.write(f"\n=== story {s} ({len(members)})\n")
            for i in members:
                f.write(line(i) + "\n")
    (args.out / "stories.json").write_text(json.dumps(
        {str(s): [i.n for i in m] for s, m in sorted(multi.items())}), encoding="utf-8")

    # (b) candidates
    toks = tokens(inv)
    df = Counter(t for ts in toks for t in ts)
    cands: dict[tuple[int, int], str] = {}
    for a, b in itertools.combinations(range(len(inv)), 2):
        ia, ib = inv[a], inv[b]
        same_file = ia.key.file == ib.key.file
        if same_file and not any(x in ia.key.file for x in AGGREGATORS):
            continue
        if not same_file and ia.key.guid and ia.key.guid == ib.key.guid:
            cands[(a, b)] = "same guid"
            continue
        ta, tb = toks[a], toks[b]
        if not ta or not tb:
            continue
        shared = ta & tb
        if not shared:
            continue
        jac = len(shared) / len(ta | tb)
        rare = sorted(t for t in shared if df[t] <= RARE and len(t) >= 4)
        if jac >= JACCARD:
            cands[(a, b)] = f"jaccard {jac:.2f}"
        elif rare and jac >= 0.15:
            cands[(a, b)] = f"jaccard {jac:.2f}, rare {rare}"
    with open(args.out / "candidates.txt", "w", encoding="utf-8") as f:
        for n, ((a, b), why) in enumerate(sorted(cands.items())):
            f.write(f"\n--- c{n} {why}\n{line(inv[a])}\n{line(inv[b])}\n")
    (args.out / "candidates.json").write_text(json.dumps(
        [[a, b, why] for (a, b), why in sorted(cands.items())]), encoding="utf-8")

    # (c) random pairs across files
    rnd = random.Random(SEED)
    picked: set[tuple[int, int]] = set()
    while len(picked) < RANDOM:
        a, b = sorted(rnd.sample(range(len(inv)), 2))
        if inv[a].key.file != inv[b].key.file:
            picked.add((a, b))
    rand = sorted(picked)
    with open(args.out / "random.txt", "w", encoding="utf-8") as f:
        for n, (a, b) in enumerate(rand):
            f.write(f"\n--- r{n}\n{line(inv[a], 90)}\n{line(inv[b], 90)}\n")
    (args.out / "random.json").write_text(json.dumps(rand), encoding="utf-8")
    # (b') pairs sharing rare words of title and text
    words = [{w for w in t if len(w) > 2 and not w.isdigit()}
             for t in tokens(inv, with_text=True)]
    wdf = Counter(w for ws in words for w in ws)
    seen = set(cands) | {tuple(p) for p in rand} | {
        (a, b) for m in multi.values() for a, b in itertools.combinations(sorted(i.n for i in m), 2)}
    scored = []
    for a, b in itertools.combinations(range(len(inv)), 2):
        ia, ib = inv[a], inv[b]
        if ia.key.file == ib.key.file and not any(x in ia.key.file for x in NEWS_FILES):
            continue
        if (a, b) in seen or (ia.key.title, ia.text) == (ib.key.title, ib.text):
            continue
        weight = sum(math.log(len(inv) / wdf[w]) for w in words[a] & words[b] if wdf[w] <= 5)
        if weight >= 12:
            scored.append((-weight, a, b))
    body = [(a, b) for _w, a, b in sorted(scored)[:BODY]]
    with open(args.out / "body.txt", "w", encoding="utf-8") as f:
        for n, (a, b) in enumerate(body):
            f.write(f"\n--- b{n}\n{line(inv[a], 90)}\n{line(inv[b], 90)}\n")
    (args.out / "body.json").write_text(json.dumps(body), encoding="utf-8")
    print(f"{len(inv)} entries; {len(multi)} stories of several items"
          f" ({sum(len(m) * (len(m) - 1) // 2 for m in multi.values())} pairs);"
          f" {len(cands)} candidate pairs; {len(rand)} random pairs; {len(body)} body pairs")


if __name__ == "__main__":
    main()
