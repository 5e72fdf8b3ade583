"""Words for tagging, deduplication and the search index: one tokenizer for all.

`tokenize(text, lang)` returns normalized tokens, in order, without spaces or
punctuation:

- Japanese (`lang == "ja"`): SudachiPy, core dictionary, split mode A (the
  shortest units, so a compound term such as 核融合 -> 核 融合 matches as a
  token sequence and 融合 inside 文理融合 -> 文理 融合 does not). Measured on
  benchmarks/quality: modes A, B and C tag identically (micro-F1 0.908) and
  group stories almost alike (same-language F1 0.971 with A, 0.981 with B/C);
  A is kept because search finds a word inside a compound (量子 in
  量子コンピューター, 融合 in 核融合) only when the index holds short units. Each token in
  its *normalized form* (コンピュータ -> コンピューター, 申込 -> 申し込み,
  1億2100万 -> 121000000). Latin-script tokens inside Japanese text take the
  Latin path below instead of Sudachi's katakana reading (MAIN stays "main").
- Latin-script text: NFKC, case folding (ＡＩ -> ai), words of letters and
  digits, each stemmed with the Snowball stemmer of the language (en, de, fr).
- Chinese (zh), Korean (ko) and the scripts written without spaces between words
  (Thai, Lao, Khmer, Myanmar, Tibetan): every run of such characters gives its
  overlapping character bigrams (量子计算机 -> 量子 子计 计算 算机; a run of one
  character gives itself); Latin words inside take the English path (AI, 5G). Bigrams
  rather than Sudachi over han text: Sudachi's Japanese dictionary does not know
  Simplified forms and cuts a Chinese phrase one way in a query and another in the
  text. Measured on the corpus's 22 zh items: of 220 queries of 2-4 characters taken
  from their text, Sudachi tokens found the item for 137 (0.62), bigrams for all 220;
  for dedup, bigrams are shingles that MinHash compares as it compares words.
  Hangul is bigrammed too: Korean glues particles to words (서울시는, 서울시가),
  and bigrams let 서울시 find both.
- Every other language: words of letters and digits in any script, case-folded, each
  stemmed by the Snowball stemmer of its language when there is one (ru, pt, es, it,
  nl, pl, sv, tr, ar, el, ...; `STEMMERS`), else kept whole.
The taxonomy's terms are ja/en/de/fr: they keep exactly the tokens they had.

The Sudachi dictionary (~90 MB) is loaded once per process on first use.
Text is cut into pieces of at most `_CHUNK` characters at line or sentence
ends, because Sudachi refuses very long inputs.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from functools import cache, lru_cache
from typing import Any

import snowballstemmer

_CHUNK = 4000
_LATIN_WORD = re.compile(r"[0-9a-zà-öø-ÿœæß]+(?:['’.-][0-9a-zà-öø-ÿœæß]+)*", re.IGNORECASE)
_HAS_LATIN = re.compile(r"[A-Za-zÀ-ÿ0-9]")
_STEMMERS = {"en": "english", "de": "german", "fr": "french"}
# Snowball stemmers (PyStemmer) of the other languages, by ISO 639-1 code.
STEMMERS = {**_STEMMERS, "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan",
            "cs": "czech", "da": "danish", "nl": "dutch", "eo": "esperanto", "et": "estonian",
            "fi": "finnish", "el": "greek", "hi": "hindi", "hu": "hungarian",
            "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian",
            "ne": "nepali", "no": "norwegian", "nb": "norwegian", "nn": "norwegian",
            "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
            "ru": "russian", "sr": "serbian", "st": "sesotho", "es": "spanish",
            "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish"}
_BIGRAM_LANGS = {"zh", "ko", "th", "lo", "km", "my", "bo", "dz"}
# Characters of scripts written without spaces (han, kana, hangul, Thai, Lao, Tibetan,
# Myanmar, Khmer): each run of them is cut into bigrams.
_UNSPACED = re.compile(
    r"[぀-ヿ㐀-䶿一-鿿豈-﫿가-힯ᄀ-ᇿ"
    r"㄰-㆏฀-໿ༀ-࿿က-႟ក-៿]+")
_ANY_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_SKIP_POS = {"補助記号", "空白", "記号"}
_FR_DROP = {"ai"}   # French "(j')ai" is a verb, never the acronym (the French one is IA)
_lock = threading.Lock()


@cache
def _stemmer(lang: str) -> Any:
    return snowballstemmer.stemmer(STEMMERS.get(lang, "english"))


@lru_cache(maxsize=1)
def _dictionary() -> Any:
    from sudachipy import Dictionary

    return Dictionary(dict="core")


@lru_cache(maxsize=1)
def _sudachi() -> Any:
    from sudachipy import SplitMode

    dictionary = _dictionary()
    if hasattr(dictionary, "tokenizer"):  # SudachiPy >= 0.7; create() is deprecated there
        return dictionary.tokenizer(mode=SplitMode.A)
    return dictionary.create(mode=SplitMode.A)


_SCALES = {"thousand": 10**3, "k": 10**3, "million": 10**6, "millions": 10**6, "m": 10**6,
           "mn": 10**6, "mio": 10**6, "millionen": 10**6, "billion": 10**9, "billions": 10**9,
           "bn": 10**9, "b": 10**9, "milliard": 10**9, "milliards": 10**9, "mrd": 10**9,
           "milliarde": 10**9, "milliarden": 10**9, "trillion": 10**12, "billionen": 10**12}
SCALE_WORDS = frozenset(_SCALES)      # the words of an amount's scale (million, Mrd.)
_SHORT_SCALES = {"k", "m", "mn", "b", "bn"}
_CURRENCY = set("$€£¥")
_AMOUNT = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:[.,]\d+)?)\s*(" + "|".join(sorted(_SCALES, key=len,
                                                                          reverse=True))
    + r")?(?![\w.]*\d)(?![a-z])", re.IGNORECASE)


def _amount(m: re.Match[str], lang: str) -> str:
    """'$121 million', '121M', '1,800', '9.1 billion' -> one integer token, the form
    Sudachi gives Japanese figures (1億2100万 -> 121000000)."""
    digits, scale = m.group(1), (m.group(2) or "").lower()
    before = m.string[max(0, m.start() - 1):m.start()]
    if scale in _SHORT_SCALES and before not in _CURRENCY:
        return m.group(0)   # "3m" is three metres unless money is meant: "$3m"
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits):
        digits = digits.replace(",", "")
    elif lang in ("de", "fr"):
        digits = digits.replace(".", "").replace(",", ".") if "," in digits else digits
    else:
        digits = digits.replace(",", ".")
    try:
        value = float(digits) * _SCALES.get(scale, 1)
    except ValueError:
        return m.group(0)
    if not math.isfinite(value) or value >= 1e18:
        return m.group(0)     # 309 digits would be inf; no amount is that large
    return f" {int(round(value))} " if value == int(round(value)) or scale else m.group(0)


def latin_tokens(text: str, lang: str = "en", words_of: re.Pattern[str] = _LATIN_WORD
                 ) -> list[str]:
    """Stemmed words: hyphenated words give their parts ("98-qubit" -> 98, qubit),
    French elisions are dropped ("j'ai" -> ai is not the AI term), "U.S." -> "us",
    amounts become one integer ("$121 million" -> 121000000). `words_of` finds the
    words (Latin letters; any script's for `word_tokens`)."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    folded = _AMOUNT.sub(lambda m: _amount(m, lang), folded)
    words: list[str] = []
    for raw in words_of.findall(folded):
        word = raw.strip("'.-")
        if "." in word and len(word) <= 8 and not word.replace(".", "").isdigit():
            word = word.replace(".", "")                   # U.S., e.g. (not 2.1)
        for part in word.split("-"):
            if "'" in part:
                head, _, tail = part.partition("'")
                part = tail if len(head) <= 2 or head in ("qu", "jusqu", "lorsqu") else head
            part = part.strip("'.")
            if part and not (lang == "fr" and part in _FR_DROP):
                words.append(part)
    return [_stem(lang, w) for w in words]


@lru_cache(maxsize=200_000)
def _stem(lang: str, word: str) -> str:
    """Stems are cached: news vocabulary repeats, and stemming is the Latin path's cost."""
    if lang not in STEMMERS:
        return word           # no Snowball stemmer for the language: the word as written
    return str(_stemmer(lang).stemWord(word))


def word_tokens(text: str, lang: str) -> list[str]:
    """Words of any script (Cyrillic, Greek, Arabic, accented Latin...), stemmed by the
    language's Snowball stemmer when it has one."""
    return latin_tokens(text, lang, _ANY_WORD)


def bigram_tokens(text: str) -> list[str]:
    """Character bigrams of every run of han, kana, hangul, Thai... (a lone character
    stands as itself); the rest of the text as English words (AI, 5G, $3 billion)."""
    out: list[str] = []
    pos = 0
    folded = unicodedata.normalize("NFKC", text)
    for m in _UNSPACED.finditer(folded):
        if m.start() > pos:
            out.extend(latin_tokens(folded[pos:m.start()], "en", _ANY_WORD))
        run = m.group(0)
        out.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
        pos = m.end()
    if pos < len(folded):
        out.extend(latin_tokens(folded[pos:], "en", _ANY_WORD))
    return out


def _chunks(text: str) -> list[str]:
    if len(text) <= _CHUNK:
        return [text]
    pieces: list[str] = []
    while text:
        if len(text) <= _CHUNK:
            pieces.append(text)
            break
        cut = max(text.rfind("\n", 0, _CHUNK), text.rfind("。", 0, _CHUNK))
        cut = cut + 1 if cut > _CHUNK // 4 else _CHUNK
        pieces.append(text[:cut])
        text = text[cut:]
    return pieces


def japanese_tokens(text: str) -> list[str]:
    out: list[str] = []
    tokenizer = _sudachi()
    for piece in _chunks(text):
        with _lock:  # a Sudachi tokenizer object is not safe to share between threads
            morphemes = [(m.surface(), m.normalized_form(), m.part_of_speech_id())
                         for m in tokenizer.tokenize(piece)]
        for surface, normalized, pos_id in morphemes:
            out.extend(_morpheme_tokens(surface, normalized, pos_id))
    return out


@lru_cache(maxsize=200_000)
def _morpheme_tokens(surface: str, normalized: str, pos_id: int) -> tuple[str, ...]:
    """The tokens of one morpheme; cached, since news repeats its words."""
    if _skipped_pos(pos_id) or not surface.strip():
        return ()
    folded = unicodedata.normalize("NFKC", surface)
    if folded.isascii() and _HAS_LATIN.search(folded) and not normalized.isdigit():
        return tuple(latin_tokens(folded, "en"))
    return (normalized.casefold(),)


@lru_cache(maxsize=4096)
def _skipped_pos(pos_id: int) -> bool:
    return _dictionary().pos_of(pos_id)[0] in _SKIP_POS


_LATIN_PIECE = re.compile(r"[0-9A-Za-zÀ-ÖØ-öø-ÿŒœÆæß'’.-]+|[^0-9A-Za-zÀ-ÖØ-öø-ÿŒœÆæß'’.-]+")


_ANY_PIECE = re.compile(r"\w+|\W+")


def _bigram_spans(text: str) -> list[tuple[str, list[str]]]:
    """One piece per character of a bigrammed run, with the bigrams it is part of (so a
    query's bigrams mark the characters they cover); the rest as words."""
    out: list[tuple[str, list[str]]] = []
    pos = 0
    for m in _UNSPACED.finditer(text):
        if m.start() > pos:
            out += [(w, word_tokens(w, "en")) for w in _ANY_PIECE.findall(text[pos:m.start()])]
        run = unicodedata.normalize("NFKC", m.group(0))
        if len(run) != len(m.group(0)):      # NFKC changed the length: no per-character map
            out.append((m.group(0), bigram_tokens(run)))
        elif len(run) == 1:
            out.append((run, [run]))
        else:
            out += [(ch, [run[max(0, i - 1):i + 1], run[i:i + 2]][1 if i == 0 else 0:
                         1 if i == len(run) - 1 else 2]) for i, ch in enumerate(run)]
        pos = m.end()
    if pos < len(text):
        out += [(w, word_tokens(w, "en")) for w in _ANY_PIECE.findall(text[pos:])]
    return out


def spans(text: str, lang: str) -> list[tuple[str, list[str]]]:
    """The text cut into pieces that cover it in order, each with its tokens (none for
    spaces and punctuation): what a highlighter needs to mark the words a query matched."""
    if lang in _BIGRAM_LANGS:
        return _bigram_spans(text)
    if lang not in ("ja", *_STEMMERS):
        return [(piece, word_tokens(piece, lang)) for piece in _ANY_PIECE.findall(text)]
    if lang != "ja":
        return [(piece, latin_tokens(piece, lang)) for piece in _LATIN_PIECE.findall(text)]
    out: list[tuple[str, list[str]]] = []
    tokenizer = _sudachi()
    for piece in _chunks(text):
        with _lock:
            morphemes = [(m.surface(), m.normalized_form(), m.part_of_speech_id())
                         for m in tokenizer.tokenize(piece)]
        for surface, normalized, pos_id in morphemes:
            out.append((surface, list(_morpheme_tokens(surface, normalized, pos_id))))
    return out


def tokenize(text: str, lang: str) -> list[str]:
    """Normalized tokens of `text` written in `lang` (see the module rules)."""
    if not text:
        return []
    if lang == "ja":
        return japanese_tokens(text)
    if lang in _STEMMERS:
        return latin_tokens(text, lang)
    if lang in _BIGRAM_LANGS:
        return bigram_tokens(text)
    return word_tokens(text, lang)


@lru_cache(maxsize=50_000)
def morphemes(text: str) -> tuple[tuple[str, str, bool], ...]:
    """(surface, part-of-speech subcategory, unknown to the dictionary) of each morpheme:
    what `names` asks of a katakana word."""
    with _lock:
        return tuple((m.surface(), m.part_of_speech()[1], m.is_oov())
                     for m in _sudachi().tokenize(text))


def warm_up() -> None:
    """Load the Sudachi dictionary now (the daemon does it before its first job)."""
    _sudachi()
