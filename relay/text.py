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
- `detect_lang` (the item's language, an ISO 639-1 code; title and text are
  judged together), in this order:
  1. kana: Japanese, unless kana are a stray few in a text whose han characters
     are plainly Chinese (the votes below);
  2. hangul (more than 3 letters, or most of them): ko;
  3. han characters (more than 3, or most letters) without kana: ja or zh by votes.
     Votes for ja: shinjitai and kokuji no Chinese text writes (図 発 働 込 査 々);
     and, when nothing is plainly Simplified or Traditional, a text that mixes forms
     only Japanese and Simplified share (内 国 会) with forms only Japanese and
     Traditional share (閣 費 動): 内閣府 消費動向 is neither Chinese script, so
     Japanese. Votes for zh: characters outside JIS X 0208 (cp932: Simplified forms
     such as 这 们 际) and Traditional forms Japanese does not write (這 國 說).
     More votes win; a tie is zh, unless the declared language is ja. A declared ja
     (or zh) stands unless at least 3 votes say otherwise and outnumber its own 4 to 1;
  4. other scripts (Cyrillic, Greek, Arabic, Thai ...): the declared language when it
     is written in that script (`langs.script`), else py3langid's best language of
     that script;
  5. Latin letters: the declared language when it is written in Latin letters
     (a declared en, de or fr gives way only to another of the three whose common
     words occur at least twice as often, and twice more); else en, de or fr when
     a fifth of the words (4 at least) are its common words, three times those of
     the others (no Spanish or Italian text gets there); else, on at least 4
     words, py3langid over its 140 labels (ISO 639-1 codes, varieties mapped to
     their macrolanguage): its best language when confident (>= 0.8, or >= 0.5 and
     twice the next: pt 0.66 beside gl 0.23), or when it has >= 0.3 and more than
     twice en, de and fr together (es 0.45 beside gl, ca, pt); else py3langid limited
     to en/de/fr when that is confident (>= 0.8); else the language whose common words
     occur most (en, de, fr), falling back to the declared language (Latin script) or
     "en". Measured on the words of SemEval-2022's news URLs (no hint, 4+ words):
     es 0.80, it 0.91, pl 0.98, tr 0.84 right (0.00 when only en/de/fr were known),
     while en stays 0.99, de 0.95, fr 0.95 (1.00, 0.96, 0.96 before).
  A declared language counts by its first subtag (zh-CN is zh); one that is no
  ISO 639-1 code counts as none. py3langid reads at
  most the first 300 characters of words, so detection stays cheap.
- `excerpt`: the first sentences up to a limit, cut after the last real sentence
  end past a third of it (。！？, or . ! ? before a space): a period after a title or
  company form (Dr., Prof., Inc., Ltd., St.), a dotted abbreviation (U.S., e.g.),
  an initial (J. Smith), a reference or month before its number (No. 5, Jan. 12),
  or before a lower-case word (approx. five) is none; a decimal (3.5) has no space
  after its point. Without a sentence end, the cut is at a space, with "…".
- `content_hash`: SHA-1 of the NFKC-folded, case-folded title and text with
  all whitespace and punctuation removed: the same story copied by two feeds
  with different markup hashes the same.
- `repair_mojibake`: text double-encoded by its publisher is repaired (ftfy).
"""

from __future__ import annotations

import hashlib
import html
import logging
import lzma
import re
import shutil
import unicodedata
import zipfile
from array import array
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import ftfy
import ftfy.badness
import nh3

from relay import cache, langs

log = logging.getLogger("relay")

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
_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
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


# Words after which a period does not end a sentence (lower case, without the period):
# titles and company forms always; references and months only before a number.
_TITLES_TEXT = """
dr mr mrs ms mx prof sr jr st mt ft gov gen sen rep rev hon lt col capt cpt sgt maj cmdr
adm inc ltd co corp bros llc plc vs approx cf al dept univ assn mme mlle bzw bspw usw vgl
ggf evtl inkl zzgl
"""
_NUMBERED_TEXT = """
no nos nr vol vols fig figs p pp ch sec art para jan feb mar apr jun jul aug sep sept oct
nov dec
"""
_TITLES = frozenset(_TITLES_TEXT.split())
_NUMBERED = frozenset(_NUMBERED_TEXT.split())
_SENTENCE_END = re.compile(r"[.!?][\"'”’»)\]]*(?=\s|$)")


def _ends_sentence(text: str, m: re.Match[str]) -> bool:
    """Whether the mark at `m` ends a sentence: not after a title or company form (Dr.,
    Inc.), a reference or month before its number (No. 5, Jan. 12), a dotted
    abbreviation (U.S., e.g.), an initial (J. Smith), nor before a lower-case word."""
    following = text[m.end():].lstrip(" ")
    if following[:1].islower():
        return False                      # "approx. five", "Mr. e. e. cummings"
    if m.group(0)[0] != ".":
        return True
    start = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
    raw = text[start:m.start()]
    if not raw:
        return True
    word = raw.lstrip("(\"'“‘«[").lower()
    if word in _TITLES or "." in word:
        return False                      # Dr., Inc., U.S. (the last dot is this one)
    if word in _NUMBERED and following[:1].isdigit():
        return False                      # No. 5, Jan. 12, p. 3
    initial = raw[-1:]
    return not (len(word) == 1 and initial.isalpha() and initial.isupper())   # J. Smith


def excerpt(text: str, limit: int = 280) -> str:
    """The first sentences of `text` up to about `limit` characters: cut after the last
    real sentence end (see `_ends_sentence`) past a third of the limit, else at a space
    with an ellipsis."""
    flat = one_line(text)
    if len(flat) <= limit:
        return flat
    window = flat[: limit + 1]            # a stop at the limit counts when a space follows
    end = max(window.rfind(mark, 0, limit) for mark in "。！？") + 1    # always an end
    if any(mark in window for mark in ".!?"):
        for m in reversed(list(_SENTENCE_END.finditer(window, max(end, limit // 3)))):
            if m.end() <= limit and _ends_sentence(flat, m):
                end = max(end, m.end())
                break
    if end > limit // 3:
        return flat[:end].strip()
    cut = flat[:limit]
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
    """py3langid's model (140 labels); loaded once, and only when a text of unknown
    language needs it. py3langid ships it LZMA-compressed (4.6 MB): unpacking it took
    about 1 s in every process that detects (the main process and each ingest worker of
    a collect), so it is unpacked once into the user's cache folder (`_unpacked`, 68 MB)
    and read from there (0.15 s). Without a cache folder, it is unpacked each time."""
    import py3langid.langid as langid

    model = langid.MODEL_FILE if Path(langid.MODEL_FILE).is_absolute() else (
        Path(langid.MODEL_DIR) / langid.MODEL_FILE)
    try:
        return _unpacked_identifier(langid.LanguageIdentifier, Path(model))
    except Exception as exc:    # noqa: BLE001 - any failure of the fast path (another py3langid's
        # arrays or constructor, no cache folder, a damaged copy): py3langid's own loader
        log.debug("py3langid's model not cached (%s: %s)", type(exc).__name__, exc)
        return langid.LanguageIdentifier.from_modelpath(model, norm_probs=True)


def _unpacked(model: Path) -> Path:
    """Where the unpacked model is kept (`relay.cache`), named after the packed file's
    size and time, so that another py3langid's is another file."""
    stat = model.stat()
    return cache.folder() / f"langid-{stat.st_size}-{stat.st_mtime_ns}.npz"


def _unpacked_identifier(identifier: Any, model: Path) -> Any:
    """py3langid's `LanguageIdentifier` of the model, read from its unpacked copy (written
    first if need be), the arrays as py3langid's own loader makes them."""
    import numpy as np

    def unpack(out: IO[bytes]) -> None:
        with lzma.open(model) as src:
            shutil.copyfileobj(src, out, length=1 << 20)
    path = cache.keep(_unpacked(model), unpack)
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
            ptc, pc, classes = data["ptc"], data["pc"], data["classes"].tolist()
            nextmove, row = _uints(data["nextmove"]), _uints(data["nextmove_row"])
            output = data["out_feat"].tolist()
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile):
        path.unlink(missing_ok=True)        # damaged: the next process unpacks it again
        raise
    return identifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)


def _uints(values: Any) -> array:
    """An array of unsigned integers as the standard library's `array` of their size."""
    code = next(c for c in "HILQ" if array(c).itemsize == values.dtype.itemsize)
    out = array(code)
    out.frombytes(values.tobytes())
    return out


# Han characters that tell Japanese from Chinese (see the module rules). Each list was
# checked against the corpus: no ja item has a zh vote that decides it, and the reverse.
_JA_ONLY = ("図覧団円県駅広対発売読様沢浜済経験転辺関総検労営価険気変帰鉄拡戦択挙栄楽歯働込畑峠"
            "枠栃匁辻凪笹伝悪圧囲緑黒恵継続権歓観勧薬訳児従獣縦渋剤稲粋酔臓姫焼効郷縄剰霊齢亜仮"
            "軽鶏撃倹剣巻圏厳鉱砕雑賛実釈収処奨乗浄嬢譲醸斉摂専銭繊荘捜挿巣騒増蔵帯滝単弾遅鋳庁"
            "聴逓闘徳弐悩脳覇廃拝髪抜払仏舗豊満黙揺謡頼猟塁涙暦録査歩絵覚歳戻渉瀬証拠駆穏隠桜壊"
            "懐縁斎晩説鋭閲々")
_HANT_ONLY = ("這們說會國發對學來與當體點經關產歲實區醫廣讀變聲邊應總從畫氣灣臺圖團樂萬舉數權觀"
              "鐵轉傳廳縣價戰續條處證聽驗據將榮壓檢險擴戲雙濟寫裡麼嗎黨屬聯爭齊麥壞懷兒佔盡稱黃內")
_JA_HANS = ("内国会学来与当体点党区医声数条双万礼号旧乱辞写尽浅争担断昼虫灯独麦宝恋湾炉楼蛮胆滞壮禅潜践窃触"
             "寝称誉湿径茎税悦脱")
_JA_HANT = "動調費機電門間問見長東車書語記論計議話請談員務閣報開進過還業現時後貿資質貨財責買賃購銀鋼錯閉陸陽際隊雲順題願類風飛飯館馬魚鳥麗張結統給約級紀納紙線組細終編"
_HAN_CLASS = {**dict.fromkeys(_JA_ONLY, "j"), **dict.fromkeys(_HANT_ONLY, "t"),
              **dict.fromkeys(_JA_HANS, "js"), **dict.fromkeys(_JA_HANT, "jt")}
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
# A letter of a script other than Latin, kana, han and hangul (Cyrillic, Greek, Arabic...).
_OTHER_SCRIPT = re.compile(
    r"[^\W\d_\u0000-\u02af\u1e00-\u1eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\uff00-\uffef]")
# Letters outside the Latin script (kana, han, hangul, Cyrillic...): few or none in Latin text.
_NOT_LATIN = re.compile(r"[^\W\d_\u0000-\u02af\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a]")
_LANGID_CHARS = 300
_PARTICLES = "のにはをがとでてたし"   # Japanese prose has several of them in any 300 characters


@lru_cache(maxsize=20_000)
def _han_class(ch: str) -> str:
    cls = _HAN_CLASS.get(ch)
    if cls is not None:
        return cls
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return "s"          # outside JIS X 0208 (and its cp932 extensions): Chinese forms
    return ""


def _han_votes(sample: str) -> tuple[int, int]:
    """(votes for ja, votes for zh) of a text's han characters (see the module rules)."""
    counts = {"j": 0, "t": 0, "js": 0, "jt": 0, "s": 0, "": 0}
    for ch in _HAN.findall(sample):
        counts[_han_class(ch)] += 1
    zh = counts["s"] + counts["t"]
    ja = counts["j"]
    if zh == 0 and counts["js"] and counts["jt"]:
        ja += min(counts["js"], counts["jt"])    # neither Simplified nor Traditional
    return ja, zh


def _ja_or_zh(sample: str, hint: str | None, kana: int = 0) -> str:
    ja, zh = _han_votes(sample)
    ja += kana
    if hint == "ja":
        return "zh" if zh >= 3 and zh > 4 * ja else "ja"
    if hint == "zh":
        return "ja" if ja >= 3 and ja > 4 * zh else "zh"
    return "ja" if ja > zh else "zh"


def _script_of(letters: Sequence[str]) -> str:
    """The most common script (first word of the Unicode name) among some letters."""
    counts: dict[str, int] = {}
    for ch in letters[:200]:
        script = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
        counts[script] = counts.get(script, 0) + 1
    return max(counts, key=lambda k: counts[k])


def _ranked(words: Sequence[str]) -> list[tuple[str, float]]:
    """py3langid's languages for some words, best first, as ISO 639-1 codes."""
    text = " ".join(words)[:_LANGID_CHARS]
    merged: dict[str, float] = {}
    for label, prob in _identifier().rank(text):
        code = langs.from_detector(label)
        if code is not None:
            merged[code] = merged.get(code, 0.0) + prob
    return sorted(merged.items(), key=lambda kv: -kv[1])


def detect_lang(text: str, hint: str | None = None) -> str:
    """The ISO 639-1 code of the language `text` is written in; `hint` is the language
    the feed or the entry declares (see the module rules)."""
    sample = text[:2000]
    if hint:
        hint = hint.strip().lower().replace("_", "-").split("-")[0]   # zh-CN, pt_BR
        hint = hint if langs.is_code(hint) else None
    if not sample.isascii():
        head = sample[:300]
        particles = [head.count(ch) for ch in _PARTICLES]
        if sum(particles) >= 6 and sum(1 for n in particles if n) >= 4:
            return "ja"       # plainly Japanese prose, the usual case: settled on its start
    words = _WORD.findall(sample)
    if not sample.isascii():
        exotic = "".join(_NOT_LATIN.findall(sample))
        if exotic:
            found = _by_script(sample, exotic, sum(map(len, words)), words, hint)
            if found is not None:
                return found
    if not words:
        return hint or "en"
    return _latin([w.lower() for w in words], hint)


def _by_script(sample: str, exotic: str, letters: int, words: Sequence[str],
               hint: str | None) -> str | None:
    """Steps 1-4 of the module rules over the text's letters that are not Latin (`exotic`);
    None when Latin letters decide."""
    kana = len(_KANA.findall(exotic))
    han = len(_HAN.findall(exotic))
    if kana:
        return "ja" if kana * 5 >= han else _ja_or_zh(sample, hint, kana)
    hangul = len(_HANGUL.findall(exotic))
    if hangul and (hangul > 3 or hangul * 2 >= letters - hangul):
        return "ko"
    if han and (hint in ("ja", "zh") or han > 3 or han * 2 >= letters - han):
        return _ja_or_zh(sample, hint)
    other = _OTHER_SCRIPT.findall(exotic)
    if not other or len(other) * 2 < letters:
        return None
    script = _script_of(other)
    if hint and langs.script(hint) == script:
        return hint
    ranked = [(code, p) for code, p in _ranked(words) if langs.script(code) == script]
    return ranked[0][0] if ranked else (hint or "en")


def _latin(lowered: Sequence[str], hint: str | None) -> str:
    """Step 5 of the module rules: a text of Latin letters, as lower-case words."""
    if hint and langs.script(hint) == "LATIN":
        if hint not in _STOPWORDS:
            return hint
        counts = {lang: sum(1 for w in lowered if w in stop) for lang, stop in _STOPWORDS.items()}
        best = max(counts, key=lambda k: counts[k])
        # Only a clear lead overrides: "will", "in" are English and German alike.
        return best if counts[best] >= 2 * counts[hint] + 2 else hint
    counts = {lang: sum(1 for w in lowered if w in stop) for lang, stop in _STOPWORDS.items()}
    first, second = sorted(counts.values(), reverse=True)[:2]
    common = max(counts, key=lambda k: counts[k])
    if first >= 4 and first * 5 >= len(lowered) and first >= 3 * second:
        return common         # a fifth of the words are its common words: plain en/de/fr
    if len(lowered) >= 4:
        ranked = _ranked(lowered)
        best, confidence = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        # Close kin share the mass (pt 0.66, gl 0.23): a clear lead counts as confidence.
        if langs.script(best) == "LATIN" and (
                confidence >= 0.8 or (confidence >= 0.5 and confidence >= 2 * runner_up)):
            return best
        three = {code: p for code, p in ranked if code in _STOPWORDS}
        total = sum(three.values())
        if langs.script(best) == "LATIN" and confidence >= 0.3 and confidence > 2 * total:
            return best       # es 0.45 beside gl, ca, pt: still more than en, de, fr together
        top = max(three, key=lambda k: three[k])
        if total > 0 and three[top] / total >= 0.8:
            return top
    if first == 0:
        return hint if hint and langs.script(hint) == "LATIN" else "en"
    return common


def content_hash(title: str, text: str) -> str:
    squeezed = _NOT_ALNUM.sub("", fold(f"{title}\n{text}"))
    return hashlib.sha1(squeezed.encode("utf-8")).hexdigest()
