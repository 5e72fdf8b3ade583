"""feeds.yaml -> a validated `Config`, or a `ConfigError` that says where.

Rules:
- every mapping has a closed set of keys; an unknown key, a wrong type, a
  duplicate feed or topic id, a topic id that no topic defines, a feed with
  both or neither of `url`/`path`, and a `page` feed without selectors are
  errors naming the file, the line and the key path (`feeds[3].interval`);
- relative paths (database, digests_dir, feed paths) are relative to the
  configuration file's folder;
- a feed read from `path:` (kind rss or page) may say with `base_url` (an
  http(s) URL) what its relative links are relative to; a `url:` feed's links
  are relative to its URL, so it takes none;
- secrets are never written in the file: `${NAME}` in `settings.smtp.url`
  or `settings.smtp.sender` is replaced by the environment variable NAME (an unset one is an error), and
  `RELAY_SMTP_URL` overrides `settings.smtp.url`;
- without a `topics:` section the built-in taxonomy (taxonomy.yaml beside
  this module) is used; with one, it replaces the built-in list;
- a feed's `lang` is any ISO 639-1 code, a region subtag accepted and dropped
  (zh-CN is zh: `langs.primary`); a feed's `name` is a string or a
  mapping from ISO 639-1 codes to non-empty names (`{ja: 在ボストン日本国総領事館,
  en: Consulate-General of Japan in Boston}`), and so is a mission's in the
  optional `missions:` list (`id`, `name`); an unknown code, an empty name or
  an empty mapping is an error. A feed named per language keeps, as its one name (`relay feeds`, the
  archive), the name in its own `lang`, else English, else the first.
- one feed entry that is wrong harms only itself: loaded not `strict` (every
  command but `relay check` and `feeds add`), the entry is left out with its error
  in `Config.feed_errors` and the other feeds run, as if it had been removed until
  it is fixed; a wrong setting, topic or mission is still an error for the file;
- numbers in settings are finite and in their range (`NUMBERS`); the YAML itself is
  at most MAX_YAML_CHARS long and MAX_YAML_DEPTH deep, with at most MAX_YAML_NODES
  values once its aliases are expanded (a "billion laughs" is an error at its line).
The environment is passed in (`env`), so loading is pure given its inputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import io
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from relay import cache, langs, models
from relay.errors import ConfigError
from relay.models import (
    LANGS,
    Config,
    DigestSettings,
    FeedKind,
    FeedSpec,
    FetchSettings,
    LimitSettings,
    Settings,
    SmtpSettings,
    Topic,
    local_name,
    parse_smtp_url,
    valid_address,
)

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

SETTINGS_KEYS = {"timezone", "database", "digests_dir", "user_agent", "smtp", "digest", "fetch",
                 "admin_email", "base_url", "secret", "workers", "limits"}
FETCH_KEYS = {"concurrency", "per_host", "host_delay", "timeout", "max_bytes"}
LIMIT_KEYS = {"max_title_chars", "max_summary_chars", "max_entries"}
SMTP_KEYS = {"url", "sender", "timeout", "allow_plaintext_auth"}
DIGEST_KEYS = {"weekly", "daily", "max_age_days", "max_per_topic", "send_empty",
               "max_message_bytes"}
TOPIC_KEYS = {"id", "label", "terms", "exclude"}
FEED_KEYS = {
    "id", "name", "url", "path", "kind", "mission", "country", "lang", "topics",
    "interval", "enabled", "selectors", "allow_private", "fulltext", "audience", "base_url",
    "site",
}
SELECTOR_KEYS = {"item", "title", "link", "date", "summary"}
MISSION_KEYS = {"id", "name"}
TOP_KEYS = {"settings", "topics", "feeds", "missions"}


class _Ctx:
    """Where we are in the file, for messages."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def error(self, node: Any, key: str | int | None, path: str, message: str) -> ConfigError:
        line = _line_of(node, key)
        where = f"{self.file}:{line}" if line else str(self.file)
        return ConfigError(f"{path}: {message}" if path else message, where=where)


def _line_of(node: Any, key: str | int | None) -> int | None:
    try:
        if isinstance(node, CommentedMap) and key is not None and key in node:
            return int(node.lc.key(key)[0]) + 1
        if isinstance(node, CommentedSeq) and isinstance(key, int):
            return int(node.lc.item(key)[0]) + 1
        if hasattr(node, "lc"):
            return int(node.lc.line) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return None
    return None


MAX_INTERVAL = 30 * 86400


def parse_interval(text: str) -> int:
    """'30m' -> 1800 seconds, at most 30 days; raises ValueError."""
    m = _INTERVAL.match(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not an interval like 30m, 1h, 6h, 1d")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds > MAX_INTERVAL:
        raise ValueError(f"{text!r} is longer than 30 days")
    return seconds


def parse_clock(text: str) -> time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{text!r} is not a time like 08:00")
    return time(int(m.group(1)), int(m.group(2)))


def parse_weekly(text: str) -> tuple[int, time]:
    parts = text.strip().lower().split()
    if len(parts) != 2 or parts[0][:3] not in DAYS:
        raise ValueError(f"{text!r} is not a weekday and time like 'mon 08:00'")
    return DAYS.index(parts[0][:3]), parse_clock(parts[1])


def load_config(path: Path, env: Mapping[str, str] | None = None, strict: bool = True) -> Config:
    """Read and validate a configuration file (`strict`: see parse_config)."""
    env = env or {}
    if not path.exists():
        raise ConfigError(
            "configuration file not found", where=str(path),
            hint="pass --config FILE or set RELAY_CONFIG; `relay demo` needs none",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", where=str(path)) from exc
    return parse_config(text, path, env, strict)


# A real feeds.yaml nests 6 levels deep and holds some 20 nodes per feed; these bounds keep
# a runaway or hostile file (5,000 brackets deep, a "billion laughs" of aliases) a one-line
# error instead of a RecursionError or an hour of work.
MAX_YAML_CHARS = 2_000_000
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 1_000_000      # counted with every alias expanded


class _BoundedComposer(Composer):
    """ruamel's composer, refusing a document nested deeper than MAX_YAML_DEPTH (counting
    through aliases) or with more than MAX_YAML_NODES nodes once its aliases are expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        nesting = getattr(self, "_nesting", 0)
        if nesting >= MAX_YAML_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                self.parser.peek_event().start_mark)
        self._nesting = nesting + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._nesting = nesting

    def compose_document(self) -> Any:
        node = super().compose_document()
        _check_expanded(node)
        return node


def _check_expanded(root: Node | None) -> None:
    """Depth and size of the document with its aliases expanded (a node reached twice
    counts twice), computed once per node, without recursion."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)] if root is not None else []
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        children = _children(node)
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        size[id(node)] = 1 + sum(size[id(c)] for c in children)
        depth[id(node)] = 1 + max((depth[id(c)] for c in children), default=0)
        if depth[id(node)] > MAX_YAML_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels "
                                "(through aliases)", node.start_mark)
        if size[id(node)] > MAX_YAML_NODES:
            raise ComposerError(None, None, f"more than {MAX_YAML_NODES:,} values once its "
                                "aliases are expanded", node.start_mark)


class _Constructor(RoundTripConstructor):
    """ruamel's constructor, a value it cannot build (a 5,000-digit integer, a date
    2001-02-30 or `!!int x`) being a YAML error at its line rather than a ValueError."""

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except (ValueError, OverflowError, TypeError) as exc:
            reason = str(exc).split(":")[0]
            raise ConstructorError(None, None, f"cannot read this value ({reason})",
                                   node.start_mark) from exc


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _load_yaml(text: str, file: Path) -> Any:
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(f"the file is larger than {MAX_YAML_CHARS:,} characters", where=str(file))
    yaml = YAML(typ="rt")
    yaml.Composer = _BoundedComposer
    yaml.Constructor = _Constructor
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # a reused anchor is valid YAML
            return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", where=where) from exc


def parse_config(text: str, file: Path, env: Mapping[str, str], strict: bool = True) -> Config:
    """The configuration of `text`. Not `strict`: a feed entry that is wrong is left out
    and its error kept in `Config.feed_errors` (the other feeds run); anything else that
    is wrong is still a ConfigError."""
    ctx = _Ctx(file)
    doc = _load_yaml(text, file)
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ctx.error(doc, None, "", "the file must be a mapping with settings, topics, feeds")
    _check_keys(ctx, doc, TOP_KEYS, "")
    for key, kind, what in (("settings", CommentedMap, "a mapping"),
                            ("topics", CommentedSeq, "a list of topics"),
                            ("feeds", CommentedSeq, "a list of feeds")):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise ctx.error(doc, key, key, f"must be {what}")
    base = file.parent
    settings = _settings(ctx, doc.get("settings"), base, env)
    if "topics" in doc and doc["topics"] is not None:
        topics = _topics(ctx, doc["topics"], "topics")
        builtin = False
    else:
        topics = builtin_topics()
        builtin = True
    topic_ids = {t.id for t in topics}
    feed_errors: tuple[ConfigError, ...] = ()
    if strict:
        feeds = _feeds(ctx, doc.get("feeds") or CommentedSeq(), base, topic_ids)
    else:
        feeds, feed_errors = _feeds_apart(ctx, doc.get("feeds") or CommentedSeq(), base,
                                          topic_ids)
    if doc.get("missions") is not None and not isinstance(doc["missions"], CommentedSeq):
        raise ctx.error(doc, "missions", "missions", "must be a list of missions")
    missions = _missions(ctx, doc.get("missions") or CommentedSeq())
    return Config(path=file, settings=settings, topics=topics, feeds=feeds, topics_builtin=builtin,
                  missions=missions, feed_errors=feed_errors)


@functools.cache          # the same file on every load: read once per process
def builtin_topics() -> tuple[Topic, ...]:
    """The built-in taxonomy. Read through ruamel's round-trip loader (pure Python) it
    took 0.15-0.25 s of every command's start, so what it gives is kept in the user's
    cache folder (`relay.cache`) as JSON, under a name that changes with the taxonomy
    and with the code that reads it."""
    text = TAXONOMY_PATH.read_text(encoding="utf-8")
    digest = hashlib.sha1(text.encode())
    for module in (__file__, models.__file__):
        digest.update(Path(module).read_bytes())
    name = f"taxonomy-{digest.hexdigest()[:20]}.json"
    try:
        path = cache.folder() / name
        return tuple(Topic(t["id"], t["labels"], _tuples(t["terms"]), _tuples(t["exclude"]))
                     for t in json.loads(path.read_bytes()))
    except OSError:
        pass            # not kept yet (or no cache folder): read and kept below
    except (ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)    # damaged: read and kept again below
    doc = _load_yaml(text, TAXONOMY_PATH)
    topics = _topics(_Ctx(TAXONOMY_PATH), doc["topics"], "topics")
    with contextlib.suppress(OSError):      # no cache folder: read again next time
        cache.keep(cache.folder() / name, lambda out: out.write(json.dumps(
            [dataclasses.asdict(t) for t in topics], ensure_ascii=False).encode()))
    return topics


def _tuples(lists: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {lang: tuple(values) for lang, values in lists.items()}


# -- sections -----------------------------------------------------------------------------------


def _check_keys(ctx: _Ctx, node: CommentedMap, allowed: set[str], path: str) -> None:
    for key in node:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ctx.error(
                node, key, where, f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )


def _mapping(ctx: _Ctx, parent: Any, key: str | int, path: str) -> CommentedMap:
    node = parent[key]
    if not isinstance(node, CommentedMap):
        raise ctx.error(parent, key, path, "must be a mapping")
    return node


def _get(
    ctx: _Ctx, node: CommentedMap, key: str, path: str, kind: type | tuple[type, ...],
    default: Any = None,
) -> Any:
    if key not in node or node[key] is None:
        return default
    value = node[key]
    # YAML booleans are ints in Python: keep them apart.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ctx.error(node, key, f"{path}.{key}", f"must be {_type_name(kind)}, not a boolean")
    if not isinstance(value, kind):
        raise ctx.error(
            node, key, f"{path}.{key}",
            f"must be {_type_name(kind)}, not {_type_name(type(value))}",
        )
    return value


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", float: "a number",
             list: "a list", dict: "a mapping", CommentedSeq: "a list", CommentedMap: "a mapping"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # by the nearest known base: the YAML loader's ScalarFloat is "a number"
    return " or ".join(next((names[b] for b in k.__mro__ if b in names), k.__name__)
                       for k in kinds)


def _convert(ctx: _Ctx, node: CommentedMap, key: str, path: str, fn: Callable[[str], Any]) -> Any:
    try:
        return fn(str(node[key]))
    except ValueError as exc:
        raise ctx.error(node, key, f"{path}.{key}", str(exc)) from exc


# Every number a setting takes, with its unit and its sensible range: a value outside
# (.inf, .nan, a negative timeout, a delay of a week) is refused at `relay check`, never
# found by a run that hangs.
NUMBERS: dict[str, tuple[type | tuple[type, ...], int, int, str]] = {
    "settings.workers": (int, 0, 64, ""),
    "settings.smtp.timeout": ((int, float), 1, 3600, " seconds"),
    "settings.digest.max_age_days": (int, 1, 3650, " days"),
    "settings.digest.max_per_topic": (int, 1, 1000, ""),
    "settings.fetch.concurrency": (int, 1, 1000, ""),
    "settings.fetch.per_host": (int, 1, 100, ""),
    "settings.fetch.host_delay": ((int, float), 0, 3600, " seconds"),
    "settings.fetch.timeout": ((int, float), 1, 3600, " seconds"),
    "settings.fetch.max_bytes": (int, 1024, 1 << 30, " bytes"),
    # a digest of one short story is ~6 kB; the default is half of Postfix's message limit
    "settings.digest.max_message_bytes": (int, 10_000, 1 << 30, " bytes"),
    # a title of 20 characters still reads; a run stays bounded (100,000 entries a fetch)
    "settings.limits.max_title_chars": (int, 20, 100_000, " characters"),
    "settings.limits.max_summary_chars": (int, 100, 10_000_000, " characters"),
    "settings.limits.max_entries": (int, 1, 100_000, " entries"),
}


def _number(ctx: _Ctx, node: CommentedMap, key: str, path: str, default: Any) -> Any:
    """A number setting (see NUMBERS: its type and range), or `default` when absent."""
    kind, low, high, unit = NUMBERS[f"{path}.{key}"]
    value = _get(ctx, node, key, path, kind, default)
    if value is default:
        return value
    if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        raise ctx.error(node, key, f"{path}.{key}",
                        f"must be from {low} to {high}{unit}, not {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A number as the message shows it (an integer of 5,000 digits has no str())."""
    return str(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"


def _env(ctx: _Ctx, node: CommentedMap, key: str, path: str, value: str,
         env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise ctx.error(node, key, f"{path}.{key}", f"environment variable {name} is not set")
        return env[name]

    return _ENV_REF.sub(sub, value)


def _settings(ctx: _Ctx, node: Any, base: Path, env: Mapping[str, str]) -> Settings:
    if node is None:
        node = CommentedMap()
    if not isinstance(node, CommentedMap):
        raise ctx.error(node, None, "settings", "must be a mapping")
    _check_keys(ctx, node, SETTINGS_KEYS, "settings")
    tz = _get(ctx, node, "timezone", "settings", str, "Asia/Tokyo")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ctx.error(node, "timezone", "settings.timezone",
                        f"unknown time zone {tz!r} (use an IANA name like Asia/Tokyo)") from exc
    database = (base / _get(ctx, node, "database", "settings", str, "storage/relay.db")).resolve()
    digests = (base / _get(ctx, node, "digests_dir", "settings", str, "digests")).resolve()
    user_agent = _get(ctx, node, "user_agent", "settings", str, "")
    admin_email = _get(ctx, node, "admin_email", "settings", str, "")
    base_url = _get(ctx, node, "base_url", "settings", str, "")
    if base_url and not re.match(r"^https://[^\s/]+", base_url):
        raise ctx.error(node, "base_url", "settings.base_url", "must be an https:// URL")
    secret = _get(ctx, node, "secret", "settings", str, "")
    if secret:
        if not _ENV_REF.search(secret):
            raise ctx.error(node, "secret", "settings.secret",
                            "write it as ${NAME} and keep the value in the environment")
        secret = _env(ctx, node, "secret", "settings", secret, env)
        if len(secret) < 16:
            raise ctx.error(node, "secret", "settings.secret", "must be at least 16 characters")
    if base_url and not secret:
        raise ctx.error(node, "base_url", "settings.base_url",
                        "needs settings.secret (${NAME}) to sign unsubscribe links")
    workers = _number(ctx, node, "workers", "settings", None)
    if admin_email and not valid_address(admin_email, local_domain=True):
        raise ctx.error(node, "admin_email", "settings.admin_email",
                        f"{admin_email!r} is not a plain address like ops@example.org")

    smtp = SmtpSettings()
    if node.get("smtp") is not None:
        s = _mapping(ctx, node, "smtp", "settings.smtp")
        _check_keys(ctx, s, SMTP_KEYS, "settings.smtp")
        url = _get(ctx, s, "url", "settings.smtp", str, smtp.url)
        url = _env(ctx, s, "url", "settings.smtp", url, env)
        plaintext = _get(ctx, s, "allow_plaintext_auth", "settings.smtp", bool, False)
        if not env.get("RELAY_SMTP_URL"):   # else checked below, as the URL in force
            try:
                parse_smtp_url(url, plaintext)
            except ValueError as exc:
                raise ctx.error(s, "url", "settings.smtp.url", str(exc)) from None
        sender = _get(ctx, s, "sender", "settings.smtp", str, smtp.sender)
        sender = _env(ctx, s, "sender", "settings.smtp", sender, env)
        if not valid_address(sender, local_domain=True):
            raise ctx.error(s, "sender", "settings.smtp.sender",
                            f"{sender!r} is not a plain address like relay@example.org")
        timeout = float(_number(ctx, s, "timeout", "settings.smtp", smtp.timeout))
        smtp = SmtpSettings(url=url, sender=sender, timeout=timeout,
                            allow_plaintext_auth=plaintext)
    if env.get("RELAY_SMTP_URL"):
        try:
            parse_smtp_url(env["RELAY_SMTP_URL"], smtp.allow_plaintext_auth)
        except ValueError as exc:
            raise ConfigError(f"RELAY_SMTP_URL: {exc}", where="environment") from None
        smtp = SmtpSettings(url=env["RELAY_SMTP_URL"], sender=smtp.sender, timeout=smtp.timeout,
                            allow_plaintext_auth=smtp.allow_plaintext_auth)

    digest = DigestSettings()
    if node.get("digest") is not None:
        d = _mapping(ctx, node, "digest", "settings.digest")
        _check_keys(ctx, d, DIGEST_KEYS, "settings.digest")
        day, wtime = digest.weekly_day, digest.weekly_time
        if d.get("weekly") is not None:
            _get(ctx, d, "weekly", "settings.digest", str)
            day, wtime = _convert(ctx, d, "weekly", "settings.digest", parse_weekly)
        dtime = digest.daily_time
        if d.get("daily") is not None:
            _get(ctx, d, "daily", "settings.digest", str)
            dtime = _convert(ctx, d, "daily", "settings.digest", parse_clock)
        max_age = _number(ctx, d, "max_age_days", "settings.digest", digest.max_age_days)
        per_topic = _number(ctx, d, "max_per_topic", "settings.digest", digest.max_per_topic)
        send_empty = _get(ctx, d, "send_empty", "settings.digest", bool, False)
        max_message = _number(ctx, d, "max_message_bytes", "settings.digest",
                              digest.max_message_bytes)
        digest = DigestSettings(day, wtime, dtime, max_age, per_topic, send_empty, max_message)
    fetch = FetchSettings()
    if node.get("fetch") is not None:
        fn = _mapping(ctx, node, "fetch", "settings.fetch")
        _check_keys(ctx, fn, FETCH_KEYS, "settings.fetch")
        fetch = FetchSettings(**{key: _number(ctx, fn, key, "settings.fetch", getattr(fetch, key))
                                 for key in FETCH_KEYS})
    return Settings(timezone=tz, database=database, digests_dir=digests, user_agent=user_agent,
                    smtp=smtp, digest=digest, fetch=fetch, limits=_limits(ctx, node),
                    admin_email=admin_email, base_url=base_url, secret=secret, workers=workers)


def _limits(ctx: _Ctx, node: Any) -> LimitSettings:
    """settings.limits: whole numbers within their NUMBERS ranges."""
    limits = LimitSettings()
    if node.get("limits") is None:
        return limits
    ln = _mapping(ctx, node, "limits", "settings.limits")
    _check_keys(ctx, ln, LIMIT_KEYS, "settings.limits")
    return LimitSettings(**{key: _number(ctx, ln, key, "settings.limits", getattr(limits, key))
                            for key in ("max_title_chars", "max_summary_chars", "max_entries")})


def _str_list(ctx: _Ctx, node: CommentedMap, key: str, path: str) -> tuple[str, ...]:
    value = _get(ctx, node, key, path, list, [])
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise ctx.error(value, i, f"{path}.{key}[{i}]", "must be a non-empty string")
    return tuple(v.strip() for v in value)


def _lang_map(ctx: _Ctx, parent: CommentedMap, key: str, path: str, lists: bool) -> dict[str, Any]:
    if parent.get(key) is None:
        return {}
    node = _mapping(ctx, parent, key, f"{path}.{key}")
    _check_keys(ctx, node, set(LANGS), f"{path}.{key}")
    if lists:
        return {lang: _str_list(ctx, node, lang, f"{path}.{key}") for lang in node}
    return {lang: _get(ctx, node, lang, f"{path}.{key}", str, "") for lang in node}


def _topics(ctx: _Ctx, node: Any, path: str) -> tuple[Topic, ...]:
    if not isinstance(node, CommentedSeq):
        raise ctx.error(node, None, path, "must be a list of topics")
    topics: list[Topic] = []
    seen: set[str] = set()
    for i, t in enumerate(node):
        p = f"{path}[{i}]"
        if not isinstance(t, CommentedMap):
            raise ctx.error(node, i, p, "must be a mapping with id, label, terms")
        _check_keys(ctx, t, TOPIC_KEYS, p)
        tid = _get(ctx, t, "id", p, str)
        if tid is None:
            raise ctx.error(t, None, f"{p}.id", "is required")
        if not SLUG.match(tid):
            raise ctx.error(t, "id", f"{p}.id", f"{tid!r} is not a lower-case slug")
        if tid in seen:
            raise ctx.error(t, "id", f"{p}.id", f"duplicate topic id {tid!r}")
        seen.add(tid)
        labels = _lang_map(ctx, t, "label", p, lists=False)
        terms = _lang_map(ctx, t, "terms", p, lists=True)
        if not any(terms.values()):
            raise ctx.error(t, "terms", f"{p}.terms", "a topic needs at least one term")
        exclude = _lang_map(ctx, t, "exclude", p, lists=True)
        topics.append(Topic(id=tid, labels=labels, terms=terms, exclude=exclude))
    return tuple(topics)


def _groups(ctx: _Ctx, f: CommentedMap, p: str) -> tuple[str, ...]:
    groups = _str_list(ctx, f, "audience", p)
    if "audience" in f and not groups:   # `audience:` or `[]`: a restriction left empty
        raise ctx.error(f, "audience", f"{p}.audience",
                        "names no group (omit the key for a feed everyone may read)")
    for j, g in enumerate(groups):
        if not SLUG.match(g):
            raise ctx.error(f["audience"], j, f"{p}.audience[{j}]",
                            f"{g!r} is not a lower-case group slug")
    return groups


def _feeds_apart(ctx: _Ctx, node: Any, base: Path, topic_ids: set[str]
                 ) -> tuple[tuple[FeedSpec, ...], tuple[ConfigError, ...]]:
    """Each feed entry validated on its own: the good ones, and the error of each bad one."""
    if not isinstance(node, CommentedSeq):
        raise ctx.error(node, None, "feeds", "must be a list of feeds")
    feeds: list[FeedSpec] = []
    errors: list[ConfigError] = []
    seen: set[str] = set()
    for i in range(len(node)):
        try:
            feeds.extend(_feeds(ctx, node, base, topic_ids, only=i, seen=seen))
        except ConfigError as exc:
            errors.append(exc)
    return tuple(feeds), tuple(errors)


def _feeds(ctx: _Ctx, node: Any, base: Path, topic_ids: set[str], only: int | None = None,
           seen: set[str] | None = None) -> tuple[FeedSpec, ...]:
    if not isinstance(node, CommentedSeq):
        raise ctx.error(node, None, "feeds", "must be a list of feeds")
    feeds: list[FeedSpec] = []
    seen = set() if seen is None else seen
    for i, f in enumerate(node):
        if only is not None and i != only:
            continue
        p = f"feeds[{i}]"
        if not isinstance(f, CommentedMap):
            raise ctx.error(node, i, p, "must be a mapping with id, name, url or path, kind")
        fid = _get(ctx, f, "id", p, str)
        if fid is None:
            raise ctx.error(f, None, f"{p}.id", "is required")
        p = f"feeds[{i}] ({fid})"
        _check_keys(ctx, f, FEED_KEYS, p)
        if not SLUG.match(fid):
            raise ctx.error(f, "id", f"{p}.id", f"{fid!r} is not a lower-case slug")
        if fid in seen:
            raise ctx.error(f, "id", f"{p}.id", f"duplicate feed id {fid!r}")
        seen.add(fid)
        kind_text = _get(ctx, f, "kind", p, str, "rss")
        try:
            kind = FeedKind(kind_text)
        except ValueError:
            raise ctx.error(f, "kind", f"{p}.kind",
                            f"{kind_text!r} is not one of rss, page, reports") from None
        url = _get(ctx, f, "url", p, str)
        raw_path = _get(ctx, f, "path", p, str)
        if (url is None) == (raw_path is None):
            raise ctx.error(f, None, p, "needs exactly one of url: or path:")
        if kind is FeedKind.REPORTS and raw_path is None:
            raise ctx.error(f, "url", f"{p}.url", "a reports feed reads a folder: use path:")
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ctx.error(f, "url", f"{p}.url", f"{url!r} is not an http(s) URL")
        base_url = _get(ctx, f, "base_url", p, str)
        if base_url is not None:
            if raw_path is None or kind is FeedKind.REPORTS:
                raise ctx.error(f, "base_url", f"{p}.base_url",
                                "only a feed or page read from path: takes base_url (the URL "
                                "its relative links are relative to)")
            if not re.match(r"^https?://[^\s/]+", base_url):
                raise ctx.error(f, "base_url", f"{p}.base_url",
                                f"{base_url!r} is not an http(s) URL")
        site = _get(ctx, f, "site", p, str)
        if site is not None and not re.match(r"^https?://[^\s/]+", site):
            raise ctx.error(f, "site", f"{p}.site", f"{site!r} is not an http(s) URL")
        lang = _get(ctx, f, "lang", p, str)
        if lang is not None:
            code = langs.primary(lang)     # zh-CN is zh: a region subtag is accepted, dropped
            if code is None:
                raise ctx.error(f, "lang", f"{p}.lang",
                                f"{lang!r} is not an ISO 639-1 language code (ja, en, zh, "
                                "zh-CN, ...)")
            lang = code
        topics = _str_list(ctx, f, "topics", p)
        for j, tid in enumerate(topics):
            if tid not in topic_ids:
                raise ctx.error(f["topics"], j, f"{p}.topics[{j}]", f"unknown topic {tid!r}")
        interval = 3600
        if f.get("interval") is not None:
            interval = _convert(ctx, f, "interval", p, parse_interval)
        selectors: dict[str, str] = {}
        if f.get("selectors") is not None:
            s = _mapping(ctx, f, "selectors", f"{p}.selectors")
            _check_keys(ctx, s, SELECTOR_KEYS, f"{p}.selectors")
            selectors = {k: _get(ctx, s, k, f"{p}.selectors", str) for k in s}
            if selectors:   # (soupsieve, and bs4 under it, for the page feeds that need it)
                from soupsieve import SelectorSyntaxError
                from soupsieve import compile as css
            for k, selector in selectors.items():
                try:
                    css(selector)
                except SelectorSyntaxError as exc:
                    raise ctx.error(s, k, f"{p}.selectors.{k}",
                                    f"{selector!r} is not a CSS selector "
                                    f"({str(exc).splitlines()[0]})") from None
        if kind is FeedKind.PAGE:
            missing = {"item", "title", "link"} - selectors.keys()
            if missing:
                raise ctx.error(f, "selectors" if "selectors" in f else None, f"{p}.selectors",
                                f"a page feed needs selectors {', '.join(sorted(missing))}")
        elif selectors:
            raise ctx.error(f, "selectors", f"{p}.selectors", "only page feeds take selectors")
        country = _get(ctx, f, "country", p, str)
        mission = _get(ctx, f, "mission", p, str)
        if mission is not None and not SLUG.match(mission):
            raise ctx.error(f, "mission", f"{p}.mission", f"{mission!r} is not a lower-case slug")
        names = _names(ctx, f, p)
        feeds.append(FeedSpec(
            id=fid, name=local_name(names, lang or "ja", fid), kind=kind, url=url,
            path=(base / raw_path) if raw_path is not None else None,
            mission=mission, country=country.upper() if country else None, lang=lang,
            topics=topics, interval=interval, enabled=_get(ctx, f, "enabled", p, bool, True),
            selectors=selectors, allow_private=_get(ctx, f, "allow_private", p, bool, False),
            fulltext=_fulltext(ctx, f, p),
            audience=_groups(ctx, f, p), base_url=base_url,
            names={} if "" in names else names, site=site,
        ))
    return tuple(feeds)


FULLTEXT_MODULE = "trafilatura"     # the extra `relay[fulltext]` installs it


def fulltext_installed() -> bool:
    """Whether `fulltext: true` can work here: the extra's extractor can be found (found,
    not imported: that costs a collect of any other feed nothing)."""
    try:
        return importlib.util.find_spec(FULLTEXT_MODULE) is not None
    except (ImportError, ValueError):    # (blocked, or a module without a spec)
        return False


def _fulltext(ctx: _Ctx, f: CommentedMap, p: str) -> bool:
    wanted = bool(_get(ctx, f, "fulltext", p, bool, False))
    if wanted and not fulltext_installed():
        raise ctx.error(f, "fulltext", f"{p}.fulltext",
                        "true needs the fulltext extra, which is not installed: "
                        "pip install 'relay[fulltext]'")
    return wanted


def _names(ctx: _Ctx, node: CommentedMap, path: str) -> dict[str, str]:
    """`name:` as one string ({"": name}) or per language ({"ja": ..., "en": ...})."""
    value = node.get("name")
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            raise ctx.error(node, "name", f"{path}.name", "must not be empty")
        return {"": value.strip()}
    if isinstance(value, CommentedMap) and not value:
        raise ctx.error(node, "name", f"{path}.name",
                        "is an empty mapping: give one name, or names per language "
                        "({ja: ..., en: ...})")
    if not isinstance(value, CommentedMap):
        raise ctx.error(node, "name", f"{path}.name",
                        "must be a string or a mapping of language codes to names "
                        f"({{ja: ..., en: ...}}), not {_type_name(type(value))}")
    names: dict[str, str] = {}
    for code, text in value.items():
        where = f"{path}.name.{code}"
        if not isinstance(code, str) or not langs.is_code(code):
            raise ctx.error(value, code, where, f"{code!r} is not an ISO 639-1 language code")
        if not isinstance(text, str) or not text.strip():
            raise ctx.error(value, code, where, "must be a non-empty name")
        names[code] = text.strip()
    return names


def _missions(ctx: _Ctx, node: CommentedSeq) -> dict[str, dict[str, str]]:
    missions: dict[str, dict[str, str]] = {}
    for i, m in enumerate(node):
        p = f"missions[{i}]"
        if not isinstance(m, CommentedMap):
            raise ctx.error(node, i, p, "must be a mapping with id and name")
        _check_keys(ctx, m, MISSION_KEYS, p)
        mid = _get(ctx, m, "id", p, str)
        if mid is None or not SLUG.match(mid):
            raise ctx.error(m, "id" if mid is not None else None, f"{p}.id",
                            "is required, a lower-case slug (the feeds' mission:)")
        if mid in missions:
            raise ctx.error(m, "id", f"{p}.id", f"duplicate mission id {mid!r}")
        names = _names(ctx, m, f"{p} ({mid})")
        if not names:
            raise ctx.error(m, None, f"{p}.name", "is required")
        missions[mid] = names
    return missions


def check_feed(feed: Mapping[str, Any], config: Config) -> FeedSpec:
    """One feed entry as `feeds:` in `config`'s file would take it (its keys, values and
    topics checked), alone: a ConfigError says what is wrong with it."""
    # (a mapping inside it, names per language, read as the file's own mappings are)
    node = CommentedSeq([CommentedMap({k: CommentedMap(v) if isinstance(v, Mapping) else v
                                       for k, v in feed.items()})])
    (spec,) = _feeds(_Ctx(config.path), node, config.path.parent,
                     {t.id for t in config.topics})
    return spec


def append_feed(path: Path, feed: dict[str, Any], comment: str,
                env: Mapping[str, str] | None = None) -> Config:
    """Add one feed at the end of the file's `feeds:` list (see append_feeds)."""
    return append_feeds(path, [(feed, comment)], env)


def append_feeds(path: Path, new: Sequence[tuple[dict[str, Any], str]],
                 env: Mapping[str, str] | None = None) -> Config:
    """Add feeds, each with its comment, at the end of the file's `feeds:` list, keeping
    every comment and the order of the rest (ruamel.yaml round trip). The new text is
    validated as a whole before it replaces the file; a duplicate id or URL is a
    ConfigError."""
    text = path.read_text(encoding="utf-8")
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = True
    _load_yaml(text, path)          # a file that does not parse gets the usual error
    doc = yaml.load(text)
    if doc is None:
        doc = CommentedMap()
    feeds = doc.get("feeds")
    if feeds is None:
        feeds = doc["feeds"] = CommentedSeq()
    for feed, comment in new:
        for existing in feeds:
            if isinstance(existing, CommentedMap) and (
                    existing.get("id") == feed["id"] or existing.get("url") == feed.get("url")):
                raise ConfigError(f"feed {existing.get('id')!r} already has this id or URL",
                                  where=str(path))
        feeds.append(CommentedMap(feed))
        feeds.yaml_set_comment_before_after_key(len(feeds) - 1, before=comment, indent=2)
    out = io.StringIO()
    yaml.dump(doc, out)
    new_text = out.getvalue()
    config = parse_config(new_text, path, env or {})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    tmp.replace(path)
    return config
