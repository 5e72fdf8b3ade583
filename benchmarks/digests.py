"""Weekly digests for many subscribers, built and sent end to end (issue 5's target: at
least 50 digests per second, and at most one SMTP connection per batch of messages).

    python benchmarks/digests.py [--subscribers 1000] [--items 20000]

Builds an archive of `--items` synthetic items collected this week (through SQL, as
benchmarks/scale.py does, each tagged with one or two topics), subscribes
`--subscribers` people to 1-4 random topics, then times `build_digests` and
`send_pending` against an aiosmtpd server on 127.0.0.1 running in another process, and
prints digests per second for each phase and end to end, with the number of SMTP
connections the sender opened. The baseline in the same run is the bare cost of sending
the same .eml files with one smtplib connection.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import smtplib
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from relay.config import builtin_topics, load_config  # noqa: E402
from relay.models import FeedKind, FeedSpec  # noqa: E402
from relay.pipeline import build_digests, make_subscriber, send_pending  # noqa: E402
from relay.store import Store, ts  # noqa: E402

TOPICS = [t.id for t in builtin_topics()]


def smtp_server(port: int, ready: object) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()  # type: ignore[attr-defined]
    time.sleep(3600)


def fill(store: Store, items: int, now: datetime, rnd: random.Random) -> None:
    feed = FeedSpec(id="bulk", name="Bulk Wire", kind=FeedKind.RSS, url="https://b.example/")
    store.sync_feeds([feed])
    rows, tags, stories = [], [], []
    for i in range(items):
        at = now - timedelta(minutes=rnd.randint(10, 6 * 24 * 60))
        title = f"Story {i} about " + " ".join(rnd.sample(TOPICS, 2))
        rows.append((i + 1, "bulk", f"g{i}", f"https://b.example/{i}", title,
                     "Three sentences of summary. " * 3, "text", "en", ts(at), ts(at), f"h{i}",
                     i + 1))
        stories.append((i + 1, i + 1, ts(at)))
        for topic in rnd.sample(TOPICS, rnd.choice((1, 2))):
            tags.append((i + 1, topic, float(rnd.randint(2, 6)), "[]"))
    with store.transaction():
        store.conn.executemany("INSERT INTO stories VALUES (?,?,?,1)", stories)
        store.conn.executemany(
            "INSERT INTO items (id, feed_id, guid, url, title, summary, text, lang, published_at,"
            " collected_at, content_hash, story_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        store.conn.executemany("INSERT INTO item_tags VALUES (?,?,?,?)", tags)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20000)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = multiprocessing.get_context("spawn").Event()
    server = multiprocessing.get_context("spawn").Process(
        target=smtp_server, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    rnd = random.Random(5)
    now = datetime.now(UTC)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "feeds.yaml").write_text(
                f'settings:\n  database: relay.db\n  smtp: {{url: "smtp://127.0.0.1:{port}",'
                f' sender: "relay@example.org"}}\n  digest: {{max_per_topic: 10}}\nfeeds:\n'
                f"  - id: bulk\n    url: https://b.example/\n", encoding="utf-8")
            config = load_config(folder / "feeds.yaml", env={})
            with Store(config.settings.database) as store:
                fill(store, args.items, now, rnd)
                for i in range(args.subscribers):
                    sub = make_subscriber(config, f"s{i:04d}@uni.example",
                                          rnd.sample(TOPICS, rnd.randint(1, 4)),
                                          ui_lang=rnd.choice(("ja", "en")), name=f"Reader {i}")
                    store.upsert_subscriber(sub, now)
                started = time.perf_counter()
                built = build_digests(config, store, now)
                build_s = time.perf_counter() - started
                n = sum(r.status == "built" for r in built)
                connections = {"n": 0}
                real_connect = smtplib.SMTP.connect

                def counting_connect(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
                    connections["n"] += 1
                    return real_connect(self, *a, **k)

                smtplib.SMTP.connect = counting_connect  # type: ignore[method-assign]
                started = time.perf_counter()
                sent = send_pending(config, store, now)
                send_s = time.perf_counter() - started
                smtplib.SMTP.connect = real_connect  # type: ignore[method-assign]
                emls = sorted((config.settings.digests_dir).glob("*/*.eml"))
                started = time.perf_counter()
                with smtplib.SMTP("127.0.0.1", port) as bare:
                    for p in emls:
                        bare.sendmail("relay@example.org", ["x@uni.example"], p.read_bytes())
                bare_s = time.perf_counter() - started
    finally:
        server.terminate()
    ok = sum(r.status == "sent" for r in sent)
    print(f"{args.subscribers} subscribers, {args.items} items this week")
    print(f"build   {n} digests in {build_s:6.2f} s  {n / build_s:7.1f} digests/s")
    print(f"send    {ok} messages in {send_s:6.2f} s  {ok / send_s:7.1f} msg/s, "
          f"{connections['n']} SMTP connection(s)")
    print(f"bare smtplib send of the same .eml files: {len(emls) / bare_s:7.1f} msg/s "
          f"(relay send / bare {send_s / bare_s:.2f}x)")
    print(f"end to end {n / (build_s + send_s):7.1f} digests/s  (target >= 50)")


if __name__ == "__main__":
    main()
