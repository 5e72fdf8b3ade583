"""Names written in katakana and in Latin letters, brought to one form so that a
Japanese report and a local article can be seen to name the same places, people
and organizations (コネチカット = Connecticut, スタンフォード = Stanford).

Two ways, in order:

1. A gazetteer (`gazetteer.tsv`): places whose katakana form does not follow their
   spelling (コネチカット for Connecticut, イリノイ for Illinois), mapped to the
   English word, which `tokens` then stems like any English word.
2. A sound key for everything else: the consonants a Japanese ear hears, with the
   distinctions katakana does not make merged (l/r, b/v, s/z/th), vowels,
   semivowels and a non-rhotic r dropped (Stanford -> stnfd = スタンフォード).
   Katakana and Latin words have comparable keys; a key shorter than
   MIN_KEY consonants says too little to count.

Only katakana words that Sudachi calls proper nouns, or does not know, are names:
コンピューター and データ are loanwords, not names.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from importlib import resources

from relay.tokens import SCALE_WORDS, latin_tokens, morphemes

MIN_KEY = 3

# The consonant class of each katakana; the rest (vowels, small kana, ー, ッ) add none.
_KANA_CLASS = {
    **dict.fromkeys("カキクケコ", "k"), **dict.fromkeys("ガギグゲゴ", "g"),
    **dict.fromkeys("サシスセソザズゼゾヅ", "s"), **dict.fromkeys("ジヂ", "j"),
    **dict.fromkeys("タテト", "t"), "ツ": "ts", "チ": "c", **dict.fromkeys("ダデド", "d"),
    **dict.fromkeys("ナニヌネノン", "n"), **dict.fromkeys("ハヒヘホ", "h"), "フ": "f",
    **dict.fromkeys("バビブベボヴ", "b"), **dict.fromkeys("パピプペポ", "p"),
    **dict.fromkeys("マミムメモ", "m"), **dict.fromkeys("ラリルレロ", "r"),
}
_KATAKANA_WORD = re.compile(r"^[\u30a1-\u30fa\u30fc]+$")

# Latin spellings, longest first, to the same classes ("" drops the letters).
_LATIN_RULES = [
    ("tch", "c"), ("sch", "s"), ("ch", "c"), ("sh", "s"), ("th", "s"), ("ph", "f"),
    ("ck", "k"), ("qu", "k"), ("gh", ""), ("ng", "n"), ("dg", "j"), ("wh", ""),
    ("mb", "nb"), ("mp", "np"), ("x", "ks"), ("z", "s"), ("v", "b"), ("w", ""), ("l", "r"),
    ("q", "k"), ("j", "j"), ("y", ""),
]


@lru_cache(maxsize=200_000)
def katakana_key(word: str) -> str:
    return _collapse("".join(_KANA_CLASS.get(ch, "") for ch in word))


# One pass over a word: at each letter the first of these that matches, in the order of
# the rules: a vowel (dropped), a non-rhotic r (dropped: Harvard -> ハーバード), a soft c or
# g, a spelling of `_LATIN_RULES`, any other letter (c: k).
_SOUNDS = {**dict.fromkeys("aeiou", ""), **dict(_LATIN_RULES), "c": "k"}
_SOUND = re.compile("|".join(["[aeiou]", "(r)(?![aeiou])", "(c)(?=[eiy])", "(g)(?=[eiy])",
                              *(re.escape(s) for s, _ in _LATIN_RULES), "."]))
_NOT_AZ = re.compile(r"[^a-z]")
_URGH = re.compile(r"urgh$")                # Pittsburgh: ピッツバーグ


def _sound(m: re.Match[str]) -> str:
    if m.lastindex:
        return ("", "s", "j")[m.lastindex - 1]   # non-rhotic r, soft c, soft g
    return _SOUNDS.get(m.group(), m.group())


def latin_key(word: str) -> str:
    """The sound key of one Latin-letter word (lower case, diacritics ignored)."""
    w = word.casefold() if word.isascii() else "".join(
        c for c in unicodedata.normalize("NFKD", word.casefold())
        if not unicodedata.combining(c))
    w = _NOT_AZ.sub("", w)
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]                                       # a silent final e
    w = _URGH.sub("urg", w)
    if w[:2] in ("kn", "wr", "ps"):
        w = w[1:]
    return _collapse(_SOUND.sub(_sound, w))


_RUN = re.compile(r"(.)\1+")


def _collapse(key: str) -> str:
    return _RUN.sub(r"\1", key)


@lru_cache(maxsize=200_000)
def latin_name_key(token: str) -> str:
    """The sound key of an indexed Latin token ("" unless it is a word of letters)."""
    return latin_key(token) if 3 <= len(token) <= 40 and token.isalpha() else ""


@cache
def gazetteer() -> dict[str, str]:
    """katakana -> English word, from gazetteer.tsv (comments start with #)."""
    text = resources.files("relay").joinpath("gazetteer.tsv").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            kana, english = line.split("\t")
            out[kana.strip()] = english.strip()
    return out


@cache
def place(token: str) -> frozenset[str] | None:
    """The forms a gazetteer place takes in an English text: its word's stems and the
    word's sound key (コネチカット -> connecticut, ~knktkt); None if not a place."""
    english = gazetteer().get(token)
    if english is None:
        return None
    key = latin_key(english)
    forms = set(latin_tokens(english, "en"))
    if len(key) >= MIN_KEY:
        forms.add(f"~{key}")
    return frozenset(forms)


_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*")
_BREAK = re.compile(r"[.!?:;›»«\"“”|\n]")
_THOUSANDS = re.compile(r"(?<=\d)[.,](?=\d{3}(?!\d))")
_SPACED_THOUSANDS = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d{3}(?!\d))")   # 412 000
# Words a sentence or a headline starts with in capitals that name nothing, the words
# of the calendar ("New Year", "Bilder der Woche", Thursday) and currencies: no name of
# an event.
_FUNCTION_TEXT = """
the a an and or of to in on for with by at from as is are was were be it its this that these
those after before how what who why when where new his her their our we they he she you i
not no all one two three picture day week month year years today yesterday tomorrow
der die das den dem des ein eine einer und oder von zu im am an auf aus mit bei nach für über
vor ist sind war wird wurde wie was wer es sie er wir tag woche monat jahr heute
le la les un une des du de et ou à au aux en dans sur pour par avec ce cette ces il elle ils
est sont qui que jour semaine mois an année
monday tuesday wednesday thursday friday saturday sunday january february march april may
june july august september october november december montag dienstag mittwoch donnerstag
freitag samstag sonntag januar februar märz juni juli oktober dezember lundi mardi mercredi
jeudi vendredi samedi dimanche janvier février mars avril mai juin juillet août septembre
octobre novembre décembre euro euros dollar dollars us usd eur
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """A name's written form in any Latin-script language: case and accents folded, a
    possessive dropped (Xiaomi's, Jülich -> julich)."""
    w = unicodedata.normalize("NFKD", word.casefold().replace("’", "'"))
    w = "".join(c for c in w if not unicodedata.combining(c))
    return re.sub(r"'s$", "", w)


def latin_anchors(text: str) -> list[tuple[int, str]]:
    """(word position, anchor) of what may name an event in a Latin-script text, in any
    language: words written with a capital (names, acronyms, and in German every noun)
    except a sentence's opening function word, words with digits (5G, Zhuque-1), and
    numbers of three digits or more that are not years ("185.000", "185 000" -> 185000). Hyphenated
    words give their parts (British-Airways-Hack -> british, airways, hack)."""
    out: list[tuple[int, str]] = []
    pos, end = 0, 0
    text = _SPACED_THOUSANDS.sub("", text)
    for m in _WORD.finditer(text):
        gap = text[end:m.start()]
        opening = end == 0 or _BREAK.search(gap) is not None
        end = m.end()
        pos += opening or "," in gap    # names across a comma or a stop are not one name
        for part in m.group().split("-"):
            if not part:
                continue
            pos += 1
            if part[0].isdigit():
                number = _THOUSANDS.sub("", part)
                if number.isdigit():
                    if int(number) >= 100 and not (len(number) == 4 and 1900 <= int(number) <= 2100):
                        out.append((pos, f"#{int(number)}"))
                elif number.isalnum() and len(number) <= 12:
                    out.append((pos, fold(number)))          # 4K, 10GB
                continue
            if part.islower() and (part.isalpha() or not any(map(str.isdigit, part))):
                continue
            folded = fold(part)
            if len(folded) < 2 or folded in _FUNCTION_WORDS or (opening and len(folded) < 4
                                                               and part.istitle()):
                continue
            out.append((pos, folded))
    return out


TITLE_CASE_WORDS = 3       # words of four letters or more a headline needs to be judged
# English words that only Title Case writes with a capital inside a headline.
_SMALL_TEXT = """
a an the and but or nor for of to in on at by up as is are was be been has have had will
with from after before over into about than that this what who how why when where not no
may can could would should your our their his her its says say out off just
"""
_SMALL_WORDS = frozenset(_SMALL_TEXT.split())


def title_case(title: str) -> bool:
    """Whether a headline is written in English Title Case ("Florida Airport Assailant
    May Have Heard Voices", "Scenes From Fort Lauderdale"): every word of four letters or
    more starts with a capital (TITLE_CASE_WORDS of them at least), and so does a small
    word inside a phrase (From, Have, Will). Its capitals then say nothing of names; a
    headline in sentence case ("Reynolds, Fisher laid to rest") or a German one, whose
    nouns are capitalized but not its "mit" and "und", keeps them."""
    long_words, small = 0, False
    end = 0
    for m in _WORD.finditer(title):
        word, gap, end = m.group(), title[end:m.start()], m.end()
        if not word[0].isalpha():
            continue
        if len(word) >= 4:
            if not word[0].isupper():
                return False
            long_words += 1
        opening = m.start() == 0 or _BREAK.search(gap) is not None or "›" in gap
        small = small or (word[0].isupper() and not opening and word.casefold() in _SMALL_WORDS)
    return long_words >= TITLE_CASE_WORDS and small


def headline_words(title: str) -> frozenset[str]:
    """A headline's words of four letters or more, folded (`fold`), without function
    words and the scale of an amount ("$140 million" and "$38 million" are two figures,
    not a word in common): what two headlines in one language have in common besides
    names."""
    return frozenset(
        f for w in _WORD.findall(title) for part in w.split("-")
        if len(f := fold(part)) >= 4 and f.isalpha() and f not in _FUNCTION_WORDS
        and f not in _SMALL_WORDS and f not in SCALE_WORDS)


def capitalized(text: str) -> list[str]:
    """The names of a Latin-script text (see `latin_anchors`), without its numbers."""
    return [a for _, a in latin_anchors(text) if not a.startswith("#")]


@lru_cache(maxsize=50_000)
def is_katakana_name(token: str) -> bool:
    """A katakana token Sudachi calls a proper noun, or does not know."""
    if not 3 <= len(token) <= 40 or not _KATAKANA_WORD.match(token):
        return False   # (a 4,000-character katakana run is no name, and would fill caches)
    found = morphemes(token)
    return len(found) == 1 and (found[0][1] == "固有名詞" or found[0][2])
