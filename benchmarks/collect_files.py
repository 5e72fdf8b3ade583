"""A whole `relay collect`, as a process, of local feeds of real news text (issue 12
point 2), beside its floor measured in the same run: a process that runs feedparser and
Sudachi over the same files (PERFORMANCE.md: compare only figures from one run).

    python benchmarks/collect_files.py [--feeds 40] [--items 25] [--runs 5]
                                       [--corpus ../shared/corpus] [--checkout PATH ...]

The feeds are RSS 2.0 files written once into a temporary folder from the corpus's
datasets: half of them Japanese (livedoor news articles, with the titles of its index),
half English (WikiRef220's news articles); each item's description is a run of whole
paragraphs of one article (about the article's text divided among the items), and no two
items share text. A feeds.yaml lists them as `path:` feeds without `lang:`.

Each run starts, in turn:
- **floor**: `python -c` importing feedparser and sudachipy, loading the dictionary, then
  `feedparser.parse` of every file and Sudachi's normalized forms of every item's title and
  description (the issue's "bare feedparser + Sudachi", as whole processes);
- **relay**: `relay --db NEW.db collect --all` with the workers relay chooses;
- **relay, workers 0**: the same with `settings.workers: 0` (everything in one process).
`--checkout` (repeatable) runs the relay processes against other source trees as well, in
the same run, so a change is measured beside what it changes. Prints medians of wall time
and of CPU time (the process and the children it waited for: relay's forkserver and its
workers are not waited for, so their CPU is not counted), and relay's multiple of the floor.
Target: relay <= 1.5x the floor, for 40 feeds and for 200.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """
import sys, feedparser, sudachipy
tok = sudachipy.Dictionary().create()
for path in sys.argv[1:]:
    parsed = feedparser.parse(open(path, 'rb').read(), sanitize_html=False,
                              resolve_relative_uris=False)
    for e in parsed.entries:
        for text in (e.get('title', ''), e.get('summary', '')):
            [m.normalized_form() for m in tok.tokenize(text)]
"""


def _articles_ja(corpus: Path) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of every livedoor article: line 1 its URL, 2 its date, 3 its
    title, then its text."""
    out = []
    for path in sorted((corpus / "datasets" / "livedoor-news-corpus-sample").glob("*/*-*.txt")):
        lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]
        if len(lines) > 3:
            out.append((lines[2], [s for s in lines[3:] if s]))
    return out


def _articles_en(corpus: Path) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of every WikiRef220 article: its first line is its title."""
    out = []
    for path in sorted((corpus / "datasets" / "wikiref220-news-topic-clusters").glob("*.txt")):
        lines = [s.strip() for s in path.read_text(encoding="utf-8", errors="replace")
                 .splitlines() if s.strip()]
        if len(lines) > 1:
            out.append((lines[0], lines[1:]))
    return out


def _items(articles: list[tuple[str, list[str]]], n: int) -> list[tuple[str, str]]:
    """`n` (title, description) of whole paragraphs, about the articles' text divided by
    `n` each; an item's title is its article's, numbered when the article gives several."""
    total = sum(len(p) for _, ps in articles for p in ps)
    size = max(80, total * 4 // (5 * n))     # an article's tail shorter than this is dropped
    items: list[tuple[str, str]] = []
    for title, paragraphs in articles:
        chunk: list[str] = []
        part = 0
        for p in paragraphs:
            chunk.append(p)
            if sum(map(len, chunk)) >= size:
                part += 1
                items.append((f"{title} ({part})" if part > 1 else title, "\n".join(chunk)))
                chunk = []
        if chunk and sum(map(len, chunk)) >= size // 2:
            part += 1
            items.append((f"{title} ({part})" if part > 1 else title, "\n".join(chunk)))
    if len(items) < n:
        raise SystemExit(f"the corpus gives {len(items)} items, not {n}")
    return items[:n]


def _rss(name: str, items: list[tuple[str, str]], start: int) -> str:
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>https://news.example/{name}/{start + i}</link>"
        f"<guid>{name}-{start + i}</guid>"
        f"<pubDate>Wed, 02 Dec 2026 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
        f"<description>{escape(escape(d))}</description></item>"
        for i, (t, d) in enumerate(items))
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title><link>https://news.example/{name}/</link>"
            f"{entries}</channel></rss>")


def write_feeds(corpus: Path, folder: Path, feeds: int, per_feed: int) -> list[Path]:
    """`feeds` RSS files of `per_feed` items, half Japanese and half English."""
    ja_feeds = feeds // 2
    en_feeds = feeds - ja_feeds
    ja = _items(_articles_ja(corpus), ja_feeds * per_feed)
    en = _items(_articles_en(corpus), en_feeds * per_feed)
    paths = []
    for k in range(feeds):
        lang, pool, j = ("ja", ja, k // 2) if k % 2 == 0 else ("en", en, k // 2)
        # Round robin: a feed's items come from many articles, as a real feed's do.
        items = pool[j::ja_feeds if lang == "ja" else en_feeds][:per_feed]
        path = folder / f"{lang}-{k:03d}.xml"
        path.write_text(_rss(path.stem, items, 0), encoding="utf-8")
        paths.append(path)
    return paths


def write_config(folder: Path, paths: list[Path], workers: int | None) -> Path:
    lines = [f"  - id: {p.stem}\n    path: {p}\n    kind: rss\n" for p in paths]
    settings = "" if workers is None else f"settings:\n  workers: {workers}\n"
    config = folder / ("feeds.yaml" if workers is None else f"feeds-w{workers}.yaml")
    config.write_text(settings + "feeds:\n" + "".join(lines), encoding="utf-8")
    return config


def _relay() -> list[str]:
    script = shutil.which("relay", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "relay"]


def run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process (CPU: its own and its waited-for children's)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    err = process.stderr.read() if process.stderr else b""
    process.stderr.close() if process.stderr else None
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(args[:4])}... exited {code}: {err.decode()[-800:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--items", type=int, default=25, help="items a feed")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path,
                        default=Path(os.environ.get("RELAY_CORPUS", ROOT.parent / "shared"
                                                    / "corpus")))
    parser.add_argument("--checkout", action="append", type=Path,
                        help="a relay source tree to measure (repeatable; default: this one)")
    args = parser.parse_args()
    if not (args.corpus / "datasets").is_dir():
        raise SystemExit(f"{args.corpus / 'datasets'} does not exist: give --corpus (or "
                         "RELAY_CORPUS) the corpus folder")
    trees = [p.resolve() for p in args.checkout or [ROOT]]
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_feeds(args.corpus, folder, args.feeds, args.items)
        size = sum(p.stat().st_size for p in paths)
        configs = {"relay": write_config(folder, paths, None),
                   "relay, workers 0": write_config(folder, paths, 0)}
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "floor (feedparser + Sudachi)": ([sys.executable, "-c", FLOOR, *map(str, paths)],
                                             base)}
        for tree in trees:
            label = f" [{tree.name}]" if len(trees) > 1 else ""
            for name, config in configs.items():
                cases[name + label] = ([*_relay(), "--config", str(config), "--db", "{db}",
                                        "collect", "--all"],
                                       {**base, "PYTHONPATH": str(tree)})
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for r in range(args.runs):
            for name, (command, env) in cases.items():
                slug = re.sub(r"\W+", "-", name)
                db = folder / f"run-{r}-{slug}.db"
                times[name].append(run([a.replace("{db}", str(db)) for a in command], env))
                for extra in folder.glob(db.name + "*"):
                    extra.unlink()
    floor_wall = statistics.median(w for w, _ in times[next(iter(cases))])
    floor_cpu = statistics.median(c for _, c in times[next(iter(cases))])
    n = args.feeds * args.items
    print(f"{args.feeds} feeds x {args.items} items ({n} items, {size / 1e6:.1f} MB), "
          f"median of {args.runs} runs, whole processes, {os.cpu_count()} CPUs")
    print(f"{'process':40} {'wall s':>7} {'x floor':>8} {'CPU s':>7} {'x floor':>8} "
          f"{'CPU ms/item':>12}")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:40} {wall:7.2f} {wall / floor_wall:8.2f} {cpu:7.2f} "
              f"{cpu / floor_cpu:8.2f} {cpu / n * 1000:12.2f}")


if __name__ == "__main__":
    main()
