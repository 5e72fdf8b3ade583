"""The real set: "same story" judged by hand on the shared corpus, and relay measured on it.

    python benchmarks/quality/real.py [--corpus ../shared/corpus] [--errors 40] [--keep-db F]
    python benchmarks/quality/run.py            # prints this set's figures after the written set

The judged pairs are in `real/judged.jsonl` (see README.md, "The real set"). Each line is
either a *group* (the items of one story relay formed on the corpus, each with a label
given by hand: two members are the same story when their labels are equal) or a *pair*
(two items and `same`: true/false). An item is named by its corpus file (relative to the
corpus folder), the entry's guid as relay reads it, its link and its title: never by
relay's item ids, which change from run to run.

What the run does:

1. Collects every source of `relay-corpus.yaml` with relay's own CLI (`relay --config ...
   --db TMP collect --all`, a subprocess running the relay package this process
   imported: set PYTHONPATH to measure another checkout) into a fresh archive.
2. Reads every source again with relay's parsing (`entries_for`), and finds each judged
   item: in its file by guid, then by link (loosely: scheme, `www.`, a trailing `/` or
   `=` do not count; a fragment counts when it tells entries apart), then by title.
   Then the stored item: the file's feed and the entry's guid; an entry that relay did
   not store (dropped as an exact duplicate) is in the story of the item it duplicates,
   found as relay finds it (`_archived_copy`): the same content hash, then the same
   canonical URL in another feed (or with the same title in its own), then the same
   guid in another feed, then the same title.
3. Prints pairwise precision / recall / F1 of "same story" over the judged pairs (a
   pair is *merged* when relay put both items in one story), per source of the pair,
   the false merges and the missed pairs with their titles, and every pair relay merges
   that is not judged ("unjudged merged pairs"), so that a new algorithm's new merges
   can be seen and judged.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_CORPUS = Path(os.environ.get("RELAY_CORPUS") or REPO.parent / "shared" / "corpus")
JUDGED = HERE / "real" / "judged.jsonl"

TARGET_PRECISION = 0.98
TARGET_RECALL = 0.9


# -- naming items ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """An item as the corpus names it: file, guid, link, title."""

    file: str
    guid: str
    link: str
    title: str

    def as_json(self) -> dict[str, str]:
        return {"file": self.file, "guid": self.guid, "link": self.link, "title": self.title}

    @staticmethod
    def from_json(d: dict[str, Any]) -> Key:
        return Key(d["file"], d.get("guid", ""), d.get("link", ""), d.get("title", ""))


def squeeze(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def loose_link(url: str) -> str:
    """A link with what link handling may change taken off: scheme, `www.`, `index.html`,
    a trailing `/`, `=` or `?`."""
    u = url.strip()
    u = re.sub(r"^[a-z][a-z0-9+.-]*://", "", u, flags=re.IGNORECASE)
    u = re.sub(r"^www\.", "", u, flags=re.IGNORECASE)
    u = u.rstrip("/=?")
    return u


@dataclass
class Source:
    feed_id: str
    file: str
    entries: list[Any] = field(default_factory=list)     # relay Entry objects
    error: str = ""


def read_corpus(corpus: Path) -> tuple[list[Source], Any]:
    """Every source of relay-corpus.yaml, parsed by relay's own parsing."""
    from relay.config import load_config
    from relay.pipeline.collecting import entries_for, limits_for

    config = load_config(corpus / "relay-corpus.yaml")
    limits = limits_for(config)
    sources = []
    for feed in config.feeds:
        if feed.path is None:
            continue
        rel = Path(feed.path).resolve().relative_to(corpus.resolve()).as_posix()
        src = Source(feed.id, rel)
        try:
            src.entries = list(entries_for(feed, None, limits)[0])
        except Exception as exc:  # noqa: BLE001 - a broken source is reported, the run goes on
            src.error = f"{type(exc).__name__}: {exc}"
        sources.append(src)
    return sources, config


def key_of(src: Source, entry: Any) -> Key:
    return Key(src.file, entry.guid, entry.url, " ".join((entry.title or "").split()))


def find_entry(key: Key, by_file: dict[str, Source]) -> Any | None:
    """The entry a key names in relay's reading of its file today: by guid, then link
    (with the title when several entries share the link), then title."""
    src = by_file.get(key.file)
    if src is None:
        return None
    entries = src.entries
    if key.guid:
        hits = [e for e in entries if e.guid == key.guid]
        if len(hits) > 1:
            hits = [e for e in hits if squeeze(e.title or "") == squeeze(key.title)] or hits
        if hits:
            return hits[0]
    title = squeeze(key.title)
    if key.link:
        want = loose_link(key.link)
        hits = [e for e in entries if loose_link(e.url) == want]
        if len(hits) > 1:
            hits = [e for e in hits if squeeze(e.title or "") == title]
        if len(hits) == 1:
            return hits[0]
        if key.guid:     # a guid that was a link, resolved differently now
            hits = [e for e in entries if loose_link(e.guid) == loose_link(key.guid)
                    and squeeze(e.title or "") == title]
            if hits:
                return hits[0]
    hits = [e for e in entries if squeeze(e.title or "") == title]
    return hits[0] if hits else None


# -- relay's run ----------------------------------------------------------------------------------


@dataclass
class Stored:
    id: int
    feed_id: str
    guid: str
    url: str           # the URL as relay compares it for duplicates (url_key, or url)
    title: str
    story: int | None
    content_hash: str


class Archive:
    """The archive relay wrote, read with plain SQL (items: id, feed, guid, url, title,
    story, content hash)."""

    def __init__(self, db: Path) -> None:
        import sqlite3
        conn = sqlite3.connect(db)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(items)")}
        key = "url_key" if "url_key" in columns else "url"     # the duplicate key of URLs
        self.items: dict[int, Stored] = {}
        for r in conn.execute(f"SELECT id, feed_id, guid, {key}, title, story_id, content_hash"
                              " FROM items"):
            self.items[r[0]] = Stored(*r)
        conn.close()
        self.by_guid: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.by_hash: dict[str, int] = {}
        self.by_url: dict[str, list[int]] = defaultdict(list)
        self.by_guid_any: dict[str, list[int]] = defaultdict(list)
        self.by_title: dict[str, list[int]] = defaultdict(list)
        self.by_feed_title: dict[tuple[str, str], list[int]] = defaultdict(list)
        for s in sorted(self.items.values(), key=lambda s: s.id):
            self.by_guid[(s.feed_id, s.guid)].append(s.id)
            self.by_hash.setdefault(s.content_hash, s.id)
            self.by_url[s.url].append(s.id)
            self.by_guid_any[s.guid].append(s.id)
            self.by_title[squeeze(s.title)].append(s.id)
            self.by_feed_title[(s.feed_id, squeeze(s.title))].append(s.id)


def run_collect(corpus: Path, db: Path) -> float:
    corpus, db = corpus.resolve(), db.resolve()
    import relay  # the relay this process imported is the one that collects
    root = Path(relay.__file__).resolve().parents[1]
    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "--config", str(corpus / "relay-corpus.yaml"),
         "--db", str(db), "collect", "--all"],
        capture_output=True, text=True, env=env, check=False,
        cwd=root)           # `-m relay` looks in the working directory first
    if not db.exists():
        sys.exit(f"relay collect wrote no archive (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


@dataclass
class Placed:
    """Where a judged item ended up in relay's archive."""

    item: int | None = None      # the stored item that is it, or that it duplicates
    how: str = ""                # "stored" or "dropped: <reason>" or "missing: <reason>"


def place(entry: Any, feed_id: str, archive: Archive) -> Placed:
    """The stored item an entry is, or the one relay dropped it as a copy of."""
    from relay import text
    from relay.text import content_hash, html_to_text
    url_key = getattr(text, "url_key", None) or text.canonical_url
    title = " ".join(html_to_text(entry.title).split()) or "(untitled)"
    h = content_hash(title, html_to_text(entry.content_html))
    same_guid = archive.by_guid.get((feed_id, entry.guid), [])
    for sid in same_guid:
        if squeeze(archive.items[sid].title) == squeeze(title):
            return Placed(sid, "stored")
    # relay may have stored it under a guid of its own making (the link and the title,
    # when the feed repeats a link): the same feed, title and content
    for sid in archive.by_feed_title.get((feed_id, squeeze(title)), []):
        stored = archive.items[sid]
        if stored.content_hash == h or stored.guid.startswith(entry.guid):
            return Placed(sid, "stored")
    if same_guid:
        return Placed(same_guid[0], "dropped: same guid in its feed")
    if h in archive.by_hash:
        return Placed(archive.by_hash[h], "dropped: same content")
    url = url_key(entry.url)
    for sid in archive.by_url.get(url, []):
        s = archive.items[sid]
        if s.feed_id != feed_id or squeeze(s.title) == squeeze(title):
            return Placed(sid, "dropped: same URL")
    for sid in archive.by_guid_any.get(entry.guid, []):
        return Placed(sid, "dropped: same guid in another feed")
    for sid in archive.by_title.get(squeeze(title), []):
        return Placed(sid, "dropped: same title")
    return Placed(None, "missing: not stored, no original found")


# -- the judged set -------------------------------------------------------------------------------


@dataclass
class Pair:
    a: Key
    b: Key
    same: bool
    source: str        # "relay-story", "candidate", "random"
    note: str = ""

    @property
    def uncertain(self) -> bool:
        return "uncertain" in self.note


def load_judged(path: Path) -> tuple[list[Pair], list[str]]:
    """The judged pairs (groups expanded), and problems found (conflicting judgements)."""
    pairs: dict[tuple[Key, Key], Pair] = {}
    problems: list[str] = []

    def add(p: Pair, where: str) -> None:
        if p.a == p.b:
            return
        k = (p.a, p.b) if (p.a.file, p.a.guid, p.a.title) <= (p.b.file, p.b.guid, p.b.title) \
            else (p.b, p.a)
        old = pairs.get(k)
        if old is None:
            pairs[k] = p
        elif old.same != p.same:
            problems.append(f"{where}: judged {p.same} here, {old.same} in {old.source}:"
                            f" {p.a.title[:40]!r} ~ {p.b.title[:40]!r}")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        where = f"{path.name}:{n}"
        if d["kind"] == "group":
            members = [(Key.from_json(m), m["label"], m.get("note", ""))
                       for m in d["items"]]
            for (ka, la, na), (kb, lb, nb) in itertools.combinations(members, 2):
                # a member's own note (its doubt about joining its label's story) goes to
                # its pairs inside that story; the group's note only explains the group
                note = "; ".join(n for n in (na, nb) if n) if la == lb else ""
                add(Pair(ka, kb, la == lb, d.get("source", "relay-story"), note), where)
        else:
            add(Pair(Key.from_json(d["a"]), Key.from_json(d["b"]), bool(d["same"]),
                     d["source"], d.get("note", "")), where)
    return list(pairs.values()), problems


# -- measuring ------------------------------------------------------------------------------------


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


@dataclass
class Result:
    counts: dict[str, list[int]]                 # source -> tp, fp, fn, tn
    false_merges: list[Pair]
    missed: list[Pair]
    unplaced: list[tuple[Key, str]]
    unjudged: list[tuple[Stored, Stored]]
    merged_pairs: int
    fm_stories: dict[int, tuple[int, set[str]]]    # relay story -> false pairs, titles in them


def measure(pairs: Sequence[Pair], sources: Sequence[Source], archive: Archive) -> Result:
    by_file = {s.file: s for s in sources}
    placed: dict[Key, Placed] = {}
    unplaced: list[tuple[Key, str]] = []
    for k in {k for p in pairs for k in (p.a, p.b)}:
        entry = find_entry(k, by_file)
        if entry is None:
            src = by_file.get(k.file)
            why = ("no such file in relay-corpus.yaml" if src is None else
                   f"source unreadable: {src.error}" if src.error else
                   "no entry with this guid, link or title")
            placed[k] = Placed(None, f"missing: {why}")
        else:
            placed[k] = place(entry, by_file[k.file].feed_id, archive)
        if placed[k].item is None:
            unplaced.append((k, placed[k].how))

    def story(k: Key) -> int | None:
        sid = placed[k].item
        return archive.items[sid].story if sid is not None else None

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    fms: list[Pair] = []
    fm_stories: dict[int, tuple[int, set[str]]] = {}
    missed: list[Pair] = []
    judged_items: set[frozenset[int]] = set()
    for p in pairs:
        ia, ib = placed[p.a].item, placed[p.b].item
        sa, sb = story(p.a), story(p.b)
        merged = ia is not None and ib is not None and (ia == ib or (sa is not None and sa == sb))
        if ia is not None and ib is not None:
            judged_items.add(frozenset((ia, ib)))
        for group in (p.source, "all", *(("sure only",) if not p.uncertain else ())):
            c = counts[group]
            c[0 if merged and p.same else 1 if merged else 2 if p.same else 3] += 1
        if merged and not p.same:
            fms.append(p)
            sid = sa if sa is not None else -1      # -1: a copy merged into its original
            n, titles = fm_stories.get(sid, (0, set()))
            fm_stories[sid] = (n + 1, titles | {p.a.title, p.b.title})
        elif p.same and not merged:
            missed.append(p)
    stories: dict[int, list[Stored]] = defaultdict(list)
    for s in archive.items.values():
        if s.story is not None:
            stories[s.story].append(s)
    unjudged = []
    merged_pairs = 0
    for members in stories.values():
        for a, b in itertools.combinations(sorted(members, key=lambda s: s.id), 2):
            merged_pairs += 1
            if frozenset((a.id, b.id)) not in judged_items:
                unjudged.append((a, b))
    return Result(dict(counts), fms, missed, unplaced, unjudged, merged_pairs, fm_stories)


def short(k: Key | Stored, width: int = 70) -> str:
    if isinstance(k, Key):
        name = Path(k.file).stem
        return f"[{name[:34]}] {k.title[:width]}"
    return f"[{k.feed_id[:34]}] {k.title[:width]}"


def table(counts: dict[str, list[int]],
          order: Sequence[str] = ("relay-story", "candidate", "random", "all", "sure only")
          ) -> list[str]:
    """One row of pairwise figures per group of pairs (tp, fp, fn, tn)."""
    width = max([12, *(len(g) for g in counts)])
    lines = [f"{'pairs':<{width}} {'judged':>6} {'same':>5} {'merged':>6} {'TP':>5} {'FP':>5}"
             f" {'FN':>5} {'P':>6} {'R':>6} {'F1':>6}"]
    for group in sorted(counts, key=lambda g: (order.index(g) if g in order else 3, g)):
        tp, fp, fn, tn = counts[group]
        p, r, f = prf(tp, fp, fn)
        lines.append(f"{group:<{width}} {tp + fp + fn + tn:>6} {tp + fn:>5} {tp + fp:>6}"
                     f" {tp:>5} {fp:>5} {fn:>5} {p:>6.3f} {r:>6.3f} {f:>6.3f}")
    return lines


def report(result: Result, n_errors: int) -> list[str]:
    lines = table(result.counts)
    lines.append(f"false merges (judged different, merged by relay): {len(result.false_merges)}"
                 f" pairs in {len(result.fm_stories)} of relay's stories")
    by_size = sorted(result.fm_stories.items(), key=lambda kv: -kv[1][0])
    for sid, (n, titles) in by_size[:n_errors]:
        sample = " | ".join(t[:28] for t in sorted(titles)[:4])
        lines.append(f"  story {sid}: {n} false pairs over {len(titles)} titles: {sample}")
    if len(by_size) > n_errors:
        lines.append(f"  ... and {len(by_size) - n_errors} more stories (--errors N)")
    for fm in result.false_merges[:n_errors]:
        lines.append(f"  FM {short(fm.a, 50)}\n     ~ {short(fm.b, 50)}")
    if len(result.false_merges) > n_errors:
        lines.append(f"  ... and {len(result.false_merges) - n_errors} more pairs (--errors N)")
    lines.append(f"missed pairs (judged same, not merged): {len(result.missed)}")
    for miss in result.missed[:n_errors]:
        lines.append(f"  MISS {short(miss.a, 50)}\n       ~ {short(miss.b, 50)}")
    if len(result.missed) > n_errors:
        lines.append(f"  ... and {len(result.missed) - n_errors} more (--errors N)")
    lines.append(f"unjudged merged pairs: {len(result.unjudged)}"
                 f" (of {result.merged_pairs} pairs relay merges; judge them and add them to"
                 f" real/judged.jsonl)")
    for a, b in result.unjudged[:n_errors]:
        lines.append(f"  ? {short(a, 50)}\n    ~ {short(b, 50)}")
    if len(result.unjudged) > n_errors:
        lines.append(f"  ... and {len(result.unjudged) - n_errors} more (--errors N)")
    if result.unplaced:
        lines.append(f"WARNING: judged items not found in relay's archive: {len(result.unplaced)}"
                     " (their pairs count as not merged)")
        for k, why in result.unplaced[:n_errors]:
            lines.append(f"  {short(k, 50)}: {why}")
    return lines


def targets(result: Result) -> list[str]:
    tp, fp, fn, _ = result.counts.get("all", [0, 0, 0, 0])
    p, r, f = prf(tp, fp, fn)
    ok = "met" if fp == 0 and p >= TARGET_PRECISION and r >= TARGET_RECALL else "NOT met"
    return [f"real set: false merges {fp} (target 0), same-story pair precision {p:.3f}"
            f" (target >= {TARGET_PRECISION}), recall {r:.3f} (target >= {TARGET_RECALL}),"
            f" F1 {f:.3f}: {ok}"]


def run(corpus: Path, judged: Path = JUDGED, n_errors: int = 40,
        keep_db: Path | None = None) -> tuple[list[str], list[str]]:
    """The real set's report lines and target lines."""
    pairs, problems = load_judged(judged)
    with tempfile.TemporaryDirectory() as tmp:
        db = keep_db or Path(tmp) / "corpus.db"
        if keep_db is not None and db.exists():
            db.unlink()
        elapsed = run_collect(corpus, db)
        archive = Archive(db)
    start = time.perf_counter()
    sources, _config = read_corpus(corpus)
    result = measure(pairs, sources, archive)
    src_count = Counter(p.source for p in pairs)
    same_count = Counter(p.source for p in pairs if p.same)
    lines = [f"{judged}: {len(pairs)} judged pairs, {sum(same_count.values())} same story ("
             + ", ".join(f"{s} {n} ({same_count[s]} same)" for s, n in src_count.items()) + ")",
             f"relay collect --all over {corpus / 'relay-corpus.yaml'}: {len(archive.items)}"
             f" items stored in {elapsed:.1f} s; judged items placed in"
             f" {time.perf_counter() - start:.1f} s"]
    broken = [s for s in sources if s.error]
    for s in broken:
        lines.append(f"  source unreadable by relay: {s.file}: {s.error[:120]}")
    for problem in problems:
        lines.append(f"WARNING: {problem}")
    lines += report(result, n_errors)
    second = judged.parent / "second_reader.jsonl"      # a second reader's answers (README)
    if second.exists():
        import second_reader
        lines += second_reader.compare(pairs, second_reader.load_second(second), sources,
                                       archive, n_errors)
    return lines, targets(result)


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--judged", type=Path, default=JUDGED)
    ap.add_argument("--errors", type=int, default=40, help="errors listed per group")
    ap.add_argument("--keep-db", type=Path, default=None, help="write the archive here")
    args = ap.parse_args(list(argv) if argv is not None else None)
    lines, target_lines = run(args.corpus, args.judged, args.errors, args.keep_db)
    print("\n".join(lines))
    print("\n".join(target_lines))


if __name__ == "__main__":
    sys.modules.setdefault("real", sys.modules[__name__])   # second_reader's `import real`: this one
    main()
