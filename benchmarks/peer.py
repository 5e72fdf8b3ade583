"""relay against its peer, rss2email 3.14 (issue 12), end to end on the same local feeds.

    python benchmarks/peer.py [--feeds 50] [--items 50] [--repeat 3] [--cache-dir DIR]
                              [--corpus DIR] [--checkout PATH ...] [--profile DIR]
    python benchmarks/peer.py --feeds 10 --items 20 --repeat 1      # quick run, ~20 s

rss2email is installed by this script into a virtual environment of its own under
`--cache-dir` (default `$XDG_CACHE_HOME/relay-bench`, else `~/.cache/relay-bench`), made
once and reused; when it cannot be installed (no network, no registry), the script says so
in one line and measures relay alone.

`--feeds` feeds of `--items` items each are built from the real news text of the shared
corpus (`--corpus`, default `$RELAY_CORPUS`): half the feeds Japanese (titles of the
livedoor index, bodies from the livedoor articles' sentences), half English (sentences of
the WikiRef220 articles), each item its own title, link, guid, date and text. A real HTTP
server on 127.0.0.1 serves them, and an aiosmtpd server on 127.0.0.1 takes the mail,
counting messages and bytes; both run as threads of this script, so that their CPU is not
counted as the tools'. Each repetition runs, from a fresh state each:

- **rss2email, digest mode**: `r2e run` (one process) with `digest = True`: one message a
  feed holding that feed's items;
- **rss2email, one mail per item**: the same with `digest = False`;
- **relay**: `relay collect --all`, `relay digest build`, `relay digest send` as three
  processes, one subscriber on every topic (subscribed before the clock starts, as the
  feeds are configured before rss2email's run). `fetch.per_host` is set to the
  concurrency and `host_delay` to 0, since every feed here shares one host where in life
  they have fifty (rss2email's own same-server interval is 0 by default).

`--checkout` (repeatable) runs relay from other source trees too, in turns within each
repetition (e.g. the main branch beside this one). `--profile DIR` runs relay once more,
untimed, each process under cProfile, and writes one .prof file a process there.

It prints, for each, the median items/s over the repetitions and the CPU seconds an item
(the children's rusage: the tool's processes and the workers they waited for), and
relay's throughput as a multiple of rss2email's digest mode. It checks that each run
did its work, and stops with an error when one did not: every feed fetched over HTTP,
rss2email's mail holding every item (digest parts or messages), relay's archive holding
every item and its digest delivered to the sink.
"""

from __future__ import annotations

import argparse
import csv
import email
import email.policy
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiosmtpd.controller import Controller

RSS2EMAIL = "rss2email==3.14"
TOPICS = ("ai", "semiconductors", "quantum", "fusion", "space", "biotech", "critical-minerals",
          "energy-gx", "research-funding", "talent", "startups", "economic-security")
SUBSCRIBER = "reader@peer.example"


class BenchError(Exception):
    """A run that did not do its work: the figures would measure nothing."""


# -- the feeds: real news text ----------------------------------------------------------------


def _interleave(groups: dict[str, list[Any]]) -> list[Any]:
    """One of each group in turn: a feed mixes its outlet's sections, as a news feed does."""
    out = []
    lists = [groups[k] for k in sorted(groups)]
    for i in range(max(map(len, lists), default=0)):
        out += [g[i] for g in lists if i < len(g)]
    return out


def _ja_texts(corpus: Path) -> tuple[list[str], list[str]]:
    """Titles of the livedoor index, and the sentences of the livedoor articles' bodies, the
    categories (IT, appliances, sports, films...) taking turns."""
    datasets = corpus / "datasets"
    titles: dict[str, list[str]] = {}
    with open(datasets / "livedoor_news_titles_index.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row.get("title", "").strip():
                titles.setdefault(row["category"], []).append(row["title"].strip())
    articles: dict[str, list[list[str]]] = {}
    for path in sorted((datasets / "livedoor-news-corpus-sample").glob("*/*-*.txt")):
        sentences = []
        for line in path.read_text(encoding="utf-8").splitlines()[3:]:   # url, date, title
            sentences += [s.strip() for s in re.findall(r"[^。！？]+[。！？]?", line.strip())
                          if len(s.strip()) >= 10]
        articles.setdefault(path.parent.name, []).append(sentences)
    return (list(dict.fromkeys(_interleave(titles))),
            [s for article in _interleave(articles) for s in article])


def _en_sentences(corpus: Path) -> list[str]:
    """The sentences of the WikiRef220 articles, 40-400 characters, the topics taking turns."""
    articles: dict[str, list[list[str]]] = {}
    folder = corpus / "datasets" / "wikiref220-news-topic-clusters"
    for path in sorted(folder.glob("*.txt")):
        if path.name == "readme.txt":
            continue
        sentences = []
        for para in path.read_text(encoding="utf-8", errors="replace").splitlines():
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", para.strip())
                          if 40 <= len(s) <= 400]
        articles.setdefault(re.sub(r"[ .]*(\(\d+\))?(\.\d+)?\.txt$", "", path.name),
                            []).append(sentences)
    return [s for article in _interleave(articles) for s in article]


def _headline(sentence: str, words: int = 12) -> str:
    parts = sentence.split()
    return " ".join(parts[:words]).rstrip(",;:.") if len(parts) > words else sentence.rstrip(".")


@dataclass
class Item:
    title: str
    text: str


def build_items(corpus: Path, feeds: int, items: int) -> list[list[Item]]:
    """feeds x items items, even feeds Japanese and odd feeds English, no text used twice."""
    ja_titles, ja_sentences = _ja_texts(corpus)
    en_sentences = _en_sentences(corpus)
    ja_feeds = (feeds + 1) // 2
    en_feeds = feeds // 2
    ja_per, en_per = 4, 4             # sentences a Japanese body; an English title + 3
    need = {"Japanese titles": (ja_feeds * items, len(ja_titles)),
            "Japanese sentences": (ja_feeds * items * ja_per, len(ja_sentences)),
            "English sentences": (en_feeds * items * en_per, len(en_sentences))}
    for what, (wanted, have) in need.items():
        if wanted > have:
            raise BenchError(f"the corpus has {have} {what}, {wanted} needed for "
                             f"{feeds} feeds x {items} items: ask for fewer")
    ja_t, ja_s, en_s = iter(ja_titles), iter(ja_sentences), iter(en_sentences)
    out = []
    for n in range(feeds):
        feed = []
        for _ in range(items):
            if n % 2 == 0:
                feed.append(Item(next(ja_t), "".join(next(ja_s) for _ in range(ja_per))))
            else:
                title = _headline(next(en_s))
                feed.append(Item(title, " ".join(next(en_s) for _ in range(en_per - 1))))
        out.append(feed)
    return out


def rss(n: int, items: Sequence[Item], now: datetime) -> bytes:
    lang = "ja" if n % 2 == 0 else "en"
    entries = []
    for i, item in enumerate(items):
        published = format_datetime(now - timedelta(minutes=30 * i + n))
        entries.append(
            f"<item><title>{escape(item.title)}</title>"
            f"<link>https://peer{n}.example/{lang}/{i}</link>"
            f'<guid isPermaLink="false">peer{n}-{i}</guid><pubDate>{published}</pubDate>'
            f"<description>{escape(f'<p>{escape(item.text)}</p>')}</description></item>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Peer source {n}</title><link>https://peer{n}.example/</link>"
            f"<description>peer benchmark feed {n}</description><language>{lang}</language>"
            + "".join(entries) + "</channel></rss>").encode("utf-8")


# -- the servers ------------------------------------------------------------------------------


class Server:
    """The feeds over HTTP on 127.0.0.1, counting GETs a path."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.gets: dict[str, int] = {}
        lock = threading.Lock()
        gets = self.gets

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                body = bodies.get(self.path)
                with lock:
                    gets[self.path] = gets.get(self.path, 0) + 1
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@dataclass
class Sink:
    """What the SMTP server received: each message's recipients and bytes."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def take(self) -> list[tuple[list[str], bytes]]:
        out, self.messages = self.messages, []
        return out


# -- running the tools ------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu: float
    messages: int
    mail_bytes: int
    note: str
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)   # wall s, CPU s


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv[:4])}... exited {done.returncode}:\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def _check_fetched(server: Server, feeds: int, what: str) -> None:
    got = dict(server.gets)
    server.gets.clear()
    missing = [n for n in range(feeds) if got.get(f"/feeds/{n}.xml", 0) < 1]
    if missing:
        raise BenchError(f"{what}: {len(missing)} of {feeds} feeds never fetched "
                         f"(first: /feeds/{missing[0]}.xml)")


def run_rss2email(r2e: Path, server: Server, sink: Sink, port: int, feeds: int, items: int,
                  digest: bool) -> Run:
    with tempfile.TemporaryDirectory(prefix="peer-r2e-") as tmp:
        work = Path(tmp)
        lines = ["[DEFAULT]", "from = rss2email@peer.example", f"to = {SUBSCRIBER}",
                 "email-protocol = smtp", "smtp-server = 127.0.0.1", f"smtp-port = {port}",
                 "smtp-auth = False", "smtp-ssl = False", f"digest = {digest}", ""]
        for n in range(feeds):
            lines += [f"[feed.peer-{n:03d}]", f"url = {server.base}/feeds/{n}.xml", ""]
        (work / "rss2email.cfg").write_text("\n".join(lines), encoding="utf-8")
        sink.take()
        cpu0, t0 = _children_cpu(), time.perf_counter()
        _run([str(r2e), "-c", str(work / "rss2email.cfg"), "-d", str(work / "data.json"),
              "run"], work)
        seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    mode = "digest" if digest else "per item"
    _check_fetched(server, feeds, f"rss2email ({mode})")
    got = sink.take()
    delivered = 0
    for _, raw in got:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        if msg.is_multipart() and msg.get_content_type() == "multipart/digest":
            delivered += len(msg.get_payload())
        else:
            delivered += 1
    expected = feeds if digest else feeds * items
    if len(got) != expected or delivered != feeds * items:
        raise BenchError(f"rss2email ({mode}): {len(got)} messages holding {delivered} items "
                         f"reached the sink, {expected} messages holding {feeds * items} "
                         "expected")
    return Run(seconds, cpu, len(got), sum(len(raw) for _, raw in got),
               f"{delivered} items in {len(got)} messages")


def relay_config(work: Path, server: Server, port: int, feeds: int) -> Path:
    lines = ["settings:", f"  database: {work / 'relay.db'}", f"  digests_dir: {work / 'digests'}",
             f"  smtp: {{url: 'smtp://127.0.0.1:{port}', sender: relay@peer.example}}",
             "  fetch: {concurrency: 10, per_host: 10, host_delay: 0}",
             "  digest: {max_per_topic: 1000}", "feeds:"]
    for n in range(feeds):
        lines += [f"  - id: peer-{n:03d}", f"    url: {server.base}/feeds/{n}.xml",
                  "    allow_private: true"]
    path = work / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_relay(server: Server, sink: Sink, port: int, feeds: int, items: int,
              tree: Path | None = None, profile: Path | None = None) -> Run:
    with tempfile.TemporaryDirectory(prefix="peer-relay-") as tmp:
        work = Path(tmp)
        config = relay_config(work, server, port, feeds)
        base = [sys.executable, "-m", "relay", "--config", str(config)]
        env = None
        if tree is not None:     # that source tree's relay package
            env = {**os.environ, "PYTHONPATH": str(tree)}
        _run(base + ["subscribe", SUBSCRIBER, "--topics", ",".join(TOPICS), "--ui-lang", "en"],
             work, env)
        phases = (["collect", "--all"], ["digest", "build", "--json"], ["digest", "send", "--json"])
        sink.take()
        cpu0, t0 = _children_cpu(), time.perf_counter()
        outputs = []
        times = {}
        for n, phase in enumerate(phases):
            argv = base + phase
            p_cpu, p_t = _children_cpu(), time.perf_counter()
            if profile is not None:
                argv = [sys.executable, "-m", "cProfile", "-o",
                        str(profile / f"relay-{n}-{'-'.join(p for p in phase if p[0] != '-')}.prof"),
                        "-m", "relay", *argv[3:]]
            outputs.append(_run(argv, work, env))
            times[" ".join(p for p in phase if p != "--json")] = (
                time.perf_counter() - p_t, _children_cpu() - p_cpu)
        seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
        stored = json.loads(_run(base + ["sql", "select count(*) as n from items", "--json"],
                                 work, env))[0]["n"]
    _check_fetched(server, feeds, "relay")
    got = sink.take()
    if stored != feeds * items:
        raise BenchError(f"relay: {stored} items archived, {feeds * items} expected")
    built = json.loads(outputs[1])
    stories = sum(d["stories"] for d in built if d["status"] == "built")
    if len(got) != 1 or got[0][0] != [SUBSCRIBER] or not stories:
        raise BenchError(f"relay: {len(got)} messages reached the sink, 1 to {SUBSCRIBER} "
                         f"expected (digest build: {outputs[1].strip()}; an empty digest means "
                         "no item matched a topic: ask for more items)")
    return Run(seconds, cpu, len(got), len(got[0][1]),
               f"{stored} items archived, 1 digest of {stories} stories", times)


# -- rss2email's own environment --------------------------------------------------------------


def rss2email(cache: Path) -> tuple[Path | None, str]:
    """The r2e executable of the cached venv (made and installed on first use), or None and
    why it could not be had."""
    venv = cache / "rss2email-3.14"
    r2e = venv / "bin" / "r2e"
    if r2e.exists():
        done = subprocess.run([str(r2e), "--version"], capture_output=True, text=True)
        if done.returncode == 0 and "3.14" in done.stdout + done.stderr:
            return r2e, f"reused {venv}"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       capture_output=True, text=True)
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                               RSS2EMAIL], capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"could not make a venv at {venv}: {last}"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not make a venv at {venv}: {exc}"
    if done.returncode != 0 or not r2e.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"pip install {RSS2EMAIL} failed: {last}"
    return r2e, f"installed into {venv}"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relay-bench"


# -- main -------------------------------------------------------------------------------------


def _rows(name: str, runs: list[Run], items: int) -> Iterator[str]:
    secs = statistics.median(r.seconds for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    yield (f"{name:<40} {secs:7.2f} s  {items / secs:7.0f} items/s  "
           f"CPU {1000 * cpu / items:5.2f} ms/item  "
           f"mail {runs[-1].messages} msg, {runs[-1].mail_bytes / 1e6:.2f} MB  ({runs[-1].note})")
    for phase in runs[-1].phases:
        secs = statistics.median(r.phases[phase][0] for r in runs)
        cpu = statistics.median(r.phases[phase][1] for r in runs)
        yield f"  {phase:<38} {secs:7.2f} s  CPU {cpu:6.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=50, help="items a feed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=os.environ.get("RELAY_CORPUS"),
                        help="the shared corpus (default: $RELAY_CORPUS)")
    parser.add_argument("--cache-dir", type=Path, default=_cache_dir(),
                        help="where rss2email's venv is kept")
    parser.add_argument("--checkout", action="append", type=Path,
                        help="a relay source tree to run (repeatable, in turns; default: the "
                             "relay this Python imports)")
    parser.add_argument("--profile", type=Path,
                        help="also write a cProfile file of each relay process here "
                             "(one more relay run, not timed)")
    args = parser.parse_args()
    if args.corpus is None or not (args.corpus / "datasets").is_dir():
        print("peer.py: needs the shared corpus: --corpus DIR or RELAY_CORPUS "
              f"(got {args.corpus})", file=sys.stderr)
        return 2
    try:
        items = build_items(args.corpus, args.feeds, args.items)
    except BenchError as exc:
        print(f"peer.py: {exc}", file=sys.stderr)
        return 2
    now = datetime.now(UTC).replace(microsecond=0)
    bodies = {f"/feeds/{n}.xml": rss(n, feed, now) for n, feed in enumerate(items)}
    total = args.feeds * args.items

    r2e, how = rss2email(args.cache_dir)
    if r2e is None:
        print(f"rss2email 3.14: skipped ({how}); measuring relay alone")
    server = Server(bodies)
    sink = Sink()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    print(f"feeds: {args.feeds} x {args.items} items ({total} items, "
          f"{sum(map(len, bodies.values())) / 1e6:.1f} MB, half Japanese), "
          f"median of {args.repeat}; rss2email: {how if r2e else 'skipped'}")
    trees: list[Path | None] = [p.resolve() for p in args.checkout or []] or [None]
    relays = {tree: "relay collect+build+send" + (f" [{tree.name}]" if tree else "")
              for tree in trees}
    runs: dict[str, list[Run]] = {"digest": [], "per item": [], **{n: [] for n in
                                                                   relays.values()}}
    try:
        for _ in range(args.repeat):
            if r2e is not None:
                runs["digest"].append(run_rss2email(r2e, server, sink, port, args.feeds,
                                                    args.items, digest=True))
                runs["per item"].append(run_rss2email(r2e, server, sink, port, args.feeds,
                                                      args.items, digest=False))
            for tree, name in relays.items():
                runs[name].append(run_relay(server, sink, port, args.feeds, args.items, tree))
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            run_relay(server, sink, port, args.feeds, args.items, trees[-1], args.profile)
            print(f"profiles of relay's processes written to {args.profile}")
    except BenchError as exc:
        print(f"peer.py: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        controller.stop()
        server.httpd.shutdown()
    names = {"digest": "rss2email 3.14, digest", "per item": "rss2email 3.14, mail per item",
             **{n: n for n in relays.values()}}
    for key, name in names.items():
        if runs[key]:
            print(*_rows(name, runs[key], total), sep="\n")
    if runs["digest"]:
        for name in relays.values():
            relay_rate = total / statistics.median(r.seconds for r in runs[name])
            for key in ("digest", "per item"):
                rate = total / statistics.median(r.seconds for r in runs[key])
                print(f"{name} / rss2email ({key}): {relay_rate / rate:.2f}x items/s"
                      + ("  (target >= 1.00x)" if key == "digest" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
