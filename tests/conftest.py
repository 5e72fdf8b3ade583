"""Shared fixtures: a real HTTP server and a real SMTP server on 127.0.0.1, the corpus."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def corpus() -> Path:
    """../shared/corpus, named by RELAY_CORPUS: skipped when unset, an error when missing."""
    value = os.environ.get("RELAY_CORPUS")
    if not value:
        pytest.skip("real-corpus test: set RELAY_CORPUS=../shared/corpus to run it")
    path = Path(value)
    if not path.is_absolute():
        path = (REPO / path).resolve() if not path.exists() else path.resolve()
    if not (path / "feeds").is_dir():
        pytest.fail(f"RELAY_CORPUS={value} names no corpus folder (looked for {path}/feeds)")
    return path


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True


@dataclass
class HttpServer:
    url: str
    routes: dict[str, Route]
    requests: list[tuple[str, dict[str, str]]]

    def add(self, path: str, body: bytes | str = b"", status: int = 200,
            content_type: str = "application/rss+xml", etag: bool = True,
            headers: dict[str, str] | None = None) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(status, data, {"Content-Type": content_type, **(headers or {})},
                                  etag)
        return f"{self.url}{path}"

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    routes: dict[str, Route] = {}
    requests: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            tag = '"' + hashlib.sha1(route.body).hexdigest()[:12] + '"'
            if route.etag and route.status == 200 and self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.end_headers()
                return
            self.send_response(route.status)
            for k, v in route.headers.items():
                self.send_header(k, v)
            if route.etag:
                self.send_header("ETag", tag)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield HttpServer(f"http://127.0.0.1:{server.server_address[1]}", routes, requests)
    server.shutdown()
    server.server_close()


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.reject: dict[str, str] = {}     # recipient -> SMTP reply, e.g. "550 no such user"
        self.sessions: set[int] = set()
        self.delay = 0.0                      # seconds before answering DATA (a slow server)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: Any) -> str:
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sessions.add(id(session))
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content))
        return "250 Message accepted"


@dataclass
class SmtpServer:
    url: str
    mailbox: _Mailbox

    @property
    def messages(self) -> list[Received]:
        return self.mailbox.messages


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield SmtpServer(f"smtp://127.0.0.1:{controller.port}", mailbox)
    controller.stop()
