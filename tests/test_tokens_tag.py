"""relay/tokens.py and relay/tag.py: one tokenizer, and topic tagging with the built-in taxonomy."""

from __future__ import annotations

import pytest

from relay.config import builtin_topics
from relay.models import Topic
from relay.tag import FEED_TERM, THRESHOLD, Taxonomy, compile_taxonomy, tag
from relay.tokens import tokenize


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return compile_taxonomy(builtin_topics(), tokenize)


# -- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "lang"),
    [
        ("量子コンピューター", "量子コンピュータ", "ja"),
        ("ＡＩ", "AI", "en"),
        ("ＡＩの研究", "AIの研究", "ja"),
        ("２０２６年", "2026年", "ja"),
        ("１２３ qubits", "123 qubits", "en"),
        ("招へい", "招聘", "ja"),
        ("computers", "computer", "en"),
        ("computing", "computer", "en"),
        ("Quantum Computers", "quantum computer", "en"),
        ("Halbleiterwerke", "Halbleiterwerk", "de"),
    ],
    ids=["long-vowel-mark", "full-width-latin", "full-width-latin-in-ja", "full-width-digits-ja",
         "full-width-digits-en", "kana-kanji-variant", "en-plural", "en-gerund", "case-and-stem",
         "de-stem"],
)
def test_same_tokens(a: str, b: str, lang: str) -> None:
    assert tokenize(a, lang) == tokenize(b, lang)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("量子コンピュータ", "ja", ["量子", "コンピューター"]),
        ("1億2100万", "ja", ["121000000"]),
        ("１億２１００万ドル", "ja", ["121000000", "ドル"]),
        ("ＡＩ", "en", ["ai"]),
        ("dual-use", "en", ["dual", "use"]),
        ("98-qubit processor", "en", ["98", "qubit", "processor"]),
        ("U.S. research", "en", ["us", "research"]),
        ("j'ai vu l'IA", "fr", ["vu", "ia"]),
        ("MAINストリート", "ja", ["main", "ストリート"]),
        ("核融合炉", "ja", ["核", "融合", "炉"]),
        ("文理融合", "ja", ["文理", "融合"]),
        ("Hello, world!", "en", ["hello", "world"]),
        ("", "en", []),
        ("", "ja", []),
    ],
    ids=["ja-normalized", "ja-number", "ja-full-width-number", "full-width-ai", "hyphen-split",
         "hyphen-digits", "dotted-abbreviation", "fr-elision-not-ai", "latin-in-ja-stays-latin",
         "compound-split", "bunri-yugo", "punctuation-dropped", "empty-en", "empty-ja"],
)
def test_tokens(text: str, lang: str, expected: list[str]) -> None:
    assert tokenize(text, lang) == expected


def test_french_jai_is_not_ai() -> None:
    assert "ai" not in tokenize("J'ai vu une conférence sur l'intelligence", "fr")
    assert "ai" in tokenize("AI", "en")


def test_long_japanese_text_is_tokenized() -> None:
    # Sudachi refuses very long inputs; the tokenizer cuts them at sentence ends.
    text = "量子コンピュータの研究が進む。" * 2000
    tokens = tokenize(text, "ja")
    assert tokens.count("コンピューター") == 2000


# -- tagging ------------------------------------------------------------------------------------


def topics_of(taxonomy: Taxonomy, title: str, body: str, lang: str,
              feed_topics: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    tags = tag(tokenize(title, lang), tokenize(body, lang), taxonomy, feed_topics)
    return {t.topic: t.terms for t in tags}


TAG_CASES = [
    # (id, title, body, lang, present, absent)
    ("ja-quantum", "理研、新たな量子コンピューターを公開",
     "理化学研究所は超伝導方式の量子ビットを用いた国産の量子コンピュータを公開した。",
     "ja", {"quantum"}, {"ai", "semiconductors"}),
    ("en-semiconductors", "TSMC to expand chip manufacturing in Arizona",
     "The semiconductor maker said the new fab would make advanced chips.",
     "en", {"semiconductors"}, {"ai", "quantum"}),
    ("ja-full-width-ai", "MITとハーバード大学、ＡＩの科学応用に向けた共同研究所を設立へ",
     "両大学は人工知能を科学研究に用いる研究所を設立する。", "ja", {"ai"}, {"quantum"}),
    ("ja-english-term-in-japanese", "米国のCHIPS Actに基づく先端パッケージング拠点",
     "商務省は補助金を発表した。", "ja", {"semiconductors"}, set()),
    ("fr-ia", "Le gouvernement lance une stratégie nationale sur l'IA",
     "L'intelligence artificielle sera au cœur du plan.", "fr", {"ai"}, set()),
    ("de-quantum", "Neues Förderprogramm für Quantencomputer",
     "Das Ministerium fördert die Quantentechnologie.", "de", {"quantum"}, set()),
    ("main-street-not-ai", "MAIN street shops reopen after the storm",
     "Local businesses on MAIN street reopened on Monday.", "en", set(), {"ai"}),
    ("main-in-japanese-not-ai", "MAINストリートの商店街が再開",
     "MAIN通りの商店が営業を再開した。", "ja", set(), {"ai"}),
    ("bunri-yugo-not-fusion", "文理融合の新学部を設置へ",
     "大学は文理融合の教育を進めるため新学部を設置する。", "ja", set(), {"fusion"}),
    ("fusion-cuisine-office-space", "Korean-Mexican fusion cuisine counter fills vacant office space",
     "The fusion cuisine restaurant opened in downtown office space.", "en",
     set(), {"fusion", "space"}),
    ("quantum-leap-in-sales", "A quantum leap in sales for local retailers",
     "Retailers reported a quantum leap in sales this quarter.", "en", set(), {"quantum"}),
    ("french-jai-not-ai", "J'ai visité le marché", "J'ai acheté des fruits.", "fr",
     set(), {"ai"}),
    ("satellite-campus-not-space", "University opens satellite campus downtown",
     "The satellite campus will host evening classes.", "en", set(), {"space"}),
    ("ja-fusion", "核融合炉の建設が始まる", "ITER計画の一環として建設が始まった。", "ja",
     {"fusion"}, set()),
    # a single incidental body mention (宇宙 inside the ministry's name) stays below threshold
    ("ministry-name-in-body-not-space", "BMFTR、量子コンピュータ実用化に向けた新たな助成プログラムを公表",
     "連邦研究技術宇宙省（BMFTR）は新しい助成プログラムを公表した。", "ja",
     {"quantum"}, {"space"}),
    # lithium is a critical mineral; a lithium-ion battery is not mining news
    ("ja-lithium", "チリ北部でリチウムの増産計画", "塩湖のかん水から炭酸リチウムを生産する。", "ja",
     {"critical-minerals"}, set()),
    ("en-lithium", "Chile to double lithium output by 2030",
     "The state miner will extract lithium from two more salt flats.", "en",
     {"critical-minerals"}, set()),
    ("ja-lithium-ion-not-minerals", "ポータブル電源（リチウムイオン）で発火",
     "リチウムイオン電池を内蔵した製品の回収が続いている。", "ja", set(), {"critical-minerals"}),
    ("en-lithium-ion-not-minerals", "Recall of lithium-ion power banks widens",
     "The lithium ion batteries can overheat; lithium batteries must not be thrown away.", "en",
     set(), {"critical-minerals"}),
    ("de-lithium-ionen-not-minerals", "Rückruf von Lithium-Ionen-Akkus",
     "Die Lithium-Ionen-Batterien können überhitzen.", "de", set(), {"critical-minerals"}),
    # the singer AI and potato chips are known distractors
    ("singer-ai-not-ai", "Singer Ai announces a winter tour",
     "The tour by Ai starts in Osaka.", "en", set(), {"ai"}),
    ("ja-ai-san-not-ai", "AIさんが年末の歌番組に出演", "AIさんは新曲を披露する。", "ja",
     set(), {"ai"}),
    ("potato-chips-not-semiconductors", "Potato chip plant adds a night shift",
     "The potato chips plant will hire 40 workers.", "en", set(), {"semiconductors"}),
    ("ja-venture", "ベンチャー3社が新たに資金を調達", "", "ja", {"startups"}, set()),
    ("ja-joint-venture-not-startups", "2社がジョイントベンチャーを設立", "", "ja", set(),
     {"startups"}),
    ("ja-pc-startup-settings-not-startups", "スタートアップ設定を見直してPCを高速化", "", "ja",
     set(), {"startups"}),
    ("ja-ion-trap", "イオントラップ方式の新型機を公開", "", "ja", {"quantum"}, set()),
    ("de-dfg", "DFG richtet neue Sonderforschungsbereiche ein", "", "de",
     {"research-funding"}, set()),
    ("en-appropriators", "House appropriators trim science agencies", "", "en",
     {"research-funding"}, set()),
    ("en-cfius-full-name", "Buyer walks away from drone deal",
     "The Committee on Foreign Investment in the United States (CFIUS) had objected.", "en",
     {"economic-security"}, set()),
    ("ja-supply-diversification", "レアアースの調達先の多様化を急ぐ", "", "ja",
     {"economic-security", "critical-minerals"}, set()),
    # a research centre or a national strategy is not research funding by itself
    ("ja-research-centre-not-funding", "国立がん研究センター、診療ガイドラインを改訂", "", "ja",
     set(), {"research-funding"}),
    ("en-research-center-not-funding", "Pew Research Center survey finds trust in news falling",
     "", "en", set(), {"research-funding"}),
    ("ja-strategic-zone-not-funding", "国家戦略特区諮問会議を開催", "", "ja", set(),
     {"research-funding"}),
]


@pytest.mark.parametrize(
    ("title", "body", "lang", "present", "absent"),
    [case[1:] for case in TAG_CASES],
    ids=[case[0] for case in TAG_CASES],
)
def test_tagging(taxonomy: Taxonomy, title: str, body: str, lang: str,
                 present: set[str], absent: set[str]) -> None:
    topics = topics_of(taxonomy, title, body, lang)
    assert present <= topics.keys()
    assert not absent & topics.keys()


@pytest.mark.parametrize(
    ("title", "body", "tagged"),
    [
        ("Local council news", "The council met. A semiconductor plant was mentioned.", False),
        ("Semiconductor plant approved", "The council met.", True),
        ("Local council news", "A semiconductor plant. Another semiconductor fab.", True),
    ],
    ids=["one-body-mention-below-threshold", "same-term-in-title-tags", "two-body-mentions"],
)
def test_title_weighs_more_than_body(taxonomy: Taxonomy, title: str, body: str,
                                     tagged: bool) -> None:
    assert ("semiconductors" in topics_of(taxonomy, title, body, "en")) is tagged


def test_hits_per_term_are_capped(taxonomy: Taxonomy) -> None:
    body = "The semiconductor industry. " * 10
    (t,) = tag([], tokenize(body, "en"), taxonomy)
    assert t.topic == "semiconductors"
    assert t.score == 3.0  # at most three occurrences of one term count


def test_tag_lists_matched_terms(taxonomy: Taxonomy) -> None:
    tags = tag(tokenize("TSMC expands chip manufacturing", "en"),
               tokenize("The semiconductor maker grows.", "en"), taxonomy)
    by_topic = {t.topic: t for t in tags}
    assert by_topic["semiconductors"].terms == ("TSMC", "chip manufacturing", "semiconductor")
    assert by_topic["semiconductors"].score == 2 + 2 + 1


def test_variant_spellings_match_one_term(taxonomy: Taxonomy) -> None:
    a = tag(tokenize("量子コンピュータの開発", "ja"), [], taxonomy)
    b = tag(tokenize("量子コンピューターの開発", "ja"), [], taxonomy)
    assert a == b
    assert a[0].topic == "quantum"


@pytest.mark.parametrize(
    ("title", "feed_topics", "expected"),
    [
        ("Weekly bulletin", ("space",), {"space": (FEED_TERM,)}),
        ("NASA launches a new probe", ("space",), {"space": ("NASA", FEED_TERM)}),
        ("Weekly bulletin", ("space", "research-funding"),
         {"space": (FEED_TERM,), "research-funding": (FEED_TERM,)}),
    ],
    ids=["feed-topic-alone", "feed-topic-and-terms", "two-feed-topics"],
)
def test_feed_topics_are_added(taxonomy: Taxonomy, title: str, feed_topics: tuple[str, ...],
                               expected: dict[str, tuple[str, ...]]) -> None:
    tags = tag(tokenize(title, "en"), [], taxonomy, feed_topics)
    assert {t.topic: t.terms for t in tags} == expected
    assert all(t.score >= THRESHOLD for t in tags)


def test_tags_best_score_first(taxonomy: Taxonomy) -> None:
    tags = tag(tokenize("Quantum computing startup raises seed round", "en"),
               tokenize("The quantum computing startup said its quantum computer works.", "en"),
               taxonomy)
    assert {t.topic for t in tags} == {"quantum", "startups"}
    assert [t.score for t in tags] == sorted((t.score for t in tags), reverse=True)


def test_one_mention_counts_once_per_topic(taxonomy: Taxonomy) -> None:
    # 生成AI contains AI: the longest match stands for the mention, scored once, so one
    # mention in the body stays under the threshold and two reach it.
    assert tag([], tokenize("生成AIの利用が広がる。", "ja"), taxonomy) == ()
    (t,) = tag([], tokenize("生成AIとAIの利用が広がる。", "ja"), taxonomy)
    assert (t.topic, t.score, t.terms) == ("ai", 2.0, ("AI", "生成AI"))


def test_exclude_only_blocks_its_own_span() -> None:
    topics = [Topic(id="space", labels={"en": "Space"}, terms={"en": ("satellite",)},
                    exclude={"en": ("satellite campus",)})]
    taxonomy = compile_taxonomy(topics, tokenize)
    body = tokenize("A satellite campus opens. The satellite reached orbit.", "en")
    (t,) = tag(tokenize("Satellite news", "en"), body, taxonomy)
    assert t.score == 2 + 1  # the title hit and the second body hit, not the campus


# -- every other language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("量子计算机", "zh", ["量子", "子计", "计算", "算机"]),
        ("國科會", "zh", ["國科", "科會"]),
        ("量", "zh", ["量"]),                                       # a lone character
        ("中国AI研究，投资3亿", "zh", ["中国", "ai", "研究", "投资", "3", "亿"]),
        ("서울시는 AI 연구", "ko", ["서울", "울시", "시는", "ai", "연구"]),
        ("วิจัยควอนตัม", "th", ["วิ", "ิจ", "จั", "ัย", "ยค", "คว", "วอ", "อน", "นต", "ตั", "ัม"]),
        ("Квантовые компьютеры", "ru", ["квантов", "компьютер"]),
        ("computação quântica", "pt", ["comput", "quântic"]),
        ("investigación científica", "es", ["investig", "cientif"]),
        ("ricerca scientifica", "it", ["ricerc", "scientif"]),
        ("wetenschappelijk onderzoeken", "nl", ["wetenschappelijk", "onderzoek"]),
        ("Tiếng Việt", "vi", ["tiếng", "việt"]),                   # no stemmer: whole words
        ("Ερευνητικό πρόγραμμα", "el", ["ερευνητ", "προγραμμ"]),
    ],
    ids=["zh-hans", "zh-hant", "zh-one-char", "zh-with-latin", "ko", "th", "ru", "pt", "es",
         "it", "nl", "vi-no-stemmer", "el"],
)
def test_tokens_of_other_languages(text: str, lang: str, expected: list[str]) -> None:
    assert tokenize(text, lang) == expected


@pytest.mark.parametrize(
    ("title", "lang", "topic"),
    [("中国发布新一代AI芯片", "zh", "ai"), ("Новый проект AI в Москве", "ru", "ai"),
     ("Governo lança programa de AI", "pt", "ai")],
    ids=["zh", "ru", "pt"],
)
def test_latin_terms_still_tag_other_languages(taxonomy: Taxonomy, title: str, lang: str,
                                               topic: str) -> None:
    """The taxonomy has no zh/ru/pt terms, but a Latin term inside such text matches."""
    tags = tag(tokenize(title, lang), [], taxonomy)
    assert topic in {t.topic for t in tags}
