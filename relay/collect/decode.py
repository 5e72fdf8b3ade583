"""Bytes of a feed or page -> text, whatever the publisher declared.

Real sources lie about their encoding (see shared/design/SOURCES.md, hazard
3): Shift_JIS declared but CP932 written, UTF-8 written but ISO-8859-1
declared, nothing declared at all. Rules, in order:
1. a byte-order mark decides;
2. otherwise the candidates are the HTTP charset, then the XML declaration
   or HTML <meta charset>, each mapped to the superset codec that publishers
   actually use (Shift_JIS -> cp932, EUC-JP -> euc_jis_2004 fallback,
   ISO-8859-1/US-ASCII -> cp1252);
3. a body that is valid UTF-8 and contains non-ASCII bytes is UTF-8 even
   when a single-byte charset is declared (mojibake is the likelier error);
4. the first candidate that decodes without error wins; with none declared
   or none fitting, UTF-8, then the Japanese codecs (best scored by how
   Japanese the result reads), then cp1252.
Returns the text and the codec used. Pure.
"""

from __future__ import annotations

import codecs
import re

_XML_DECL = re.compile(rb"""^\s*<\?[a-zA-Z]*xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_ALIASES = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "windows-31j": "cp932", "csshiftjis": "cp932", "cp932": "cp932",
    "euc-jp": "euc_jp", "euc_jp": "euc_jp", "x-euc-jp": "euc_jp", "eucjp": "euc_jp",
    "iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
    "ascii": "cp1252", "iso_8859-1": "cp1252",
    "gb2312": "gb18030", "gbk": "gb18030",
}
_FALLBACKS = {"euc_jp": ("euc_jis_2004",), "cp932": ("shift_jis_2004",)}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def codec_for(label: str) -> str | None:
    name = _ALIASES.get(label.strip().lower(), label.strip().lower())
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", content_type or "", re.IGNORECASE)
    return m.group(1) if m else None


def declared_charset(body: bytes) -> str | None:
    head = body[:2048]
    m = _XML_DECL.match(head) or _META.search(head)
    return m.group(1).decode("ascii") if m else None


def _japanese_score(text: str) -> int:
    hiragana = sum(1 for ch in text if "\u3041" <= ch <= "\u309f")
    halfwidth = sum(1 for ch in text if "\uff61" <= ch <= "\uff9f")
    replacement = text.count("\ufffd")
    return hiragana - 3 * halfwidth - 10 * replacement


def _try(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, codec) following the module rules."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace").lstrip("\ufeff"), codec
    labels = [charset_from_content_type(content_type), declared_charset(body)]
    candidates = [c for c in (codec_for(lab) for lab in labels if lab) if c]
    is_ascii = body.isascii()
    if not is_ascii and (utf8 := _try(body, "utf-8")) is not None:
        return utf8, "utf-8"
    for codec in candidates:
        for name in (codec, *_FALLBACKS.get(codec, ())):
            text = _try(body, name)
            if text is not None:
                return text, name
    if is_ascii:
        return body.decode("ascii"), "ascii"
    japanese = [(t, c) for c in ("cp932", "euc_jp", "euc_jis_2004")
                if (t := _try(body, c)) is not None]
    if japanese:
        best = max(japanese, key=lambda tc: _japanese_score(tc[0]))
        if _japanese_score(best[0]) > 0:
            return best
    return body.decode("cp1252", errors="replace"), "cp1252"


def as_utf8_document(body: bytes, content_type: str = "") -> tuple[bytes, str]:
    """The body re-encoded as UTF-8 with its XML declaration saying so, and the codec."""
    text, codec = decode(body, content_type)
    text = re.sub(r"""^(\s*<\?[a-zA-Z]*xml[^>]*?encoding\s*=\s*["'])[^"']+(["'])""",
                  r"\1utf-8\2", text, count=1)
    return text.encode("utf-8"), codec
