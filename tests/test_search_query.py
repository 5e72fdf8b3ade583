"""relay/search.py: a user's query -> an FTS5 MATCH expression over normalized tokens."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from relay.errors import QueryError
from relay.search import to_fts
from relay.tokens import tokenize

GOOD = [
    # (id, query, FTS5 expression)
    ("one-word", "quantum", '"quantum"'),
    ("words-anded", "quantum funding", '"quantum" AND "fund"'),
    ("explicit-and", "quantum AND funding", '"quantum" AND "fund"'),
    ("phrase", '"quantum computing"', '"quantum comput"'),
    ("phrase-and-word", '"quantum computing" Yale', '"quantum comput" AND "yale"'),
    ("or", "quantum OR 量子", '"quantum" OR "量子"'),
    ("not", "quantum NOT leap", '"quantum" NOT "leap"'),
    ("or-and-not", "quantum OR 量子 NOT leap", '"quantum" OR "量子" NOT "leap"'),
    ("prefix", "semicond*", '"semicond" *'),
    ("parentheses", "(quantum OR 量子) funding", '( "quantum" OR "量子" ) AND "fund"'),
    ("nested-parentheses", "((a OR b) NOT c) d", '( ( "a" OR "b" ) NOT "c" ) AND "d"'),
    ("japanese-word-phrase", "量子コンピュータ", '"量子 コンピューター"'),
    ("japanese-variant-same", "量子コンピューター", '"量子 コンピューター"'),
    ("stemmed", "computers", '"comput"'),
    ("full-width", "ＡＩ", '"ai"'),
    ("hyphenated-word", "dual-use", '"dual use"'),
    ("punctuation-only-word-skipped", "!!! quantum", '"quantum"'),
    ("empty-phrase-skipped", 'quantum "" funding', '"quantum" AND "fund"'),
    ("fts-syntax-is-quoted", "NEAR(a b) col:x", '"near" AND ( "a" AND "b" ) AND "col x"'),
    ("lower-case-or-is-a-word", "quantum or fusion", '"quantum" AND "or" AND "fusion"'),
]

BAD = [
    # (id, query, fragment of the message)
    ("unbalanced-quote", '"quantum computing', "double quote"),
    ("quote-inside-word", 'say"hi', "double quote"),
    ("unclosed-paren", "(quantum OR fusion", "parentheses"),
    ("unopened-paren", "quantum)", "parentheses"),
    ("empty-parens", "quantum ()", "parentheses"),
    ("leading-or", "OR quantum", "OR needs a word before it"),
    ("leading-not", "NOT quantum", "NOT needs a word before it"),
    ("leading-and", "AND quantum", "AND needs a word before it"),
    ("trailing-not", "quantum NOT", "NOT needs a word after it"),
    ("trailing-or", "quantum OR", "OR needs a word after it"),
    ("double-operator", "quantum OR OR fusion", "OR needs a word before it"),
    ("operator-after-paren", "(OR quantum)", "OR needs a word before it"),
    ("empty", "", "no words"),
    ("spaces-only", "   ", "no words"),
    ("punctuation-only", "!!! ???", "no words"),
    ("star-only", "*", "no words"),
]


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(title, body)")
    # rows hold normalized tokens, space-joined, as the archive's index does
    rows = [
        ("Quantum computers in Connecticut", "The state will fund quantum research at Yale."),
        ("量子コンピューターの研究", "大学が量子コンピュータの研究資金を得た。"),
        ("A quantum leap in sales", "Retailers saw a leap."),
        ("Semiconductor fab expansion", "A dual-use chip plant."),
    ]
    for title, body in rows:
        lang = "ja" if any("\u3040" <= ch <= "\u9fff" for ch in title) else "en"
        conn.execute("INSERT INTO t (title, body) VALUES (?, ?)",
                     (" ".join(tokenize(title, lang)), " ".join(tokenize(body, lang))))
    yield conn
    conn.close()


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_to_fts(query: str, expected: str) -> None:
    assert to_fts(query, tokenize) == expected


@pytest.mark.parametrize("query", [c[1] for c in GOOD], ids=[c[0] for c in GOOD])
def test_expression_is_valid_fts5(fts: sqlite3.Connection, query: str) -> None:
    expression = to_fts(query, tokenize)
    fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


@pytest.mark.parametrize(
    ("query", "rowids"),
    [
        ("quantum", {1, 3}),
        ("quantum computer", {1}),
        ('"computers quantum"', set()),
        ('"quantum computers"', {1}),
        ("quantum NOT leap", {1}),
        ("量子コンピュータ", {2}),
        ("(quantum OR 量子) NOT leap", {1, 2}),
        ("semicond*", {4}),
        ("dual-use", {4}),
    ],
    ids=["word", "stem-and", "phrase-order-matters", "phrase-stemmed", "not", "japanese-variant",
         "group", "prefix", "hyphenated"],
)
def test_expression_finds_rows(fts: sqlite3.Connection, query: str, rowids: set[int]) -> None:
    found = {r[0] for r in fts.execute("SELECT rowid FROM t WHERE t MATCH ?",
                                       (to_fts(query, tokenize),))}
    assert found == rowids


@pytest.mark.parametrize(("query", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_query(query: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        to_fts(query, tokenize)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("query", "text", "lang", "expected"),
    [
        ("量子コンピューター", "州は量子コンピュータの研究拠点を整備する。", "ja",
         "州は[量子コンピュータ]の研究拠点を整備する。"),
        ("computers", "The lab builds quantum computing prototypes.", "en",
         "The lab builds quantum [computing] prototypes."),
        ("qubit NOT leap", "A leap in qubit counts.", "en", "A leap in [qubit] counts."),
        ("missing", "Nothing matches here.", "en", "Nothing matches here."),
    ],
    ids=["ja-variant", "en-stem", "not-is-not-marked", "no-hit"],
)
def test_highlight_marks_what_the_query_found(query, text, lang, expected):
    from relay.search import highlight, query_tokens
    from relay.tokens import spans

    assert highlight(spans(text, lang), query_tokens(query, tokenize)) == expected


def test_highlight_cuts_long_text_around_the_first_hit():
    from relay.search import highlight, query_tokens
    from relay.tokens import spans

    text = "Filler sentence here. " * 20 + "The qubit record was set. " + "More filler. " * 20
    snippet = highlight(spans(text, "en"), query_tokens("qubit", tokenize), width=80)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "[qubit]" in snippet and len(snippet) < 100


@pytest.mark.parametrize(
    ("query", "langs", "expected"),
    [
        ("核融合", (), '("核 融合" OR "核融 融合")'),              # ja words or zh bigrams
        ("量子计算", (), '("量子 计算" OR "量子 子计 计算")'),
        ("量子", (), '"量子"'),                                    # one form: no OR
        ("量子コンピュータ", (), '"量子 コンピューター"'),          # kana: Japanese only
        ("서울시", (), '"서울 울시"'),
        ("квантовые", (), '"квантов"'),                            # Cyrillic: Russian stem
        ("квантовые", ("uk",), '"квантовые"'),                     # ... or the asked-for one
        ("investigação", ("pt",), '("investigação" OR "investig")'),
        ("quantum", ("ja", "zh"), '"quantum"'),
    ],
    ids=["kanji", "hanzi", "one-form", "kana", "hangul", "cyrillic", "cyrillic-uk",
         "latin-with-lang", "latin-cjk-langs"],
)
def test_words_are_tokenized_as_the_index_may_hold_them(query, langs, expected) -> None:
    assert to_fts(query, tokenize, langs) == expected


@pytest.mark.parametrize(
    ("query", "langs", "held", "expected"),
    [
        ("Bolsonaro", (), ("en", "pt"), '("bolsonaro" OR "bolsonar")'),
        ("investigação", (), ("ja", "en", "pt"), '("investigação" OR "investig")'),
        ("Regierung", (), ("de", "en"), '("regierung" OR "regier")'),
        ("computers", (), ("en",), '("comput" OR "computers")'),
        ("computers", ("en",), ("en", "pt"), '"comput"'),          # --lang: only its stems
        ("Bolsonaro", ("pt",), ("en", "pt", "de"), '("bolsonaro" OR "bolsonar")'),
        ("квантовые", (), ("ru", "uk", "en"), '("квантов" OR "квантовые")'),
        ("квантовые", (), ("en",), '"квантов"'),                      # none held: Russian
        ("核融合", (), ("ja", "zh", "pt"), '("核 融合" OR "核融 融合")'),
        ("量子コンピュータ", (), ("ja", "pt"), '"量子 コンピューター"'),
        ('"Jair Bolsonaro" OR Lula', (), ("en", "pt"),
         '("jair bolsonaro" OR "jair bolsonar") OR ("lula" OR "lul")'),
    ],
    ids=["pt-held", "pt-accents", "de-held", "en-only-plus-as-written", "lang-wins",
         "lang-pt", "cyrillic-held", "cyrillic-none-held", "kanji-unchanged", "kana-unchanged",
         "phrase-and-or"],
)
def test_without_lang_a_word_is_stemmed_as_each_language_held(query, langs, held,
                                                             expected) -> None:
    assert to_fts(query, tokenize, langs, held) == expected
