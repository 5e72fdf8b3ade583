"""A second, blind reader for the real set (real/judged.jsonl), and the agreement of the two.

    python benchmarks/quality/second_reader.py --draft OUT.jsonl    # the blind list to judge
    python benchmarks/quality/second_reader.py --merge OUT.jsonl    # record reader 2's answers

`--draft` writes the pairs a second reader judges, without reader 1's answers, notes or the
pair's source (a `random` pair is always different): every pair reader 1 judged the same
story, every pair reader 1 noted uncertain, and a sample (`random.Random(SEED)`) of
SAMPLE_DIFFERENT pairs reader 1 judged different and sure, so that being on the list says
nothing of the answer; shuffled with the same seed. Each pair shows both items' file, date,
title and the first 300 characters of text as relay reads them (`real.read_corpus`), and
has `"same": null` and `"note": ""` for the reader to fill. OUT.md beside it is the same list
to read.

`--merge` takes that file filled in (`same` true or false; null = not judged) and writes
`real/second_reader.jsonl`: one line per judged pair, keyed by the pair's two item keys as
in judged.jsonl. Reader 1's file is not touched: it stays the official set. `real.py` loads
the second reader's file when it exists and prints `compare`'s lines: the agreement (raw and
Cohen's kappa), the pairs the readers judge differently, and relay's figures on the pairs
reader 2 judged under each reader's answers and on the pairs both agree on.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real  # noqa: E402  (the real set, next to this file)

SECOND = real.JUDGED.parent / "second_reader.jsonl"
SEED = 2
SAMPLE_DIFFERENT = 120
TEXT_CHARS = 300

KeyTuple = tuple[str, str, str, str]
PairId = tuple[KeyTuple, KeyTuple]


def pair_id(a: Any, b: Any) -> PairId:
    """A pair's two keys as plain tuples (file, guid, link, title), in the order
    `real.load_judged` uses. Plain tuples because `real` run as a script is another module
    than the `real` imported here, and their Key classes never compare equal."""
    ka, kb = ((k.file, k.guid, k.link, k.title) for k in (a, b))
    return (ka, kb) if (ka[0], ka[1], ka[3]) <= (kb[0], kb[1], kb[3]) else (kb, ka)


def choose(pairs: Sequence[Any], seed: int = SEED, n_different: int = SAMPLE_DIFFERENT
           ) -> list[Any]:
    """The pairs to show: all same, all uncertain, a sample of the sure different; shuffled."""
    def order(p: Any) -> tuple[str, ...]:
        a, b = pair_id(p.a, p.b)
        return (a[0], a[1], a[3], b[0], b[1], b[3])       # file, guid, title
    shown = sorted((p for p in pairs if p.same or p.uncertain), key=order)
    rest = sorted((p for p in pairs if not (p.same or p.uncertain)), key=order)
    rng = random.Random(seed)
    shown += rng.sample(rest, min(n_different, len(rest)))
    rng.shuffle(shown)
    return shown


def describe(key: real.Key, by_file: dict[str, real.Source]) -> dict[str, str]:
    """An item as the reader sees it: its key, date and the start of its text."""
    from relay.text import html_to_text
    entry = real.find_entry(key, by_file)
    if entry is None:
        return {**key.as_json(), "date": "-", "text": "(not found in the corpus)"}
    return {**key.as_json(),
            "date": entry.published_at.isoformat()[:16] if entry.published_at else "-",
            "text": " ".join(html_to_text(entry.content_html).split())[:TEXT_CHARS]}


def draft(corpus: Path, judged: Path, out: Path) -> int:
    pairs, _ = real.load_judged(judged)
    sources, _config = real.read_corpus(corpus)
    by_file = {s.file: s for s in sources}
    rows = []
    for n, p in enumerate(choose(pairs), 1):
        a, b = (real.Key(*k) for k in pair_id(p.a, p.b))
        rows.append({"n": n, "a": describe(a, by_file), "b": describe(b, by_file),
                     "same": None, "note": ""})
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    md = [f"# Pairs to judge ({len(rows)}): same story or not?\n"]
    for r in rows:
        md.append(f"## {r['n']}")
        for side in ("a", "b"):
            d = r[side]
            md.append(f"- {side.upper()} [{d['file']}] {d['date']}\n  T: {d['title']}\n"
                      f"  X: {d['text']}")
        md.append("")
    out.with_suffix(".md").write_text("\n".join(md), encoding="utf-8")
    return len(rows)


def merge(filled: Path, second: Path = SECOND, reader: str = "") -> int:
    """Reader 2's answers, keyed by item keys, in their own file (judged.jsonl untouched)."""
    lines = []
    for line in filled.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("same") is None:
            continue
        a, b = (real.Key(*k) for k in pair_id(*(real.Key.from_json(d[s]) for s in "ab")))
        lines.append({"a": a.as_json(), "b": b.as_json(), "same": bool(d["same"]),
                      "note": d.get("note", ""), "reader": reader})
    second.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                      encoding="utf-8")
    return len(lines)


def load_second(path: Path) -> dict[PairId, tuple[bool, str]]:
    out: dict[PairId, tuple[bool, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out[pair_id(real.Key.from_json(d["a"]), real.Key.from_json(d["b"]))] = (
                bool(d["same"]), d.get("note", ""))
    return out


def kappa(both: Sequence[tuple[bool, bool]]) -> float:
    """Cohen's kappa of two readers' yes/no answers on the same items."""
    n = len(both)
    if not n:
        return float("nan")
    observed = sum(x == y for x, y in both) / n
    p1 = sum(x for x, _ in both) / n
    p2 = sum(y for _, y in both) / n
    expected = p1 * p2 + (1 - p1) * (1 - p2)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


GROUPS = ("reader 1", "reader 2", "both agree", "all, r2 where given")


def compare(pairs: Sequence[Any], second: dict[PairId, tuple[bool, str]],
            sources: Sequence[real.Source], archive: real.Archive, n_errors: int = 40
            ) -> list[str]:
    """Agreement of the readers and relay's figures under each reader's answers."""
    by_id = {pair_id(p.a, p.b): p for p in pairs}
    common = [(by_id[k], same, note) for k, (same, note) in second.items() if k in by_id]
    lines = [f"second reader ({SECOND.name}): {len(second)} pairs judged,"
             f" {len(common)} of them in the judged set"]
    if len(common) < len(second):
        lines.append(f"WARNING: {len(second) - len(common)} of reader 2's pairs are not in the"
                     " judged set (their items' keys changed?)")
    if not common:
        return lines
    both = [(p.same, s2) for p, s2, _ in common]
    agree = sum(x == y for x, y in both)
    table = {(x, y): sum(1 for b in both if b == (x, y)) for x in (True, False)
             for y in (True, False)}
    lines.append(f"agreement: {agree}/{len(both)} = {agree / len(both):.3f}, Cohen's kappa"
                 f" {kappa(both):.3f}; r1 same & r2 same {table[True, True]}, r1 same & r2"
                 f" different {table[True, False]}, r1 different & r2 same {table[False, True]},"
                 f" both different {table[False, False]}")
    for label, part in (("noted uncertain by r1", [c for c in common if c[0].uncertain]),
                        ("sure for r1", [c for c in common if not c[0].uncertain])):
        sub = [(p.same, s2) for p, s2, _ in part]
        if sub:
            ok = sum(x == y for x, y in sub)
            lines.append(f"  {label}: {ok}/{len(sub)} agree, kappa {kappa(sub):.3f}")
    differ = [c for c in common if c[0].same != c[1]]
    lines.append(f"pairs the readers judge differently: {len(differ)}")
    for p, s2, note in differ[:n_errors]:
        lines.append(f"  r1 {'same' if p.same else 'diff'} r2 {'same' if s2 else 'diff'}"
                     f"{' (r1 uncertain)' if p.uncertain else ''}: {real.short(p.a, 45)}\n"
                     f"      ~ {real.short(p.b, 45)}{f'  -- r2: {note}' if note else ''}")
    if len(differ) > n_errors:
        lines.append(f"  ... and {len(differ) - n_errors} more (--errors N)")
    answer2 = {pair_id(p.a, p.b): s2 for p, s2, _ in common}
    groups = [replace(p, source=GROUPS[0], note="") for p, _, _ in common]
    groups += [replace(p, same=s2, source=GROUPS[1], note="") for p, s2, _ in common]
    groups += [replace(p, source=GROUPS[2], note="") for p, s2, _ in common if p.same == s2]
    groups += [replace(p, same=answer2.get(pair_id(p.a, p.b), p.same), source=GROUPS[3],
                       note="") for p in pairs]
    counts = real.measure(groups, sources, archive).counts
    lines.append("relay's figures: on the pairs reader 2 judged under each reader's answers,"
                 " on those both agree on, and on the whole set with reader 2's answers where"
                 " given (reader 1's elsewhere)")
    lines += real.table({g: counts.get(g, [0, 0, 0, 0]) for g in GROUPS}, GROUPS)
    return lines


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=real.DEFAULT_CORPUS)
    ap.add_argument("--judged", type=Path, default=real.JUDGED)
    ap.add_argument("--draft", type=Path, help="write the blind list of pairs here (and .md)")
    ap.add_argument("--merge", type=Path, help="a filled draft: record reader 2's answers")
    ap.add_argument("--reader", default="", help="who reader 2 is (recorded with each pair)")
    ap.add_argument("--out", type=Path, default=SECOND, help="reader 2's file (for --merge)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.draft:
        n = draft(args.corpus, args.judged, args.draft)
        print(f"{args.draft}: {n} pairs to judge (and {args.draft.with_suffix('.md')})")
    if args.merge:
        n = merge(args.merge, args.out, args.reader)
        print(f"{args.out}: {n} pairs judged by reader 2")
    if not (args.draft or args.merge):
        ap.error("give --draft OUT or --merge FILLED")


if __name__ == "__main__":
    main()
