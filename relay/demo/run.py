"""`relay demo`: the whole pipeline, offline, on the bundled sample.

Steps, each with the real component:
1. serve the sample feeds (demo/sample/, written for the demo) from an HTTP
   server on 127.0.0.1 with ETag support, their dates moved forward so the
   newest item is from today (the digest's max_age_days would hide old news);
2. start an SMTP server (aiosmtpd) on 127.0.0.1 that writes every message it
   receives to digests/received/;
3. write a configuration for them (storage/demo-feeds.yaml) and collect into
   a fresh storage/demo.db, twice: the second pass is all "not modified";
4. subscribe a ministry desk (Japanese digest) and a university office
   (English digest), build their digests and send them;
5. print what happened and where to look.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from relay import pipeline
from relay.config import load_config

SAMPLE_NEWEST = datetime(2026, 11, 27, tzinfo=UTC)
# A mission's names in Japanese and English: the digest names it in its reader's language.
MISSIONS = {
    "boston": ("在ボストン日本国総領事館", "Consulate-General of Japan in Boston"),
    "washington": ("在米国日本国大使館", "Embassy of Japan in the United States"),
    "germany": ("在ドイツ日本国大使館", "Embassy of Japan in Germany"),
}
FEEDS = [
    # id, file, name (a mission's feeds take the mission's names), mission, country, lang
    ("boston-cg", "boston-cg-reports.xml", None, "boston", "US", "ja"),
    ("washington-embassy", "washington-embassy-reports.xml", None, "washington", "US", "ja"),
    ("germany-embassy", "de-embassy-reports.xml", None, "germany", "DE", "ja"),
    ("ct-tech-wire", "ct-tech-wire.xml", "Connecticut Tech Wire", None, "US", "en"),
    ("bay-area-science", "sf-science-news.xml", "Bay Area Science Desk", None, "US", "en"),
]
_RFC822 = re.compile(r"(<(?:pubDate|lastBuildDate)>)([^<]+)(<)")
_ISO = re.compile(r"(<(?:updated|published|dc:date)>)([^<]+)(<)")


def shift_dates(xml: str, days: int) -> str:
    """Move every feed date in `xml` by `days` days, keeping its form and offset."""
    def rfc(m: re.Match[str]) -> str:
        dt = parsedate_to_datetime(m.group(2).strip()) + timedelta(days=days)
        return m.group(1) + format_datetime(dt) + m.group(3)

    def iso(m: re.Match[str]) -> str:
        dt = datetime.fromisoformat(m.group(2).strip()) + timedelta(days=days)
        return m.group(1) + dt.isoformat() + m.group(3)

    return _ISO.sub(iso, _RFC822.sub(rfc, xml))


def _handler(documents: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = documents.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def feed_server(documents: dict[str, bytes]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(documents))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class MailboxHandler:
    """aiosmtpd handler: every accepted message becomes a numbered .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        name = re.sub(r"[^A-Za-z0-9@._-]", "_", envelope.rcpt_tos[0])
        path = self.folder / f"{self.count:03d}-{name}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A port free on 127.0.0.1 now (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(folder: Path) -> Iterator[tuple[str, MailboxHandler]]:
    handler = MailboxHandler(folder)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{controller.port}", handler
    finally:
        controller.stop()


def _config_text(base: str, smtp_url: str) -> str:
    lines = [
        "# Written by `relay demo`: the bundled sample served on 127.0.0.1.",
        "settings:",
        "  timezone: Asia/Tokyo",
        "  database: demo.db",
        "  digests_dir: ../digests",
        f'  smtp: {{url: "{smtp_url}", sender: "relay-demo@example.org"}}',
        '  digest: {weekly: "mon 08:00", daily: "08:00", max_age_days: 14, max_per_topic: 5}',
        "  fetch: {host_delay: 0}   # our own server: no politeness delay needed",
        "missions:",
    ]
    for mid, (ja, en) in MISSIONS.items():
        lines += [f"  - id: {mid}", f"    name: {{ja: {ja}, en: {en}}}"]
    lines.append("feeds:")
    for fid, file, name, mission, country, lang in FEEDS:
        if name is None and mission:
            ja, en = MISSIONS[mission]
            name = f"{{ja: {ja}, en: {en}}}"
        lines += [f"  - id: {fid}", f"    name: {name}", f"    url: {base}/{file}",
                  "    kind: rss", f"    country: {country}", f"    lang: {lang}",
                  "    interval: 1h", "    allow_private: true   # served on 127.0.0.1"]
        if mission:
            lines.append(f"    mission: {mission}")
    return "\n".join(lines) + "\n"


def run_demo(workdir: Path, echo: Callable[[str], None] = print,
             now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    for stale in storage.glob("demo.db*"):
        stale.unlink()  # the demo starts from an empty archive every time
    received = workdir / "digests" / "received"
    for old in received.glob("*.eml") if received.exists() else []:
        old.unlink()

    days = (now.date() - SAMPLE_NEWEST.date()).days
    sample = files("relay.demo") / "sample"
    documents = {file: shift_dates((sample / file).read_text(encoding="utf-8"), days)
                 .encode("utf-8") for _, file, *_ in FEEDS}
    summary: dict[str, Any] = {}
    with feed_server(documents) as base, smtp_server(received) as (smtp_url, mailbox):
        echo(f"1. serving {len(documents)} sample feeds at {base}/")
        echo(f"2. SMTP server listening at {smtp_url}, writing to {received}/")
        config_path = storage / "demo-feeds.yaml"
        config_path.write_text(_config_text(base, smtp_url), encoding="utf-8")
        config = load_config(config_path, env={})
        store = pipeline.open_archive(config.settings.database)
        try:
            reports = pipeline.collect(config, store, now)
            echo(f"3. collected {sum(r.new for r in reports)} items from {len(reports)} feeds "
                 f"into {config.settings.database}"
                 f" ({sum(r.duplicates for r in reports)} exact duplicates dropped)")
            for r in reports:
                echo(f"     {r.feed_id}: {r.error or f'{r.new} new, {r.duplicates} duplicate'}")
            again = pipeline.collect(config, store, now, everything=True)
            echo(f"   collected again: {sum(r.not_modified for r in again)} of {len(again)} "
                 "feeds answered 304 Not Modified, nothing parsed")
            st = pipeline.status(config, store)
            echo(f"   {st.items} items in {st.stories} stories, "
                 f"{st.multi_source_stories} told by several sources; topics: "
                 + ", ".join(f"{k} {v}" for k, v in st.topics.items()))

            desk, _ = pipeline.subscribe(
                config, store, "kagaku-desk@mext.example", now,
                topics=["quantum", "research-funding", "talent"],
                ui_lang="ja", name="科学技術・学術政策局 国際課", org="文部科学省")
            office, _ = pipeline.subscribe(
                config, store, "intl-office@university.example", now,
                topics=["ai", "semiconductors", "quantum", "biotech", "economic-security"],
                ui_lang="en", name="International Research Office", org="Example University")
            echo("4. subscribed: " + "; ".join(
                f"{s.email} ({s.ui_lang}: {', '.join(s.topics)})" for s in (desk, office)))
            built = pipeline.build_digests(config, store, now)
            for b in built:
                echo(f"     digest {b.period} for {b.email}: {b.stories} stories -> {b.path}")
            sent = pipeline.send_pending(config, store, now)
            echo(f"5. sent {sum(s.status == 'sent' for s in sent)} of {len(sent)} digests; "
                 f"the SMTP server received {mailbox.count} messages:")
            for path in sorted(received.glob("*.eml")):
                echo(f"     {path}")
            hits = pipeline.search(config, store, "量子コンピュータ", limit=5)
            echo(f"6. search 量子コンピュータ finds {len(hits)} items, e.g. "
                 + (hits[0].title if hits else "-"))
            summary = {"items": st.items, "stories": st.stories,
                       "multi_source_stories": st.multi_source_stories,
                       "digests": [b.path for b in built], "sent": mailbox.count,
                       "received": sorted(str(p) for p in received.glob("*.eml"))}
        finally:
            store.close()
    rel = config_path.relative_to(workdir) if config_path.is_relative_to(workdir) else config_path
    echo("")
    echo("Look at: the digests (.html in a browser, .txt, .eml) under digests/, the received")
    echo(f"mail under {received}/, and the archive with:")
    echo(f"  relay --config {rel} search quantum")
    echo(f"  relay --config {rel} status")
    return summary
