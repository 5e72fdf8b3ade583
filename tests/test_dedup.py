"""dedup: signatures, bands and story choice, as pure functions."""

from __future__ import annotations

from relay import dedup
from relay.tokens import tokenize


def sig(title: str, body: str, lang: str = "en") -> dedup.Signature:
    (s,) = dedup.signatures([dedup.features(tokenize(title, lang), tokenize(body, lang))])
    assert s is not None
    return s


BASE = ("Connecticut commits $121 million to quantum hub",
        "The state will put $121 million over five years into the Nutmeg Quantum Consortium "
        "led by Yale and UConn, with $70 million for a fabrication facility in New Haven.")
REWRITE = ("State bets $121M on quantum computing with Yale, UConn consortium",
           "Connecticut is putting $121 million over five years into the Nutmeg Quantum "
           "Consortium; $70 million pays for a fabrication facility in New Haven.")
OTHER = ("Bakery chain opens tenth store in Ohio",
         "The family-owned bakery sells sourdough and croissants across the state.")


def test_a_rewrite_joins_the_story_and_an_unrelated_item_does_not():
    base, rewrite, other = sig(*BASE), sig(*REWRITE), sig(*OTHER)
    assert dedup.similarity(base, base) == 1.0
    assert dedup.similarity(base, rewrite) >= dedup.STORY_THRESHOLD
    assert dedup.similarity(base, other) < 0.1
    candidates = [(7, other.to_bytes()), (3, base.to_bytes())]
    assert dedup.choose_story(rewrite, candidates)[0] == 3
    assert dedup.choose_story(other, [(3, base.to_bytes())]) is None
    assert dedup.choose_story(rewrite, []) is None


def test_signatures_round_trip_and_old_shapes_are_ignored():
    s = sig(*BASE)
    assert dedup.Signature.from_bytes(s.to_bytes()).values.tolist() == s.values.tolist()
    old_shape = b"\0" * (128 * 4)   # a signature of another permutation count
    assert dedup.choose_story(s, [(1, old_shape)]) is None


def test_bands_cover_the_signature_and_are_stable():
    s = sig(*BASE)
    bands = dedup.bands(s)
    assert [b for b, _ in bands] == list(range(dedup.BANDS))
    assert bands == dedup.bands(sig(*BASE))
    assert dedup.signatures([set()]) == [None]


def test_figures_weigh_more_than_words():
    feats = dedup.features(tokenize("Lab gets $121 million", "en"), [])
    assert {"121000000", "121000000#1", "121000000#2"} <= feats
    assert "the" not in dedup.features(tokenize("the lab", "en"), [])


JA_REPORT = ("コネチカット州、量子技術拠点に1億2100万ドルを投資",
             "州政府はイェール大学とUConnが主導するNutmeg Quantum Consortiumに今後5年間で"
             "1億2100万ドルを投資すると発表した。内訳は試作施設に7000万ドル、企業助成に3000万ドル。")
EN_SAME = ("Connecticut commits $121 million to quantum hub",
           "The state will put $121 million into the Nutmeg Quantum Consortium led by Yale and "
           "UConn: $70 million for a facility and $30 million in grants to companies.")
EN_OTHER = ("Nutmeg Quantum Consortium names its first executive director",
            "The consortium led by Yale and UConn, which landed $121 million from the state "
            "last week, hired a Sandia physicist to run it.")


def _split(title: str, body: str, lang: str) -> tuple[list[str], list[str]]:
    return tokenize(title, lang), tokenize(body, lang)


def test_a_report_and_the_local_article_on_one_event_are_linked_across_languages():
    ja = _split(*JA_REPORT, "ja")
    same = _split(*EN_SAME, "en")
    other = _split(*EN_OTHER, "en")
    assert dedup.cross_score(ja, same) >= dedup.CROSS_THRESHOLD
    # Same subject, same headline amount cited in passing: another story.
    assert dedup.cross_score(ja, other) == 0.0
    candidates = [(5, "en", " ".join(other[0]), " ".join(other[1])),
                  (9, "en", " ".join(same[0]), " ".join(same[1])),
                  (11, "ja", " ".join(ja[0]), " ".join(ja[1]))]   # same language: not here
    assert dedup.choose_cross_story("ja", ja[0], ja[1], candidates)[0] == 9
    assert dedup.choose_cross_story("en", same[0], same[1], candidates[2:])[0] == 11
    assert dedup.choose_cross_story("en", same[0], same[1], candidates[:2]) is None


def test_figures_are_amounts_not_years():
    assert dedup.figures(tokenize("In 2026 the state gave $121 million to 40 labs", "en")) == {
        "121000000"}
