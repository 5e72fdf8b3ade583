"""The network guard of relay.collect.fetch: every address that is not globally reachable is
refused unless the feed allows private addresses, and the connection goes to the address that
was checked (a DNS answer that changes after the check cannot move it), for every redirect.

Real servers on 127.0.0.1 (HTTP/1.1 with keep-alive, and HTTPS with a certificate for
"localhost" from a test CA made by trustme). Names are resolved by a resolver the test
injects, and the "internet" is a network backend that records every address relay connects
to and reaches only the addresses the test routes to the local server; nothing leaves the
machine.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import pytest
import trustme

from relay.collect.fetch import FetchRequest, Limits, Network, fetch_all, refused_address
from relay.errors import FetchError
from relay.models import Fetched

GLOBAL = "93.184.216.34"      # looks global to the guard; never reached (the test routes it)
GLOBAL2 = "151.101.1.69"
FAST = Limits(host_delay=0.0, per_host=1, connect_timeout=2, read_timeout=5, total_timeout=10)


# -- the local server ------------------------------------------------------------------------

@dataclass
class Hit:
    path: str
    host: str
    client_port: int


@dataclass
class Server:
    port: int
    routes: dict[str, tuple[int, dict[str, str], bytes]]
    hits: list[Hit] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    holder: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"     # keep-alive, so connection reuse can be counted

        def do_GET(self) -> None:  # noqa: N802
            server = holder[0]
            server.hits.append(Hit(self.path, self.headers.get("Host", ""),
                                   self.client_address[1]))
            status, headers, body = server.routes.get(self.path, (404, {}, b"not here"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Server(httpd.server_address[1], {}))
    if tls is not None:
        tls.sni_callback = lambda sock, name, ctx: holder[0].sni.append(name)
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


# -- the injected resolver and the routed "internet" ----------------------------------------

class Resolver:
    """Answers from a table; a list of answers is given one per call (the last repeats), so
    a host can answer a global address to the check and 127.0.0.1 afterwards."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        given = self.answers[host]
        return list(given[min(self.calls.count(host), len(given)) - 1])


class Internet(httpcore.AsyncNetworkBackend):
    """Records every connection relay opens; reaches the local server for the addresses in
    `routes`, and refuses the rest as unreachable."""

    def __init__(self, routes: Sequence[str] = ()) -> None:
        self.real = httpcore.AnyIOBackend()
        self.routes = set(routes)
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host not in self.routes:
            raise httpcore.ConnectError(f"{host} is unreachable from this test")
        return await self.real.connect_tcp("127.0.0.1", port, timeout, local_address,
                                           socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets here")

    async def sleep(self, seconds: float) -> None:
        await self.real.sleep(seconds)


def fetch(urls: Sequence[str], resolver: Resolver, internet: Internet | None = None,
          allow_private: bool | Sequence[bool] = False) -> list[Fetched | FetchError]:
    flags = [allow_private] * len(urls) if isinstance(allow_private, bool) else allow_private
    network = Network(resolve=resolver) if internet is None else \
        Network(resolve=resolver, backend=internet)
    return fetch_all([FetchRequest(f"f{i}", u, allow_private=p)
                      for i, (u, p) in enumerate(zip(urls, flags, strict=True))],
                     FAST, network=network)


# -- which addresses are refused (pure) ------------------------------------------------------

@pytest.mark.parametrize(("ip", "refused"), [
    ("127.0.0.1", True),            # loopback
    ("10.1.2.3", True),             # private
    ("172.16.0.1", True),
    ("192.168.1.1", True),
    ("100.64.0.1", True),           # CGNAT (shared address space)
    ("100.127.255.254", True),
    ("0.0.0.0", True),              # unspecified ("this host")
    ("169.254.169.254", True),      # link-local: cloud metadata
    ("192.0.0.1", True),            # IETF protocol assignments
    ("192.0.2.1", True),            # documentation
    ("198.18.0.1", True),           # benchmarking
    ("240.0.0.1", True),            # reserved
    ("255.255.255.255", True),      # broadcast
    ("224.0.0.1", True),            # multicast
    ("233.252.0.1", True),
    ("::1", True),
    ("::", True),
    ("fe80::1", True),              # link-local
    ("fe80::1%eth0", True),
    ("fc00::1", True),              # unique local
    ("fec0::1", True),              # site-local (Python 3.11 calls it global)
    ("ff0e::1", True),              # global-scope multicast is still multicast
    ("2001:db8::1", True),          # documentation
    ("::ffff:127.0.0.1", True),     # IPv4-mapped loopback
    ("::ffff:10.0.0.1", True),
    ("::ffff:100.64.0.1", True),
    ("::7f00:1", True),             # IPv4-compatible (deprecated)
    ("64:ff9b::7f00:1", True),      # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", True),   # NAT64 of 169.254.169.254
    ("64:ff9b:1::a00:1", True),     # local-use NAT64
    ("2002:7f00:1::", True),        # 6to4 of 127.0.0.1
    ("2002:a00:1::1", True),        # 6to4 of 10.0.0.1
    ("2001::1", True),              # Teredo
    ("100::1", True),               # discard-only
    ("192.0.0.8", True),            # IETF protocol assignments (dummy address): Python 3.11.7
    ("192.0.0.100", True),          # calls all of 192.0.0.0/24 but its first /29 global
    ("::ffff:192.0.0.8", True),
    ("3fff::1", True),              # documentation (RFC 9637), global to Python 3.11
    ("192.0.0.9", False),           # the two globally reachable ones (PCP, TURN anycast)
    ("192.0.0.10", False),
    ("8.8.8.8", False),
    ("93.184.216.34", False),
    ("::ffff:8.8.8.8", False),      # the mapped form of a global address is that address
    ("64:ff9b::808:808", False),
    ("2002:808:808::", False),
    ("2606:4700:4700::1111", False),
    ("2001:4860:4860::8888", False),
])
def test_refused_address(ip: str, refused: bool) -> None:
    assert refused_address(ip) is refused


# -- the guard on fetches --------------------------------------------------------------------

@pytest.mark.parametrize("ip", ["100.64.0.1", "::ffff:127.0.0.1", "0.0.0.0", "fe80::1",
                                "169.254.169.254", "192.0.0.1", "198.18.0.1", "240.0.0.1",
                                "64:ff9b::7f00:1", "2002:7f00:1::", "127.0.0.1", "10.0.0.5"])
def test_a_name_answering_an_internal_address_is_refused_before_connecting(
        server: Server, ip: str) -> None:
    internet = Internet(routes=[ip])
    (result,) = fetch([f"http://feed.example:{server.port}/feed.xml"],
                      Resolver({"feed.example": [[GLOBAL, ip]]}), internet)
    assert isinstance(result, FetchError)
    assert f"refused: feed.example is an internal address ({ip})" in str(result)
    assert internet.connects == []
    assert server.hits == []


@pytest.mark.parametrize("host", ["100.64.0.1", "[::ffff:127.0.0.1]", "0.0.0.0", "[fe80::1]",
                                  "169.254.169.254", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
                                  "[::1]"])
def test_an_internal_address_in_the_url_is_refused(server: Server, host: str) -> None:
    resolver = Resolver({})
    (result,) = fetch([f"http://{host}:{server.port}/feed.xml"], resolver)
    assert isinstance(result, FetchError)
    assert "internal address" in str(result), result
    assert server.hits == []
    assert resolver.calls == []     # an address is not a name: nothing to resolve


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "017700000001"])
def test_legacy_spellings_of_loopback_are_refused(server: Server, host: str) -> None:
    """Not addresses to ipaddress, so they go to the system resolver (getaddrinfo reads
    them as numbers, locally): its answer is checked and refused."""
    (result,) = fetch_all([FetchRequest("f", f"http://{host}:{server.port}/feed.xml")], FAST)
    assert isinstance(result, FetchError)
    assert f"refused: {host} is an internal address (127.0.0.1)" in str(result)
    assert server.hits == []


def test_allow_private_reaches_an_internal_name_with_its_host_header(server: Server) -> None:
    server.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, FEED)
    (result,) = fetch([f"http://intranet.example:{server.port}/feed.xml"],
                      Resolver({"intranet.example": [["127.0.0.1"]]}), allow_private=True)
    assert isinstance(result, Fetched) and result.body == FEED
    assert [h.host for h in server.hits] == [f"intranet.example:{server.port}"]


def test_an_unresolvable_name_is_a_fetch_error(server: Server) -> None:
    (result,) = fetch([f"http://nowhere.example:{server.port}/"], Resolver({}))
    assert isinstance(result, FetchError)
    assert "cannot resolve nowhere.example" in str(result)


# -- pinning: the connection goes to the checked address --------------------------------------

def test_a_rebinding_name_cannot_reach_the_local_server(server: Server) -> None:
    """The check sees a global address; a second lookup would give 127.0.0.1 (where the
    server listens). The connection goes to the checked address, which this test's
    internet cannot reach, so the local server is never asked."""
    server.routes["/admin"] = (200, {}, b"internal secrets")
    resolver = Resolver({"rebind.example": [[GLOBAL], ["127.0.0.1"]]})
    internet = Internet(routes=["127.0.0.1"])
    (result,) = fetch([f"http://rebind.example:{server.port}/admin"], resolver, internet)
    assert isinstance(result, FetchError)
    assert internet.connects == [(GLOBAL, server.port)]
    assert resolver.calls == ["rebind.example"]
    assert server.hits == []


def test_the_pinned_connection_keeps_the_host_name(server: Server) -> None:
    server.routes["/feed.xml"] = (200, {}, FEED)
    resolver = Resolver({"feed.example": [[GLOBAL], ["127.0.0.1"]]})
    internet = Internet(routes=[GLOBAL])
    (result,) = fetch([f"http://feed.example:{server.port}/feed.xml"], resolver, internet)
    assert isinstance(result, Fetched) and result.body == FEED
    assert internet.connects == [(GLOBAL, server.port)]
    assert [h.host for h in server.hits] == [f"feed.example:{server.port}"]


def test_every_address_of_a_name_must_pass(server: Server) -> None:
    internet = Internet(routes=[GLOBAL, "127.0.0.1"])
    (result,) = fetch([f"http://mixed.example:{server.port}/"],
                      Resolver({"mixed.example": [[GLOBAL, "127.0.0.1"]]}), internet)
    assert isinstance(result, FetchError) and "internal address (127.0.0.1)" in str(result)
    assert internet.connects == []


def test_the_next_checked_address_is_tried_when_the_first_is_unreachable(
        server: Server) -> None:
    server.routes["/feed.xml"] = (200, {}, FEED)
    internet = Internet(routes=[GLOBAL2])
    (result,) = fetch([f"http://two.example:{server.port}/feed.xml"],
                      Resolver({"two.example": [[GLOBAL, GLOBAL2]]}), internet)
    assert isinstance(result, Fetched)
    assert internet.connects == [(GLOBAL, server.port), (GLOBAL2, server.port)]


def test_a_redirect_to_an_internal_name_is_refused(server: Server) -> None:
    server.routes["/start"] = (302, {"Location": f"http://inner.example:{server.port}/x"}, b"")
    resolver = Resolver({"feed.example": [[GLOBAL]], "inner.example": [["10.1.2.3"]]})
    internet = Internet(routes=[GLOBAL, "10.1.2.3"])
    (result,) = fetch([f"http://feed.example:{server.port}/start"], resolver, internet)
    assert isinstance(result, FetchError)
    assert "inner.example is an internal address (10.1.2.3)" in str(result)
    assert internet.connects == [(GLOBAL, server.port)]
    assert [h.path for h in server.hits] == ["/start"]


def test_every_redirect_hop_is_pinned(server: Server) -> None:
    server.routes["/start"] = (301, {"Location": f"http://next.example:{server.port}/feed"},
                               b"")
    server.routes["/feed"] = (200, {}, FEED)
    resolver = Resolver({"feed.example": [[GLOBAL]],
                         "next.example": [[GLOBAL2], ["127.0.0.1"]]})
    internet = Internet(routes=[GLOBAL, GLOBAL2])
    (result,) = fetch([f"http://feed.example:{server.port}/start"], resolver, internet)
    assert isinstance(result, Fetched) and result.body == FEED
    assert result.moved_to == f"http://next.example:{server.port}/feed"
    assert internet.connects == [(GLOBAL, server.port), (GLOBAL2, server.port)]
    assert resolver.calls == ["feed.example", "next.example"]
    assert [h.host for h in server.hits] == [f"feed.example:{server.port}",
                                             f"next.example:{server.port}"]


# -- connection reuse ------------------------------------------------------------------------

def test_requests_to_one_host_share_one_kept_alive_connection(server: Server) -> None:
    for n in range(5):
        server.routes[f"/{n}.xml"] = (200, {}, FEED)
    internet = Internet(routes=[GLOBAL])
    results = fetch([f"http://feed.example:{server.port}/{n}.xml" for n in range(5)],
                    Resolver({"feed.example": [[GLOBAL]]}), internet)
    assert all(isinstance(r, Fetched) for r in results)
    assert internet.connects == [(GLOBAL, server.port)]
    assert len({h.client_port for h in server.hits}) == 1 and len(server.hits) == 5


def test_keep_alive_with_the_system_network(server: Server) -> None:
    for n in range(5):
        server.routes[f"/{n}.xml"] = (200, {}, FEED)
    results = fetch([f"http://127.0.0.1:{server.port}/{n}.xml" for n in range(5)],
                    Resolver({}), allow_private=True)
    assert all(isinstance(r, Fetched) for r in results)
    assert len({h.client_port for h in server.hits}) == 1 and len(server.hits) == 5


def test_a_connection_opened_under_allow_private_never_serves_a_guarded_feed(
        server: Server) -> None:
    """Two feeds on one host, the first allowed to be private: the name answers 127.0.0.1
    to the first and a global address to the second. The second must not ride the first's
    kept-alive connection to 127.0.0.1."""
    server.routes["/a.xml"] = (200, {}, FEED)
    server.routes["/b.xml"] = (200, {}, FEED)
    resolver = Resolver({"both.example": [["127.0.0.1"], [GLOBAL]]})
    internet = Internet(routes=["127.0.0.1"])
    first, second = fetch([f"http://both.example:{server.port}/a.xml",
                           f"http://both.example:{server.port}/b.xml"],
                          resolver, internet, allow_private=[True, False])
    assert isinstance(first, Fetched)
    assert isinstance(second, FetchError)
    assert internet.connects == [("127.0.0.1", server.port), (GLOBAL, server.port)]
    assert [h.path for h in server.hits] == ["/a.xml"]


# -- HTTPS: TLS and the certificate check keep the host name ---------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    yield from _serve(context)


def tls_fetch(url: str, ca: trustme.CA, answers: dict[str, Sequence[Sequence[str]]]
              ) -> Fetched | FetchError:
    client = ssl.create_default_context()
    ca.configure_trust(client)
    (result,) = fetch_all([FetchRequest("tls", url, allow_private=True)], FAST,
                          network=Network(resolve=Resolver(answers), ssl_context=client))
    return result


def test_https_to_a_pinned_address_verifies_the_certificate_of_the_name(
        tls_server: Server, ca: trustme.CA) -> None:
    tls_server.routes["/feed.xml"] = (200, {}, FEED)
    result = tls_fetch(f"https://localhost:{tls_server.port}/feed.xml", ca,
                       {"localhost": [["127.0.0.1"]]})
    assert isinstance(result, Fetched) and result.body == FEED
    assert tls_server.sni == ["localhost"]
    assert [h.host for h in tls_server.hits] == [f"localhost:{tls_server.port}"]


def test_https_refuses_a_certificate_for_another_name(tls_server: Server,
                                                      ca: trustme.CA) -> None:
    tls_server.routes["/feed.xml"] = (200, {}, FEED)
    result = tls_fetch(f"https://other.example:{tls_server.port}/feed.xml", ca,
                       {"other.example": [["127.0.0.1"]]})
    assert isinstance(result, FetchError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(result) and "other.example" in str(result)
    assert tls_server.sni == ["other.example"]
    assert tls_server.hits == []


# -- malformed URLs are the feed's error, not the run's ----------------------------------------

def test_a_malformed_url_or_location_is_that_feeds_error(server: Server) -> None:
    """urllib raised ValueError for "http://[::1/", and it escaped fetch_all: every other
    request of the run lost its answer."""
    server.routes["/bad-redirect"] = (302, {"Location": "http://a]/feed"}, b"")  # httpx takes it
    server.routes["/feed.xml"] = (200, {}, FEED)
    base = f"http://127.0.0.1:{server.port}"
    bad_url, bad_location, good = fetch(
        ["http://[::1/feed", f"{base}/bad-redirect", f"{base}/feed.xml"], Resolver({}),
        allow_private=True)
    assert isinstance(bad_url, FetchError) and "invalid URL" in str(bad_url)
    assert isinstance(bad_location, FetchError)
    assert "malformed Location 'http://a]/feed'" in str(bad_location)
    assert isinstance(good, Fetched) and good.body == FEED
