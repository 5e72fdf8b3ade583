"""relay/text.py: HTML to text, URL keys, language detection, content hash, excerpt."""

from __future__ import annotations

import pytest

from relay.text import content_hash, detect_lang, excerpt, html_to_text, url_key


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("<b>Hello</b> <i>world</i>", "Hello world"),
        ('<a href="https://example.org/">link</a> text', "link text"),
        ("<p>First</p><p>Second</p>", "First\nSecond"),
        ("one<br>two<br/>three<BR />four", "one\ntwo\nthree\nfour"),
        ("<div>one</div>   <div>two</div>", "one\ntwo"),
        ("<ul><li>a</li><li>b</li></ul><h2>Title</h2>body", "a\nb\nTitle\nbody"),
        ("Tom &amp; Jerry &lt;3 &quot;q&quot;", 'Tom & Jerry <3 "q"'),
        ("&#x91CF;&#23376; caf&eacute; &nbsp;x", "量子 café x"),
        ("<script>alert('x')</script>Visible", "Visible"),
        ("<style>p { color: red }</style>Visible", "Visible"),
        ("<!-- a comment -->Visible", "Visible"),
        ("  many \t  spaces\u3000here  ", "many spaces here"),
        ("<p>  line one  </p>\n\n\n<p>line two</p>", "line one\nline two"),
        ("１２３ ＡＩ", "１２３ ＡＩ"),
        ("plain text", "plain text"),
        ("", ""),
    ],
    ids=["inline-tags", "link", "paragraphs", "br-forms", "divs", "list-and-heading",
         "named-entities", "numeric-entities-nbsp", "script-dropped", "style-dropped",
         "comment-dropped", "spaces-collapsed", "blank-lines-collapsed",
         "full-width-kept-for-display", "plain", "empty"],
)
def test_html_to_text(fragment: str, expected: str) -> None:
    assert html_to_text(fragment) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?utm_source=rss&utm_medium=feed&utm_campaign=x",
         "https://example.org/a"),
        ("https://example.org/a?id=7&UTM_Content=x", "https://example.org/a?id=7"),
        ("https://example.org/a?fbclid=IwAR0abc&gclid=xyz&msclkid=1", "https://example.org/a"),
        ("http://www.heise.de/meldung/x-3088438.html?wt_mc=rss.developer.beitrag.atom",
         "http://www.heise.de/meldung/x-3088438.html"),
        ("https://example.org/p?WT.mc_id=abc&id=3", "https://example.org/p?id=3"),
        ("http://www.lemonde.fr/article/x_5059121_3222.html?xtor=RSS-3208",
         "http://www.lemonde.fr/article/x_5059121_3222.html"),
        ("http://www.dailymail.co.uk/a.html?ITO=1490&ns_mchannel=rss&ns_campaign=1490",
         "http://www.dailymail.co.uk/a.html"),
        ("https://news.yahoo.co.jp/articles/93f3?source=rss",
         "https://news.yahoo.co.jp/articles/93f3"),
        ("https://example.org/a?source=newsletter-7", "https://example.org/a?source=newsletter-7"),
        ("https://www.boston.us.emb-japan.go.jp/itpr_ja/a.html",
         "https://www.boston.us.emb-japan.go.jp/itpr_ja/a.html"),
        ("http://www.tls.org/~moriya/diary/?200601a#200601033",
         "http://www.tls.org/~moriya/diary?200601a#200601033"),
        ("https://example.org/a?b=2&a=1&c=3", "https://example.org/a?b=2&a=1&c=3"),
        ("https://example.org/s?q=%E9%87%8F%E5%AD%90+x&utm_source=x",
         "https://example.org/s?q=%E9%87%8F%E5%AD%90+x"),
        ("https://example.org/itpr_ja/11.html#d25", "https://example.org/itpr_ja/11.html#d25"),
        ("https://example.org/2026/post#comment-12", "https://example.org/2026/post#comment-12"),
        ("https://example.org/a#comments", "https://example.org/a"),
        ("https://example.org/a#respond", "https://example.org/a"),
        ("https://example.org/a#top", "https://example.org/a"),
        ("https://example.org/a#more-123", "https://example.org/a"),
        ("https://example.org/a#xtor=RSS-3208", "https://example.org/a"),
        ("https://example.org/a#utm_source=feed&utm_medium=rss", "https://example.org/a"),
        ("http://www.spiegel.de/x-a-1128896.html#ref=rss", "http://www.spiegel.de/x-a-1128896.html"),
        ("https://example.org/a#", "https://example.org/a"),
        ("https://example.org/a/b/", "https://example.org/a/b"),
        ("https://example.org/", "https://example.org/"),
        ("https://example.org", "https://example.org/"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        ("HTTPS://WWW.Example.ORG/Path/To", "https://www.example.org/Path/To"),
        ("https://example.org//a//b", "https://example.org/a/b"),
        ("http://[::1]:8080/a#x1", "http://[::1]:8080/a#x1"),
        ("  https://example.org/a  ", "https://example.org/a"),
        ("mailto:someone@example.org", "mailto:someone@example.org"),
        ("/relative/path#d25", "/relative/path#d25"),
        ("", ""),
    ],
    ids=["utm", "utm-upper-case", "click-ids", "heise-wt_mc", "webtrends", "xtor",
         "dailymail-ito-ns", "source-rss", "source-other-kept", "www-kept",
         "query-without-equals-kept", "query-order-kept", "query-encoding-kept",
         "fragment-d25-kept", "fragment-comment-id-kept", "fragment-comments",
         "fragment-respond", "fragment-top", "fragment-more-n", "fragment-xtor",
         "fragment-utm", "fragment-ref-rss", "fragment-empty", "trailing-slash",
         "root-slash-kept", "root-added", "default-http-port", "default-https-port",
         "other-port-kept", "scheme-host-case-path-kept", "double-slashes", "ipv6",
         "surrounding-spaces", "not-http-untouched", "relative-untouched", "empty"],
)
def test_url_key(url: str, expected: str) -> None:
    assert url_key(url) == expected


@pytest.mark.parametrize(
    "url", ["https://example.org:80/a", "http://example.org:443/a"],
    ids=["https-on-80", "http-on-443"])
def test_url_key_keeps_non_default_port(url: str) -> None:
    assert url_key(url) == url


def test_url_key_agrees_across_variants() -> None:
    variants = [
        "https://www.example.org/news/item-1/?utm_source=rss",
        "https://www.example.org:443/news/item-1",
        "HTTPS://WWW.EXAMPLE.ORG/news/item-1#top",
        "https://www.example.org/news/item-1#xtor=RSS-1",
    ]
    assert len({url_key(v) for v in variants}) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.example.org/a", "https://example.org/a"),
        ("https://example.org/11.html#d25", "https://example.org/11.html#d26"),
        ("https://example.org/diary/?200601a", "https://example.org/diary/?200512c"),
        ("https://example.org/a?id=1&p=2", "https://example.org/a?id=1"),
    ],
    ids=["www-is-another-host", "fragments-tell-apart", "bare-query", "real-parameter"],
)
def test_url_key_tells_apart(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        ("量子コンピュータの研究開発が進む", None, "ja"),
        ("文部科学省発表", None, "ja"),  # kanji only, more than three
        ("ひらがな", "en", "ja"),
        ("The ministry said that the new programme will fund quantum research.", None, "en"),
        ("Die Bundesregierung hat die Förderung für die Forschung und Entwicklung erhöht.",
         None, "de"),
        ("Le gouvernement a annoncé une nouvelle stratégie pour la recherche et les start-up.",
         None, "fr"),
        ("Der Minister und die Forscher", "fr", "de"),  # common words beat the hint
        ("Quantum", "de", "de"),  # no common words: the hint
        ("Quantum", None, "en"),  # no hint: en
        ("2026", "fr", "fr"),
        ("", None, "en"),
    ],
    ids=["ja-kana", "ja-kanji-only", "ja-beats-hint", "en", "de", "fr", "words-beat-hint",
         "hint-fallback", "en-fallback", "digits-hint", "empty"],
)
def test_detect_lang(text: str, hint: str | None, expected: str) -> None:
    assert detect_lang(text, hint) == expected


@pytest.mark.parametrize(
    ("text", "hint"), [("核融合", "ja"), ("訃報", "ja")], ids=["three-kanji", "two-kanji-hint-ja"])
def test_detect_lang_short_kanji_text(text: str, hint: str | None) -> None:
    assert detect_lang(text, hint) == "ja"


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        # Japanese, and the kanji-only headlines ministries write
        ("政府は量子技術の研究開発に予算を充てる。", None, "ja"),
        ("内閣府 消費動向調査", None, "ja"),          # 査 is Japanese only
        ("内閣府 消費動向", None, "ja"),              # 内 (not Traditional) beside 閣費動 (not Simplified)
        ("外務省 報道発表", None, "ja"),
        ("文部科学省 新着情報", None, "ja"),
        ("緊急事態", "ja", "ja"),                     # no telling sign: the feed's ja stands
        ("核融合", None, "zh"),                       # no telling sign and no ja declared: zh
        ("緊急事態宣言の解除について", "zh", "ja"),   # kana: ja whatever the feed says
        # Chinese, Simplified and Traditional
        ("国际货币基金组织称全球经济恢复放缓", None, "zh"),
        ("白宫提名艾伦为北约最高司令官", "ja", "zh"),  # plainly Simplified: a ja hint yields
        ("國際貨幣基金組織稱全球經濟恢復放緩", None, "zh"),
        ("行政院會議通過科技預算", None, "zh"),
        ("这是一个关于日本の动漫的新闻报道，引起了很多讨论", None, "zh"),  # a stray の
        ("建国35周年纪念，华表，和平鸽", "zh", "zh"),
        # Korean, Cyrillic, and Latin-script languages py3langid tells apart
        ("서울시는 인공지능 연구에 투자한다고 밝혔다", None, "ko"),
        ("Правительство выделило средства на развитие квантовых технологий", None, "ru"),
        ("Уряд виділив кошти на розвиток квантових технологій у країні", None, "uk"),
        ("O governo português anunciou um novo programa de investigação científica", None,
         "pt"),
        ("El gobierno español anunció un nuevo programa de investigación científica", None,
         "es"),
        ("Il governo italiano ha annunciato un nuovo programma di ricerca scientifica", None,
         "it"),
        ("De Nederlandse regering kondigde een nieuw programma voor wetenschappelijk onderzoek"
         " aan", None, "nl"),
        ("Η κυβέρνηση ανακοίνωσε νέο πρόγραμμα επιστημονικής έρευνας", None, "el"),
        # declared languages: trusted where the script fits, not elsewhere
        ("Promotoria abre inquérito para apurar suspeita", "pt", "pt"),
        ("Nieuws", "nl", "nl"),
        ("Правительство выделило средства", "en", "ru"),    # a declared en cannot be Cyrillic
        ("Новости", "uk", "uk"),                            # a Cyrillic language: it stands
        ("The ministry said that the new programme will fund research", "ja", "en"),
        ("The ministry said", "zz", "en"),                  # not an ISO 639-1 code: no hint
        ("The ministry said", "PT", "pt"),
        ("国务院常务会议", "zh-CN", "zh"),
        ("O governo anunciou", "pt_BR", "pt"),
    ],
    ids=["ja-sentence", "ja-kanji-title-sa", "ja-kanji-title-mixed-forms", "ja-hatsu",
         "ja-gaku-ho", "ja-tie-hint-ja", "kanji-tie-no-hint", "ja-kana-beats-zh-hint",
         "zh-hans", "zh-hans-beats-ja-hint", "zh-hant", "zh-hant-gov", "zh-stray-kana",
         "zh-hint", "ko", "ru", "uk", "pt", "es", "it", "nl", "el", "pt-hint", "nl-hint-short",
         "en-hint-cyrillic", "uk-hint-cyrillic", "ja-hint-latin", "bad-hint", "upper-hint",
         "region-subtag", "underscore-subtag"],
)
def test_detect_every_language(text: str, hint: str | None, expected: str) -> None:
    assert detect_lang(text, hint) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Quantum funding", "<p>The  state will <b>invest</b>.</p>"),
         ("Quantum funding", "The state will invest.")),
        (("Quantum   funding", "line one\nline two"), ("Quantum funding", "line one line two")),
        (("ＡＩ研究所を設立", "２０２６年に開所する。"), ("AI研究所を設立", "2026年に開所する。")),
        (("Quantum Funding", "The State"), ("quantum funding", "the state")),
        (("Quantum funding!", "It is — really — big."), ("Quantum funding", "It is really big")),
    ],
    ids=["markup", "whitespace", "full-width", "case", "punctuation"],
)
def test_content_hash_equal(a: tuple[str, str], b: tuple[str, str]) -> None:
    # the pipeline hashes the text after html_to_text, as here
    assert content_hash(a[0], html_to_text(a[1])) == content_hash(b[0], html_to_text(b[1]))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Quantum funding", "121 million"), ("Quantum funding", "122 million")),
        (("Quantum funding", "text"), ("Fusion funding", "text")),
    ],
    ids=["different-number", "different-title"],
)
def test_content_hash_differs(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert content_hash(*a) != content_hash(*b)


def test_content_hash_is_sha1_hex() -> None:
    digest = content_hash("t", "x")
    assert len(digest) == 40
    assert int(digest, 16) >= 0


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short text.", 280, "Short text."),
        ("line one\n\nline two", 280, "line one line two"),
        ("First sentence here. Second sentence is longer than the rest. Third one.", 50,
         "First sentence here."),
        ("量子技術の研究が進む。大学と企業が共同で新しい装置を開発した。さらに続く文章がある。",
         25, "量子技術の研究が進む。"),
        ("word " * 40, 50, ("word " * 10).strip() + "…"),
    ],
    ids=["short-unchanged", "newlines-flattened", "cut-at-sentence", "cut-at-japanese-stop",
         "cut-at-space-with-ellipsis"],
)
def test_excerpt(text: str, limit: int, expected: str) -> None:
    assert excerpt(text, limit) == expected


LEAD = "Funding was announced today. "


@pytest.mark.parametrize(
    "tricky",
    [
        "The grant goes to Dr. Alice Chen of Yale for her long work on quantum sensing",
        "Mr. Smith and Mrs. Jones met Prof. Tanaka and Ms. Ito in the capital for talks",
        "The U.S. and the U.K. signed a pact on quantum research and on export controls",
        "Executive Order No. 14110 sets rules for frontier AI models and for their makers",
        "Acme Inc. and Widget Ltd. open a fab on St. Mary Street near the old harbour",
        "The call opened Jan. 5 and closes in March for all applicants from abroad",
        "A report by J. R. Smith and K. Lee was published on Monday by the ministry",
        "It costs approx. five million dollars, e.g. for the new lab and its staff",
        "Die Förderung geht z.B. an Dr. Müller in Dresden und an Prof. Weber in Jena",
    ],
    ids=["dr", "mr-mrs-prof-ms", "us-uk", "no", "inc-ltd-st", "month", "initials",
         "approx-eg", "german-zb-dr"],
)
def test_excerpt_does_not_end_at_an_abbreviation(tricky: str) -> None:
    """The window ends inside the tricky sentence: the excerpt stops at the sentence
    before it, never after "Dr." or "U.S."."""
    assert excerpt(LEAD + tricky + " and so on until the end.", 80) == LEAD.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The lab opened in 2026. It employs forty researchers. It will grow a lot in the "
         "coming years, officials said on Monday.", "The lab opened in 2026. It employs forty "
         "researchers."),
        ("Will it work? Officials say the answer comes next year. The budget is not yet "
         "settled by the state parliament.", "Will it work? Officials say the answer comes "
         "next year."),
        ('The minister said: "We are ready to fund it." The state then voted on the budget '
         "bill with a large majority.", 'The minister said: "We are ready to fund it."'),
        ("The grant goes to Dr. Chen. Her lab studies quantum sensing with new kinds of "
         "diamond sensors in the field.", "The grant goes to Dr. Chen."),
        ("The board was asked whether to wait. The answer was no. Work starts now, on all "
         "sites at once and at full speed.", "The board was asked whether to wait. The answer "
         "was no."),
    ],
    ids=["year-then-sentence", "question", "quote", "dr-name-then-end", "no-as-a-word"],
)
def test_excerpt_ends_at_a_real_sentence_end(text: str, expected: str) -> None:
    assert excerpt(text, 80) == expected


@pytest.mark.parametrize("limit", range(len(LEAD) + 10, len(LEAD) + 30))
def test_excerpt_never_cuts_a_decimal_number(limit: int) -> None:
    text = LEAD + "Output rose 3.5 percent to 12.25 billion dollars, 1.8 more than in 2025 or 2024"
    assert excerpt(text, limit) == LEAD.strip()


def test_excerpt_respects_limit() -> None:
    text = "x" * 1000
    out = excerpt(text, 100)
    assert len(out) <= 101  # the cut plus the ellipsis
    assert out.endswith("…")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fraunhofer baut eine Pilotlinie für Chiplets in Dresden auf", "de"),
        ("Le CNRS ouvre un laboratoire commun sur les technologies quantiques", "fr"),
        ("The state opens a shared fabrication facility for chipmakers", "en"),
        # No stopword of any language: only the statistical detector can tell.
        ("Bundesförderung Quantencomputing Pilotlinie Halbleiterfertigung", "de"),
    ],
    ids=["de", "fr", "en", "de-without-stopwords"],
)
def test_detect_lang_without_a_hint(text, expected):
    assert detect_lang(text) == expected


LANGID_SAMPLES = ["Der Bundestag hat am Donnerstag beschlossen", "El gobierno anunció hoy nuevas",
                  "Правительство объявило", "il governo ha annunciato", "Fujitsu Augsburg Werk"]


def _langid_model():
    from pathlib import Path

    import py3langid.langid as langid
    return langid, Path(langid.MODEL_DIR) / langid.MODEL_FILE


def test_the_language_model_is_unpacked_once_into_the_cache_folder(tmp_path, monkeypatch):
    from relay import text
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    langid, model = _langid_model()
    unpacked = text._unpacked_identifier(langid.LanguageIdentifier, model)
    kept = list((tmp_path / "relay").iterdir())
    assert [p.suffix for p in kept] == [".npz"]     # no temporary file left behind
    again = text._unpacked_identifier(langid.LanguageIdentifier, model)     # read, not written
    assert list((tmp_path / "relay").iterdir()) == kept
    own = langid.LanguageIdentifier.from_modelpath(model, norm_probs=True)
    for sample in LANGID_SAMPLES:
        assert unpacked.rank(sample) == again.rank(sample) == own.rank(sample)


def test_a_damaged_cached_model_falls_back_to_py3langids_own(tmp_path, monkeypatch):
    from relay import text
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _, model = _langid_model()
    path = text._unpacked(model)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not a whole file")
    text._identifier.cache_clear()
    try:
        assert detect_lang("El gobierno anunció hoy nuevas medidas para la vivienda") == "es"
        assert not path.exists()        # the next process unpacks it again
    finally:
        text._identifier.cache_clear()


def _no_home(monkeypatch):
    """A service's user with no home directory and no $XDG_CACHE_HOME."""
    from pathlib import Path

    def nowhere() -> Path:
        raise RuntimeError("Could not determine home directory.")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(nowhere))


@pytest.mark.parametrize("xdg", [None, "relative/cache"], ids=["unset", "relative"])
def test_no_cache_folder_is_an_oserror_the_callers_pass_over(monkeypatch, xdg):
    from relay import cache
    _no_home(monkeypatch)
    if xdg:     # the XDG spec: a relative path is ignored
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    with pytest.raises(OSError, match="no cache folder"):
        cache.folder()


def test_without_a_cache_folder_languages_and_topics_are_still_read(monkeypatch):
    from relay import config, text
    _no_home(monkeypatch)
    text._identifier.cache_clear()
    config.builtin_topics.cache_clear()
    try:
        assert detect_lang("El gobierno anunció hoy nuevas medidas para la vivienda") == "es"
        assert [t.id for t in config.builtin_topics()][:2] == ["ai", "semiconductors"]
    finally:
        text._identifier.cache_clear()
        config.builtin_topics.cache_clear()
