"""Katakana and Latin names brought to one form (relay.names), and what that gives
story linking across languages."""

from __future__ import annotations

import pytest

from relay import dedup, names
from relay.tokens import tokenize


@pytest.mark.parametrize("katakana, latin", [
    ("スタンフォード", "Stanford"), ("ハーバード", "Harvard"), ("ボストン", "Boston"),
    ("ワシントン", "Washington"), ("ピッツバーグ", "Pittsburgh"), ("コロラド", "Colorado"),
    ("クオンタム", "Quantum"), ("カーターズビル", "Cartersville"), ("リバモア", "Livermore"),
    ("ラマン", "Raman"), ("ケンブリッジ", "Cambridge"), ("ホリヨーク", "Holyoke"),
    ("ベリティ", "Verity"),
])
def test_a_katakana_name_and_its_spelling_have_one_sound_key(katakana, latin):
    stem = tokenize(latin, "en")[0]     # the index holds stems: cartersvill, livermor
    assert names.katakana_key(katakana) == names.latin_name_key(stem)
    assert len(names.katakana_key(katakana)) >= names.MIN_KEY


@pytest.mark.parametrize("katakana, latin", [
    ("スタンフォード", "Stamford"),    # close, but n/m differ
    ("ボストン", "Austin"), ("コロラド", "Carolina"), ("ハーバード", "Hartford"),
])
def test_different_names_have_different_keys(katakana, latin):
    # Keys are coarse (Hubbard would meet ハーバード): a shared key is one anchor among
    # several that cross_score asks for, never a link by itself.
    assert names.katakana_key(katakana) != names.latin_name_key(tokenize(latin, "en")[0])


# Each key as the letter-by-letter rules gave it before they became one regular
# expression (every word of the corpus's feeds and 300,000 random ones gave the same key):
# vowels and a non-rhotic r dropped, soft c and g, spellings, silent letters.
@pytest.mark.parametrize("word, key", [
    ("Harvard", "hbd"), ("Stanford", "stnfd"), ("Pittsburgh", "ptsbg"), ("Knight", "nt"),
    ("Wright", "rt"), ("Psychology", "scrj"), ("Cecil", "sr"), ("George", "jg"),
    ("Zürich", "src"), ("Gauß", "gs"), ("Connecticut", "knktkt"), ("Michigan", "mcgn"),
    ("Thompson", "snpsn"), ("Schumacher", "smc"), ("Whitehouse", "ths"), ("Quebec", "kbk"),
    ("Dodge", "dj"), ("Lamb", "rnb"), ("Xerox", "ksrks"), ("Fujitsu", "fjts"),
    ("Augsburg", "gsbg"), ("LÓPEZ", "rps"), ("Ngozi", "ns"), ("Chong", "cn"), ("", ""),
    ("Rara", "r"), ("-R-", ""),
])
def test_the_sound_key_of_a_latin_word(word, key):
    assert names.latin_key(word) == key


@pytest.mark.parametrize("token, is_name", [
    ("スタンフォード", True),   # proper noun in Sudachi's dictionary
    ("カーターズビル", True),   # unknown to it: a name, most likely
    ("コンピューター", False), ("データ", False), ("センター", False), ("ガリウム", False),
    ("AI", False), ("量子", False), ("ラボ", False),
])
def test_only_proper_or_unknown_katakana_words_are_names(token, is_name):
    assert names.is_katakana_name(token) is is_name


def test_the_gazetteer_names_places_whose_katakana_does_not_follow_the_spelling():
    places = names.gazetteer()
    assert places["コネチカット"] == "connecticut" and places["イリノイ"] == "illinois"
    assert len(places) > 60
    # コネチカット would not sound-match: the gazetteer is what links it.
    assert names.katakana_key("コネチカット") != names.latin_key("connecticut")
    place = dedup.anchors(tokenize("コネチカット州の量子拠点", "ja"))["@connecticut"]
    assert "connecticut" in place        # one anchor, two forms: the word and its sound
    assert "メイン" not in names.gazetteer() or not names.is_katakana_name("メイン")


def test_a_report_and_an_article_naming_the_same_university_are_one_story():
    ja = (tokenize("スタンフォード大、AI研究所設立に5億ドルの寄付", "ja"),
          tokenize("スタンフォード大学は人工知能の研究所を設けるため5億ドルの寄付を受けた。", "ja"))
    en = (tokenize("Stanford receives $500 million gift for AI research institute", "en"),
          tokenize("Stanford University said a donor gave $500 million for a new institute "
                   "on artificial intelligence research.", "en"))
    other = (tokenize("Caltech receives $500 million gift for AI research institute", "en"),
             tokenize("The California Institute of Technology in Pasadena said a donor gave "
                      "$500 million for artificial intelligence research.", "en"))
    assert "~stnfd" in dedup.anchors([*ja[0], *ja[1]])
    assert dedup.cross_score(ja, en) >= dedup.CROSS_THRESHOLD
    # The same amount for the same purpose at another university: another story.
    assert dedup.cross_score(ja, other) == 0.0


def test_a_shared_figure_alone_links_nothing():
    ja = (tokenize("州政府、量子拠点に5億ドル", "ja"),
          tokenize("州政府は量子技術の研究拠点に5億ドルを投じる。", "ja"))
    en = (tokenize("City puts $500 million into new stadium", "en"),
          tokenize("The council approved $500 million for a stadium downtown.", "en"))
    assert dedup.cross_score(ja, en) == 0.0


@pytest.mark.parametrize("ja_title, ja_body, en_title, en_body", [
    # one place and one figure, in the bodies only: a place counts once
    ("コネチカット州、量子研究拠点を新設",
     "コネチカット州は量子技術の研究拠点を新設し、5億ドルを投じると発表した。",
     "Connecticut approves downtown stadium plan",
     "Lawmakers in Connecticut approved a $500 million stadium for the Hartford team."),
    # a short sound key meets an everyday word (オーストラリア = ~str = still)
    ("オーストラリア、水素拠点に5億ドル",
     "オーストラリア政府は水素の生産拠点に5億ドルを投じると発表した。",
     "Ford to put $500 million into Kentucky battery plant",
     "Ford will invest $500 million in its Kentucky plant; talks are still going on."),
    ("エヌビディア、1000万ドルを寄付", "エヌビディアは大学に1000万ドルを寄付した。",
     "Nevada county gets $10 million for roads",
     "A rural Nevada county will receive $10 million for road repairs."),
    # a loanword that is also a place name (メイン: main / Maine)
    ("新アリーナ、総工費5億ドル", "新アリーナのメイン会場は来春に開業する。",
     "Airport terminal to cost $500 million",
     "The main terminal will open in 2028, the airport authority said."),
])
def test_different_events_with_a_figure_and_a_weak_name_stay_apart(ja_title, ja_body,
                                                                    en_title, en_body):
    ja = (tokenize(ja_title, "ja"), tokenize(ja_body, "ja"))
    en = (tokenize(en_title, "en"), tokenize(en_body, "en"))
    assert dedup.cross_score(ja, en) == 0.0


@pytest.mark.parametrize("text, lang", [
    ("➀ 量子拠点 ⓿ 5億ドル", "ja"),                     # Sudachi keeps circled digits
    ("Budget line " + "9" * 400 + " million", "en"),    # 309 digits would be inf
    ("ー" * 5000 + "ッ", "ja"),
])
def test_odd_digits_and_runs_do_not_break_anchors(text, lang):
    toks = tokenize(text, lang)
    dedup.figures(toks)
    dedup.anchors(toks)
    dedup.heard(toks)
