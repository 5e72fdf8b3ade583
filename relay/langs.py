"""Languages: which codes exist, how a language is named, which script it is written in.

Pure data and lookups, no I/O beyond Babel's bundled CLDR tables:
- `CODES`: the 184 ISO 639-1 codes. A feed's `lang`, a per-language name's key
  and a subscriber's `langs` must be one of them (`is_code`).
- `TAXONOMY`: the languages the topic taxonomy has terms in (ja, en, de, fr);
  a topic's `label`, `terms` and `exclude` take only these keys.
- `primary(code)`: a language tag as sources and people write it, reduced to its
  ISO 639-1 code: case and spaces do not matter and subtags after the first
  (region or script: zh-CN, pt_BR, zh-Hant) are accepted and dropped; None when the
  first subtag is no ISO 639-1 code. Feeds' `lang`, a subscriber's `langs`,
  `search --lang` and a feed document's declared language all read a code so.
- `name(code, reader)`: the language's name in the reader's language (CLDR via
  Babel): name('zh', 'ja') = 中国語, name('zh', 'en') = Chinese; the code itself
  when CLDR has no name for it.
- `script(code)`: the script a language is written in, as the first word of the
  Unicode character names of its letters (LATIN, CYRILLIC, GREEK, ARABIC, HANGUL,
  CJK ...); LATIN for every language not listed. Detection uses it to judge whether
  a declared language is plausible for a text.
- `script_of(text)`: JAPANESE when the text has kana, else the script of its first
  letter that is not Latin (LATIN when every letter is; han is CJK). `default(script)` is the
  language a text of that script is taken to be when nothing else tells (ru for
  Cyrillic, ar for Arabic ...: the first listed).
- `from_detector(label)`: the ISO 639-1 code of a py3langid label: its own when it
  is one, the macrolanguage's for the varieties it knows (yue, wuu -> zh; arz,
  ary -> ar; uzs -> uz; ...), else None (no ISO 639-1 code: not a language a
  subscriber could ask for).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_ISO_639_1 = """
aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv
cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho
hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku
kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn
no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg sh si sk sl
sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve
vi vo wa wo xh yi yo za zh zu
"""
CODES = frozenset(_ISO_639_1.split())

TAXONOMY = ("ja", "en", "de", "fr")

_SCRIPTS = {
    "CYRILLIC": "ru uk bg sr mk be kk ky mn tg tt ba cv ce os av cu kv",
    "GREEK": "el",
    "ARABIC": "ar fa ur ps ug sd ks ku",
    "HEBREW": "he yi",
    "DEVANAGARI": "hi mr ne sa pi",
    "BENGALI": "bn as",
    "GURMUKHI": "pa",
    "GUJARATI": "gu",
    "ORIYA": "or",
    "TAMIL": "ta",
    "TELUGU": "te",
    "KANNADA": "kn",
    "MALAYALAM": "ml",
    "SINHALA": "si",
    "THAI": "th",
    "LAO": "lo",
    "TIBETAN": "bo dz",
    "MYANMAR": "my",
    "KHMER": "km",
    "GEORGIAN": "ka",
    "ARMENIAN": "hy",
    "ETHIOPIC": "am ti",
    "THAANA": "dv",
    "HANGUL": "ko",
    "CJK": "zh ja",
}
_SCRIPT_OF = {code: s for s, codes in _SCRIPTS.items() for code in codes.split()}

# py3langid labels that are not ISO 639-1 codes, and the code of their macrolanguage.
_DETECTOR = {"yue": "zh", "wuu": "zh", "arz": "ar", "ary": "ar", "uzs": "uz", "gug": "gn",
             "fuv": "ff", "hbo": "he", "sdh": "ku", "kik": "ki"}


def is_code(code: str) -> bool:
    return code in CODES


_TAG = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]{1,8})*")


def primary(tag: str) -> str | None:
    """'zh-CN' -> 'zh', 'pt_BR' -> 'pt', ' EN ' -> 'en'; None for 'xx', 'ja-' (see the rules)."""
    m = _TAG.fullmatch(tag.strip().lower())
    return m.group(1) if m and m.group(1) in CODES else None


def script(code: str) -> str:
    return _SCRIPT_OF.get(code, "LATIN")


def default(script_name: str) -> str:
    codes = _SCRIPTS.get(script_name)
    return codes.split()[0] if codes else "en"


def script_of(text: str) -> str:
    found = "LATIN"
    for ch in text:
        if ch.isalpha() and not ch.isascii():
            words = unicodedata.name(ch, "LATIN").split()
            if words[0] in ("HIRAGANA", "KATAKANA") or words[:2] == ["HALFWIDTH", "KATAKANA"]:
                return "JAPANESE"                            # kana anywhere: Japanese
            if found == "LATIN" and words[0] not in ("LATIN", "FULLWIDTH"):   # ＡＩ is Latin
                found = words[0]
    return found


def from_detector(label: str) -> str | None:
    return label if label in CODES else _DETECTOR.get(label)


@cache
def _names(reader: str) -> dict[str, str]:
    from babel import Locale  # CLDR tables, loaded only when a digest names a language

    return dict(Locale(reader).languages)


def name(code: str, reader: str) -> str:
    """'zh' in a Japanese digest is 中国語, in an English one Chinese."""
    try:
        return _names(reader).get(code) or code
    except (ValueError, LookupError):     # a reader language CLDR does not know
        return code
