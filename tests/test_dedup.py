"""dedup: signatures, bands and story choice, as pure functions."""

from __future__ import annotations

import hashlib
import importlib.metadata
import zlib
from dataclasses import replace
from datetime import datetime

import pytest

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
    new = telling("wire", *REWRITE)
    candidates = [telling("other", *OTHER, story=7, sig=other),
                  telling("ledger", *BASE, story=3, sig=base)]
    assert dedup.choose_story(rewrite, new, candidates)[0] == 3
    assert dedup.choose_story(other, telling("x", *OTHER), candidates[1:]) is None
    assert dedup.choose_story(rewrite, new, []) is None


def telling(feed: str, title: str, body: str, lang: str = "en", story: int = 0,
            sig: dedup.Signature | None = None, published: str = "2026-11-20T10:00:00+00:00",
            ) -> dedup.Telling:
    return dedup.Telling(feed, tuple(tokenize(title, lang)), tuple(tokenize(body, lang)),
                         datetime.fromisoformat(published) if published else None, story,
                         sig.to_bytes() if sig is not None else b"")


def test_signatures_round_trip_and_old_shapes_are_ignored():
    s = sig(*BASE)
    assert dedup.Signature.from_bytes(s.to_bytes()).values.tolist() == s.values.tolist()
    old = dedup.Telling("f", (), (), None, 1, b"\0" * (128 * 4))  # another permutation count
    assert dedup.choose_story(s, telling("g", *BASE), [old]) is None


# Signatures as datasketch 2.0 computes them by default (scheme "affine32") with
# MinHash(num_perm=126, seed=1, hashfunc=zlib.crc32), which signed relay's archives before
# relay computed them itself: they must never change. Each row: the features, the first
# four and last two values, and the SHA-256 of the whole signature (to_bytes).
GOLDEN = [
    ({"quantum"}, [322885089, 1258035094, 3548917826, 2577952119], [3314119037, 2866275531],
     "8be7ba4e0f620fb2a95e50bbf854ea47"),
    ({"quantum", "121000000", "121000000#1", "connecticut", "yale"},
     [54906149, 73054941, 1186413803, 614575883], [1002027513, 497800615],
     "b8d00774015495603ebd5acefdb8d0b6"),
    ({"量子", "コンピュータ", "研究拠点", "2026年"},
     [1649033388, 2373023213, 1226324699, 525965965], [361594417, 2290879974],
     "165d83d115320e2246cadb96f40ea83a"),
    ({str(i) for i in range(600)},                  # more features than one block
     [7711865, 2682489, 1299380, 8243020], [2157000, 15589341],
     "f459cb9e57cf5e0d25df52a17224c301"),
]


@pytest.mark.parametrize("features, first, last, digest", GOLDEN)
def test_signatures_keep_their_values(features, first, last, digest):
    (s,) = dedup.signatures([features])
    assert s is not None
    assert s.values.tolist()[:4] == first and s.values.tolist()[-2:] == last
    assert hashlib.sha256(s.to_bytes()).hexdigest()[:32] == digest
    assert dedup.Signature.from_bytes(s.to_bytes()).values.tolist() == s.values.tolist()


def test_signatures_in_bulk_are_each_sets_own():
    # Sets of every size, empty ones among them: several blocks of hashes in one call.
    sets = [{f"w{i}-{j}" for j in range(i * 37 % 300)} for i in range(40)]
    sets += [features for features, *_ in GOLDEN]
    bulk = [s.values.tolist() if s is not None else None for s in dedup.signatures(sets)]
    alone = [s.values.tolist() if s is not None else None
             for s in (dedup.signatures([f])[0] for f in sets)]
    assert bulk == alone
    assert [b is None for b in bulk] == [not s for s in sets]


def test_signatures_equal_datasketchs_when_it_is_installed():
    datasketch = pytest.importorskip("datasketch", reason="datasketch is not installed "
                                     "(relay no longer needs it); GOLDEN pins its values")
    if int(importlib.metadata.version("datasketch").split(".")[0]) < 2:
        pytest.skip("datasketch before 2.0 has no affine32 scheme")
    sets = [{f"t{i * 7 + j}" for j in range(i % 50 + 1)} for i in range(60)]
    sets += [features for features, *_ in GOLDEN]
    theirs = datasketch.MinHash.bulk([[f.encode() for f in s] for s in sets], num_perm=126,
                                     seed=1, hashfunc=zlib.crc32, scheme="affine32")
    mine = dedup.signatures(sets)
    assert [m.values.tolist() for m in mine if m] == [t.hashvalues.tolist() for t in theirs]


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


# -- real feeds: dates, templates, notices ------------------------------------------------

@pytest.mark.parametrize("text, lang, kept", [
    ("2026年8月21日 外務省", "ja", set()),
    ("令和7年7月23日（本紙 第1512号）", "ja", {"1512"}),
    ("[19.08.2018 - 07:08 Uhr] Brandmeldeanlagenalarm", "de", set()),
    ("Prince William County wellness calendar, Aug. 23-30", "en", set()),
    ("January 5, 2017: FDA notice", "en", set()),
    ("家庭用化粧品容器に係る設計認定の基準（同一一三）", "ja", {"113"}),
    ("Insider Sells 99342 Shares", "en", {"99342"}),
    ("Stadt gibt 2,5 Millionen Euro", "de", {"2500000"}),
    ("TSMC adds $12 billion plant in 2026", "en", {"12000000000"}),
], ids=["ja-date", "era-date-issue-number", "de-written-date-time", "en-month-range",
        "en-month-day-year", "kanji-numeral", "share-count", "de-amount", "amount-not-year"])
def test_dates_are_not_figures(text, lang, kept):
    tokens = tokenize(text, lang)
    assert dedup.numbers(tokens) == kept
    feats = dedup.features(tokens, [])
    assert {f for f in feats if f[:1].isdigit() and "#" not in f} == kept
    assert not feats & {"uhr", "aug", "januari", "令和"}


def _feats(title: str, body: str, lang: str = "ja") -> set[str]:
    return dedup.features(tokenize(title, lang), tokenize(body, lang))


NOTICES = ["生物学的製剤基準の一部を改正する件", "公証人法第七条ノ二第一項の規定による指定の件",
           "道路法施行規則の一部を改正する省令", "特定国外派遣組織を指定する件",
           "海上における射撃訓練を実施する件", "入札公告", "入札公告（建設工事）", "会社決算公告"]


def _notice(title: str) -> tuple[str, str]:
    return title, (f"令和7年7月23日（本紙 第1512号）が発行されました。\n{title}については"
                   "こちら")


def test_what_a_feed_repeats_is_its_template():
    batch = [_feats(*_notice(t)) for t in NOTICES]
    common = dedup.template(batch)
    assert {"本紙", "1512", "発行"} <= common
    assert not common & {"生物", "公証", "道路", "射撃", "決算"}
    assert dedup.template(batch[:5]) == frozenset()           # too few items to tell
    prior = dedup.profile(batch[:5])                          # ...unless the archive has more
    assert "本紙" in dedup.template(batch[5:], prior)


def _signed(feed: str, title: str, body: str, story: int = 0, lang: str = "ja",
            common: frozenset[str] = frozenset(), published: str = "2025-07-23T00:00:00+00:00",
            ) -> tuple[dedup.Telling, dedup.Signature]:
    (s,) = dedup.signatures([_feats(title, body, lang) - common])
    assert s is not None
    return telling(feed, title, body, lang, story, s, published), s


def test_a_gazettes_notices_alike_are_not_one_story():
    common = dedup.template([_feats(*_notice(t)) for t in NOTICES])
    old, _ = _signed("kanpo", *_notice("入札公告"), story=1, common=common)
    new, sig_new = _signed("kanpo", *_notice("入札公告（建設工事）"), common=common)
    assert dedup.similarity(sig_new, dedup.Signature.from_bytes(old.minhash)) >= 0.3  # alike
    assert dedup.choose_story(sig_new, new, [old], common) is None


def test_a_notice_republished_by_an_aggregator_joins_it():
    title = "モンゴルに対する無償資金協力「経済社会開発計画」に関する書簡の交換"
    original, _ = _signed("mofa", title, "", story=4)
    copy, sig_copy = _signed("gov-online", f"【外務省】{title}", f"2026年7月2日 外務省 {title}")
    assert dedup.choose_story(sig_copy, copy, [original]) == (4, pytest.approx(1.0, abs=0.3))
    other, sig_other = _signed(
        "gov-online", "ガーナに対する無償資金協力「人材育成奨学計画」に関する書簡の交換",
        "2026年7月2日 外務省 ガーナに対する無償資金協力「人材育成奨学計画」に関する書簡の交換")
    assert dedup.choose_story(sig_other, other, [original]) is None


@pytest.mark.parametrize("a, b, joined", [
    ("Slack CFO Cal Henderson sells 1500 shares of Slack stock",
     "Slack CFO Cal Henderson sells 99342 shares of Slack stock", False),
    ("TSMC Arizona adds $12 billion advanced packaging plant",
     "North Phoenix to get TSMC packaging plant, 1,800 jobs", True),
], ids=["same-words-other-number", "two-facts-of-one-story"])
def test_different_numbers_in_titles_alike_are_different_news(a, b, joined):
    body = ("The Slack CFO and TSMC Arizona packaging plant filing, reported by the "
            "Phoenix Business Journal with regulators and analysts watching closely.")
    old, _ = _signed("wire", a, body, story=2, lang="en")
    new, sig_new = _signed("paper", b, body, lang="en")
    assert (dedup.choose_story(sig_new, new, [old]) is not None) is joined


def test_items_published_far_apart_are_not_one_story():
    old, _ = _signed("a", *BASE, story=2, lang="en", published="2026-11-01T00:00:00+00:00")
    new, sig_new = _signed("b", *BASE, lang="en", published="2026-11-20T00:00:00+00:00")
    assert dedup.choose_story(sig_new, new, [old]) is None
    undated = dedup.Telling(new.feed_id, new.title_tokens, new.body_tokens, None)
    assert dedup.choose_story(sig_new, undated, [old]) == (2, 1.0)


@pytest.mark.parametrize("a, b, agree", [
    ("日・オマーン外相会談及びワーキングランチ", "【外務省】日・オマーン外相会談及びワーキングランチ", True),
    ("国際情報オリンピックに参加した選手が金メダルを獲得",
     "国際地理オリンピックに参加した生徒が銅メダルを獲得", False),
    ("防衛省の取組 災害派遣について（令和8年熊本地震への対応（自衛隊による入浴支援のお知らせ））",
     "防衛省の取組 災害派遣について（令和8年熊本地震への対応（防衛省が借り上げている民間船舶"
     "「はくおうⅡ」の宿泊利用案内、自衛隊による入浴支援のお知らせ））", False),
    ("入札公告", "入札公告（建設工事）", True),
], ids=["prefixed", "two-olympiads", "notice-updated-with-news", "two-words-more"])
def test_a_short_notice_is_judged_by_its_title(a, b, agree):
    ta, tb = telling("x", a, "", "ja"), telling("y", b, "", "ja")
    assert dedup._titles_agree(ta, tb) is agree
    assert dedup.retitled(ta, tb) is agree


AU_BODY = ("KDDIは4日、2日未明から続いていたau携帯電話の通信障害について、音声通話とデータ通信が"
           "全国的にほぼ回復したと発表した。ネットワーク試験の検証を続けている。")


@pytest.mark.parametrize("title_b, published_b, joined", [
    ("KDDIの障害、音声通話もデータ通信も「全国的にほぼ回復」(PHILE WEB)",
     "2022-07-04T07:26:54+00:00", True),
    ("auの通信障害、音声通話・データ通信とも「ほぼ回復」(Impress Watch)",
     "2022-07-04T07:26:40+00:00", False),
    ("KDDIの障害、音声通話もデータ通信も「全国的にほぼ回復」(PHILE WEB)",
     "2022-07-05T09:00:00+00:00", False),
    ("KDDIの障害、音声通話もデータ通信も「全国的にほぼ回復」(PHILE WEB)", "", False),
    ("ソフトバンク、新料金プランを発表(PHILE WEB)", "2022-07-04T07:26:54+00:00", False),
    ("KDDIの障害、音声通話もデータ通信も「全国的にほぼ回復」", "2022-07-04T07:26:54+00:00", False),
], ids=["other-outlet-same-hour", "same-outlet", "a-day-later", "undated", "titles-share-nothing",
        "no-outlet-named"])
def test_two_items_of_one_feed(title_b, published_b, joined):
    a, sig_a = _signed("yahoo-it", "au通信障害、「音声通話・データ通信がほぼ回復」(Impress Watch)",
                       AU_BODY, story=8, published="2022-07-04T07:30:09+00:00")
    a = replace(a, outlet="Impress Watch")
    b, sig_b = _signed("yahoo-it", title_b, AU_BODY, published=published_b or "2022-07-04T07:00:00+00:00")
    b = replace(b, outlet=dedup.outlet(title_b),
                published_at=b.published_at if published_b else None)
    assert (dedup.choose_story(sig_b, b, [a]) is not None) is joined


@pytest.mark.parametrize("a, b", [
    ("台風第5号に関する情報", "【気象庁】台風第6号に関する情報"),
    ("第12回 量子技術検討会の開催について", "第13回 量子技術検討会の開催について"),
], ids=["typhoon-5-and-6", "meeting-12-and-13"])
def test_notices_of_a_series_are_different_notices(a, b):
    old, _ = _signed("jma", a, "", story=3)
    new, sig_new = _signed("agg", b, "")
    assert dedup.numbers(new.title_tokens) and dedup.numbers(old.title_tokens)
    assert dedup.choose_story(sig_new, new, [old]) is None
