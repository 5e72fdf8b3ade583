"""Reports of one event by two outlets that share few words: the rules that let them join
one story without joining a subject's different events (issue 9, the real set's recall)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relay import dedup, names
from relay.config import builtin_topics
from relay.models import Entry, FeedKind, FeedSpec
from relay.pipeline import ingest
from relay.store import Store
from relay.tag import compile_taxonomy
from relay.tokens import tokenize

T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)


def _named(feed: str, told: tuple[str, str], hours: float = 0, story: int = 0) -> dedup.Named:
    return dedup.Named.of(feed, T0 + timedelta(hours=hours), *told, story_id=story)


@pytest.mark.parametrize("title, cased", [
    ("Ferry Operator May Have Ignored Warnings, Officials Say", True),
    ("Scenes From Fort Lauderdale Airport Shooting", True),
    ("Trump Insists Mexico Will Pay for Wall After U.S. Begins the Work", True),
    ("Reynolds, Fisher laid to rest at Hollywood Hills cemetery", False),   # sentence case
    ("Mi Mix 3: Xiaomi-Flaggschiff mit Kamera-Slider und 10 GByte RAM", False),  # German nouns
    ("Picture of the Day › Nishikori into final", False),
    ("Kestrel Optics Closes Plant", False),          # no small word: too little to tell
    ("Quartalszahlen: Intel legt Rekord vor", False),
])
def test_title_case_is_told_by_its_capitalized_small_words(title, cased):
    assert names.title_case(title) is cased


# Two outlets on one plant closure: the company and the town in both headlines, little else
# in common (written after the corpus's golem/heise Fujitsu pair).
CLOSURE_A = ("Lindau: Kestrel Optics macht das Werk dicht",
             "Der Hersteller von Kameralinsen stellt die Fertigung zum Jahresende ein, "
             "betroffen sind gut 300 Beschäftigte.")
CLOSURE_B = ("Kestrel Optics schließt Standort in Lindau",
             "Die Produktion wandert nach Portugal ab; der Betriebsrat will verhandeln.")
# The same company's other news the same day: one name in both headlines, the town only in
# the text.
ORDER_B = ("Kestrel Optics liefert Linsen an Satellitenbauer",
           "Das Unternehmen aus Lindau hat einen Großauftrag gewonnen.")
# A Title Case headline and a reader-forum post: their capitals are no names.
ASSAILANT = ("Ferry Operator May Have Ignored Warnings, Officials Say",
             "The company that ran the ferry that sank near Halden had been told its "
             "ballast pumps were failing, investigators said on Friday.")
FORUM = ("Have Your Say › Should ferries run in winter at all?",
         "Readers tell us what they think of sailing in storms.")


@pytest.mark.parametrize("a, b, joined", [
    (CLOSURE_A, CLOSURE_B, True),        # two rare names in both headlines
    (CLOSURE_A, ORDER_B, False),         # the company, not the event
    (ASSAILANT, FORUM, False),           # "Have" and "Say" of a Title Case headline
])
def test_two_rare_names_in_both_headlines_join_two_outlets(a, b, joined):
    chosen = dedup.choose_named_story(_named("one", a), [_named("two", b, 2, 7)], {})
    assert (chosen == 7) is joined


def test_two_names_in_both_headlines_more_than_a_day_apart_stay_apart():
    assert dedup.choose_named_story(_named("one", CLOSURE_A),
                                    [_named("two", CLOSURE_B, 30, 7)], {}) is None


def _feed(name: str) -> FeedSpec:
    return FeedSpec(id=name, name=name, kind=FeedKind.RSS, url=f"https://{name}.example/",
                    lang="de")


def _stories_of(tmp_path, steps: list[tuple[str, str, tuple[str, str], float]],
                ) -> dict[tuple[str, str], int]:
    """Ingest each (feed, guid, (title, text), hours after T0) in turn into a real archive;
    the story of each (feed, guid)."""
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    feeds = {name: _feed(name) for name, *_ in steps}
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds(list(feeds.values()))
        for name, guid, told, hours in steps:
            feed = feeds[name]
            entry = Entry(feed_id=feed.id, guid=guid, url=f"{feed.url}{guid}", title=told[0],
                          content_html=told[1], published_at=T0 + timedelta(hours=hours))
            ingest(feed, [entry], store, taxonomy, T0 + timedelta(hours=hours))
        return {(feed, guid): story for feed, guid, story in store.conn.execute(
            "SELECT feed_id, guid, story_id FROM items")}


def test_two_outlets_with_two_names_in_their_headlines_join_through_the_archive(tmp_path):
    """The archive lends candidates that hold two of the item's rare names (not three)."""
    stories = _stories_of(tmp_path, [("one", "closure", CLOSURE_A, 0),
                                     ("two", "order", ORDER_B, 1),
                                     ("two", "closure", CLOSURE_B, 2)])
    assert stories[("one", "closure")] == stories[("two", "closure")]
    assert stories[("two", "order")] != stories[("one", "closure")]


@pytest.mark.parametrize("title, found", [
    ('Broken Back - "Excuses"', {"broken back"}),
    ("Unrest hits Ivory Coast's main city as army revolt spreads", {"ivory coast"}),
    ("Scenes From Fort Lauderdale Airport Shooting", set()),      # Title Case: no names
    ("Nishikori into final", set()),                              # one word
    ("Zugausfall: 400 Pendler in Bad Hersfeld gestrandet", {"bad hersfeld"}),
    ("Lindau, Kestrel: zwei Namen", set()),                       # a comma, a stop between
    ("auとUQ mobileのオンラインショップ、販売停止中(Impress Watch)", set()),  # no kana, no outlet
    ("7月のPrime Gaming、プライムデーにゲーム大量無料配布(Impress Watch)", set()),
    ("Пожар в отеле Нижнего Новгорода", {"нижнего новгорода"}),   # Cyrillic has capitals
])
def test_multiword_names_are_a_titles_names_of_several_words(title, found):
    assert dedup.multiword_names(title) == found


MUTINY_BODY = ("Soldiers demanding unpaid bonuses took over the army barracks in Port Aldan "
               "on Saturday, firing into the air and blocking the roads into the city, the "
               "defence ministry said.")
MUTINY_LATER = ("Soldiers demanding unpaid bonuses held the army barracks in Port Aldan and "
                "blocked the roads into the city for a second day, the defence ministry said.")


def _signed(feed: str, title: str, body: str, hours: float, story: int = 0,
            ) -> tuple[dedup.Telling, dedup.Signature]:
    (sig,) = dedup.signatures([dedup.features(tokenize(title, "en"), tokenize(body, "en"))])
    assert sig is not None
    return dedup.Telling(feed, tuple(tokenize(title, "en")), tuple(tokenize(body, "en")),
                         T0 + timedelta(hours=hours), story, sig.to_bytes(),
                         heads=dedup.multiword_names(title)), sig


@pytest.mark.parametrize("title_a, title_b, hours, joined", [
    ("Gunfire at army barracks in Port Aldan", "Mutiny in Port Aldan spreads to the roads", 5,
     True),
    ("Gunfire at army barracks in the capital", "Mutiny in the capital spreads to the roads", 5,
     False),                                             # no name in both titles
    ("Gunfire at army barracks in Port Aldan", "Mutiny in Port Aldan spreads to the roads", 20,
     False),                                             # not within 12 hours
    ("Gunfire At Army Barracks In Port Aldan", "Mutiny In Port Aldan Spreads To The Roads", 5,
     False),                                             # Title Case: its capitals name nothing
])
def test_a_feeds_two_reports_join_when_their_titles_share_a_name_of_several_words(
        title_a, title_b, hours, joined):
    a, sig_a = _signed("wire", title_a, MUTINY_BODY, 0, story=4)
    b, sig_b = _signed("wire", title_b, MUTINY_LATER, hours)
    assert dedup.similarity(sig_a, sig_b) >= dedup.STORY_THRESHOLD
    assert (dedup.choose_story(sig_b, b, [a]) is not None) is joined


@pytest.mark.parametrize("title, words", [
    ("Scenes From Fort Lauderdale Airport Shooting",
     {"scenes", "fort", "lauderdale", "airport", "shooting"}),
    ("World › 5 dead, 8 injured in Fort-Lauderdale airport shooting",
     {"world", "dead", "injured", "fort", "lauderdale", "airport", "shooting"}),
    ("Flughafen in Fort Lauderdale: Täter checkte Waffe ein",
     {"flughafen", "fort", "lauderdale", "tater", "checkte", "waffe"}),
    ("Kestria grants $140 million, 2 Milliarden Euro", {"kestria", "grants"}),  # no scales
])
def test_headline_words_are_folded_words_without_function_words(title, words):
    assert names.headline_words(title) == words


CAPSIZE_A = ("Ferry capsizes off Halden in a storm, 12 missing",
             "Rescue boats searched the fjord through the night.")
CAPSIZE_B = ("Halden ferry capsizes: coast guard searches for passengers",
             "The vessel overturned shortly after leaving the harbour.")
TERMINAL_B = ("Halden opens a new ferry terminal",
              "The harbour's second quay will take larger vessels from spring.")


# One state's two different grant stories: the state, "grants" and "million" in common.
GRANT_A = ("Kestria grants $140 million for a battery factory in Port Aldan",
           "The state will pay for half of the plant, which is to employ 900 people.")
GRANT_B = ("University of Kestria loses $38 million in cancelled federal grants",
           "Forty research projects stop at the end of the month.")


@pytest.mark.parametrize("a, b, joined", [
    (CAPSIZE_A, CAPSIZE_B, True),       # one name and two more words in both headlines
    (CAPSIZE_A, TERMINAL_B, False),     # the town and one word: its other news
    (GRANT_A, GRANT_B, False),          # "million" is an amount's scale, not a word
])
def test_one_name_and_two_words_in_both_headlines_join_two_outlets(a, b, joined):
    chosen = dedup.choose_named_story(_named("one", a), [_named("two", b, 2, 7)], {})
    assert (chosen == 7) is joined


@pytest.mark.parametrize("keys, title, meets", [
    ({"halden"}, "Halden ferry capsizes: coast guard searches for passengers", True),
    ({"halden"}, "Ferry capsizes in a storm off the coast", False),   # the town in its text only
    ({"kestrel", "lindau"}, "Kestrel Optics schließt Standort in Lindau", True),
    ({"tpp"}, "USA steigen aus Freihandelsabkommen TPP aus", True),   # a short name counts
])
def test_a_candidate_is_read_only_when_its_title_gives_a_rare_name_of_the_new_title(
        keys, title, meets):
    assert dedup.may_name_together(frozenset(keys), title) is meets


def test_a_report_sharing_one_rare_name_and_two_headline_words_joins_through_the_archive(
        tmp_path):
    """The archive lends candidates that hold one of the item's rare names; those whose
    title gives none of the item's headline names are not read."""
    stories = _stories_of(tmp_path, [("one", "capsize", CAPSIZE_A, 0),
                                     ("two", "terminal", TERMINAL_B, 1),
                                     ("two", "capsize", CAPSIZE_B, 2)])
    assert stories[("one", "capsize")] == stories[("two", "capsize")]
    assert stories[("two", "terminal")] != stories[("one", "capsize")]
