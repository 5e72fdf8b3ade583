"""The one HTTP client of relay: conditional GET with limits, for many sources at once.

`fetch_all(requests, limits)` fetches every `FetchRequest` concurrently with one
`httpx.AsyncClient` and returns one `Fetched` or one `FetchError` per request,
in order. Rules:
- conditional GET: the stored ETag goes out as If-None-Match and the stored
  Last-Modified as If-Modified-Since; a 304 comes back as `Fetched(status=304)`
  with no body, so nothing is parsed;
- at most `concurrency` requests in flight, at most `per_host` to one host,
  and at least `host_delay` seconds between the starts of two requests to one
  host (politeness);
- connect/read timeouts and a total deadline per request; a body larger than
  `max_bytes` is aborted while streaming, never buffered past the cap; the cap
  counts decoded bytes, so a gzip bomb is refused as it inflates;
- redirects are followed by hand, at most MAX_REDIRECTS, each hop checked
  like the first; when every hop was permanent (301/308) the final URL is
  reported as `moved_to` so the operator can update feeds.yaml;
- every address that is not globally reachable (loopback, private, CGNAT
  100.64/10, link-local, multicast, reserved, unspecified, and the IPv4-mapped,
  NAT64 and 6to4 spellings of those) is refused unless the request allows it
  (`allow_private` in feeds.yaml), for the first URL and every redirect, so a
  feed cannot make relay reach internal services;
- a host name is resolved once per hop, and the connection goes to the
  address that was checked: the network backend connects only to the pinned
  addresses of the request in hand and never resolves a name itself, so a DNS
  answer that changes after the check (rebinding) cannot redirect it. The URL,
  the Host header and TLS (SNI and the certificate check) keep the host name.
  Requests that allow private addresses use a connection pool of their own, so
  a connection opened under `allow_private` never serves a guarded request;
- 429 and 503 carry `Retry-After` (seconds or an HTTP date) into the error;
  410 is an error with status 410 (the pipeline disables the feed); any other
  status outside 2xx/304 is a `FetchError` with the status;
- Cache-Control max-age is reported (`Fetched.max_age`) so the schedule can
  wait longer, never shorter;
- a User-Agent that names relay.
`read_file` reads a `path:` source. httpx exceptions are translated here and
nowhere else.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import re
import socket
import ssl
import time
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from relay import __version__
from relay.errors import FetchError
from relay.models import Fetched

log = logging.getLogger("relay")

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_UA = f"relay/{__version__} (+https://github.com/relay-feeds/relay; feed collector)"
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}


@dataclass(frozen=True)
class FetchRequest:
    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    allow_private: bool = False


@dataclass(frozen=True)
class Limits:
    concurrency: int = 10
    per_host: int = 2
    host_delay: float = 1.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = DEFAULT_MAX_BYTES


def read_file(feed_id: str, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Fetched:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError(f"file of {size} bytes is over the {max_bytes} byte cap",
                             feed_id=feed_id, url=str(path))
        body = path.read_bytes()
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}", feed_id=feed_id,
                         url=str(path)) from exc
    return Fetched(feed_id=feed_id, url=str(path), status=200, body=body)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 10.2.3), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():      # not '²', which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def max_age(cache_control: str | None) -> int | None:
    m = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", cache_control or "", re.IGNORECASE)
    return int(m.group(1)) if m else None


Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` from the system resolver (getaddrinfo), in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Network:
    """How `fetch_all` reaches hosts. The defaults are the system's; a test puts here a
    resolver of its own, a backend that records where it connects, or its own CA."""
    resolve: Resolver = system_resolve
    backend: httpcore.AsyncNetworkBackend = field(default_factory=httpcore.AnyIOBackend)
    ssl_context: ssl.SSLContext | None = None    # None: the system's CAs


_NAT64 = ipaddress.ip_network("64:ff9b::/96")        # RFC 6052: the IPv4 address is the tail
_LOCAL_V6 = (ipaddress.ip_network("64:ff9b:1::/48"),  # RFC 8215 local-use NAT64,
             ipaddress.ip_network("fec0::/10"),       # site-local and documentation
             ipaddress.ip_network("3fff::/20"))       # (RFC 9637): Python 3.11 calls them global
# IANA: 192.0.0.0/24 is not globally reachable but for two anycast services; Python 3.11.7
# calls everything in it global after its first /29 (192.0.0.8, the dummy address, too).
_PROTOCOL_V4 = ipaddress.ip_network("192.0.0.0/24")
_GLOBAL_PROTOCOL_V4 = (ipaddress.ip_address("192.0.0.9"), ipaddress.ip_address("192.0.0.10"))


def refused_address(ip: str) -> bool:
    """True for an address a feed may reach only with `allow_private`: anything not
    globally reachable, multicast, or an IPv6 spelling of such an IPv4 address."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour or (
            ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF) if addr in _NAT64 else None)
        if embedded is not None:
            return refused_address(str(embedded))
        if any(addr in net for net in _LOCAL_V6):
            return True
    elif addr in _PROTOCOL_V4 and addr not in _GLOBAL_PROTOCOL_V4:
        return True
    return bool(not addr.is_global or addr.is_private or addr.is_loopback
                or addr.is_link_local or addr.is_multicast or addr.is_reserved
                or addr.is_unspecified)


@dataclass(frozen=True)
class _Pin:
    """The checked addresses of one host, for the request in hand."""
    host: str                   # as the connection pool names it (IDNA, no brackets)
    addresses: tuple[str, ...]


_PIN: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("relay_fetch_pin",
                                                                  default=None)


async def pin_address(url: str, allow_private: bool, feed_id: str,
                      resolve: Resolver = system_resolve) -> _Pin:
    """Resolve the URL's host once and refuse it if any of its addresses is internal
    (see the module rules); the addresses returned are the only ones it may reach."""
    try:
        parts = urlsplit(url)
        named = parts.scheme in ("http", "https") and parts.hostname
        target = httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:   # "http://[::1/" from a Location too
        raise FetchError(f"invalid URL: {exc}", feed_id=feed_id, url=url) from exc
    if not named:
        raise FetchError(f"not an http(s) URL: {url}", feed_id=feed_id, url=url)
    host = target.raw_host.decode("ascii")
    if _is_ip(host):
        addresses: Sequence[str] = [host]
    else:
        try:
            addresses = await resolve(host, target.port or (443 if target.scheme == "https"
                                                            else 80))
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve {parts.hostname}: {exc}", feed_id=feed_id,
                             url=url) from exc
        if not addresses:
            raise FetchError(f"cannot resolve {parts.hostname}: no address", feed_id=feed_id,
                             url=url)
    if not allow_private:
        for ip in addresses:
            if refused_address(ip):
                raise FetchError(
                    f"refused: {parts.hostname} is an internal address ({ip})",
                    feed_id=feed_id, url=url,
                    hint="set allow_private: true on this feed if it really is an internal"
                         " source")
    return _Pin(host, tuple(addresses))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens connections only to the addresses pinned for the request in hand, in the
    resolver's order; it never resolves a name, so nothing can answer differently."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _PIN.get()
        if pin is None or pin.host != host:
            raise httpcore.ConnectError(f"no checked address for {host}")
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in pin.addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address,
                                                    socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("relay does not fetch over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _HostGate:
    """At most `per_host` requests at a time to one host, starts `delay` seconds apart."""

    def __init__(self, per_host: int, delay: float) -> None:
        self.sems: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))
        self.next_start: dict[str, float] = defaultdict(float)
        self.delay = delay

    async def enter(self, host: str) -> None:
        await self.sems[host].acquire()
        now = time.monotonic()
        start = max(now, self.next_start[host])
        self.next_start[host] = start + self.delay
        if start > now:
            await asyncio.sleep(start - now)

    def leave(self, host: str) -> None:
        self.sems[host].release()


async def _fetch_one(client: httpx.AsyncClient, req: FetchRequest, limits: Limits,
                     hosts: _HostGate, gate: asyncio.Semaphore, resolve: Resolver) -> Fetched:
    headers = {}
    if req.etag:
        headers["If-None-Match"] = req.etag
    if req.last_modified:
        headers["If-Modified-Since"] = req.last_modified
    url = req.url
    all_permanent = True
    for _hop in range(MAX_REDIRECTS + 1):
        pin = await pin_address(url, req.allow_private, req.feed_id, resolve)
        host = pin.host
        # The host's turn first, then a global slot: a queue for one slow host does not
        # hold slots that other hosts could use. The deadline counts from the request.
        await hosts.enter(host)
        try:
            async with gate:
                result = await asyncio.wait_for(_one_hop(client, req, url, pin, headers, limits),
                                                limits.total_timeout)
        except TimeoutError:
            raise FetchError(f"no complete answer within {limits.total_timeout:g}s",
                             feed_id=req.feed_id, url=url) from None
        finally:
            hosts.leave(host)
        if isinstance(result, tuple):
            status, location = result
            all_permanent = all_permanent and status in _PERMANENT
            try:
                url = urljoin(url, location)
            except ValueError as exc:
                raise FetchError(f"HTTP {status} to a malformed Location {location!r}: {exc}",
                                 feed_id=req.feed_id, url=url, status=status) from exc
            continue
        if url != req.url and all_permanent:
            result = Fetched(**{**result.__dict__, "moved_to": url})
        return result
    raise FetchError(f"more than {MAX_REDIRECTS} redirects", feed_id=req.feed_id, url=req.url)


async def _one_hop(client: httpx.AsyncClient, req: FetchRequest, url: str, pin: _Pin,
                   headers: dict[str, str], limits: Limits) -> Fetched | tuple[int, str]:
    """One request: a Fetched, or (status, location) for a redirect. A new connection
    goes to `pin`'s addresses (the backend reads the pin from this task's context)."""
    token = _PIN.set(pin)
    try:
        async with client.stream("GET", url, headers=headers) as resp:
            status = resp.status_code
            if status in _REDIRECTS:
                location = resp.headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {status} without a Location", feed_id=req.feed_id,
                                     url=url, status=status)
                return status, location
            if status == 304:
                return Fetched(req.feed_id, url, 304, etag=req.etag,
                               last_modified=req.last_modified,
                               max_age=max_age(resp.headers.get("cache-control")))
            if not 200 <= status < 300:
                raise FetchError(
                    f"HTTP {status} {resp.reason_phrase}".strip(), feed_id=req.feed_id, url=url,
                    status=status,
                    retry_after=retry_after(resp.headers.get("retry-after"), datetime.now(UTC)))
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limits.max_bytes:
                raise FetchError(f"body of {declared} bytes is over the {limits.max_bytes} cap",
                                 feed_id=req.feed_id, url=url, status=status)
            body = await _read_capped(resp, limits.max_bytes, req.feed_id, url)
            return Fetched(
                feed_id=req.feed_id, url=url, status=status, body=body,
                headers={k.lower(): v for k, v in resp.headers.items()},
                etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified"),
                max_age=max_age(resp.headers.get("cache-control")),
            )
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})", feed_id=req.feed_id,
                         url=url) from exc
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}", feed_id=req.feed_id, url=url) from exc
    except httpx.DecodingError as exc:
        raise FetchError(f"cannot decode the body: {exc}", feed_id=req.feed_id,
                         url=url) from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}", feed_id=req.feed_id,
                         url=url) from exc
    finally:
        _PIN.reset(token)


async def _read_capped(resp: httpx.Response, cap: int, feed_id: str, url: str) -> bytes:
    """The body, decompressed here in bounded steps: httpx would inflate a whole chunk at
    once, and 64 KiB of a gzip bomb is 64 MiB of zeros before any cap could look."""
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate", ""):
        raise FetchError(f"unsupported Content-Encoding {encoding!r}", feed_id=feed_id, url=url)
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding not in ("identity", "") \
        else None   # | 32: gzip or zlib header, detected
    out = bytearray()

    def add(data: bytes) -> None:
        out.extend(data)
        if len(out) > cap:
            raise FetchError(f"body is over the {cap} byte cap (decompressed)",
                             feed_id=feed_id, url=url, status=resp.status_code)

    try:
        async for raw in resp.aiter_raw():
            if inflater is None:
                add(raw)
                continue
            data = raw
            while data:
                add(inflater.decompress(data, cap + 1 - len(out)))
                data = inflater.unconsumed_tail
        if inflater is not None:
            add(inflater.flush())
    except zlib.error as exc:
        raise FetchError(f"broken {encoding} body: {exc}", feed_id=feed_id, url=url) from exc
    return bytes(out)


def _client(limits: Limits, user_agent: str, network: Network,
            ssl_context: ssl.SSLContext) -> httpx.AsyncClient:
    """A client whose connections go only to pinned addresses (see the module rules)."""
    pool_limits = httpx.Limits(max_connections=limits.concurrency,
                               max_keepalive_connections=limits.concurrency)
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, trust_env=False, limits=pool_limits)
    # httpx has no parameter for the network backend; its transport sends through `_pool`.
    # tests/test_fetch_pinning.py fails if a later httpx stops doing so.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context, max_connections=pool_limits.max_connections,
        max_keepalive_connections=pool_limits.max_keepalive_connections,
        keepalive_expiry=pool_limits.keepalive_expiry,
        network_backend=_PinnedBackend(network.backend))
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout),
        follow_redirects=False, trust_env=False,
        headers={"User-Agent": user_agent or DEFAULT_UA,
                 "Accept-Encoding": "gzip, deflate",   # what _read_capped can bound
                 "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml,"
                           " application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"},
    )


async def fetch_all_async(
    requests: Sequence[FetchRequest], limits: Limits, user_agent: str = "",
    should_stop: Callable[[], bool] = lambda: False, network: Network | None = None,
) -> list[Fetched | FetchError]:
    network = network or Network()
    gate = asyncio.Semaphore(limits.concurrency)
    hosts = _HostGate(limits.per_host, limits.host_delay)
    ssl_context = network.ssl_context or httpx.create_ssl_context(trust_env=False)

    async with AsyncExitStack() as stack:
        # Guarded requests and those that allow private addresses never share a pool, so
        # a connection opened under allow_private cannot serve a guarded request.
        clients = {private: await stack.enter_async_context(
                       _client(limits, user_agent, network, ssl_context))
                   for private in sorted({r.allow_private for r in requests})}

        async def guarded(req: FetchRequest) -> Fetched | FetchError:
            try:
                return await _fetch_one(clients[req.allow_private], req, limits, hosts, gate,
                                        network.resolve)
            except FetchError as exc:
                return exc
            except Exception as exc:    # a defect this request alone meets: it fails alone
                log.info("feed=%s fetch", req.feed_id, exc_info=exc)
                return FetchError(f"{type(exc).__name__}: {exc}", feed_id=req.feed_id,
                                  url=req.url)

        tasks = [asyncio.create_task(guarded(r)) for r in requests]
        everything = asyncio.gather(*tasks)

        async def watch() -> None:   # a daemon told to stop does not wait for slow hosts
            while not should_stop():
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        waiting: set[asyncio.Future[Any]] = {everything, watcher}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if not everything.done():
            for task in tasks:
                task.cancel()
            await asyncio.gather(everything, return_exceptions=True)
        return [t.result() if not t.cancelled() else
                FetchError("stopped before an answer came", feed_id=r.feed_id, url=r.url)
                for t, r in zip(tasks, requests, strict=True)]


def fetch_all(
    requests: Sequence[FetchRequest], limits: Limits | None = None, user_agent: str = "",
    should_stop: Callable[[], bool] = lambda: False, network: Network | None = None,
) -> list[Fetched | FetchError]:
    """Fetch every request; one result per request, in order (errors as values).
    When `should_stop()` turns true, requests still open are abandoned. `network` is
    for tests (see `Network`)."""
    if not requests:
        return []
    return asyncio.run(fetch_all_async(requests, limits or Limits(), user_agent, should_stop,
                                       network))
