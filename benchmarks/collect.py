"""Collect throughput (issue 3): relay's whole `collect` of many feeds from a fast local
server, against bare httpx GETs of the same URLs at the same concurrency, measured side by
side in one run (PERFORMANCE.md: compare only figures from one run).

    python benchmarks/collect.py [--feeds 1000] [--items 50] [--concurrency 10] [--repeat 1]
    python benchmarks/collect.py --feeds 200 --repeat 3     # quick mode, about a minute

A server in a separate process (its CPU does not share the measured client's GIL) serves
`--feeds` RSS 2.0 feeds of `--items` items each from memory on 127.0.0.1, with an ETag and a
Last-Modified, and answers 304 to a matching If-None-Match. Each repetition measures:
- bare: plain `httpx.AsyncClient` GETs of every URL, at most `--concurrency` in flight;
- relay's first collect of every feed into a fresh SQLite archive (all items new), wall
  time, and its fetch phase alone (`relay.pipeline.collecting.fetch_all`, timed by a wrapper);
- relay's second collect (every feed answers 304), wall time and fetch phase.
Prints the medians: the fetch phase as a ratio of bare (target: at most 1.3x), the first
collect in items/s, and how many times faster the 304 pass is (target: at least 10x).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx

import relay.pipeline
import relay.pipeline.collecting
from relay.config import load_config
from relay.models import Config, FeedReport
from relay.store import Store
from relay.tokens import warm_up

# -- the feeds --------------------------------------------------------------------------------

JA_SUBJECTS = ["文部科学省", "経済産業省", "内閣府", "理化学研究所", "産業技術総合研究所", "東京大学",
               "京都大学", "大阪大学", "東北大学", "九州大学", "名古屋大学", "JAXA", "NEDO", "総務省",
               "科学技術振興機構", "防衛装備庁", "日本学術振興会", "物質・材料研究機構", "国立がん研究センター",
               "情報通信研究機構", "量子科学技術研究開発機構", "北海道大学", "筑波大学", "環境省"]
JA_TOPICS = ["量子コンピュータ", "半導体", "人工知能", "核融合", "人工衛星", "重要鉱物", "蓄電池",
             "スタートアップ", "人材育成", "国際共同研究", "経済安全保障", "バイオ医薬品", "次世代通信",
             "水素エネルギー", "ロボット", "創薬", "気候変動", "海洋観測", "再生医療", "自動運転",
             "光電融合", "宇宙輸送", "ゲノム解析", "量子暗号", "洋上風力"]
JA_ACTIONS = ["の研究拠点を新設", "に追加予算を計上", "の実証実験を開始", "の共同研究で合意",
              "の支援策を発表", "の国際連携を強化", "の新たな指針を公表", "の公募を開始",
              "の試作機を公開", "の成果を論文で発表", "の評価報告書をまとめる", "の規制を見直し"]
JA_SENTENCES = [
    "{s}は{d}、{t}分野で{n}億円規模の事業を始めると発表した。",
    "{c}など{k}社が参加し、{y}年度までに成果をまとめる計画だ。",
    "{who}教授は「{t}の競争力を高めるには人材と設備の両方が欠かせない」と述べた。",
    "{s}によると、{t}に関する国内の研究者は約{k}00人に上る。",
    "同様の取り組みは{p}でも進んでおり、{c}が中心となって{t}の開発を急いでいる。",
    "{y}年には{c}と{s}が{x}と呼ぶ試作機を公開する予定だという。",
    "{x}は従来より消費電力を{k}%抑えられるのが特徴で、{c}は量産化を視野に入れる。",
    "{p}の{who}氏は、{t}の市場規模が{y}年に{n}兆円に達するとの見通しを示した。",
    "{s}は{w}の{v}も進めており、{t}との相乗効果を見込む。",
    "初年度は{k}件の応募があり、うち{c}を含む{m}件を採択した。",
    "{who}氏は記者会見で、{w}の{v}について「{y}年までに結論を出したい」と語った。",
    "{c}の{who}社長は、{p}での{w}の需要が急速に伸びていると説明した。",
    "関係者によれば、{x}の開発費は総額{n}億円に上る見込みだ。",
    "{s}は今後、{p}の研究機関とも{w}に関する情報交換を進める方針だ。",
]
JA_VERBS = ["実用化", "標準化", "人材確保", "サプライチェーン強化", "国際共同開発", "安全性評価",
            "地域展開", "データ共有", "コスト削減", "社会実装"]
JA_PEOPLE = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田",
             "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "清水", "斎藤"]
EN_SUBJECTS = ["The Department of Energy", "NSF", "The European Commission", "DARPA",
               "The UK Research Council", "Fraunhofer", "CNRS", "MIT", "Stanford", "NIST",
               "The Ministry of Science", "Samsung", "TSMC", "The Max Planck Society", "ETH Zurich",
               "Imperial College", "The German research ministry", "KAIST", "A*STAR", "CSIRO",
               "The Helmholtz Association", "Inria", "The National Research Council"]
EN_TOPICS = ["quantum computing", "semiconductors", "artificial intelligence", "fusion energy",
             "satellite launches", "critical minerals", "battery storage", "startups",
             "research talent", "export controls", "biomanufacturing", "6G networks",
             "hydrogen", "robotics", "drug discovery", "climate models", "ocean sensing",
             "gene therapy", "autonomous driving", "photonics", "space transport",
             "genomics", "post-quantum cryptography", "offshore wind"]
EN_ACTIONS = ["announces funding for", "opens a new center for", "signs an agreement on",
              "launches a program in", "publishes a strategy on", "expands its work on",
              "unveils a prototype for", "reviews its rules on", "picks partners for",
              "reports results in"]
EN_SENTENCES = [
    "{s} said on {d} that it would spend ${n} million on {t} over the next {k} years.",
    "The program, led by {c}, brings together {k} universities and partners in {p}.",
    "Professor {who} said the effort would help train researchers and move {t} from the lab "
    "to industry.",
    "Critics warned that {t} budgets in {p} have grown faster than the number of "
    "qualified staff.",
    "{c} plans to show its {x} prototype in {y}, according to a statement.",
    "The announcement follows a similar move by {p} earlier this year.",
    "{x} uses {k} percent less power than earlier designs, and {c} hopes to build it at scale.",
    "Analyst {who} expects the market for {t} in {p} to reach ${n} billion by {y}.",
    "{s} is also working on {w}, which it sees as a natural partner to {t}.",
    "Of the {k} proposals received in the first round, {m} were funded, including one from {c}.",
    "Speaking to reporters, {who} said a decision on {w} would come before {y}.",
    "{c} chief executive {who} said demand for {w} in {p} was growing quickly.",
    "People familiar with the project put the cost of {x} at ${n} million.",
    "{s} will share data on {w} with research institutes in {p}, officials said.",
]
EN_VERBS = ["standards work", "hiring", "supply chains", "joint development", "safety testing",
            "regional rollout", "data sharing", "cost reduction", "field trials", "licensing"]
EN_PEOPLE = ["Smith", "Müller", "Dubois", "Kim", "Garcia", "Nguyen", "Rossi", "Novak", "Schmidt",
             "Martin", "Chen", "Okafor", "Larsen", "Kowalski", "Silva", "Fischer", "Patel",
             "Bernard", "Weber", "Moreau"]
PLACES = ["Germany", "France", "Japan", "Korea", "Canada", "Bavaria", "Saxony", "Quebec",
          "California", "Ontario", "Singapore", "Taiwan", "Texas", "Baden-Württemberg",
          "Flanders", "Catalonia", "Scotland", "Victoria", "Hokkaido", "Kyushu", "Brittany"]
KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモラリルレロ"
LATIN = "bcdfghklmnprstvz"


def _name(rnd: random.Random, japanese: bool) -> str:
    """A made-up company name: what makes news items differ beside shared words."""
    if japanese:
        return "".join(rnd.choices(KANA, k=rnd.randint(3, 6))) + rnd.choice(
            ["社", "研究所", "工業", "ホールディングス", "テクノロジーズ"])
    return rnd.choice(LATIN).upper() + "".join(
        rnd.choice("aeiou") + rnd.choice(LATIN) for _ in range(rnd.randint(2, 4))
    ) + rnd.choice([" Labs", " Inc.", " Systems", " GmbH", ""])


def _item(rnd: random.Random, feed: int, i: int, japanese: bool) -> tuple[str, str]:
    """A title and 2-3 sentences, drawn so that two items rarely share most of their words."""
    product = rnd.choice(LATIN).upper() + "".join(rnd.choices("aeiou" + LATIN, k=5)) + (
        f"-{rnd.randint(1, 99)}")
    fields = dict(c=_name(rnd, japanese), x=product, n=rnd.randint(2, 900),
                  k=rnd.randint(2, 40), m=rnd.randint(1, 9), y=rnd.randint(2026, 2035),
                  p=rnd.choice(PLACES))
    if japanese:
        s, t = rnd.choice(JA_SUBJECTS), rnd.choice(JA_TOPICS)
        fields.update(d=f"{rnd.randint(1, 12)}月{rnd.randint(1, 28)}日", w=rnd.choice(JA_TOPICS),
                      v=rnd.choice(JA_VERBS), who=rnd.choice(JA_PEOPLE))
        title = f"{s}、{t}{rnd.choice(JA_ACTIONS)}　{fields['c']}と連携（{feed}-{i}）"
        if rnd.random() < 0.3:   # Japanese news mixes in English names and acronyms
            title += f" — {product} {rnd.choice(EN_TOPICS)}"
        sentences = rnd.sample(JA_SENTENCES, rnd.randint(2, 3))
    else:
        s, t = rnd.choice(EN_SUBJECTS), rnd.choice(EN_TOPICS)
        fields.update(d=rnd.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
                      w=rnd.choice(EN_TOPICS), v="", who=rnd.choice(EN_PEOPLE))
        title = f"{s} {rnd.choice(EN_ACTIONS)} {t} with {fields['c']} ({feed}-{i})"
        sentences = rnd.sample(EN_SENTENCES, rnd.randint(2, 3))
    text = ("" if japanese else " ").join(x.format(s=s, t=t, **fields) for x in sentences)
    return title, text


def make_feed(feed: int, items: int, now: datetime, seed: int = 7) -> bytes:
    """Feed `feed`: items of its own (distinct titles, texts, links), two thirds of the feeds
    Japanese, the rest English, every item a title plus 2-3 sentences of description."""
    rnd = random.Random(seed * 1_000_003 + feed)
    japanese = feed % 3 != 2
    entries = []
    for i in range(items):
        title, text = _item(rnd, feed, i, japanese)
        link = f"https://news{feed}.example/{'ja' if japanese else 'en'}/articles/{i}"
        published = format_datetime(now - timedelta(hours=i * 3 + feed % 7, minutes=feed % 60))
        entries.append(
            f"<item><title>{escape(title)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">feed{feed}-item{i}</guid><pubDate>{published}</pubDate>'
            f"<description>{escape(f'<p>{text}</p>')}</description></item>")
    xml = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
           f"<title>News source {feed}</title><link>https://news{feed}.example/</link>"
           f"<description>Bench feed {feed}</description>"
           f"<language>{'ja' if japanese else 'en'}</language>" + "".join(entries)
           + "</channel></rss>")
    return xml.encode("utf-8")


# -- the server (its own process) -------------------------------------------------------------


def _responses(feeds: int, items: int) -> tuple[dict[bytes, tuple[bytes, bytes, bytes]], int]:
    """path -> (etag, 200 response, 304 response), all bytes ready to write; body bytes."""
    now = datetime.now(UTC).replace(microsecond=0)
    modified = format_datetime(now - timedelta(hours=1), usegmt=True).encode()
    out = {}
    size = 0
    for n in range(feeds):
        body = make_feed(n, items, now)
        size += len(body)
        etag = b'"' + hashlib.sha1(body).hexdigest()[:16].encode() + b'"'
        common = (b"ETag: " + etag + b"\r\nLast-Modified: " + modified
                  + b"\r\nCache-Control: max-age=60\r\n")
        ok = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
              + common + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        out[f"/feeds/{n}.xml".encode()] = (etag, ok, b"HTTP/1.1 304 Not Modified\r\n" + common
                                           + b"\r\n")
    return out, size


_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class _Http(asyncio.Protocol):
    """HTTP/1.1 GET with keep-alive, just enough for httpx; no request bodies."""

    def __init__(self, responses: dict[bytes, tuple[bytes, bytes, bytes]]) -> None:
        self.responses = responses
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip()
            found = self.responses.get(parts[1] if len(parts) > 1 else b"")
            if found is None:
                self.transport.write(_NOT_FOUND)
            else:
                etag, ok, not_modified = found
                match = headers.get(b"if-none-match", b"")
                tags = {t.strip().removeprefix(b"W/") for t in match.split(b",")}
                self.transport.write(not_modified if etag in tags else ok)
            if headers.get(b"connection", b"").lower() == b"close":
                self.transport.close()
                return


def serve(feeds: int, items: int, conn: Any) -> None:
    """The server process: build every response, listen, send the port, serve forever."""
    responses, size = _responses(feeds, items)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Http(responses), "127.0.0.1", 0, backlog=1024)
        conn.send((server.sockets[0].getsockname()[1], size))
        await server.serve_forever()

    asyncio.run(main())


# -- the measurements -------------------------------------------------------------------------


async def _bare_async(urls: Sequence[str], concurrency: int) -> int:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        trust_env=False, limits=httpx.Limits(max_connections=concurrency,
                                             max_keepalive_connections=concurrency)
    ) as client:

        async def get(url: str) -> int:
            async with gate:
                resp = await client.get(url)
                return len(resp.content) if resp.status_code == 200 else 0

        sizes = await asyncio.gather(*(get(u) for u in urls))
    return sum(sizes)


def bare(urls: Sequence[str], concurrency: int) -> tuple[float, int]:
    start = time.perf_counter()
    size = asyncio.run(_bare_async(urls, concurrency))
    return time.perf_counter() - start, size


def write_config(folder: Path, port: int, feeds: int, concurrency: int) -> Path:
    lines = [f"settings:\n  database: {folder / 'relay.db'}\n  digests_dir: {folder / 'digests'}",
             f"  fetch: {{concurrency: {concurrency}, per_host: {concurrency}, host_delay: 0}}",
             "feeds:"]
    for n in range(feeds):
        lines.append(f"  - {{id: feed-{n}, name: News source {n}, "
                     f"url: 'http://127.0.0.1:{port}/feeds/{n}.xml', allow_private: true}}")
    path = folder / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class _Timed:
    """Stands in for `relay.pipeline.collecting.fetch_all`, keeping the time of each call."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.seconds: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.real(*args, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - start)


def relay_collect(config: Config, db: Path, timed: _Timed) -> dict[str, float]:
    """A first and a second collect into a fresh archive: times and what they did."""
    now = datetime.now(UTC)
    with Store(db) as store:
        calls = len(timed.seconds)   # a collect's first fetch_all is its feeds' fetch phase
        start = time.perf_counter()
        first = relay.pipeline.collect(config, store, now, everything=True)
        first_s = time.perf_counter() - start
        first_fetch = timed.seconds[calls]
        calls = len(timed.seconds)
        start = time.perf_counter()
        second = relay.pipeline.collect(config, store, now + timedelta(hours=2), everything=True)
        second_s = time.perf_counter() - start
        second_fetch = timed.seconds[calls]
    _check(first, second)
    return {"first": first_s, "first_fetch": first_fetch, "second": second_s,
            "second_fetch": second_fetch, "new": sum(r.new for r in first)}


def _check(first: list[FeedReport], second: list[FeedReport]) -> None:
    """Say so when the run did not do what it measures (errors, or fetched twice)."""
    errors = [r for r in first + second if r.error]
    if errors:
        print(f"  warning: {len(errors)} feed errors, first: {errors[0].feed_id}: "
              f"{errors[0].error}")
    fetched_again = sum(1 for r in second if not r.not_modified)
    if fetched_again:
        print(f"  warning: {fetched_again} feeds were not 304 on the second collect")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1,
                    help="repetitions (each ingests feeds x items items; medians are printed)")
    args = ap.parse_args()

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(args.feeds, args.items, child), daemon=True)
    server.start()
    try:
        port, total_bytes = parent.recv()
        urls = [f"http://127.0.0.1:{port}/feeds/{n}.xml" for n in range(args.feeds)]
        timed = _Timed(relay.pipeline.collecting.fetch_all)
        relay.pipeline.collecting.fetch_all = timed   # collect looks it up at call time
        warm_up()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = load_config(write_config(folder, port, args.feeds, args.concurrency))
            relay.pipeline.taxonomy_for(config)   # compiled once per process, not measured
            bare(urls[:20], args.concurrency)     # warm the server and the imports
            bare_s: list[float] = []
            runs: list[dict[str, float]] = []
            for rep in range(args.repeat):
                seconds, size = bare(urls, args.concurrency)
                if size != total_bytes:
                    print(f"  warning: bare GETs read {size} bytes of {total_bytes}")
                bare_s.append(seconds)
                runs.append(relay_collect(config, folder / f"relay-{rep}.db", timed))
    finally:
        server.terminate()
        server.join()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    b = statistics.median(bare_s)
    first, fetch, second, fetch304 = med("first"), med("first_fetch"), med("second"), \
        med("second_fetch")
    items = int(med("new"))
    print(f"feeds: {args.feeds} x {args.items} items ({total_bytes / 1e6:.1f} MB), "
          f"concurrency {args.concurrency}, median of {args.repeat}")
    print(f"bare httpx GETs            {b:8.2f} s")
    print(f"relay fetch phase          {fetch:8.2f} s  {fetch / b:5.2f}x bare  (target <= 1.3x)")
    print(f"relay first collect        {first:8.2f} s  {items / first:5.0f} items/s "
          f"({items} new items)")
    print(f"relay 304 pass             {second:8.2f} s  {first / second:5.1f}x faster than "
          f"first  (target >= 10x)")
    print(f"  of which fetch phase     {fetch304:8.2f} s  {fetch304 / b:5.2f}x bare")


if __name__ == "__main__":
    main()
