"""The one HTTP client of relay: conditional GET with limits, for many sources at once.

`fetch_all(requests, ...)` fetches every `FetchRequest` concurrently with one
`httpx.AsyncClient` and returns one `Fetched` or one `FetchError` per request,
in order. Rules:
- conditional GET: the stored ETag goes out as If-None-Match and the stored
  Last-Modified as If-Modified-Since; a 304 comes back as `Fetched(status=304)`
  with no body, so nothing is parsed;
- at most `concurrency` requests in flight, at most `per_host` to one host;
- connect/read timeouts and a total deadline per request; a body larger than
  `max_bytes` is aborted while streaming (never buffered past the cap);
- redirects are followed (at most MAX_REDIRECTS); the final URL is reported;
- a User-Agent that names relay and how to reach the operator;
- any status other than 2xx/304 is a `FetchError` with the status.
`read_file` reads a `path:` source the same way (no HTTP).
httpx exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from relay import __version__
from relay.errors import FetchError
from relay.models import Fetched

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_UA = f"relay/{__version__} (feed collector; +https://github.com/relay/relay)"


@dataclass(frozen=True)
class FetchRequest:
    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Limits:
    concurrency: int = 10
    per_host: int = 2
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = DEFAULT_MAX_BYTES


def read_file(feed_id: str, path: Path) -> Fetched:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}", feed_id=feed_id,
                         url=str(path)) from exc
    return Fetched(feed_id=feed_id, url=str(path), status=200, body=body)


async def _fetch_one(client: httpx.AsyncClient, req: FetchRequest, limits: Limits) -> Fetched:
    headers = {}
    if req.etag:
        headers["If-None-Match"] = req.etag
    if req.last_modified:
        headers["If-Modified-Since"] = req.last_modified
    try:
        async with client.stream("GET", req.url, headers=headers) as resp:
            if resp.status_code == 304:
                return Fetched(req.feed_id, str(resp.url), 304, etag=req.etag,
                               last_modified=req.last_modified)
            if not 200 <= resp.status_code < 300:
                raise FetchError(f"HTTP {resp.status_code} {resp.reason_phrase}",
                                 feed_id=req.feed_id, url=req.url, status=resp.status_code)
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise FetchError(f"body of {declared} bytes is over the {limits.max_bytes} cap",
                                 feed_id=req.feed_id, url=req.url, status=resp.status_code)
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > limits.max_bytes:
                    raise FetchError(f"body is over the {limits.max_bytes} byte cap",
                                     feed_id=req.feed_id, url=req.url, status=resp.status_code)
                chunks.append(chunk)
            return Fetched(
                feed_id=req.feed_id, url=str(resp.url), status=resp.status_code,
                body=b"".join(chunks), headers={k.lower(): v for k, v in resp.headers.items()},
                etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified"),
            )
    except httpx.TooManyRedirects as exc:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects", feed_id=req.feed_id,
                         url=req.url) from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})", feed_id=req.feed_id,
                         url=req.url) from exc
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}", feed_id=req.feed_id, url=req.url) from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}", feed_id=req.feed_id,
                         url=req.url) from exc


async def fetch_all_async(
    requests: Sequence[FetchRequest], limits: Limits, user_agent: str = ""
) -> list[Fetched | FetchError]:
    timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
    global_gate = asyncio.Semaphore(limits.concurrency)
    host_gates: dict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(limits.per_host))

    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": user_agent or DEFAULT_UA,
                 "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml,"
                           " application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"},
        limits=httpx.Limits(max_connections=limits.concurrency,
                            max_keepalive_connections=limits.concurrency),
    ) as client:

        async def guarded(req: FetchRequest) -> Fetched | FetchError:
            host = urlsplit(req.url).hostname or ""
            async with global_gate, host_gates[host]:
                try:
                    return await asyncio.wait_for(_fetch_one(client, req, limits),
                                                  limits.total_timeout)
                except TimeoutError:
                    return FetchError(f"no complete answer within {limits.total_timeout:g}s",
                                      feed_id=req.feed_id, url=req.url)
                except FetchError as exc:
                    return exc

        return list(await asyncio.gather(*(guarded(r) for r in requests)))


def fetch_all(
    requests: Sequence[FetchRequest], limits: Limits | None = None, user_agent: str = ""
) -> list[Fetched | FetchError]:
    """Fetch every request; one result per request, in order (errors as values)."""
    if not requests:
        return []
    return asyncio.run(fetch_all_async(requests, limits or Limits(), user_agent))
