"""Deduplication: exact keys, MinHash signatures, LSH bands, story choice.

Two levels:
1. Exact duplicates are dropped before storing. Keys, in order: the guid
   within the feed, the content hash of title + text (see
   `text.content_hash`), the URL key (see `text.url_key`) with the same
   title, or in another feed alone unless the key is a listing page (one that
   names entries of different titles). Two entries of one feed with
   different titles are never exact duplicates (`pipeline.ingesting`). The
   store answers whether a key is known; this module only names the keys.
2. Near duplicates join a story. Each item gets a MinHash signature
   (datasketch, NUM_PERM permutations over CRC-32 hashes: SHA-1, datasketch's
   default, cost ten times more for the same quality) of its features: the set of its
   tokens, with numbers and long words repeated as extra features so that
   figures and rare names weigh more than function words. The signature is
   cut into BANDS bands of ROWS rows; every band is hashed and stored (the
   `lsh_bands` table), so candidates are found by an index lookup whose cost
   does not grow with the archive. A candidate joins when the estimated
   Jaccard similarity of the signatures is at least STORY_THRESHOLD.
Pure: no I/O; the store keeps bands and signatures.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
    values: np.ndarray  # uint64 array of NUM_PERM values below 2**32

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Signature:
        return cls(np.frombuffer(blob, dtype="<u4").astype(np.uint64))


def features(title_tokens: Sequence[str], body_tokens: Sequence[str]) -> set[str]:
    feats: set[str] = set()
    for tok in (*title_tokens, *body_tokens):
        if tok in _STOP or (len(tok) < 2 and not tok.isdigit()):
            continue
        feats.add(tok)
        if _DIGIT.search(tok):
            feats.update((f"{tok}#1", f"{tok}#2"))   # figures identify a story
        elif len(tok) >= 8:
            feats.add(f"{tok}#1")                   # long words are rarer than short ones
    return feats


def signatures(feature_sets: Iterable[set[str]]) -> list[Signature | None]:
    """One signature per feature set (None for an empty set), computed in bulk."""
    # Imported here: datasketch pulls in scipy (0.3 s, ~55 MB), which only ingest needs.
    from datasketch import MinHash

    sets = list(feature_sets)
    encoded = [[f.encode("utf-8") for f in s] for s in sets if s]
    hashes = (MinHash.bulk(encoded, num_perm=NUM_PERM, seed=_SEED, hashfunc=zlib.crc32)
              if encoded else [])
    out: list[Signature | None] = []
    it = iter(hashes)
    for s in sets:
        out.append(Signature(next(it).hashvalues) if s else None)
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


def choose_story(
    sig: Signature, candidates: Sequence[tuple[int, bytes]]
) -> tuple[int, float] | None:
    """The (story id, similarity) of the most similar candidate above the threshold.
    Candidates are (story id, stored signature bytes), compared in one array operation."""
    if not candidates:
        return None
    blobs = [blob for _, blob in candidates if len(blob) == NUM_PERM * 4]
    if not blobs:
        return None
    stories = [sid for sid, blob in candidates if len(blob) == NUM_PERM * 4]
    matrix = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(blobs), NUM_PERM)
    scores = np.count_nonzero(matrix == sig.values.astype("<u4"), axis=1) / NUM_PERM
    best = int(np.argmax(scores))
    if scores[best] < STORY_THRESHOLD:
        return None
    return stories[best], float(scores[best])


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
    toks = set(tokens)
    out: dict[str, frozenset[str]] = {f: frozenset([f]) for f in figures(toks)}
    out.update((t, frozenset([t])) for t in toks if _LATIN.match(t) and t not in _STOP)
    for t in toks:
        if not names.is_katakana_name(t):     # a loanword or a common noun (メイン)
            continue
        forms = names.place(t)
        if forms is not None:
            out[f"@{names.gazetteer()[t]}"] = forms
        else:
            key = names.katakana_key(t)
            if len(key) >= names.MIN_KEY:
                out[f"~{key}"] = frozenset([f"~{key}"])
    return out


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
    million gift" = "スタンフォード大、…5億ドルの寄付")."""
    ja_all, other_all = [*japanese[0], *japanese[1]], heard([*other[0], *other[1]])
    a = anchors(ja_all)
    shared = {anchor for anchor, forms in a.items() if forms & other_all}
    mine, common = figures(a), figures(shared)
    if len(common) < min(2, len(mine)) or len(common) * 2 < len(mine) or len(shared) < 2:
        return 0.0
    head_a, head_b = figures(japanese[0]), figures(other[0])
    if (head_a or head_b) and not head_a & head_b:
        return 0.0
    if len(shared) < 3 and not (head_a & head_b and any(map(_strong, shared - common))):
        return 0.0
    return len(shared) / len(a)


def _strong(anchor: str) -> bool:
    """A name that alone says which event: not a short sound key (a 3-consonant key
    meets everyday words: オーストラリア = ~str = "still")."""
    return not anchor.startswith("~") or len(anchor) > STRONG_KEY


def choose_cross_story(
    lang: str, title: Sequence[str], body: Sequence[str],
    candidates: Sequence[tuple[int, str, str, str]],
) -> tuple[int, float] | None:
    """(story id, score) of the best candidate in another language, one side Japanese.
    Candidates are (story id, language, indexed title tokens, indexed body tokens)."""
    mine = (title, body)
    best: tuple[int, float] | None = None
    for story_id, other_lang, other_title, other_body in candidates:
        if other_lang == lang or "ja" not in (lang, other_lang):
            continue
        theirs = (other_title.split(), other_body.split())
        score = cross_score(mine, theirs) if lang == "ja" else cross_score(theirs, mine)
        if score >= CROSS_THRESHOLD and (best is None or score > best[1]):
            best = (story_id, score)
    return best
