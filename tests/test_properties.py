"""Property tests (hypothesis, fixed budget, derandomized) over the parsers that read what
operators and the web hand relay: the configuration loader, search query translation, the
subscriber CSV import and URL canonicalization. Each failure they found is a named case in
the tables below (and the fix came with it)."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.collect.feeds import is_web, join_link
from relay.config import NUMBERS, parse_config
from relay.errors import ConfigError, QueryError, UsageError
from relay.pipeline.subscribers import IMPORT_COLUMNS, import_subscribers
from relay.search import query_tokens, to_fts
from relay.store import Store
from relay.text import url_key
from relay.tokens import tokenize

BUDGET = settings(max_examples=60, derandomize=True, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 12, 1, tzinfo=UTC)


# -- the configuration loader ----------------------------------------------------------------

KEYS = ["settings", "feeds", "topics", "missions", "fetch", "smtp", "digest", "timeout",
        "host_delay", "max_bytes", "workers", "id", "url", "path", "kind", "name", "lang",
        "interval", "selectors", "terms", "label", "en", "ja", "audience", "base_url", "x"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from([".inf", "-.inf", ".nan", "1e400", "0x" + "f" * 40, "2001-02-30",
                     "https://a.example/f", "page", "rss", "1h", "0h", "mon 08:00", "ja",
                     "${X}", "&a x", "*a", "!!int x", "!!binary x", "<<", "[", "{", "- x",
                     "'", '"', "\t", "\x00", "\ud800", "#", ": ", "? "]),
    st.text(max_size=20))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=25)


def _yamlish(tree: object, indent: int = 0) -> str:
    """A tree written as block YAML by hand, scalars unquoted: often invalid, which is
    the point."""
    pad = " " * indent
    if isinstance(tree, dict):
        return "".join(f"{pad}{k}:\n{_yamlish(v, indent + 2)}" if isinstance(v, (dict, list))
                       and v else f"{pad}{k}: {_yamlish(v).strip()}\n" for k, v in tree.items())
    if isinstance(tree, list):
        return "".join(f"{pad}-\n{_yamlish(v, indent + 2)}" if isinstance(v, (dict, list)) and v
                       else f"{pad}- {_yamlish(v).strip()}\n" for v in tree)
    return f"{pad}{'null' if tree is None else tree}\n"


def _loads_or_config_error(text: str) -> None:
    for strict in (True, False):
        try:
            config = parse_config(text, Path("/nowhere/feeds.yaml"), {"X": "value"}, strict)
        except ConfigError as exc:
            errors = [exc]
        else:
            errors = list(config.feed_errors)
            assert not errors or not strict
        for error in errors:
            assert isinstance(error, ConfigError)
            assert "\n" not in error.message, error.message
            assert error.where.startswith("/nowhere/feeds.yaml") or error.where == "environment"


@BUDGET
@given(tree=st.dictionaries(st.sampled_from(KEYS[:4]), TREES, max_size=4))
def test_config_loader_raises_only_config_errors(tree: dict[str, object]) -> None:
    _loads_or_config_error(_yamlish(tree))


@BUDGET
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"#?% \n\t\\.0123456789"))
                    | st.characters(), max_size=200))
def test_config_loader_raises_only_config_errors_on_any_text(text: str) -> None:
    _loads_or_config_error(text)


NUMBER_TEXTS = st.one_of(
    st.integers().map(str), st.floats().map(repr),
    st.sampled_from([".inf", "-.inf", ".nan", ".NaN", "1e400", "-0", "0x10", "0o17", "1_000",
                     "+12", "1.5e3", "true", "~", "'5'", "[5]", "{a: 5}", "5 # five"]))


@BUDGET
@given(key=st.sampled_from(sorted(NUMBERS)), text=NUMBER_TEXTS)
def test_a_number_setting_loads_in_its_range_or_is_an_error(key: str, text: str) -> None:
    kind, low, high, _ = NUMBERS[key]
    *sections, name = key.split(".")[1:]
    document = "settings:\n" + "".join(f"{'  ' * (i + 1)}{s}:\n" for i, s in enumerate(sections))
    document += f"{'  ' * (len(sections) + 1)}{name}: {text}\n"
    try:
        config = parse_config(document, Path("/nowhere/feeds.yaml"), {})
    except ConfigError as exc:
        assert key in exc.message or "invalid YAML" in exc.message, exc.message
        return
    value = config.settings
    for part in key.split(".")[1:]:
        value = getattr(value, part)
    assert value is None or (math.isfinite(value) and low <= value <= high), (text, value)


# -- search query translation ----------------------------------------------------------------

WORDS = st.one_of(
    st.sampled_from(["quantum", "量子コンピュータ", "量子", "한국", "квант", "AND", "OR", "NOT",
                     "NEAR", "NEAR(a", "col:x", "^a", "a*", "*", "**", "量*", '"', '""', "(", ")",
                     "()", "-", "+", "'", "\x00", "\ud800", "\udcff", "\n", "ß", "İ", "ǅ",
                     "ﬁ", "٣", "\u200b", "\u0301", "🎉"]),
    st.text(max_size=8))
QUERIES = st.one_of(st.lists(WORDS, max_size=12).map(" ".join),
                    st.lists(WORDS, max_size=12).map("".join), st.text(max_size=40))
HELD = st.lists(st.sampled_from(["en", "de", "fr", "pt", "ja", "zh", "ru", "ko", "ar", "th"]),
                max_size=4, unique=True)


@pytest.fixture(scope="module")
def archive() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "relay.db")
        try:
            yield store
        finally:
            store.close()


def _translates_or_query_error(store: Store, query: str, langs: list[str],
                               held: list[str]) -> None:
    try:
        match = to_fts(query, tokenize, langs, held)
    except QueryError as exc:
        assert "\n" not in str(exc)
        str(exc).encode("utf-8")
        return
    store.search(match, limit=1)         # SQLite accepts it: no sqlite3 exception escapes
    query_tokens(query, tokenize, langs, held)


@BUDGET
@given(query=QUERIES, langs=HELD, held=HELD)
def test_any_query_is_valid_fts5_or_a_query_error(archive: Store, query: str, langs: list[str],
                                                  held: list[str]) -> None:
    _translates_or_query_error(archive, query, langs, held)


# -- subscriber CSV import -------------------------------------------------------------------

FIELDS = st.one_of(
    st.sampled_from(["a@b.example", "A@B.EXAMPLE", "x@y", "quantum", "quantum ai", "warp",
                     "daily", "weekly", "hourly", "ja", "en", "xx", "gov", "Bad Group",
                     "zh-CN", "pt_BR", "", " ", "\x00", "a\x00@b.example", "a@b.example\r\n",
                     "\ud800", "\"", ",", "\n", "=cmd()"]),
    st.text(max_size=12))
HEADERS = st.lists(st.sampled_from([*IMPORT_COLUMNS, "extra", "", "email"]), min_size=1,
                   max_size=9)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def subscriber_store() -> Iterator[tuple[Path, Store]]:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "relay.db")
        try:
            yield Path(folder), store
        finally:
            store.close()


def _imports_or_refuses(place: tuple[Path, Store], text: str) -> None:
    folder, store = place
    config = parse_config("feeds: []\n", folder / "feeds.yaml", {})    # built-in topics
    path = folder / "desks.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        report = import_subscribers(config, store, path, NOW)
    except UsageError as exc:
        assert exc.where.startswith(str(path)), exc
        return
    for problem in report.bad:
        assert problem.startswith("line "), problem
    # as the import reads it: universal newlines, so a lone "\r" ends a line
    records = sum(1 for _ in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    accounted = (len(report.added) + len(report.updated) + len(report.unchanged)
                 + len(report.bad))
    assert accounted <= max(records - 1, 0)
    held = {s.email for s in store.subscribers(active_only=False)}
    assert set(report.added + report.updated + report.unchanged) <= held


@BUDGET
@given(header=HEADERS, rows=st.lists(st.lists(FIELDS, max_size=10), max_size=5))
def test_csv_import_imports_or_refuses_each_row_with_its_line(
        subscriber_store: tuple[Path, Store], header: list[str], rows: list[list[str]]) -> None:
    _imports_or_refuses(subscriber_store, _csv(header, rows))


@BUDGET
@given(text=st.text(alphabet=st.sampled_from(list("ab@.,\"\n\r \x00e")) | st.characters(),
                    max_size=120))
def test_csv_import_never_raises_on_any_text(subscriber_store: tuple[Path, Store],
                                             text: str) -> None:
    _imports_or_refuses(subscriber_store, "email,topics\n" + text)


CSV_CASES = [
    # (id, file, added, the problems reported)
    ("field-over-the-csv-limit",
     'email,topics\na@b.example,quantum\n"' + "x" * 200_000 + '",ai\nc@d.example,ai\n',
     ["a@b.example"],
     ["line 3: field larger than field limit (131072); the lines after it were not read"]),
    # found by test_csv_import_never_raises_on_any_text ("\r0"): a lone CR ends a line
    ("lone-carriage-returns-end-lines", "email,topics\ra@b.example,quantum\r0,ai\r",
     ["a@b.example"], ["line 3: '0' is not a valid e-mail address"]),
    ("nul-in-the-address", "email,topics\n\x00,quantum\n", [],
     ["line 2: '\\x00' is not a valid e-mail address"]),
]


@pytest.mark.parametrize(("text", "added", "bad"),
                         [pytest.param(t, a, b, id=i) for i, t, a, b in CSV_CASES])
def test_csv_import_named_cases(tmp_path: Path, text: str, added: list[str],
                                bad: list[str]) -> None:
    store = Store(tmp_path / "relay.db")
    try:
        path = tmp_path / "desks.csv"
        path.write_text(text, encoding="utf-8")
        config = parse_config("feeds: []\n", tmp_path / "feeds.yaml", {})
        report = import_subscribers(config, store, path, NOW)
        assert (report.added, report.bad) == (added, bad)
    finally:
        store.close()


def test_csv_header_over_the_csv_limit_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "desks.csv"
    path.write_text('"' + "x" * 200_000 + '",email,topics\n', encoding="utf-8")
    store = Store(tmp_path / "relay.db")
    try:
        config = parse_config("feeds: []\n", tmp_path / "feeds.yaml", {})
        with pytest.raises(UsageError, match="cannot read the header: field larger") as info:
            import_subscribers(config, store, path, NOW)
        assert info.value.where == f"{path}:1"
    finally:
        store.close()


# -- URL canonicalization and the link joiner ------------------------------------------------

TRACKERS = ["utm_source=rss", "utm_medium=feed", "fbclid=x1", "gclid=y", "source=rss", "ref=rss"]
LABELS = st.text(alphabet="abcxyz019-", min_size=1, max_size=6).filter(
    lambda s: not s.startswith("-") and not s.endswith("-"))
SEGMENTS = st.text(alphabet="abcXYZ019-._~%!$'()*+,;=:@", min_size=1, max_size=6)
PARAMS = st.text(alphabet="abcd019-_.~%+", min_size=1, max_size=5).filter(
    lambda s: not s.lower().startswith(("utm", "ns_", "at_", "wt", "fb", "gcl", "ito", "xtor")))


@st.composite
def web_urls(draw: st.DrawFn) -> tuple[str, list[str], str, str]:
    """An http(s) URL and what its key must keep: its own parameters (in order), its path
    segments, its fragment."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = ".".join(draw(st.lists(LABELS, min_size=1, max_size=3)))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    segments = draw(st.lists(SEGMENTS, max_size=3))
    own = [f"{k}={v}" for k, v in draw(st.lists(st.tuples(PARAMS, PARAMS), max_size=3))]
    params = list(own)
    for tracker in draw(st.lists(st.sampled_from(TRACKERS), max_size=2)):
        params.insert(draw(st.integers(0, len(params))), tracker)
    fragment = draw(st.sampled_from(["", "d25", "comment-12", "top", "utm_source=x"]))
    url = f"{scheme}://{host.upper() if draw(st.booleans()) else host}{port}/" + "/".join(
        segments) + (f"?{'&'.join(params)}" if params else "") + (f"#{fragment}" if fragment
                                                                  else "")
    return url, own, "/".join(segments), fragment


@BUDGET
@given(url=st.one_of(st.text(max_size=60), web_urls().map(lambda u: u[0]),
                     st.sampled_from(["http://[", "http://[::1", "https://a:99999/",
                                      "http://a:-1/", "http://\ud800/", "http:///x",
                                      "HTTP://A./b//c/?", "http://a/%zz#top"])))
def test_url_key_never_raises_and_is_idempotent(url: str) -> None:
    key = url_key(url)
    assert url_key(key) == key


@BUDGET
@given(parts=web_urls())
def test_url_key_keeps_what_tells_articles_apart(parts: tuple[str, list[str], str, str]) -> None:
    url, own, path, fragment = parts
    key = url_key(url)
    assert key.startswith(("http://", "https://"))
    assert key == key.split("://")[0].lower() + "://" + key.split("://", 1)[1]
    query = key.partition("?")[2].partition("#")[0]
    assert [p for p in query.split("&") if p] == own
    for segment in path.split("/"):
        if segment not in (".", ".."):
            assert segment in key
    if fragment in ("d25", "comment-12"):
        assert key.endswith("#" + fragment)
    else:
        assert "#" not in key


@BUDGET
@given(base=st.one_of(st.text(max_size=30), web_urls().map(lambda u: u[0])),
       link=st.one_of(st.text(max_size=30), web_urls().map(lambda u: u[0]),
                      st.sampled_from(["//[x", "http://[", "../../a", "?q=1", "#f", "mailto:a@b",
                                       "javascript:x", "\ud800", " http://a/b "])))
def test_join_link_never_raises(base: str, link: str) -> None:
    joined = join_link(base, link, link)
    assert isinstance(joined, str)
    if is_web(base) and is_web(joined):
        assert url_key(joined) == url_key(join_link(base, joined, joined))
