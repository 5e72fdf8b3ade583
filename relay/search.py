"""A user's search query -> an FTS5 MATCH expression over normalized tokens.

The index holds the same normalized tokens as tagging (see `tokens`), so the
query is tokenized the same way: 量子コンピュータ finds 量子コンピューター,
"computers" finds "computer". Syntax:
- words are ANDed: `quantum funding`
- "double quotes" make a phrase: `"quantum computing"`
- OR and NOT (upper case) combine words or phrases: `quantum OR 量子 NOT leap`
- a trailing * is a prefix: `semicond*`
- parentheses group: `(quantum OR 量子) funding`
Every word becomes a quoted FTS5 phrase of its tokens, so no user input is
ever FTS5 syntax. A word is tokenized as the index tokenized the items it may be in
(each form a phrase, the forms ORed):
with kana as Japanese; han alone as Japanese OR Chinese (Sudachi words or character
bigrams); hangul as Korean; another script as the languages of that script among
the search's `langs` (`--lang`), without `langs` among the languages the archive
holds items in (`held`), else its usual one (ru for Cyrillic); Latin letters as
English and as each Latin-script language among `langs` (`--lang pt` finds
"investigação" by its Portuguese stem), without `langs` as each Latin-script
language of `held` and as the word as written (a language Snowball lacks), so
"Bolsonaro" finds a Portuguese item with no `--lang`. A query that is empty, has unbalanced quotes or
parentheses, or puts an operator where a word belongs is a `QueryError`; so is one longer
than MAX_QUERY_CHARS or with parentheses nested deeper than MAX_NESTING (SQLite's FTS5
parser overflows its stack near 33 levels of `a AND (`). The error shows the query on one
line, control characters escaped and cut to 80 characters.
`highlight` marks, in a result's original text, the words whose tokens the query
looked for (so 量子コンピュータ is marked when the query said 量子コンピューター).
Pure: the tokenizer is passed in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from relay import langs as languages
from relay.errors import QueryError

Tokenizer = Callable[[str, str], list[str]]
_LEX = re.compile(r'\s*(?:(")|(\()|(\))|([^\s"()]+))')
MAX_QUERY_CHARS = 1000
MAX_NESTING = 10


# Not a language code: the tokenizer keeps the words of a language it has no stemmer for
# as written (case-folded), which is what this stands for.
AS_WRITTEN = "und"


def _langs_of(text: str, wanted: Sequence[str], held: Sequence[str] = ()) -> list[str]:
    """The languages a query word may have been indexed in (see the module rules)."""
    script = languages.script_of(text)
    if script == "JAPANESE":
        return ["ja"]
    if script == "CJK":
        return ["ja", "zh"]
    among = wanted or held
    if script == "LATIN":
        written = [AS_WRITTEN] if held and not wanted else []
        return list(dict.fromkeys(
            ["en", *(w for w in among if languages.script(w) == "LATIN"), *written]))
    return [w for w in among if languages.script(w) == script] or [languages.default(script)]


def _phrase(text: str, tokenize: Tokenizer, prefix: bool = False,
            wanted: Sequence[str] = (), held: Sequence[str] = ()) -> str | None:
    forms: list[list[str]] = []
    for lang in _langs_of(text, wanted, held):
        toks = tokenize(text, lang)
        if toks and toks not in forms:
            forms.append(toks)
    if not forms:
        return None
    phrases = ['"' + " ".join(t.replace('"', '""') for t in toks) + '"' + (" *" if prefix else "")
               for toks in forms]
    return phrases[0] if len(phrases) == 1 else "(" + " OR ".join(phrases) + ")"


def shown(query: str, width: int = 80) -> str:
    """The query as an error names it: one line, control characters and lone surrogates
    escaped (they cannot be printed; a space such as U+3000 is kept), at most `width`
    characters."""
    text = "".join(ch if ch.isprintable() or unicodedata.category(ch) == "Zs"
                   else ascii(ch)[1:-1] for ch in query[:width + 1])
    return text[:width] + "…" if len(text) > width else text


def _lex(query: str) -> list[tuple[str, str]]:
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters",
                         where=shown(query))
    bad = next((i for i, ch in enumerate(query) if 0xD800 <= ord(ch) <= 0xDFFF), None)
    if bad is not None:      # bytes that were not UTF-8 on the command line
        raise QueryError(f"the query is not valid text at character {bad + 1}",
                         where=shown(query))
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        m = _LEX.match(query, pos)
        if not m:
            raise QueryError(f"cannot read the query at character {pos + 1}", where=shown(query))
        if m.group(1):
            end = query.find('"', m.end())
            if end < 0:
                raise QueryError("unbalanced double quote", where=shown(query),
                                 hint='close the phrase: "quantum computing"')
            out.append(("PHRASE", query[m.end():end]))
            pos = end + 1
            continue
        if m.group(2):
            out.append(("(", "("))
        elif m.group(3):
            out.append((")", ")"))
        else:
            word = m.group(4)
            out.append(("OP", word) if word in ("AND", "OR", "NOT") else ("WORD", word))
        pos = m.end()
    return out


def query_tokens(query: str, tokenize: Tokenizer, langs: Sequence[str] = (),
                 held: Sequence[str] = ()) -> set[str]:
    """The tokens a query looks for (not those after NOT), for highlighting."""
    found: set[str] = set()
    negated = False
    for kind, value in _lex(query):
        if kind == "OP":
            negated = value == "NOT"
            continue
        if kind in ("WORD", "PHRASE") and not negated:
            text = value.rstrip("*")
            for lang in _langs_of(text, langs, held):
                found.update(tokenize(text, lang))
        negated = False
    return found


def highlight(pieces: Sequence[tuple[str, Sequence[str]]], wanted: set[str],
              width: int = 160, mark: tuple[str, str] = ("[", "]")) -> str:
    """A snippet of about `width` characters around the first matched word, each matched
    word between `mark`s. `pieces` come from `tokens.spans`."""
    hits = [i for i, (_, toks) in enumerate(pieces) if wanted & set(toks)]
    start = 0
    if hits:
        # Back up a little from the first hit so that the snippet reads as context.
        chars = 0
        start = hits[0]
        while start > 0 and chars < width // 4:
            start -= 1
            chars += len(pieces[start][0])
    out: list[str] = []
    length = 0
    for i in range(start, len(pieces)):
        text = pieces[i][0]
        if length + len(text) > width and out:
            out.append("…")
            break
        out.append(f"{mark[0]}{text}{mark[1]}" if i in hits else text)
        length += len(text)
    snippet = " ".join("".join(out).split()).replace(mark[1] + mark[0], "")  # [量子][計算]
    return ("…" + snippet) if start > 0 else snippet


def to_fts(query: str, tokenize: Tokenizer, langs: Sequence[str] = (),
           held: Sequence[str] = ()) -> str:
    """The FTS5 expression for a user query (see the module rules); `langs` are the
    languages the search is limited to (`--lang`), if any; `held` the languages the
    archive holds items in (read when `langs` is empty)."""
    tokens = _lex(query)
    parts: list[str] = []
    depth = 0
    expect_operand = True
    for kind, value in tokens:
        if kind in ("WORD", "PHRASE"):
            prefix = kind == "WORD" and value.endswith("*")
            phrase = _phrase(value.rstrip("*") if prefix else value, tokenize, prefix, langs,
                             held)
            if phrase is None:
                continue  # punctuation only: nothing to find
            if not expect_operand:
                parts.append("AND")
            parts.append(phrase)
            expect_operand = False
        elif kind == "OP":
            if expect_operand:
                raise QueryError(f"{value} needs a word before it", where=shown(query))
            parts.append(value)
            expect_operand = True
        elif kind == "(":
            if not expect_operand:
                parts.append("AND")
            parts.append("(")
            depth += 1
            if depth > MAX_NESTING:
                raise QueryError(f"parentheses nested deeper than {MAX_NESTING} levels",
                                 where=shown(query))
            expect_operand = True
        else:
            if depth == 0 or expect_operand:
                raise QueryError("unbalanced or empty parentheses", where=shown(query))
            parts.append(")")
            depth -= 1
    if depth:
        raise QueryError("unbalanced parentheses", where=shown(query))
    if not parts:
        raise QueryError("the query has no words to search for", where=shown(query))
    if expect_operand:
        raise QueryError(f"{parts[-1]} needs a word after it", where=shown(query))
    return " ".join(parts)
