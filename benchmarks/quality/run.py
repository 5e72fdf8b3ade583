"""Quality harness: relay's tagging and story grouping against a hand-labelled set.

    python benchmarks/quality/run.py [--items benchmarks/quality/items.jsonl]
        [--config feeds.yaml] [--detect-lang] [--lag-minutes 20] [--errors 15]
        [--corpus ../shared/corpus/datasets | --no-corpus] [--samples 10]
        [--real-corpus ../shared/corpus | --no-real] [--real-errors 40]

What it does:

1. Loads the labelled set (items.jsonl, see README.md), one FeedSpec per "feed" name
   (with the feed's language, or none with --detect-lang), and runs relay's real
   ingest (`relay.pipeline.ingest`: normalize, tokenize, tag, exact dedup, MinHash/LSH
   story choice, store) into a fresh SQLite archive, item by item in order of
   publication. Each item is collected `--lag-minutes` after it was published, so
   the 7-day story window applies as it would in production.
2. Prints per-topic precision/recall/F1 and micro-F1 of the tags (the tags stored
   by relay; for an exact duplicate that relay dropped, the tags `prepare` gives it).
3. Prints pairwise precision/recall/F1 of "same story" over all item pairs, for
   same-language and cross-language pairs separately, and the false merges. An exact
   duplicate that relay dropped counts as being in its original's story.
4. Lists the worst errors: each false positive / false negative tag with the terms
   (or sub-threshold hits) behind it, each false merge and each missed pair with the
   MinHash similarity of the two items.
5. Sanity run of the tokenizer and tagger over the shared corpus (livedoor sample,
   livedoor title index, agency CSVs) when the folder exists: items tagged per topic
   and sample tagged titles.
6. The real set (`real.py`, `real/judged.jsonl`): relay collects every source of the
   corpus's relay-corpus.yaml, and its stories are measured against the pairs judged by
   hand: pairwise precision / recall / F1, false merges, missed pairs, and the pairs
   relay merges that nobody judged yet.
7. The targets of both sets side by side: 0 false merges and same-story pair precision
   >= 0.98, recall >= 0.9 on each set; tag micro-F1 >= 0.93 on the written set.

Prints figures; asserts nothing (a benchmark is not a test).
"""

from __future__ import annotations

import argparse
import csv
import html
import itertools
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from relay import dedup, pipeline
from relay.config import builtin_topics, load_config
from relay.models import Entry, FeedKind, FeedSpec, Tag
from relay.store import Store
from relay.tag import THRESHOLD, TITLE_WEIGHT, Taxonomy, compile_taxonomy, tag
from relay.text import html_to_text
from relay.tokens import tokenize, warm_up

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real  # noqa: E402  (the real set, next to this file)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_ITEMS = HERE / "items.jsonl"
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "datasets"

TARGET_TAG_MICRO_F1 = 0.93
TARGET_STORY_PRECISION = real.TARGET_PRECISION      # 0.98, with no false merge
TARGET_STORY_RECALL = real.TARGET_RECALL            # 0.9


# -- the labelled set -----------------------------------------------------------------------------


@dataclass
class Gold:
    id: str
    lang: str
    feed: str
    title: str
    text: str
    published: datetime
    topics: frozenset[str]
    story: str


@dataclass
class Outcome:
    """What relay made of one item."""

    item_id: int | None = None        # None: dropped as an exact duplicate
    story: int | None = None          # relay's story id (the original's, for a dropped copy)
    duplicate_of: int | None = None   # the archived item a dropped copy matched
    lang: str = ""
    tags: dict[str, Tag] = field(default_factory=dict)
    minhash: bytes | None = None


def load_items(path: Path) -> list[Gold]:
    items: list[Gold] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            items.append(Gold(
                id=d["id"], lang=d["lang"], feed=d["feed"], title=d["title"], text=d["text"],
                published=datetime.fromisoformat(d["published"].replace("Z", "+00:00")),
                topics=frozenset(d["topics"]), story=d["story"]))
        except (KeyError, ValueError, TypeError) as exc:
            sys.exit(f"{path}:{n}: bad item: {exc}")
    ids = [g.id for g in items]
    if len(set(ids)) != len(ids):
        sys.exit(f"{path}: duplicate ids")
    return items


def feeds_for(items: Sequence[Gold], detect_lang: bool) -> dict[str, FeedSpec]:
    """One feed per source name; the feed's language unless --detect-lang."""
    langs: dict[str, set[str]] = defaultdict(set)
    for g in items:
        langs[g.feed].add(g.lang)
    feeds = {}
    for n, (name, ls) in enumerate(sorted(langs.items()), 1):
        fid = pipeline.slug(name) or "feed"
        fid = f"{fid}-{n}"                  # Japanese names slug to nothing; keep ids unique
        lang = None if detect_lang or len(ls) != 1 else next(iter(ls))
        feeds[name] = FeedSpec(id=fid, name=name, kind=FeedKind.RSS,
                               url=f"https://{fid}.example/feed", lang=lang)
    return feeds


def composition(items: Sequence[Gold], topic_ids: Sequence[str]) -> list[str]:
    by_story: dict[str, list[Gold]] = defaultdict(list)
    for g in items:
        by_story[g.story].append(g)
    multi = {s: gs for s, gs in by_story.items() if len(gs) > 1}
    exact = sum(len(gs) - len({(g.title, g.text) for g in gs}) for gs in by_story.values())
    rewrites = sum(1 for gs in multi.values()
                   for a, b in itertools.combinations(gs, 2)
                   if a.lang == b.lang and (a.title, a.text) != (b.title, b.text))
    cross = sum(1 for gs in multi.values() if len({g.lang for g in gs}) > 1)
    positives = Counter(t for g in items for t in g.topics)
    lang = Counter(g.lang for g in items)
    unknown = sorted(set(positives) - set(topic_ids))
    lines = [
        f"items {len(items)}: " + ", ".join(f"{k} {v} ({100 * v / len(items):.0f}%)"
                                           for k, v in lang.most_common()),
        f"gold stories {len(by_story)}, with several items {len(multi)}; exact copies {exact};"
        f" same-language rewrite pairs {rewrites}; cross-language stories {cross};"
        f" items without topic {sum(1 for g in items if not g.topics)}",
        "positives per topic: " + ", ".join(f"{t} {positives.get(t, 0)}" for t in topic_ids),
    ]
    if unknown:
        lines.append(f"WARNING: gold topics not in the taxonomy: {unknown}")
    return lines


# -- running relay --------------------------------------------------------------------------------


def run_relay(items: Sequence[Gold], feeds: dict[str, FeedSpec], taxonomy: Taxonomy,
              db: Path, lag: timedelta) -> tuple[dict[str, Outcome], float]:
    outcomes: dict[str, Outcome] = {}
    start = time.perf_counter()
    with Store(db) as store:
        store.sync_feeds(feeds.values())
        for g in sorted(items, key=lambda g: (g.published, g.id)):
            feed = feeds[g.feed]
            entry = Entry(feed_id=feed.id, guid=g.id, url=f"https://{feed.id}.example/{g.id}",
                          title=g.title, content_html=f"<p>{html.escape(g.text)}</p>",
                          published_at=g.published)
            now = g.published + lag
            pipeline.ingest(feed, [entry], store, taxonomy, now)
            row = store.conn.execute(
                "SELECT id, story_id, lang, minhash FROM items WHERE feed_id = ? AND guid = ?",
                (feed.id, g.id)).fetchone()
            if row is not None:
                out = Outcome(item_id=int(row[0]), story=int(row[1]), lang=row[2],
                              minhash=bytes(row[3]) if row[3] is not None else None)
                for topic, score, terms in store.conn.execute(
                        "SELECT topic, score, terms FROM item_tags WHERE item_id = ?", (row[0],)):
                    out.tags[topic] = Tag(topic, score, tuple(json.loads(terms)))
            else:
                # Dropped as an exact duplicate: it belongs to its original's story.
                prepared = pipeline.prepare(entry, feed, taxonomy, now)
                original = _archived_original(store, prepared.item)
                story = None
                if original is not None:
                    r = store.conn.execute("SELECT story_id FROM items WHERE id = ?",
                                           (original,)).fetchone()
                    story = int(r[0]) if r else None
                out = Outcome(story=story, duplicate_of=original, lang=prepared.item.lang,
                              tags={t.topic: t for t in prepared.item.tags})
            outcomes[g.id] = out
    return outcomes, time.perf_counter() - start


def _archived_original(store: Store, item: Any) -> int | None:
    """The archived item a dropped copy matched, by relay's exact keys (content hash, then
    URL key), through the Store's public lookups."""
    found = store.item_with_hash(item.content_hash)
    if found is not None:
        return found
    return next((row[0] for row in store.items_with_url_key(item.url_key)), None)


# -- metrics --------------------------------------------------------------------------------------


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def tag_report(items: Sequence[Gold], out: dict[str, Outcome], topic_ids: Sequence[str]
               ) -> tuple[list[str], float, list[tuple[str, str, Gold]]]:
    counts = {t: [0, 0, 0] for t in topic_ids}            # tp, fp, fn
    errors: list[tuple[str, str, Gold]] = []               # (kind, topic, item)
    for g in items:
        predicted = set(out[g.id].tags)
        for t in topic_ids:
            if t in predicted and t in g.topics:
                counts[t][0] += 1
            elif t in predicted:
                counts[t][1] += 1
                errors.append(("FP", t, g))
            elif t in g.topics:
                counts[t][2] += 1
                errors.append(("FN", t, g))
    lines = [f"{'topic':<18} {'gold':>4} {'tagged':>6} {'TP':>4} {'FP':>4} {'FN':>4}"
             f" {'P':>6} {'R':>6} {'F1':>6}"]
    fs = []
    for t in topic_ids:
        tp, fp, fn = counts[t]
        p, r, f = prf(tp, fp, fn)
        fs.append(f)
        lines.append(f"{t:<18} {tp + fn:>4} {tp + fp:>6} {tp:>4} {fp:>4} {fn:>4}"
                     f" {p:>6.3f} {r:>6.3f} {f:>6.3f}")
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    p, r, micro = prf(tp, fp, fn)
    lines.append(f"{'micro':<18} {tp + fn:>4} {tp + fp:>6} {tp:>4} {fp:>4} {fn:>4}"
                 f" {p:>6.3f} {r:>6.3f} {micro:>6.3f}")
    lines.append(f"{'macro F1':<18} {sum(fs) / len(fs):>48.3f}")
    for lang in sorted({g.lang for g in items}):
        c = [0, 0, 0]
        for g in items:
            if g.lang != lang:
                continue
            predicted = set(out[g.id].tags) & set(topic_ids)
            c[0] += len(predicted & g.topics)
            c[1] += len(predicted - g.topics)
            c[2] += len(g.topics - predicted)
        p, r, f = prf(*c)
        lines.append(f"{'micro ' + lang:<18} {c[0] + c[2]:>4} {c[0] + c[1]:>6} {c[0]:>4}"
                     f" {c[1]:>4} {c[2]:>4} {p:>6.3f} {r:>6.3f} {f:>6.3f}")
    exact = sum(1 for g in items if out[g.id].tags.keys() == g.topics)
    lines.append(f"items whose tag set is exactly the gold set: {exact}/{len(items)}")
    return lines, micro, errors


@dataclass
class PairCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0


def story_report(items: Sequence[Gold], out: dict[str, Outcome]
                 ) -> tuple[list[str], dict[str, PairCounts], list[tuple[Gold, Gold, str]]]:
    groups = {"same-language": PairCounts(), "cross-language": PairCounts(),
              "all": PairCounts()}
    errors: list[tuple[Gold, Gold, str]] = []
    unassigned = [g.id for g in items if out[g.id].story is None]
    for a, b in itertools.combinations(items, 2):
        sa, sb = out[a.id].story, out[b.id].story
        pred = sa is not None and sa == sb
        gold = a.story == b.story
        kind = "same-language" if a.lang == b.lang else "cross-language"
        for key in (kind, "all"):
            c = groups[key]
            if pred and gold:
                c.tp += 1
            elif pred:
                c.fp += 1
            elif gold:
                c.fn += 1
            else:
                c.tn += 1
        if pred and not gold:
            errors.append((a, b, "false merge"))
        elif gold and not pred:
            errors.append((a, b, "missed"))
    lines = [f"{'pairs':<15} {'gold':>5} {'merged':>6} {'TP':>5} {'FP':>5} {'FN':>5}"
             f" {'P':>6} {'R':>6} {'F1':>6}"]
    for key, c in groups.items():
        p, r, f = prf(c.tp, c.fp, c.fn)
        lines.append(f"{key:<15} {c.tp + c.fn:>5} {c.tp + c.fp:>6} {c.tp:>5} {c.fp:>5}"
                     f" {c.fn:>5} {p:>6.3f} {r:>6.3f} {f:>6.3f}")
    lines.append(f"false merges (pairs merged, gold different): {groups['all'].fp}"
                 f" (same-language {groups['same-language'].fp},"
                 f" cross-language {groups['cross-language'].fp})")
    dropped = [g for g in items if out[g.id].item_id is None]
    right = sum(1 for g in dropped
                if any(h.story == g.story and out[h.id].item_id == out[g.id].duplicate_of
                       for h in items))
    lines.append(f"exact copies dropped by relay: {len(dropped)}"
                 f" (matched to a gold-same original: {right})")
    # Story level: how many multi-item gold stories relay kept whole, per language mix.
    by_gold: dict[str, list[Gold]] = defaultdict(list)
    for g in items:
        by_gold[g.story].append(g)
    multi = [gs for gs in by_gold.values() if len(gs) > 1]
    whole = sum(1 for gs in multi if len({out[g.id].story for g in gs}) == 1)
    mono = [gs for gs in multi if len({g.lang for g in gs}) == 1]
    mono_whole = sum(1 for gs in mono if len({out[g.id].story for g in gs}) == 1)
    cross = [gs for gs in multi if len({g.lang for g in gs}) > 1]
    # cross-language stories in which at least one cross-language pair was linked
    cross_linked = sum(1 for gs in cross if any(
        a.lang != b.lang and out[a.id].story == out[b.id].story
        for a, b in itertools.combinations(gs, 2)))
    lines.append(f"gold stories with several items kept whole: {whole}/{len(multi)}"
                 f" (one language {mono_whole}/{len(mono)}; cross-language stories with"
                 f" at least one cross-language link {cross_linked}/{len(cross)})")
    if unassigned:
        lines.append(f"WARNING: items with no story (not stored, no original found):"
                     f" {unassigned}")
    return lines, groups, errors


# -- error listings -------------------------------------------------------------------------------


def _tokens(g: Gold, lang: str) -> tuple[list[str], list[str]]:
    return (tokenize(" ".join(html_to_text(g.title).split()), lang),
            tokenize(html_to_text(f"<p>{html.escape(g.text)}</p>"), lang))


def _near_miss(g: Gold, lang: str, topic: str, taxonomy: Taxonomy) -> str:
    """The sub-threshold hits of a topic (why a gold topic was not tagged)."""
    from relay import tag as tagmod

    title, body = _tokens(g, lang)
    parts = []
    score = 0.0
    for tokens, weight, where in ((title, TITLE_WEIGHT, "title"), (body, 1.0, "body")):
        hits = tagmod._hits(tokens, taxonomy).get(topic, {})
        for term, n in hits.items():
            score += weight * min(n, tagmod.MAX_HITS_PER_TERM)
            parts.append(f"{term!r} x{n} in {where}")
    if not parts:
        return "no term matched"
    return f"score {score:g} < {THRESHOLD:g} from " + ", ".join(parts)


def tag_errors(errors: Sequence[tuple[str, str, Gold]], out: dict[str, Outcome],
               taxonomy: Taxonomy, limit: int) -> list[str]:
    lines: list[str] = []
    by_topic: dict[str, list[tuple[str, Gold]]] = defaultdict(list)
    for kind, topic, g in errors:
        by_topic[topic].append((kind, g))
    for topic in sorted(by_topic, key=lambda t: -len(by_topic[t])):
        errs = sorted(by_topic[topic], key=lambda e: (e[0], e[1].id))
        fp = sum(1 for k, _ in errs if k == "FP")
        lines.append(f"[{topic}] {fp} FP, {len(errs) - fp} FN")
        for kind, g in errs[:limit]:
            o = out[g.id]
            if kind == "FP":
                t = o.tags[topic]
                why = f"terms {list(t.terms)} score {t.score:g}"
            else:
                why = _near_miss(g, o.lang or g.lang, topic, taxonomy)
            lines.append(f"  {kind} {g.id} {g.lang} {g.title[:70]!r}: {why}")
        if len(errs) > limit:
            lines.append(f"  ... {len(errs) - limit} more")
    return lines


def _sim(a: Outcome, b: Outcome) -> str:
    if a.minhash is None or b.minhash is None:
        return "n/a"
    sa, sb = dedup.Signature.from_bytes(a.minhash), dedup.Signature.from_bytes(b.minhash)
    shared = len(set(dedup.bands(sa)) & set(dedup.bands(sb)))
    return f"sim {dedup.similarity(sa, sb):.2f}, shared bands {shared}"


def story_errors(errors: Sequence[tuple[Gold, Gold, str]], out: dict[str, Outcome],
                 limit: int) -> list[str]:
    lines: list[str] = []
    for label in ("false merge", "missed"):
        for kind in ("same-language", "cross-language"):
            errs = [(a, b) for a, b, lab in errors if lab == label
                    and (a.lang == b.lang) == (kind == "same-language")]
            if not errs:
                continue
            errs.sort(key=lambda e: (e[0].story, e[0].id, e[1].id))
            lines.append(f"{label}, {kind}: {len(errs)} pairs")
            for a, b in errs[:limit]:
                stories = a.story if a.story == b.story else f"{a.story} / {b.story}"
                # a dropped copy has no signature: compare with its original
                oa = out[a.id] if out[a.id].minhash else _original(out, out[a.id])
                ob = out[b.id] if out[b.id].minhash else _original(out, out[b.id])
                lines.append(f"  {a.id}~{b.id} [{stories}] {_sim(oa, ob)}")
                lines.append(f"      {a.lang} {a.title[:60]!r}")
                lines.append(f"      {b.lang} {b.title[:60]!r}")
            if len(errs) > limit:
                lines.append(f"  ... {len(errs) - limit} more")
    return lines


def _signature(out: dict[str, Outcome], g: Gold) -> dedup.Signature | None:
    o = out[g.id] if out[g.id].minhash else _original(out, out[g.id])
    return dedup.Signature.from_bytes(o.minhash) if o.minhash else None


def similarity_sweep(items: Sequence[Gold], out: dict[str, Outcome],
                     thresholds: Sequence[float], closest: int) -> list[str]:
    """Offline estimate from the stored signatures: pairs whose MinHash similarity reaches
    a threshold, as if every pair were a candidate (no LSH banding, no 7-day window, no
    chaining through a story). Shows what moving STORY_THRESHOLD would buy and risk."""
    sigs = {g.id: _signature(out, g) for g in items}
    pairs = []
    for a, b in itertools.combinations(items, 2):
        sa, sb = sigs[a.id], sigs[b.id]
        sim = dedup.similarity(sa, sb) if sa is not None and sb is not None else 0.0
        pairs.append((sim, a, b))
    band_sets = {k: set(dedup.bands(v)) for k, v in sigs.items() if v is not None}
    banded = {(a.id, b.id) for _, a, b in pairs
              if band_sets.get(a.id, set()) & band_sets.get(b.id, set())}
    lines = [f"{'sim >=':<8} {'same-language P/R/F1':>24} {'FP':>4}   {'cross-language P/R/F1':>24}"
             f" {'FP':>4}  same-lang R if a shared band is also required (current bands)"]
    for t in thresholds:
        row = f"{t:<8.2f}"
        gold_same = [(sim, a, b) for sim, a, b in pairs if a.story == b.story and a.lang == b.lang]
        found = sum(1 for sim, a, b in gold_same if sim >= t and (a.id, b.id) in banded)
        band_r = found / len(gold_same) if gold_same else 1.0
        for cross in (False, True):
            tp = fp = fn = 0
            for sim, a, b in pairs:
                if (a.lang != b.lang) != cross:
                    continue
                gold, pred = a.story == b.story, sim >= t
                tp += pred and gold
                fp += pred and not gold
                fn += gold and not pred
            p, r, f = prf(tp, fp, fn)
            row += f" {p:>8.3f}{r:>8.3f}{f:>8.3f} {fp:>4}  "
        lines.append(row + f"{band_r:>8.3f}")
    different = sorted(((sim, a, b) for sim, a, b in pairs if a.story != b.story),
                       key=lambda x: -x[0])[:closest]
    lines.append("closest gold-different pairs (first false merges if the threshold drops):")
    for sim, a, b in different:
        lines.append(f"  {sim:.2f} {a.id}~{b.id} {a.lang}/{b.lang} {a.story} / {b.story}")
    same = sorted(((sim, a, b) for sim, a, b in pairs
                   if a.story == b.story and a.lang == b.lang), key=lambda x: x[0])[:closest]
    lines.append("least similar gold-same same-language pairs:")
    for sim, a, b in same:
        lines.append(f"  {sim:.2f} {a.id}~{b.id} {a.lang} {a.story}")
    return lines


def _original(out: dict[str, Outcome], o: Outcome) -> Outcome:
    return next((x for x in out.values() if x.item_id is not None
                 and x.item_id == o.duplicate_of), o)


# -- corpus sanity run ----------------------------------------------------------------------------


@dataclass
class Doc:
    source: str
    title: str
    body: str


def corpus_docs(root: Path) -> list[Doc]:
    docs: list[Doc] = []
    sample = root / "livedoor-news-corpus-sample"
    if sample.is_dir():
        for path in sorted(sample.glob("*/*.txt")):
            if path.name in ("LICENSE.txt", "README.txt", "CHANGES.txt"):
                continue
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            if len(lines) >= 3:
                docs.append(Doc("livedoor sample (title+body)", lines[2], "\n".join(lines[3:])))
    index = root / "livedoor_news_titles_index.tsv"
    if index.is_file():
        with index.open(encoding="utf-8", errors="replace", newline="") as f:
            for record in csv.DictReader(f, delimiter="\t"):
                if record.get("title"):
                    docs.append(Doc("livedoor title index", record["title"], ""))
    for path in sorted(root.glob("jp_*_news_items.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            for row in csv.reader(f):
                if len(row) < 3 or row[2] in ("タイトル", ""):
                    continue
                title = row[2].split("::", 1)[-1]       # "政策::..." category prefixes
                docs.append(Doc(path.stem.removesuffix("_news_items"), title, ""))
    return docs


def corpus_report(root: Path, taxonomy: Taxonomy, topic_ids: Sequence[str],
                  samples: int) -> list[str]:
    docs = corpus_docs(root)
    if not docs:
        return [f"no livedoor or agency files under {root}"]
    sources = list(dict.fromkeys(d.source for d in docs))
    tagged: dict[str, Counter[str]] = {s: Counter() for s in sources}
    any_tag: Counter[str] = Counter()
    total: Counter[str] = Counter()
    examples: dict[str, list[tuple[Doc, tuple[Tag, ...]]]] = defaultdict(list)
    n_tokens = n_chars = failures = 0
    start = time.perf_counter()
    for d in docs:
        total[d.source] += 1
        try:
            title, body = tokenize(d.title, "ja"), tokenize(d.body, "ja")
        except Exception as exc:  # noqa: BLE001 - a sanity run reports, it does not stop
            failures += 1
            print(f"  tokenizer failed on {d.title[:40]!r}: {exc!r}", file=sys.stderr)
            continue
        n_tokens += len(title) + len(body)
        n_chars += len(d.title) + len(d.body)
        tags = tag(title, body, taxonomy)
        if tags:
            any_tag[d.source] += 1
        for t in tags:
            tagged[d.source][t.topic] += 1
            examples[t.topic].append((d, tags))
    elapsed = time.perf_counter() - start
    lines = [f"{len(docs)} documents, {n_chars / 1e6:.2f} M characters, {n_tokens} tokens in"
             f" {elapsed:.1f} s ({n_chars / max(elapsed, 1e-9) / 1e3:.0f} k chars/s),"
             f" tokenizer failures: {failures}"]
    width = max(len(s) for s in sources)
    lines.append(f"{'source':<{width}} {'docs':>6} {'tagged':>6}  per topic")
    for s in sources:
        per = ", ".join(f"{t} {tagged[s][t]}" for t in topic_ids if tagged[s][t])
        lines.append(f"{s:<{width}} {total[s]:>6} {any_tag[s]:>6}  {per or '-'}")
    # sample titles: round-robin over topics so that every tagged topic shows up
    rnd = random.Random(0)
    pools = {t: rnd.sample(v, len(v)) for t, v in examples.items()}
    picked: list[tuple[Doc, tuple[Tag, ...]]] = []
    seen: set[int] = set()
    while len(picked) < samples and any(pools.values()):
        for topic in topic_ids:
            while pools.get(topic):
                d, tags = pools[topic].pop()
                if id(d) not in seen:
                    seen.add(id(d))
                    picked.append((d, tags))
                    break
            if len(picked) >= samples:
                break
    lines.append(f"{len(picked)} sample tagged titles:")
    for d, tags in picked:
        why = "; ".join(f"{t.topic} {list(t.terms)}" for t in tags)
        lines.append(f"  [{d.source}] {d.title[:60]}  ->  {why}")
    return lines


# -- main -----------------------------------------------------------------------------------------


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)))


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=Path, default=DEFAULT_ITEMS)
    ap.add_argument("--config", type=Path, default=None,
                    help="take the topics of this feeds.yaml (default: relay's built-in taxonomy)")
    ap.add_argument("--detect-lang", action="store_true",
                    help="feeds declare no language: relay detects it per item")
    ap.add_argument("--lag-minutes", type=float, default=20.0,
                    help="minutes between an item's publication and its collection")
    ap.add_argument("--errors", type=int, default=15, help="errors listed per group")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--no-corpus", action="store_true",
                    help="the written set only: no corpus sanity run, no real set")
    ap.add_argument("--real-corpus", type=Path, default=real.DEFAULT_CORPUS,
                    help="the corpus of the real set (its relay-corpus.yaml is collected)")
    ap.add_argument("--no-real", action="store_true", help="skip the real set")
    ap.add_argument("--real-errors", type=int, default=40,
                    help="false merges, missed and unjudged pairs listed for the real set")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--closest", type=int, default=8,
                    help="closest different-story pairs listed by the threshold sweep")
    ap.add_argument("--keep-db", type=Path, default=None, help="write the archive here")
    args = ap.parse_args(list(argv) if argv is not None else None)

    if args.config is not None:
        config = load_config(args.config)
        taxonomy = pipeline.taxonomy_for(config)
    else:
        taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    topic_ids = list(taxonomy.topic_ids)
    items = load_items(args.items)
    warm_up()

    section("labelled set")
    print(f"{args.items}")
    for line in composition(items, topic_ids):
        print(line)

    feeds = feeds_for(items, args.detect_lang)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep_db or Path(tmp) / "quality.db"
        if args.keep_db and db.exists():
            db.unlink()
        out, elapsed = run_relay(items, feeds, taxonomy, db,
                                 timedelta(minutes=args.lag_minutes))
    print(f"relay ingest: {len(items)} items through {len(feeds)} feeds in {elapsed:.1f} s;"
          f" language {'detected' if args.detect_lang else 'from the feed'},"
          f" wrong language on {sum(1 for g in items if out[g.id].lang != g.lang)} items")

    section("tags")
    lines, micro, tag_errs = tag_report(items, out, topic_ids)
    print("\n".join(lines))

    section("stories (pairwise over all item pairs)")
    slines, groups, story_errs = story_report(items, out)
    print("\n".join(slines))

    section("targets (written set)")
    every = groups["all"]
    story_p, story_r, _ = prf(every.tp, every.fp, every.fn)
    _, cross_r, cross_f1 = prf(groups["cross-language"].tp, groups["cross-language"].fp,
                               groups["cross-language"].fn)
    written_targets = [
        f"written set: tag micro-F1 {micro:.3f} (target >= {TARGET_TAG_MICRO_F1}): "
        + ("met" if micro >= TARGET_TAG_MICRO_F1 else "NOT met"),
        f"written set: false merges {every.fp} (target 0), same-story pair precision"
        f" {story_p:.3f} (target >= {TARGET_STORY_PRECISION}), recall {story_r:.3f}"
        f" (target >= {TARGET_STORY_RECALL}): "
        + ("met" if every.fp == 0 and story_p >= TARGET_STORY_PRECISION
           and story_r >= TARGET_STORY_RECALL else "NOT met"),
    ]
    print("\n".join(written_targets))
    print(f"cross-language story pair recall {cross_r:.3f} (F1 {cross_f1:.3f},"
          f" false merges {groups['cross-language'].fp}): reported")

    section("tag errors by topic (FP: terms that fired; FN: sub-threshold hits)")
    print("\n".join(tag_errors(tag_errs, out, taxonomy, args.errors)) or "none")

    section("story errors (MinHash similarity of the two items)")
    print(f"(a pair joins when sim >= {dedup.STORY_THRESHOLD} and the two share a band)")
    print("\n".join(story_errors(story_errs, out, args.errors)) or "none")

    section("offline threshold sweep over the stored MinHash signatures")
    print("(every pair a candidate: no LSH banding, no window, no chaining; relay's"
          f" threshold is {dedup.STORY_THRESHOLD})")
    print("\n".join(similarity_sweep(items, out, (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6),
                                     args.closest)))

    if not args.no_corpus:
        section("corpus sanity run (tokenizer + tagger)")
        if args.corpus.is_dir():
            print(f"{args.corpus}")
            print("\n".join(corpus_report(args.corpus, taxonomy, topic_ids, args.samples)))
        else:
            print(f"{args.corpus} does not exist: skipped")

    real_targets: list[str] = []
    if not args.no_corpus and not args.no_real:
        section("real set: stories on the corpus, judged by hand (real.py)")
        if (args.real_corpus / "relay-corpus.yaml").is_file():
            lines, real_targets = real.run(args.real_corpus, n_errors=args.real_errors)
            print("\n".join(lines))
        else:
            print(f"{args.real_corpus / 'relay-corpus.yaml'} does not exist: skipped")

    section("targets, both sets")
    print("\n".join(written_targets + (real_targets or ["real set: not run"])))

if __name__ == "__main__":
    try:
        main()
    except (sqlite3.Error, OSError) as exc:
        sys.exit(f"error: {exc}")
