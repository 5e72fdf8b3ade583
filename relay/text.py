"""Text normalizing: HTML to plain text, the duplicate key of a URL, the
language of a text, Unicode form, and the content hash used for exact dedup.

Pure functions, no I/O.

- `html_to_text`: tags removed by nh3 (Ammonia) with every tag disallowed,
  script/style contents dropped, entities decoded, block ends turned into
  line breaks, runs of spaces collapsed. NFKC is *not* applied to display
  text (full-width digits stay as the publisher wrote them); tokens do that.
- `url_key`: the key under which two links are the same article (a duplicate
  key only: relay stores, shows and links the link as published). Scheme and
  host are lower-cased (`www.` is kept: it may be another host), a default
  port is dropped, runs of `/` become one and a non-root path loses its
  trailing `/`. The query is kept as written (order, encoding, `?200601a`
  without `=`), less its tracking parameters: utm_*, fbclid, gclid and the
  other click ids, wt_mc / WT.*, xtor, at_*, ns_*, ITO, emc, wprss,
  feedType/feedName (see `_TRACKING`), and a parameter that only says the
  link came from a feed (`source=rss`, `ref=rss`, `partner=rss`, `rss=1`).
  The fragment is kept, because it tells entries of one page apart
  (`11.html#d25`, `#d26`; a diary's `?200601a#200601033`; `#comment-12`),
  unless it is plainly navigation or tracking: empty; one of `_NAV_FRAGMENTS`
  (`#top`, `#comments`, `#respond`, `#more-123`, `#disqus_thread`, ...); or
  made only of tracking parameters (`#xtor=RSS-3208`, `#ref=rss`,
  `#utm_source=x`). Not http(s), or not parseable: the link as given, stripped.
- `detect_lang`: kana -> ja; kanji -> ja unless Latin letters dominate
  (or the hint is ja); otherwise, without an en/de/fr hint, py3langid when it is
  confident (>= 0.8); otherwise the language whose common
  words occur most (en, de, fr), falling back to the hint or "en".
- `content_hash`: SHA-1 of the NFKC-folded, case-folded title and text with
  all whitespace and punctuation removed: the same story copied by two feeds
  with different markup hashes the same.
- `repair_mojibake`: text double-encoded by its publisher is repaired (ftfy).
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import ftfy
import ftfy.badness
import nh3

_BLOCK_END = re.compile(
    r"(?i)<\s*(br\s*/?|/p|/div|/li|/h[1-6]|/tr|/blockquote|/pre|/section|/article)\s*>"
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|yclid|_hsenc|_hsmi"
    r"|igshid|ref_src|cmpid|s_cid|ncid|spm|mkt_tok|__twitter_impression"
    # Seen on the corpus's feeds: heise (wt_mc), Webtrends (WT.mc_id), Le Monde and
    # AT Internet (xtor, at_medium), Daily Mail and BBC (ITO, ns_mchannel), NYT (emc),
    # Washington Post (wprss), Reuters (feedType, feedName); and Google Analytics
    # (_ga, _gl), Microsoft (ocid), bioRxiv (rss=1).
    r"|wt_[a-z_]+|wt\.[a-z_.]+|xtor|at_[a-z_]+|ns_[a-z_]+|ito|emc|wprss|feedtype|feedname"
    r"|_ga|_gl|ocid|rss)$",
    re.IGNORECASE,
)
# A parameter that only says "this link came from the feed" (Yahoo! Japan source=rss,
# derstandard ref=rss, NYT partner=rss, bioRxiv rss=1).
_FEED_MARK_NAMES = frozenset({"source", "src", "ref", "from", "partner", "via", "feed"})
_FEED_MARK_VALUES = re.compile(r"^(rss|rss2|atom|feed|rdf)$", re.IGNORECASE)
# Fragments that point at a part of every page (navigation), never at one entry.
_NAV_FRAGMENTS = re.compile(
    r"^(top|page|content|contents|main|main-?content|skip|nav|navigation|header|footer"
    r"|article|body|start|comments?|respond|reply|comment-?form|disqus_thread|more"
    r"|more-\d+|read-?more|continue|share)$",
    re.IGNORECASE,
)
_JA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uff66-\uff9f]")
_KANA = re.compile(r"[\u3040-\u30ff]")
# Text made only of ASCII, kana, kanji and full-width ASCII cannot be mojibake that ftfy
# repairs (its forms all involve Latin-1, box-drawing, Greek or Cyrillic letters...):
# ftfy's badness check (~80 us per 600 characters) is skipped for it. Checked on the
# whole corpus: no text this skips is one ftfy calls bad.
_NOT_PLAIN = re.compile(r"[^\x00-\x7f\u3000-\u30ff\u4e00-\u9fff\uff01-\uff5e]")
_NOT_ALNUM = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_STOPWORDS = {
    "en": {"the", "and", "of", "to", "in", "is", "for", "on", "that", "with", "by", "as", "at",
           "from", "its", "was", "will", "has", "are", "this", "an", "be", "new", "said"},
    "de": {"der", "die", "das", "und", "ist", "nicht", "mit", "den", "von", "zu", "ein", "eine",
           "auf", "für", "im", "dem", "sich", "des", "auch", "wird", "bei", "nach", "werden"},
    "fr": {"le", "la", "les", "et", "des", "est", "une", "un", "du", "dans", "pour", "que",
           "qui", "sur", "au", "pas", "par", "avec", "aux", "ont", "sont", "plus", "cette"},
}


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (or of text that merely contains entities)."""
    if not fragment:
        return ""
    marked = _BLOCK_END.sub("\n", fragment)
    stripped = nh3.clean(marked, tags=set(), attributes={}, strip_comments=True)
    # nh3 escapes what it leaves (& -> &amp;); undo that and the source's own entities.
    text = html.unescape(html.unescape(stripped))
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text)
    return repair_mojibake(text.strip())


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as cp1252/Latin-1 at the source ("GroÃŸeltern" -> "Großeltern").

    Some publishers double-encode their own feed (corpus: derstandard.at, japantoday);
    ftfy repairs it, and only runs where its badness heuristic sees mojibake.
    """
    if _NOT_PLAIN.search(text) is None:
        return text
    return ftfy.fix_encoding(text) if ftfy.badness.is_bad(text) else text


def one_line(text: str) -> str:
    return _SPACES.sub(" ", text.replace("\n", " ")).strip()


def excerpt(text: str, limit: int = 280) -> str:
    """The first sentences of `text` up to about `limit` characters."""
    flat = one_line(text)
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    for mark in ("。", ". ", "! ", "? ", "！", "？"):
        pos = cut.rfind(mark)
        if pos > limit // 3:
            return cut[: pos + len(mark)].strip()
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def url_key(url: str) -> str:
    """The duplicate key of a link: two links with one key are one article (see the
    module rules). Never shown or linked to."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    if ":" in host:
        host = f"[{host}]"      # IPv6
    netloc = f"{host}:{port}" if port else host
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    fragment = parts.fragment
    if not fragment or _NAV_FRAGMENTS.match(fragment) or all(
            _is_tracking(p) for p in fragment.split("&") if p):
        fragment = ""
    return urlunsplit((scheme, netloc, path, query, fragment))


def _is_tracking(param: str) -> bool:
    """Whether one `name=value` of a query (or of a fragment) is a tracker."""
    name, eq, value = param.partition("=")
    name = unquote(name).strip()
    if _TRACKING.match(name):
        return True
    return bool(eq) and name.lower() in _FEED_MARK_NAMES and bool(
        _FEED_MARK_VALUES.match(unquote(value).strip()))


def fold(text: str) -> str:
    """NFKC and case folding: the form in which spelling variants of width meet."""
    return unicodedata.normalize("NFKC", text).casefold()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's model (langid.py, trained on 97 languages), limited to en/de/fr; loaded
    once, and only when a text of unknown language needs it (~1 s)."""
    import py3langid.langid as langid

    model = langid.MODEL_FILE if Path(langid.MODEL_FILE).is_absolute() else (
        Path(langid.MODEL_DIR) / langid.MODEL_FILE)
    identifier = langid.LanguageIdentifier.from_modelpath(model, norm_probs=True)
    identifier.set_languages(["en", "de", "fr"])
    return identifier


def detect_lang(text: str, hint: str | None = None) -> str:
    """'ja', 'en', 'de' or 'fr' (see the module rules)."""
    sample = text[:2000]
    if _KANA.search(sample):
        return "ja"
    words = [w.lower() for w in _WORD.findall(sample)]
    kanji = len(_JA.findall(sample))
    if kanji and (hint == "ja" or kanji > 3 or kanji * 2 >= sum(map(len, words)) - kanji):
        return "ja"
    if not words:
        return hint or "en"
    if hint not in _STOPWORDS and len(words) >= 4:
        lang, confidence = _identifier().classify(" ".join(words))
        if confidence >= 0.8:
            return str(lang)
    counts = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(counts, key=lambda k: counts[k])
    if counts[best] == 0:
        return hint if hint and hint != "ja" else "en"
    if hint in counts and counts[hint] == counts[best]:
        return hint
    return best


def content_hash(title: str, text: str) -> str:
    squeezed = _NOT_ALNUM.sub("", fold(f"{title}\n{text}"))
    return hashlib.sha1(squeezed.encode("utf-8")).hexdigest()
