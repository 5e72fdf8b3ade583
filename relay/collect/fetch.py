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
- requests to loopback, private, link-local, multicast or reserved addresses
  are refused unless the request allows them (`allow_private` in feeds.yaml),
  for the first URL and every redirect, so a feed cannot make relay reach
  internal services;
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
import ipaddress
import logging
import re
import socket
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

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


def _blocked(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return bool(addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast
                or addr.is_reserved or addr.is_unspecified)


async def check_address(url: str, allow_private: bool, feed_id: str) -> None:
    """Refuse a URL whose host resolves to an internal address (see the module rules)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url}", feed_id=feed_id, url=url)
    if allow_private:
        return
    host = parts.hostname
    try:
        ips = [host] if _is_ip(host) else [
            str(info[4][0]) for info in await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80),
                type=socket.SOCK_STREAM)]
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc}", feed_id=feed_id, url=url) from exc
    for ip in ips:
        if _blocked(ip):
            raise FetchError(
                f"refused: {host} is an internal address ({ip})", feed_id=feed_id, url=url,
                hint="set allow_private: true on this feed if it really is an internal source")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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
                     hosts: _HostGate, gate: asyncio.Semaphore) -> Fetched:
    headers = {}
    if req.etag:
        headers["If-None-Match"] = req.etag
    if req.last_modified:
        headers["If-Modified-Since"] = req.last_modified
    url = req.url
    all_permanent = True
    for _hop in range(MAX_REDIRECTS + 1):
        await check_address(url, req.allow_private, req.feed_id)
        host = urlsplit(url).hostname or ""
        # The host's turn first, then a global slot: a queue for one slow host does not
        # hold slots that other hosts could use. The deadline counts from the request.
        await hosts.enter(host)
        try:
            async with gate:
                result = await asyncio.wait_for(_one_hop(client, req, url, headers, limits),
                                                limits.total_timeout)
        except TimeoutError:
            raise FetchError(f"no complete answer within {limits.total_timeout:g}s",
                             feed_id=req.feed_id, url=url) from None
        finally:
            hosts.leave(host)
        if isinstance(result, tuple):
            status, location = result
            all_permanent = all_permanent and status in _PERMANENT
            url = urljoin(url, location)
            continue
        if url != req.url and all_permanent:
            result = Fetched(**{**result.__dict__, "moved_to": url})
        return result
    raise FetchError(f"more than {MAX_REDIRECTS} redirects", feed_id=req.feed_id, url=req.url)


async def _one_hop(client: httpx.AsyncClient, req: FetchRequest, url: str,
                   headers: dict[str, str], limits: Limits) -> Fetched | tuple[int, str]:
    """One request: a Fetched, or (status, location) for a redirect."""
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


async def fetch_all_async(
    requests: Sequence[FetchRequest], limits: Limits, user_agent: str = "",
    should_stop: Callable[[], bool] = lambda: False,
) -> list[Fetched | FetchError]:
    timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
    gate = asyncio.Semaphore(limits.concurrency)
    hosts = _HostGate(limits.per_host, limits.host_delay)

    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, trust_env=False,
        headers={"User-Agent": user_agent or DEFAULT_UA,
                 "Accept-Encoding": "gzip, deflate",   # what _read_capped can bound
                 "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml,"
                           " application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"},
        limits=httpx.Limits(max_connections=limits.concurrency,
                            max_keepalive_connections=limits.concurrency),
    ) as client:

        async def guarded(req: FetchRequest) -> Fetched | FetchError:
            try:
                return await _fetch_one(client, req, limits, hosts, gate)
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
    should_stop: Callable[[], bool] = lambda: False,
) -> list[Fetched | FetchError]:
    """Fetch every request; one result per request, in order (errors as values).
    When `should_stop()` turns true, requests still open are abandoned."""
    if not requests:
        return []
    return asyncio.run(fetch_all_async(requests, limits or Limits(), user_agent, should_stop))
