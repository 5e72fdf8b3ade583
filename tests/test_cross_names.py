"""Reports of one event in Japanese and in a Latin-script language that share names but
no large figure are found by the names' index (dedup.name_keys, store table name_keys)."""

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
JA_FEED = FeedSpec(id="ja", name="総領事館", kind=FeedKind.RSS, url="https://ja.example/", lang="ja")
EN_FEED = FeedSpec(id="en", name="Tribune", kind=FeedKind.RSS, url="https://en.example/", lang="en")

JA = ("【イリノイ州】レイクショア・フォトニクス社、インテル出身のオカフォー氏を最高経営責任者に任命",
      "シカゴのレイクショア・フォトニクス社は、インテルで光半導体の開発を率いたマリア・オカフォー氏を"
      "最高経営責任者に任命した。同社はイリノイ大学発のスタートアップで、着任は来月の予定。")
EN = ("Lakeshore Photonics names former Intel engineer Maria Okafor chief executive",
      "Chicago's Lakeshore Photonics, a University of Illinois spinout, has hired Maria Okafor, "
      "who led optical chip development at Intel, as its chief executive. She starts next month.")
EN_OTHER = ("Intel opens a training center for technicians in Chicago",
            "Intel said it will train 200 technicians a year at a new center on the Near West "
            "Side of Chicago, with classes starting next month.")


@pytest.mark.parametrize("lang, title, text, present, absent", [
    ("en", "QuantumCT names former IBM researcher Priya Raman", "", {"quantumct", "ibm", "~rmn"},
     {"names", "former", "researcher"}),
    ("en", "The state said on Monday", "", set(), {"the", "state", "said"}),
    ("de", "Jülich nimmt Quantencomputer in Betrieb", "", {"~jrc"}, {"nimmt", "in"}),
    ("ja", "QuantumCT、ラマン氏を任命", "", {"quantumct", "~rmn"}, {"任命"}),
    ("ja", "コネチカット州が拠点に1億2100万ドル", "", {"connecticut"}, {"121000000"}),
])
def test_name_keys_are_names_and_their_sound_keys(lang, title, text, present, absent):
    keys = dedup.name_keys(lang, title, text, [*tokenize(title, lang), *tokenize(text, lang)])
    assert present <= keys
    assert not absent & keys


def _entry(feed: FeedSpec, guid: str, told: tuple[str, str], published: datetime) -> Entry:
    return Entry(feed_id=feed.id, guid=guid, url=f"{feed.url}{guid}", title=told[0],
                 content_html=told[1], published_at=published)


def _stories(store: Store) -> dict[str, int]:
    return {guid: story for guid, story in store.conn.execute("SELECT guid, story_id FROM items")}


def test_a_report_and_an_article_sharing_names_and_no_figure_join_one_story(tmp_path):
    assert not dedup.figures(tokenize(" ".join(JA), "ja")) & dedup.figures(
        tokenize(" ".join(EN), "en"))           # nothing for the figures' index to find
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([JA_FEED, EN_FEED])
        ingest(EN_FEED, [_entry(EN_FEED, "other", EN_OTHER, T0 - timedelta(hours=2))],
               store, taxonomy, T0)
        ingest(EN_FEED, [_entry(EN_FEED, "same", EN, T0 - timedelta(hours=1))], store,
               taxonomy, T0)
        ingest(JA_FEED, [_entry(JA_FEED, "report", JA, T0 + timedelta(hours=8))], store,
               taxonomy, T0 + timedelta(hours=9))
        stories = _stories(store)
    assert stories["report"] == stories["same"]
    assert stories["other"] != stories["same"]      # shares Intel and Chicago only


def test_names_do_not_join_reports_published_far_apart(tmp_path):
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([JA_FEED, EN_FEED])
        ingest(EN_FEED, [_entry(EN_FEED, "same", EN, T0 - timedelta(days=400))], store,
               taxonomy, T0)
        ingest(JA_FEED, [_entry(JA_FEED, "report", JA, T0)], store, taxonomy, T0)
        stories = _stories(store)
    assert stories["report"] != stories["same"]


def test_name_keys_outside_the_story_window_are_pruned(tmp_path):
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([JA_FEED, EN_FEED])
        ingest(EN_FEED, [_entry(EN_FEED, "same", EN, T0)], store, taxonomy, T0)
        count = lambda: store.conn.execute("SELECT COUNT(*) FROM name_keys").fetchone()[0]  # noqa: E731
        assert count() > 0
        store.prune_bands(T0 + timedelta(days=8))
        assert count() == 0


# -- one event, several outlets: rare names --------------------------------------------------

DE_GOLEM = FeedSpec(id="golem", name="golem", kind=FeedKind.RSS, url="https://golem.example/",
                    lang="de")
DE_HEISE = FeedSpec(id="heise", name="heise", kind=FeedKind.RSS, url="https://heise.example/",
                    lang="de")
FR_FEED = FeedSpec(id="fr", name="Quotidien", kind=FeedKind.RSS, url="https://fr.example/",
                   lang="fr")

# One event in two outlets' words (written for this test after the corpus's golem/heise
# pair): few words in common, the names and the figure shared.
GOLEM = ("Datenleck: Weitere 412.000 Kunden von Nordwind Airlines betroffen",
         "Der Angriff auf das Buchungssystem von Nordwind Airlines traf mehr Kunden als "
         "gedacht. Die Fluggesellschaft aus Tallinn rät Betroffenen, ihre Karten zu sperren.")
HEISE = ("Nordwind-Airlines-Hack: 412.000 weitere Kunden betroffen",
         "Unbekannte haben bei der Fluggesellschaft aus Tallinn noch mehr Kreditkartendaten "
         "kopiert als bislang bekannt.")
# The same airline's next news: its names, not its event.
HEISE_LATER = ("Nordwind Airlines bestellt zwölf neue Flugzeuge",
               "Die Fluggesellschaft aus Tallinn erneuert ihre Flotte bis 2029.")
FR_SAME = ("Nordwind Airlines : 412 000 clients de plus touchés par la fuite de données",
           "La compagnie aérienne de Tallinn indique que les pirates ont copié davantage de "
           "numéros de cartes bancaires qu'annoncé.")


@pytest.mark.parametrize("text, anchors", [
    ("Sicherheitslücke: Daten von 185.000 weiteren British-Airways-Kunden",
     ["sicherheitslucke", "daten", "#185000", "british", "airways", "kunden"]),
    ("The FBI said Xiaomi's Mi Mix 3 ships in 2018 with 5G", ["fbi", "xiaomi", "mi", "mix", "5g"]),
    ("Picture of the Day › Sumo New Year ritual on Thursday", ["sumo"]),
    ("Le 7 janvier, Paris et l'Élysée", ["paris", "l'elysee"]),
])
def test_latin_anchors_are_names_and_figures_not_calendar_words(text, anchors):
    assert [a for _, a in names.latin_anchors(text)] == anchors


def _named(feed: str, told: tuple[str, str], hours: float = 0, story: int = 0) -> dedup.Named:
    return dedup.Named.of(feed, T0 + timedelta(hours=hours), *told, story_id=story)


@pytest.mark.parametrize("other, hours, counts, joined", [
    (HEISE, 3, {}, True),
    (FR_SAME, 3, {}, True),                                # another language, the same names
    (HEISE, 30, {}, False),                                # not within a day
    (HEISE_LATER, 3, {}, False),                           # the airline, not the event
    # every name common, the capitalized German nouns of both headlines too
    (HEISE, 3, {"nordwind": 40, "airlines": 40, "#412000": 40, "tallinn": 40, "kunden": 40,
                "weitere": 40}, False),
])
def test_another_outlets_words_on_one_event_join_by_rare_names(other, hours, counts, joined):
    chosen = dedup.choose_named_story(_named("golem", GOLEM), [_named("x", other, hours, 7)],
                                      counts)
    assert (chosen == 7) is joined


def test_one_feeds_own_items_never_join_by_names():
    assert dedup.choose_named_story(_named("golem", GOLEM),
                                    [_named("golem", HEISE, 1, 7)], {}) is None


def test_two_outlets_on_one_event_join_one_story_through_the_archive(tmp_path):
    taxonomy = compile_taxonomy(builtin_topics(), tokenize)
    with Store(tmp_path / "a.db") as store:
        store.sync_feeds([DE_GOLEM, DE_HEISE, FR_FEED])
        ingest(DE_HEISE, [_entry(DE_HEISE, "later", HEISE_LATER, T0 - timedelta(hours=2))],
               store, taxonomy, T0)
        ingest(DE_GOLEM, [_entry(DE_GOLEM, "golem", GOLEM, T0)], store, taxonomy, T0)
        ingest(DE_HEISE, [_entry(DE_HEISE, "heise", HEISE, T0 + timedelta(hours=2))],
               store, taxonomy, T0 + timedelta(hours=2))
        ingest(FR_FEED, [_entry(FR_FEED, "fr", FR_SAME, T0 + timedelta(hours=5))],
               store, taxonomy, T0 + timedelta(hours=5))
        stories = _stories(store)
    assert stories["golem"] == stories["heise"] == stories["fr"] != stories["later"]


@pytest.mark.parametrize("text, apart", [
    ("third big tenant: Aurelia, 400 jobs", True),       # a name and a figure: two facts
    ("led by Yale, UConn and others", True),               # a list: two names
    ("Lausitz: LEAG schaltet", True),                      # a stop between them
    ("in Fort Lauderdale on Friday", False),               # one name
])
def test_names_apart_or_side_by_side(text, apart):
    (p1, a1), (p2, a2) = names.latin_anchors(text)[:2]
    one = {a1, a2}
    assert (dedup._distinct(one, dedup.Named("f", None, ((p1, a1), (p2, a2)), ())) == 2) is apart


@pytest.mark.parametrize("most, counts", [
    (3, {"nordwind": 3, "tallinn": 1}),     # a name many items hold costs what a rare one does
    (10, {"nordwind": 5, "tallinn": 1}),
    (1, {"nordwind": 1, "tallinn": 1}),
])
def test_name_counts_count_each_name_up_to_most(tmp_path, most, counts):
    with Store(tmp_path / "a.db") as store:
        with store.transaction():
            store.conn.executemany("INSERT INTO name_keys (value, item_id, ja) VALUES (?,?,?)",
                                   [*[("nordwind", i, i % 2) for i in range(1, 6)],
                                    ("tallinn", 9, 0)])
        assert store.name_counts(["nordwind", "tallinn", "absent"], most) == counts
