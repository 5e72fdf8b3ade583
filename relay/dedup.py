"""Deduplication: exact keys, MinHash signatures, LSH bands, story choice.

Two levels:
1. Exact duplicates are dropped before storing. Keys, in order: the guid
   within the feed, the content hash of title + text (see
   `text.content_hash`; within one feed only with the same link), the URL key
   (see `text.url_key`) with the same title, or in another feed alone when it
   can be one article retitled (`retitled`) unless the key is a listing page
   (one that names entries of different titles). Two entries of one feed with
   different titles are never exact duplicates (`pipeline.ingesting`). The
   store answers whether a key is known; this module only names the keys.
2. Near duplicates join a story. Each item gets a MinHash signature
   (NUM_PERM permutations over CRC-32 hashes, in datasketch 2.0's scheme, see
   `signatures`; SHA-1, datasketch's default, cost ten times more for the same quality)
   of its features: the set of its tokens without dates (`numbers`), with numbers and long words repeated as extra
   features so that figures and rare names weigh more than function words, and
   without what its feed repeats in every item (`template`). The signature is
   cut into BANDS bands of ROWS rows; every band is hashed and stored (the
   `lsh_bands` table), so candidates are found by an index lookup whose cost
   does not grow with the archive. A candidate joins when the estimated
   Jaccard similarity of the signatures is at least STORY_THRESHOLD and the
   rules of `choose_story` hold (dates, numbers in titles, short notices judged
   by their titles, items of one feed).
3. Across languages, a Japanese report and an article share figures and names
   (`choose_cross_story`).
Pure: no I/O; the store keeps bands and signatures.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

import numpy as np

from relay import names

NUM_PERM = 126
BANDS = 42
ROWS = NUM_PERM // BANDS      # 3 rows: a pair at 0.35 is a candidate 85% of the time
STORY_THRESHOLD = 0.35       # benchmarks/quality: same-language story F1 0.971, no false
                              # merge; the closest different stories score 0.29
STORY_WINDOW_DAYS = 7
_DIGIT = re.compile(r"\d")
_SEED = 1
# What a stored signature means (see `signatures`), recorded in the archive
# (`Store.meta("minhash_scheme")`): an archive signed under another scheme has its story
# window signed again (`pipeline.ingesting.sign_window`) rather than silently matching
# nothing. Change this string whenever a signature's value would change.
SCHEME = f"crc32-fmix32-affine32-seed{_SEED}-perm{NUM_PERM}"

# Function words carry no story identity; dropping them makes similarity honest.
_STOP = frozenset([
    "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from",
    "as", "is", "are", "was", "were", "be", "been", "has", "have", "had", "it", "its", "this",
    "that", "these", "those", "will", "would", "can", "could", "said", "says", "new", "also",
    "than", "more", "into", "over", "の", "に", "は", "を", "が", "と", "で", "て", "た", "し", "も", "な",
    "だ", "です", "ます", "する", "いる", "ある", "こと", "れる", "られる", "から", "まで", "よう", "ため", "など", "この",
    "その", "また", "において", "について", "による", "年", "月", "日",
])


@dataclass(frozen=True)
class Signature:
    values: np.ndarray  # NUM_PERM unsigned values below 2**32 (uint32 or uint64)

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Signature:
        return cls(np.frombuffer(blob, dtype="<u4").astype(np.uint64))


# -- dates are not figures ---------------------------------------------------------------
# A feed's items share their date line ("2026年8月21日 外務省 ...", "[19.08.2018 - 07:08
# Uhr]"), so a date would tie unrelated items together. The tokens of a date or a time are
# dropped: a written date (19.08.2018), a number before 年/月/日/時/分 or after an era name
# (令和7年), a number beside a month or weekday name (Aug. 23, 5 January 2017), a year
# (1900-2100) and every number below 100 (days, hours, small counts say nothing of a story).
_DATE_AFTER = frozenset(["年", "年度", "月", "日", "時", "分", "秒", "uhr", "h"])
_ERAS = frozenset(["令和", "平成", "昭和", "大正", "明治"])
_CALENDAR = frozenset([
    *_ERAS, "uhr",
    # the Snowball stems relay's tokenizer gives month and weekday names (en, de, fr)
    "januari", "februari", "march", "april", "may", "june", "juli", "august", "septemb",
    "octob", "novemb", "decemb", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "mon", "tue", "tues", "wed", "thu", "thur", "fri", "sat", "sun",
    "januar", "februar", "marz", "mai", "juni", "oktob", "dezemb", "mrz", "okt", "dez",
    "montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag",
    "janvi", "févri", "fevri", "avril", "juin", "juillet", "août", "aout", "septembr",
    "octobr", "novembr", "décembr", "decembr", "janv", "fevr", "févr", "avr", "juil",
    "lund", "mard", "mercred", "jeud", "vendred", "samed", "dimanch",
])
_WRITTEN_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}(?::\d{2})?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers(tokens: Sequence[str]) -> set[str]:
    """The numbers of a token list that are not part of a date or time (see above): the
    figures that tell one notice or filing from the next (同一一三 / 同一一四)."""
    out: set[str] = set()
    last = len(tokens) - 1
    for i, tok in enumerate(tokens):
        if not tok[:1].isdigit() or _NUMBER.fullmatch(tok) is None:
            continue
        if _ordinal(tokens, i, last) or not _dated(tokens, i, last):
            out.add(tok)
    return out


_ORDINAL_AFTER = frozenset(["号", "回", "次", "期", "報", "条", "弾", "部", "話", "版"])
_ORDINAL_BEFORE = frozenset(["第", "その", "no", "nr", "nº", "vol", "part", "teil"])


def _ordinal(tokens: Sequence[str], i: int, last: int) -> bool:
    """A small number that names which one of a series (台風第5号, 第12回, その2, No. 3):
    a different one is a different notice."""
    return ((i < last and tokens[i + 1] in _ORDINAL_AFTER)
            or (i > 0 and tokens[i - 1] in _ORDINAL_BEFORE))


def _dated(tokens: Sequence[str], i: int, last: int) -> bool:
    tok = tokens[i]
    if _WRITTEN_DATE.fullmatch(tok):
        return True
    if tok.isdigit() and len(tok) <= 4:
        value = int(tok)
        if value < 100 or (len(tok) == 4 and 1900 <= value <= 2100):
            return True
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[i + 1] if i < last else ""
    return (after in _DATE_AFTER or before in _ERAS or before in _CALENDAR
            or after in _CALENDAR)


def features(title_tokens: Sequence[str], body_tokens: Sequence[str]) -> set[str]:
    """What an item's story identity is made of: its content words, numbers and long
    words weighing more, without function words, dates and calendar words."""
    feats: set[str] = set()
    for tokens in (title_tokens, body_tokens):
        last = len(tokens) - 1
        for i, tok in enumerate(tokens):
            if tok in _STOP or tok in _CALENDAR or (len(tok) < 2 and not tok.isdigit()):
                continue
            if tok[:1].isdigit() and _NUMBER.fullmatch(tok):
                if _dated(tokens, i, last):
                    continue
                feats.update((tok, f"{tok}#1", f"{tok}#2"))   # figures identify a story
                continue
            feats.add(tok)
            if len(tok) >= 8:
                feats.add(f"{tok}#1")                   # long words are rarer than short ones
    return feats


# -- what a feed repeats is no evidence ---------------------------------------------------
# Ministry and gazette feeds wrap every item in the same words ("令和7年7月23日（本紙 第1512
# 号）が発行されました。… についてはこちら", "Document type: Notice. Agencies: ..."), so two
# short items of one feed share the template and little else. A feature found in a large
# share of a feed's items (its recent items in the archive and the batch in hand) is the
# feed's, not the item's: it is left out of the signature.
TEMPLATE_DOCS = 6          # items a feed needs before anything counts as its template
TEMPLATE_SHARE = 0.25      # share of them a feature must appear in
TEMPLATE_MIN = 3           # and at least this many of them
PROFILE_ITEMS = 50         # a feed's recent items the archive lends to the batch


@dataclass(frozen=True)
class Profile:
    """How often each feature occurs in a feed's recent items (`docs` of them)."""

    docs: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def profile(feature_sets: Iterable[set[str]]) -> Profile:
    counts: Counter[str] = Counter()
    docs = 0
    for feats in feature_sets:
        counts.update(feats)
        docs += 1
    return Profile(docs, dict(counts))


def template(batch: Sequence[set[str]], prior: Profile | None = None) -> frozenset[str]:
    """The features a feed repeats: found in at least TEMPLATE_SHARE of its items (the
    batch's and the prior's together), in TEMPLATE_MIN of them at least, once the feed
    has TEMPLATE_DOCS items. A feature that repeats inside one batch only because the
    batch tells one story several times still counts: a feed that gives ever the same
    story is rare, a feed that wraps every item in the same words is common."""
    counts: Counter[str] = Counter(prior.counts if prior else {})
    for feats in batch:
        counts.update(feats)
    docs = len(batch) + (prior.docs if prior else 0)
    if docs < TEMPLATE_DOCS:
        return frozenset()
    floor = max(TEMPLATE_MIN, TEMPLATE_SHARE * docs)
    return frozenset(f for f, n in counts.items() if n >= floor)


# -- MinHash --------------------------------------------------------------------------------
# The scheme relay's archives are signed with: datasketch 2.0's default ("affine32"), which
# `MinHash(NUM_PERM, seed=_SEED, hashfunc=zlib.crc32)` computed before relay computed its
# signatures itself. A feature's CRC-32 is mixed by MurmurHash3's 32-bit finalizer, then
# mapped by NUM_PERM permutations h -> a * h + b modulo 2**32 (odd a), whose (a, b) are drawn
# from RandomState(_SEED); a set's signature is the minimum of each. Fixed here, with golden
# values in tests/test_dedup.py, so that no upgrade of a library changes what a stored
# signature means (datasketch 2.0 changed its default scheme; 1.x's would change them all).
_BLOCK = 2048                 # feature hashes permuted at once (1 MB of uint32)
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35))


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of each permutation, as columns."""
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a[:, None], b[:, None]


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer on uint32 values: spreads CRC-32's linear structure."""
    shift1, mul1, shift2, mul2 = _FMIX
    h = h ^ (h >> shift1)
    h *= mul1
    h ^= h >> shift2
    h *= mul2
    h ^= h >> shift1
    return h


def signatures(feature_sets: Iterable[set[str]]) -> list[Signature | None]:
    """One signature per feature set (None for an empty set), computed in bulk: the
    features of many sets are permuted in one array and each set's minimum taken."""
    out: list[Signature | None] = []
    hashes: list[int] = []
    starts: list[int] = []          # where each non-empty set's hashes begin in `hashes`
    slots: list[int] = []           # its place in `out`

    def flush() -> None:
        if not starts:
            return
        a, b = _permutations()
        # One row per permutation: each set's minimum is taken along contiguous memory.
        permuted = a * _fmix32(np.array(hashes, dtype=np.uint32))
        permuted += b
        mins = np.ascontiguousarray(np.minimum.reduceat(permuted, starts, axis=1).T)
        for slot, values in zip(slots, mins, strict=True):
            out[slot] = Signature(values)
        hashes.clear()
        starts.clear()
        slots.clear()

    for feats in feature_sets:
        out.append(None)
        if feats:
            starts.append(len(hashes))
            slots.append(len(out) - 1)
            hashes.extend(map(zlib.crc32, map(str.encode, feats)))    # UTF-8
            if len(hashes) >= _BLOCK:
                flush()
    flush()
    return out


def bands(sig: Signature) -> list[tuple[int, int]]:
    """(band number, band hash as a signed 64-bit integer) for the LSH table."""
    raw = sig.values.astype("<u4").tobytes()
    width = ROWS * 4
    return [(b, _signed(hashlib.blake2b(raw[b * width:(b + 1) * width], digest_size=8).digest()))
            for b in range(BANDS)]


def _signed(digest: bytes) -> int:
    return int.from_bytes(digest, "little", signed=True)


def similarity(a: Signature, b: Signature) -> float:
    return float(np.count_nonzero(a.values == b.values)) / NUM_PERM


SAME_FEED_DAYS = 0.5         # two items of one feed are published within 12 hours
SUBSTANCE = 5                # words a text needs beyond its title and the feed's template


@dataclass(frozen=True)
class Telling:
    """One item as story choice sees it: the new one, or a recent one that shares an LSH
    band with it (then with its story and stored signature)."""

    feed_id: str
    title_tokens: tuple[str, ...]
    body_tokens: tuple[str, ...] | None      # None: ask `choose_story`'s `body` when needed
    published_at: datetime | None
    story_id: int = 0
    minhash: bytes = b""
    item_id: int = 0
    outlet: str = ""        # the outlet an aggregator names after a title (see `outlet`)
    heads: frozenset[str] = frozenset()     # its title's names of several words
                                            # (`multiword_names`)


_OUTLET = re.compile(r"[(（]([^()（）]{2,24})[)）]\s*$")


def outlet(title: str) -> str:
    """The outlet an aggregator names at the end of a title: "…ほぼ回復(Impress Watch)" ->
    "Impress Watch" ("" when there is none)."""
    m = _OUTLET.search(title)
    return m.group(1).strip() if m else ""


@lru_cache(maxsize=50_000)
def multiword_names(title: str) -> frozenset[str]:
    """The names of several words side by side a title gives in a script with capitals
    ("Broken Back - \"Excuses\"" -> "broken back"; "Unrest hits Ivory Coast's main city"
    -> "ivory coast"); none from a title in Title Case, whose capitals name nothing
    (`names.title_case`), none from words of scripts without capitals (a Japanese title's
    runs), and not the outlet an aggregator names after a title ("(Impress Watch)")."""
    title = _OUTLET.sub("", title)
    if names.title_case(title):
        return frozenset()
    out: set[str] = set()
    run: list[str] = []
    last = -2
    for pos, anchor in [*names.latin_anchors(title), (-9, "")]:
        word = _cased(anchor)
        if word and run and pos == last + 1:
            run.append(anchor)
        else:
            if len(run) >= 2:
                out.add(" ".join(run))
            run = [anchor] if word else []
        last = pos
    return frozenset(out)


def _cased(anchor: str) -> bool:
    """A word of letters that have capitals (Latin, Cyrillic, Greek): not a figure, not a
    run of kanji or kana."""
    letters = [ch for ch in anchor if ch.isalpha()]
    return bool(letters) and all(ch.upper() != ch.lower() for ch in letters)


def choose_story(sig: Signature, new: Telling, candidates: Sequence[Telling],
                 common: frozenset[str] = frozenset(),
                 body: Callable[[int], Sequence[str]] = lambda item_id: (),
                 ) -> tuple[int, float] | None:
    """The (story id, similarity) of the most similar candidate that tells the same story
    as `new` (`common`: what its feed repeats, see `template`):

    - signatures at least STORY_THRESHOLD similar;
    - published within STORY_WINDOW_DAYS of each other, when both have a date;
    - titles in the same words (half their words shared) do not carry different
      numbers: one gazette's notices 同一一三 and 同一一四, share sales of 1,500 and of
      99,342 are different news in the same words (while "$12 billion plant" and
      "plant, 1,800 jobs" are two facts of one story);
    - a short item (one with fewer than SUBSTANCE words beyond its title and its feed's
      template: a gazette's or a ministry's notice is a title in a fixed frame) is
      judged by its title: one title must be the other's words and a few more
      ("【外務省】X" = "X"; but 国際情報オリンピック… and 国際地理オリンピック… are two
      events, see `_titles_agree`);
    - two items of one feed are published 12 hours apart at most (both dated), neither
      is short, their titles share a word beyond the feed's template, and they name two
      different outlets after their titles ("…(Impress Watch)", "…(PHILE WEB)"), or
      both titles give one name of several words (`multiword_names`: "Ivory Coast", "Broken
      Back"): a publisher does not tell one story twice in other words, an aggregator
      does, in several outlets' words (a forum's two sale posts, 1.10低价售泰平年红包卡 and
      …康银阁泰平年、二羊卡, are two posts), and a publisher's follow-up as similar as
      this, the same half day, on the same named place, person or work, is the same
      event told again (a ministry's notices are short, or name no such name in Latin
      letters).

    Signatures are compared in one array operation; a candidate's body tokens are read
    (`body(item_id)`) only when it is similar enough for them to matter."""
    usable = [c for c in candidates if len(c.minhash) == NUM_PERM * 4]
    if not usable:
        return None
    matrix = np.frombuffer(b"".join(c.minhash for c in usable),
                           dtype="<u4").reshape(len(usable), NUM_PERM)
    scores = np.count_nonzero(matrix == sig.values.astype("<u4"), axis=1) / NUM_PERM
    mine = numbers(new.title_tokens)
    short = _substance(new, common) < SUBSTANCE
    for i in np.argsort(-scores, kind="stable"):
        score = float(scores[i])
        if score < STORY_THRESHOLD:
            return None
        c = usable[int(i)]
        same_feed = c.feed_id == new.feed_id
        gap = days_apart(new.published_at, c.published_at)
        if gap > (SAME_FEED_DAYS if same_feed else STORY_WINDOW_DAYS):
            continue
        theirs = numbers(c.title_tokens)
        if mine and theirs and not mine & theirs and _alike(new, c):
            continue
        if c.body_tokens is None:
            c = replace(c, body_tokens=tuple(body(c.item_id)))
        theirs_short = _substance(c, common if same_feed else frozenset()) < SUBSTANCE
        if same_feed and (short or theirs_short or new.published_at is None
                          or c.published_at is None
                          or not ((new.outlet and c.outlet and new.outlet != c.outlet)
                                  or new.heads & c.heads)
                          or not (_words(new.title_tokens) & _words(c.title_tokens)) - common):
            continue
        if (short or theirs_short) and not _titles_agree(
                new, c, common, common if same_feed else frozenset()):
            continue
        return c.story_id, score
    return None


def _words(tokens: Sequence[str], body: Sequence[str] = ()) -> set[str]:
    """Features without their extra weights."""
    return {f for f in features(tokens, body) if "#" not in f}


def _alike(a: Telling, b: Telling) -> bool:
    """Titles that share at least half their words (numbers aside)."""
    wa = {w for w in _words(a.title_tokens) if not w[:1].isdigit()}
    wb = {w for w in _words(b.title_tokens) if not w[:1].isdigit()}
    return bool(wa | wb) and len(wa & wb) * 2 >= len(wa | wb)


PREFIX_WORDS = 2            # words a republisher adds to a title ("【外務省】", "Politics ›")
PREFIX_SHARE = 0.25         # or this share of the longer title's words


def _titles_agree(a: Telling, b: Telling, common_a: frozenset[str] = frozenset(),
                  common_b: frozenset[str] = frozenset()) -> bool:
    """One title is the other's words and a few more (each without its feed's template):
    "【外務省】X" is X republished, but a notice whose title adds a clause (…の宿泊利用案内、
    自衛隊による入浴支援のお知らせ) is the notice updated with news of its own."""
    wa, wb = _words(a.title_tokens) - common_a, _words(b.title_tokens) - common_b
    if not (wa and wb):
        return False
    short, long = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    extra = len(long - short)
    return short <= long and extra <= max(PREFIX_WORDS, PREFIX_SHARE * len(long))


def retitled(a: Telling, b: Telling, common_a: frozenset[str] = frozenset(),
             common_b: frozenset[str] = frozenset()) -> bool:
    """Whether two entries that link the same page from two feeds can be one article
    retitled (`common_a`, `common_b`: what each one's feed repeats): published within
    STORY_WINDOW_DAYS, and, when either is short (see `choose_story`), one title the
    other's words and a few more ("【外務省】X" and "X"); when both have text of their
    own, their titles share a word. A ministry's statistics page linked by each month's
    release (機械受注統計調査報告 of 令和7年3月 and of 令和8年6月), or a disaster page linked
    by each short notice about it, is a page of many entries, not one article; what is
    not a copy is left to story choice."""
    if days_apart(a.published_at, b.published_at) > STORY_WINDOW_DAYS:
        return False
    if _substance(a, common_a) >= SUBSTANCE and _substance(b, common_b) >= SUBSTANCE:
        return bool((_words(a.title_tokens) - common_a) & (_words(b.title_tokens) - common_b))
    return _titles_agree(a, b, common_a, common_b)


def days_apart(a: datetime | None, b: datetime | None) -> float:
    return abs((a - b).total_seconds()) / 86400 if a is not None and b is not None else 0.0


def _substance(t: Telling, common: frozenset[str]) -> int:
    """How many words or figures a text has beyond its title and its feed's template
    (a figure counts once here, not with its extra weight)."""
    return len(_words((), t.body_tokens or ()) - _words(t.title_tokens) - common)


# -- across languages ------------------------------------------------------------------------
# A Japanese report and an English article on one event share almost no tokens, but they
# share its figures (1億2100万 and $121 million are both 121000000) and the names the
# Japanese text writes in Latin letters (Nutmeg Quantum Consortium, UConn, TSMC).

STRONG_KEY = 4             # consonants a sound key needs to stand for a name alone
CROSS_THRESHOLD = 0.5      # share of the Japanese side's anchors found in the other text
MIN_FIGURE = 10_000        # smaller numbers (years, counts) say little about an event
_LATIN = re.compile(r"^[a-z][a-z0-9]{2,}$")


def figures(tokens: Iterable[str]) -> set[str]:
    """Numbers large enough to identify an event (amounts, not years). Only ASCII digits
    of sensible length count (Sudachi keeps ➀ as a digit token)."""
    return {t for t in tokens
            if t.isascii() and t.isdigit() and len(t) <= 20 and int(t) >= MIN_FIGURE}


def anchors(tokens: Iterable[str]) -> dict[str, frozenset[str]]:
    """What a Japanese text shares with any language, each anchor with the forms it may
    take in the other text: its figures; its Latin-letter names; and its katakana names
    (see `names`), a place in the gazetteer as its English word or that word's sound key
    (one anchor: コネチカット is "connecticut" or "~knktkt"), any other as its sound key
    ("~stnfd" for スタンフォード)."""
    return dict(a for a in map(_anchor, set(tokens)) if a is not None)


@lru_cache(maxsize=200_000)
def _anchor(token: str) -> tuple[str, frozenset[str]] | None:
    """A token's anchor and its forms (see `anchors`), or None; cached, as a text's
    tokens are mostly those of earlier texts. A token is at most one kind of anchor (a
    figure is digits, a Latin name starts with a letter, a katakana name's key with @ or
    ~), so the anchors of a text do not depend on the order its tokens are read in
    beyond what a set gives."""
    if token.isascii() and token.isdigit() and len(token) <= 20 and int(token) >= MIN_FIGURE:
        return token, frozenset([token])
    if _LATIN.match(token):
        return None if token in _STOP else (token, frozenset([token]))
    if not names.is_katakana_name(token):     # a loanword or a common noun (メイン)
        return None
    forms = names.place(token)
    if forms is not None:
        return f"@{names.gazetteer()[token]}", forms
    key = names.katakana_key(token)
    return (f"~{key}", frozenset([f"~{key}"])) if len(key) >= names.MIN_KEY else None


def heard(tokens: Iterable[str]) -> set[str]:
    """A Latin-letter text's tokens and the sound keys of its words, to meet `anchors`."""
    toks = set(tokens)
    keys = {names.latin_name_key(t) for t in toks}
    return toks | {f"~{k}" for k in keys if len(k) >= names.MIN_KEY}


def cross_score(japanese: tuple[Sequence[str], Sequence[str]],
                other: tuple[Sequence[str], Sequence[str]]) -> float:
    """How much of the Japanese text's anchors the other text has, each given as (title
    tokens, body tokens). 0 unless the other text has most of its figures (two at least,
    when it has two), and, when either headline has a figure, the headlines share one:
    an article that only cites the amount in passing ("the state committed $121 million
    last week") tells another story. Three shared anchors are needed, or two when the
    headlines share their figure and the texts a name besides ("Stanford receives $500
    million gift" = "スタンフォード大、…5億ドルの寄付"). A number too small to be a figure
    (500量子ビット, 約600人, 9.4メガジュール; not a date) counts as one more anchor when
    both texts give it."""
    return _cross(_japanese_side(*japanese), _other_side(*other))


# What cross_score reads of each text, read once per text: a Japanese text's anchors,
# its small numbers and its headline's figures; another text's words and sound keys,
# its numbers and its headline's figures. The same candidates come up for many new
# items, so the sides of texts given as strings are cached.
_JapaneseSide = tuple[dict[str, frozenset[str]], frozenset[str], frozenset[str]]
_OtherSide = tuple[frozenset[str], frozenset[str], frozenset[str]]


def _japanese_side(title: Sequence[str], body: Sequence[str]) -> _JapaneseSide:
    ja_all = [*title, *body]
    a = anchors(ja_all)
    return a, frozenset(f"#{n}" for n in numbers(ja_all) if n not in a), frozenset(figures(title))


def _other_side(title: Sequence[str], body: Sequence[str]) -> _OtherSide:
    other = [*title, *body]
    return frozenset(heard(other)), frozenset(numbers(other)), frozenset(figures(title))


@lru_cache(maxsize=4096)
def _japanese_text(title: str, body: str) -> _JapaneseSide:
    return _japanese_side(title.split(), body.split())


@lru_cache(maxsize=4096)
def _other_text(title: str, body: str) -> _OtherSide:
    return _other_side(title.split(), body.split())


def _cross(japanese: _JapaneseSide, other: _OtherSide) -> float:
    """`cross_score` of the two texts' sides."""
    (a, small, head_a), (other_all, told, head_b) = japanese, other
    shared = {anchor for anchor, forms in a.items() if forms & other_all}
    shared |= {n for n in small if n[1:] in told}
    mine, common = figures(a), figures(shared)
    if len(common) < min(2, len(mine)) or len(common) * 2 < len(mine) or len(shared) < 2:
        return 0.0
    if (head_a or head_b) and not head_a & head_b:
        return 0.0
    if len(shared) < 3 and not (head_a & head_b and any(map(_strong, shared - common))):
        return 0.0
    return len(shared) / (len(a) + len(small))


def _strong(anchor: str) -> bool:
    """A name that alone says which event: not a short sound key (a 3-consonant key
    meets everyday words: オーストラリア = ~str = "still")."""
    return not anchor.startswith("~") or len(anchor) > STRONG_KEY


NAME_TEXT = 600           # characters of a Latin-script text read for its names
UNSPACED = frozenset(["ja", "zh", "ko"])    # languages whose names are not capitalized


Told = tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]


def latin_told(title: str, text: str) -> Told:
    """The anchors (`names.latin_anchors`) of a Latin-script text's title and of the start
    of its text, with their word positions: what `name_keys` and `Named` read."""
    return _told(title, text[:NAME_TEXT])


# The same candidates come up for many new items (`Named.of`): their names are read once.
@lru_cache(maxsize=4096)
def _told(title: str, head: str) -> Told:
    return tuple(names.latin_anchors(title)), tuple(names.latin_anchors(head))


def name_keys(lang: str, title: str, text: str, tokens: Sequence[str],
              told: Told | None = None) -> set[str]:
    """The keys under which an item's names are indexed (the store's `name_keys`), so
    that a report of the same event in another language or another outlet's words is
    found even when the reports share few words or no figure: for a Japanese text the
    forms of its anchors other than figures (`anchors`: ラマン -> ~rmn, QuantumCT ->
    quantumct); for a Latin-script text its anchors (`names.latin_anchors` of its title
    and the start of its text: fujitsu, #185000) and its names' sound keys, which meet a
    Japanese text's katakana names (`told`: its `latin_told`, when already read)."""
    if lang in UNSPACED:
        if lang != "ja":
            return set()
        return {form for anchor, forms in anchors(tokens).items()
                if not anchor[:1].isdigit() for form in forms}
    title_anchors, body_anchors = told if told is not None else latin_told(title, text)
    keys = {a for _, a in (*title_anchors, *body_anchors)}
    keys.update([f"~{k}" for k in map(names.latin_name_key, keys)
                 if not k.startswith("#") and len(k) >= names.MIN_KEY])
    return keys


# -- one event, several outlets, Latin-script languages ------------------------------------
# Two outlets retell one event in their own words (golem and heise on Fujitsu closing its
# Augsburg plant; Spiegel, Le Monde and the Japan Times on one shooting): they share
# few words but the event's names and figures. Names that many recent items carry (a
# president, a country) say which subject, not which event, so only rare ones count.
NAMED_DAYS = 1.0           # the reports are published within a day of each other
RARE_ITEMS = 6             # a name held by at most this many items of the story window
NAMED_ANCHORS = 3          # distinct rare names and figures the two reports share
HEADLINE_NAMES = 2         # or this many distinct rare names both headlines give
HEADLINE_WORDS = 2         # or one, and this many more words both headlines give


@dataclass(frozen=True)
class Named:
    """An item as the names rule sees it: its anchors (`names.latin_anchors`) in its
    title and the start of its text, with their word positions."""

    feed_id: str
    published_at: datetime | None
    title: tuple[tuple[int, str], ...]
    body: tuple[tuple[int, str], ...]
    story_id: int = 0
    title_case: bool = False    # its title is in Title Case (`names.title_case`)
    words: frozenset[str] = frozenset()     # its title's words (`names.headline_words`)

    @classmethod
    def of(cls, feed_id: str, published_at: datetime | None, title: str, text: str,
           story_id: int = 0) -> Named:
        return cls.told(feed_id, published_at, title, latin_told(title, text), story_id)

    @classmethod
    def told(cls, feed_id: str, published_at: datetime | None, title: str, told: Told,
             story_id: int = 0) -> Named:
        """From its `latin_told`, already read."""
        return cls(feed_id, published_at, *told, story_id, names.title_case(title),
                   names.headline_words(title))

    def names(self) -> set[str]:
        """Its anchors, as indexed (`name_keys`)."""
        return {a for _, a in (*self.title, *self.body)}

    def heads(self) -> set[str]:
        """The names its headline gives: its title's anchors, of a title in Title Case
        only those its text gives too ("May Have Heard Voices" names nothing)."""
        told = {a for _, a in self.title}
        return told & {a for _, a in self.body} if self.title_case else told


@lru_cache(maxsize=50_000)
def _title_anchors(title: str) -> frozenset[str]:
    return frozenset(a for _, a in names.latin_anchors(title))


def may_name_together(keys: frozenset[str], title: str) -> bool:
    """Whether a candidate's title gives one of `keys` (the new item's rare names that
    its own title gives): every rule of `choose_named_story` needs one such name in both
    titles, so a candidate without one need not have its text read."""
    return not keys.isdisjoint(_title_anchors(title))


def _distinct(shared: set[str], told: Named) -> int:
    """How many distinct names of `shared` a text gives: words that stand side by side
    in it are one name (Fort Lauderdale, British Airways, Red Dead Redemption); a figure
    is a fact of its own (Aurelia 400 jobs)."""
    parent = {a: a for a in shared}

    def root(a: str) -> str:
        while parent[a] != a:
            a = parent[a]
        return a
    for seq in (told.title, told.body):
        for (p1, a1), (p2, a2) in zip(seq, seq[1:], strict=False):
            if (p2 == p1 + 1 and a1 in shared and a2 in shared
                    and not (a1.startswith("#") or a2.startswith("#"))):
                parent[root(a2)] = root(a1)
    return len({root(a) for a in shared})


def choose_named_story(new: Named, candidates: Sequence[Named],
                       counts: Mapping[str, int]) -> int | None:
    """The story of the candidate (an item of another feed) that tells the same event as
    `new` by its names (`counts`: how many items of the story window hold each key):
    published within NAMED_DAYS of each other (when both are dated), sharing at least
    NAMED_ANCHORS distinct rare names or figures (held by RARE_ITEMS items at most;
    words side by side count as one name), one of them in both titles; or
    HEADLINE_NAMES distinct rare names that both titles give ("Augsburg: Fujitsu macht
    dicht" = "Fujitsu schließt Werk in Augsburg"; a title in Title Case gives only the
    names its text gives too, see `Named.heads`); or one rare name that both titles
    give and HEADLINE_WORDS more words that both titles say ("Scenes From Fort
    Lauderdale Airport Shooting" = "5 dead in Fort Lauderdale airport shooting"). A
    company's funding round and its approval days later, a player's semifinal and his
    final the next day, share a name or two, not three, or not within a day; a
    company's other news the same day shares its name in the headlines, its town at
    most in the text."""
    mine = new.names()
    best: tuple[int, int] | None = None
    for c in candidates:
        if c.feed_id == new.feed_id or days_apart(new.published_at, c.published_at) > NAMED_DAYS:
            continue
        rare = {a for a in mine & c.names() if counts.get(a, 0) <= RARE_ITEMS}
        heads = new.heads() & c.heads()
        if not rare & heads:
            continue
        n = min(_distinct(rare, new), _distinct(rare, c))
        both = min(_distinct(rare & heads, new), _distinct(rare & heads, c))
        said = len((new.words & c.words) - rare)
        if (n >= NAMED_ANCHORS + (both < 2) or both >= HEADLINE_NAMES
                or said >= HEADLINE_WORDS) and (best is None or n > best[1]):
            best = (c.story_id, n)
    return best[0] if best else None


def choose_cross_story(
    lang: str, title: Sequence[str], body: Sequence[str],
    candidates: Sequence[tuple[int, str, str, str]],
) -> tuple[int, float] | None:
    """(story id, score) of the best candidate in another language, one side Japanese.
    Candidates are (story id, language, indexed title tokens, indexed body tokens)."""
    candidates = [c for c in candidates if c[1] != lang and "ja" in (lang, c[1])]
    if not candidates:      # (the text is read only when there is one to score)
        return None
    if lang == "ja":
        japanese = _japanese_side(title, body)

        def scored(other_title: str, other_body: str) -> float:
            return _cross(japanese, _other_text(other_title, other_body))
    else:
        other = _other_side(title, body)

        def scored(other_title: str, other_body: str) -> float:
            return _cross(_japanese_text(other_title, other_body), other)
    best: tuple[int, float] | None = None
    for story_id, _, other_title, other_body in candidates:
        score = scored(other_title, other_body)
        if score >= CROSS_THRESHOLD and (best is None or score > best[1]):
            best = (story_id, score)
    return best
