"""relay/digest: select (which stories, where, led by what), render (subject, HTML, text),
deliver.build_message (the MIME message)."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from relay.digest.deliver import build_message, new_message_id
from relay.digest.render import Names, lang_mark, render, subject
from relay.digest.select import select
from relay.models import Digest, Frequency, StoryRow, Subscriber, Topic, TopicSection

TZ = "Asia/Tokyo"
UNSUBSCRIBE = "mailto:relay@example.org?subject=unsubscribe%20sato@example.org"

# Short labels so the subjects can be compared whole (the built-in ai label is longer).
TOPICS = [
    Topic("quantum", {"ja": "量子技術", "en": "Quantum technology"}, {"en": ("quantum",)}),
    Topic("ai", {"ja": "AI", "en": "AI"}, {"en": ("AI",)}),
    Topic("space", {"ja": "宇宙", "en": "Space"}, {"en": ("NASA",)}),
    Topic("fusion", {"ja": "核融合", "en": "Fusion energy"}, {"en": ("tokamak",)}),
]


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def row(item_id: int, story_id: int, tags: dict[str, float], *, feed: str = "ct-tech-wire",
        kind: str = "rss", mission: str | None = None, lang: str = "en", day: int = 24,
        title: str | None = None, summary: str = "A short summary.",
        url: str | None = None) -> StoryRow:
    """One row as store.story_rows returns it."""
    return StoryRow(
        id=item_id, story_id=story_id, feed_id=feed, feed_name=f"Feed {feed}",
        feed_kind=kind, mission=mission, country=None, url=url or f"https://example.org/{item_id}",
        title=title or f"Item {item_id}", summary=summary, lang=lang,
        published_at=at(day), collected_at=at(26), tags=tags,
    )


def sub(topics: tuple[str, ...] = ("quantum", "ai"), **kw: Any) -> Subscriber:
    return Subscriber(email="sato@example.org", topics=topics, **{"name": "Sato", **kw})


def placement(sections: tuple[TopicSection, ...]) -> dict[str, list[int]]:
    return {sec.topic.id: [s.id for s in sec.stories] for sec in sections}


# -- select -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_topics", "expected"),
    [
        (("quantum", "ai"), {"quantum": [1]}),
        (("ai", "quantum"), {"ai": [1]}),
        (("ai",), {"ai": [1]}),
        (("space",), {}),
        (("unknown-topic", "quantum"), {"quantum": [1]}),
    ],
    ids=["first-subscriber-topic", "subscriber-order-not-score", "only-ai",
         "no-matching-topic", "unknown-topic-ignored"],
)
def test_story_appears_once_under_first_matching_topic(
    sub_topics: tuple[str, ...], expected: dict[str, list[int]]
) -> None:
    rows = [row(1, 1, {"ai": 6.0, "quantum": 2.0}), row(2, 1, {"quantum": 4.0}, feed="other")]
    assert placement(select(rows, sub(sub_topics), TOPICS, 10)) == expected


def test_story_topics_list_subscriber_topics_first() -> None:
    rows = [row(1, 1, {"space": 2.0, "ai": 3.0, "quantum": 2.0})]
    (section,) = select(rows, sub(("quantum", "ai")), TOPICS, 10)
    assert section.stories[0].topics == ("quantum", "ai", "space")
    assert section.stories[0].score == 2.0  # the home topic's score


@pytest.mark.parametrize(
    ("rows", "ui_lang", "lead", "others"),
    [
        ([row(1, 1, {"quantum": 4.0}, lang="en", day=20),
          row(2, 1, {"quantum": 2.0}, feed="boston-cg", kind="reports", mission="boston",
              lang="ja", day=25)],
         "ja", 2, [1]),
        ([row(1, 1, {"quantum": 4.0}, lang="en", day=20),
          row(2, 1, {"quantum": 2.0}, feed="boston-cg", kind="reports", mission="boston",
              lang="ja", day=25)],
         "en", 1, [2]),
        ([row(1, 1, {"quantum": 4.0}, lang="en", day=20),
          row(2, 1, {"quantum": 2.0}, feed="boston-cg", kind="reports", mission="boston",
              lang="en", day=25),
          row(3, 1, {"quantum": 2.0}, feed="jp", lang="ja", day=19)],
         "en", 2, [1, 3]),
        ([row(1, 1, {"quantum": 4.0}, lang="zh", day=20),
          row(2, 1, {"quantum": 2.0}, feed="boston-cg", kind="reports", mission="boston",
              lang="ja", day=25)],
         "en", 2, [1]),
        ([row(1, 1, {"quantum": 4.0}, lang="en", day=20),
          row(2, 1, {"quantum": 2.0}, feed="jp-news", lang="ja", day=25)],
         "ja", 2, [1]),
        ([row(1, 1, {"quantum": 4.0}, lang="en", day=20),
          row(2, 1, {"quantum": 2.0}, feed="jp-news", lang="ja", day=25)],
         "en", 1, [2]),
        ([row(1, 1, {"quantum": 4.0}, feed="de", lang="de", day=22),
          row(2, 1, {"quantum": 2.0}, feed="fr", lang="fr", day=21),
          row(3, 1, {"quantum": 2.0}, feed="de2", lang="de", day=23)],
         "ja", 2, [1, 3]),
    ],
    ids=["mission-report-leads", "english-source-beats-japanese-report",
         "english-report-leads-english-digest", "no-source-in-readers-language-report-leads",
         "digest-language-leads", "english-digest", "else-earliest"],
)
def test_lead(rows: list[StoryRow], ui_lang: str, lead: int, others: list[int]) -> None:
    (section,) = select(rows, sub(("quantum",), ui_lang=ui_lang), TOPICS, 10)
    (story,) = section.stories
    assert story.lead.item_id == lead
    assert [i.item_id for i in story.items[1:]] == others


def test_mission_report_is_marked() -> None:
    rows = [row(1, 1, {"quantum": 2.0}, feed="boston-cg", kind="reports", mission="boston")]
    (section,) = select(rows, sub(), TOPICS, 10)
    assert section.stories[0].lead.is_report is True


@pytest.mark.parametrize(
    ("max_per_topic", "shown", "more"),
    [(3, [1, 2, 3], 2), (5, [1, 2, 3, 4, 5], 0), (10, [1, 2, 3, 4, 5], 0), (1, [1], 4)],
    ids=["three-of-five", "exactly-five", "fewer-than-max", "one"],
)
def test_max_per_topic_and_more(max_per_topic: int, shown: list[int], more: int) -> None:
    rows = [row(i, i, {"quantum": float(10 - i)}) for i in (3, 1, 5, 2, 4)]
    (section,) = select(rows, sub(("quantum",)), TOPICS, max_per_topic)
    assert [s.id for s in section.stories] == shown
    assert section.more == more


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([row(1, 1, {"quantum": 3.0})], [row(2, 2, {"quantum": 2.0})]),
        ([row(1, 1, {"quantum": 2.0}), row(3, 1, {"quantum": 2.0}, feed="other")],
         [row(2, 2, {"quantum": 2.0}, day=26)]),
        ([row(1, 1, {"quantum": 2.0}, kind="reports", mission="boston", day=20)],
         [row(2, 2, {"quantum": 2.0}, day=26)]),
        ([row(1, 1, {"quantum": 2.0}, day=26)], [row(2, 2, {"quantum": 2.0}, day=20)]),
    ],
    ids=["higher-score", "more-sources", "mission-report", "more-recent"],
)
def test_ranking(a: list[StoryRow], b: list[StoryRow]) -> None:
    for rows in (a + b, b + a):
        (section,) = select(rows, sub(("quantum",)), TOPICS, 10)
        assert [s.id for s in section.stories] == [1, 2]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {1: [1, 2], 2: [3], 3: [4]}),
        ({"langs": ("ja",)}, {1: [2], 3: [4]}),
        ({"langs": ("en",)}, {1: [1], 2: [3]}),
        ({"missions": ("boston",)}, {1: [2]}),
        ({"missions": ("boston",), "langs": ("en",)}, {}),
        ({"missions": ("washington",)}, {3: [4]}),
    ],
    ids=["no-filter", "japanese-only", "english-only", "boston-only", "boston-in-english",
         "washington"],
)
def test_langs_and_missions_filters(filters: dict[str, tuple[str, ...]],
                                    expected: dict[int, list[int]]) -> None:
    rows = [
        row(1, 1, {"quantum": 3.0}, lang="en"),
        row(2, 1, {"quantum": 2.0}, feed="boston-cg", kind="reports", mission="boston",
            lang="ja"),
        row(3, 2, {"ai": 3.0}, lang="en"),
        row(4, 3, {"quantum": 2.0}, feed="dc", kind="reports", mission="washington",
            lang="ja"),
    ]
    sections = select(rows, sub(**filters), TOPICS, 10)
    got = {s.id: sorted(i.item_id for i in s.items) for sec in sections for s in sec.stories}
    assert got == expected


def test_story_needs_a_visible_item_on_the_subscribers_topics() -> None:
    rows = [row(1, 1, {"quantum": 4.0}, lang="en"), row(2, 1, {"space": 4.0}, lang="ja")]
    assert select(rows, sub(("quantum",), langs=("ja",)), TOPICS, 10) == ()


# -- render -------------------------------------------------------------------------------------


FRIDAY = at(27)


def make_digest(rows: list[StoryRow], subscriber: Subscriber, *,
                until: datetime = FRIDAY, max_per_topic: int = 10) -> Digest:
    sections = select(rows, subscriber, TOPICS, max_per_topic)
    digest = Digest(subscriber=subscriber, period="2026-W48", since=at(20), until=until,
                    sections=sections)
    return replace(digest, subject=subject(digest, TZ))


TWO_TOPICS = [row(1, 1, {"quantum": 3.0}), row(2, 2, {"ai": 3.0})]


@pytest.mark.parametrize(
    ("ui_lang", "frequency", "until", "expected"),
    [
        ("ja", Frequency.WEEKLY, at(27), "海外現地情報 週報 2026年11月第4週 (量子技術・AI)"),
        ("ja", Frequency.DAILY, at(27), "海外現地情報 日報 2026年11月27日 (量子技術・AI)"),
        # 16:00 UTC on Sunday 29 November is already Monday 30 November in Tokyo
        ("ja", Frequency.WEEKLY, at(29, 16), "海外現地情報 週報 2026年11月第5週 (量子技術・AI)"),
        ("ja", Frequency.DAILY, at(29, 16), "海外現地情報 日報 2026年11月30日 (量子技術・AI)"),
        ("en", Frequency.DAILY, at(27), "Relay daily digest, 27 Nov 2026 (Quantum technology, AI)"),
    ],
    ids=["ja-weekly", "ja-daily", "ja-weekly-tokyo-time", "ja-daily-tokyo-time", "en-daily"],
)
def test_subject(ui_lang: str, frequency: Frequency, until: datetime, expected: str) -> None:
    digest = make_digest(TWO_TOPICS, sub(ui_lang=ui_lang, frequency=frequency), until=until)
    assert digest.subject == expected


def test_english_weekly_subject() -> None:
    digest = make_digest(TWO_TOPICS, sub(ui_lang="en"))
    assert digest.subject.startswith("Relay weekly digest, 23")
    assert digest.subject.endswith("29 Nov 2026 (Quantum technology, AI)")


def test_english_weekly_subject_as_specified() -> None:
    digest = make_digest(TWO_TOPICS, sub(ui_lang="en"))
    assert digest.subject == "Relay weekly digest, 23-29 Nov 2026 (Quantum technology, AI)"


def test_subject_names_at_most_three_topics() -> None:
    rows = [row(i, i, {t: 3.0}) for i, t in enumerate(["quantum", "ai", "space", "fusion"], 1)]
    digest = make_digest(rows, sub(("quantum", "ai", "space", "fusion")))
    assert digest.subject.endswith("(量子技術・AI・宇宙)")


SCRIPT_TITLE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def test_html_escapes_feed_values() -> None:
    rows = [row(1, 1, {"quantum": 3.0}, title=SCRIPT_TITLE,
                summary="Summary with <b>markup</b> & <iframe src=x>.")]
    digest = make_digest(rows, sub(ui_lang="en"))
    html, text = render(digest, TZ, UNSUBSCRIBE)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "<iframe" not in html.lower()
    assert "&lt;script&gt;alert(" in html
    assert "&amp; &lt;img" in html
    assert SCRIPT_TITLE in text  # the text part is text


def test_html_has_no_javascript_links() -> None:
    rows = [row(1, 1, {"quantum": 3.0}, url="javascript:alert(1)")]
    html, _ = render(make_digest(rows, sub(ui_lang="en")), TZ, UNSUBSCRIBE)
    assert "javascript:" not in html


@pytest.mark.parametrize(
    ("ui_lang", "fragments"),
    [
        ("ja", ["量子技術", "2026年11月24日 09:00", "ほかの報道", "Feed boston-cg", "配信停止"]),
        ("en", ["Quantum technology", "24 Nov 2026, 09:00", "also", "Feed boston-cg",
                "unsubscribe"]),
    ],
    ids=["ja", "en"],
)
def test_render_language_and_time_zone(ui_lang: str, fragments: list[str]) -> None:
    rows = [row(1, 1, {"quantum": 3.0}, feed="boston-cg", kind="reports", mission="boston"),
            row(2, 1, {"quantum": 2.0}, feed="other", day=25)]
    html, text = render(make_digest(rows, sub(ui_lang=ui_lang)), TZ, UNSUBSCRIBE)
    for fragment in fragments:
        assert fragment in html
        assert fragment in text
    assert UNSUBSCRIBE in text.replace("\n", "")
    assert 'href="https://example.org/1"' in html


def test_render_more_line() -> None:
    rows = [row(i, i, {"quantum": 3.0}) for i in range(1, 6)]
    digest = make_digest(rows, sub(ui_lang="ja"), max_per_topic=3)
    html, text = render(digest, TZ, UNSUBSCRIBE)
    assert "ほか 2 件" in html and "ほか 2 件" in text
    assert "relay search --topic quantum" in text
    assert "量子技術 (5)" in text


def test_story_topics_shown_as_labels() -> None:
    rows = [row(1, 1, {"quantum": 3.0, "ai": 2.0})]
    html, _ = render(make_digest(rows, sub(ui_lang="ja")), TZ, UNSUBSCRIBE, TOPICS)
    assert "トピック: 量子技術, AI" in html or "トピック: 量子技術・AI" in html


LONG = [
    row(1, 1, {"quantum": 3.0}, feed="connecticut-tech-wire",
        title="Connecticut commits $121 million to quantum push, betting on a New Haven hub "
              "that state officials say could anchor a regional industry for decades",
        summary="The state will invest $121 million over five years. " * 12),
    row(2, 1, {"quantum": 2.0}, feed="bay-area-science-desk", day=25),
    row(3, 1, {"quantum": 2.0}, feed="another-rather-long-feed-name-for-the-also-line", day=25),
    row(4, 2, {"ai": 3.0}, title="Short"),
]


def english_text() -> str:
    subscriber = sub(("quantum", "ai"), ui_lang="en", name="Dr. Hanako Sato-Whitfield")
    digest = make_digest(LONG, subscriber)
    return render(digest, TZ, UNSUBSCRIBE)[1]


def test_english_text_part_wraps_at_72_columns_below_subject() -> None:
    lines = english_text().splitlines()[1:]
    too_long = [ln for ln in lines if len(ln) > 72 and not ln.strip().startswith("http")]
    assert too_long == []


def test_english_text_part_subject_line_wraps() -> None:
    subscriber = sub(("quantum", "ai"), ui_lang="en")
    topics = [TOPICS[0], Topic("ai", {"en": "Artificial intelligence"}, {"en": ("AI",)})]
    digest = Digest(subscriber=subscriber, period="2026-W48", since=at(20), until=at(27),
                    sections=select(LONG, subscriber, topics, 10))
    digest = replace(digest, subject=subject(digest, TZ))
    text = render(digest, TZ, UNSUBSCRIBE)[1]
    assert all(len(ln) <= 72 for ln in text.splitlines() if not ln.strip().startswith("http"))


def test_render_without_sections_says_nothing_new() -> None:
    digest = make_digest([], sub(ui_lang="en"))
    html, text = render(digest, TZ, UNSUBSCRIBE)
    assert "Nothing new on your topics" in html
    assert "Nothing new on your topics" in text


# -- build_message ------------------------------------------------------------------------------


def message(**overrides: str) -> EmailMessage:
    args = {
        "sender": "relay@example.org", "to_address": "sato@example.go.jp",
        "to_name": "佐藤 花子", "subject": "海外現地情報 週報 2026年11月第4週 (量子技術・AI)",
        "text": "本文です。\nSecond line.\n", "html": "<p>本文です。</p>\n",
        "message_id": "<digest-1.relay@example.org>", "date": "Fri, 27 Nov 2026 00:00:00 +0000",
        "list_id": "2026-w48.digests.example.org",
    }
    args.update(overrides)
    raw = build_message(**args)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_message_is_multipart_alternative_text_then_html() -> None:
    msg = message()
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert parts[0].get_content().replace("\r\n", "\n") == "本文です。\nSecond line.\n"
    assert parts[1].get_content().replace("\r\n", "\n") == "<p>本文です。</p>\n"


def test_message_headers() -> None:
    msg = message()
    assert msg["Subject"] == "海外現地情報 週報 2026年11月第4週 (量子技術・AI)"
    assert msg["Message-ID"] == "<digest-1.relay@example.org>"
    # (a folded header keeps the space after the colon once unfolded: RFC 5322 2.2.3)
    assert msg["List-Unsubscribe"].strip() == (
        "<mailto:relay@example.org?subject=unsubscribe>")
    assert msg["List-Id"] == "relay digests <2026-w48.digests.example.org>"
    assert msg["From"].addresses[0].addr_spec == "relay@example.org"
    assert msg["To"].addresses[0].addr_spec == "sato@example.go.jp"
    assert msg["To"].addresses[0].display_name == "佐藤 花子"
    assert msg["Date"].datetime == datetime(2026, 11, 27, tzinfo=UTC)


def test_message_is_ascii_with_crlf_line_ends() -> None:
    raw = build_message(
        sender="relay@example.org", to_address="a@example.org", to_name="佐藤",
        subject="量子技術", text="本文\n", html="<p>本文</p>\n",
        message_id="<x@example.org>", date="Fri, 27 Nov 2026 00:00:00 +0000", list_id="l.x")
    assert raw.isascii()  # RFC 2047 headers, quoted-printable bodies
    assert raw.count(b"\n") == raw.count(b"\r\n")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Weekly digest\r\nBcc: x@y"),
        ("subject", "Weekly digest\nBcc: x@y"),
        ("subject", "週報\r\nBcc: x@y"),
        ("to_name", "Sato\r\nBcc: x@y"),
    ],
    ids=["crlf-in-subject", "lf-in-subject", "crlf-in-japanese-subject", "crlf-in-name"],
)
def test_header_injection_creates_no_header(field: str, value: str) -> None:
    msg = message(**{field: value})
    assert msg["Bcc"] is None
    assert "Bcc" not in msg
    raw = msg.as_bytes()
    assert not re.search(rb"(?im)^bcc:", raw)


def test_subject_line_breaks_become_spaces() -> None:
    assert message(subject="Weekly digest\r\nBcc: x@y")["Subject"] == "Weekly digest Bcc: x@y"


def test_new_message_id_uses_sender_domain() -> None:
    a = new_message_id("relay@mission.example.org")
    b = new_message_id("relay@mission.example.org")
    assert a != b
    assert re.fullmatch(r"<[^<>@\s]+@mission\.example\.org>", a)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [([0, 0, 0, 0, 0, 0, 0, 4], "▁▁▁▁▁▁▁█"), ([1, 2, 3, 4, 5, 6, 7, 8], "▂▃▄▅▅▆▇█"),
     ([0] * 8, "▁▁▁▁▁▁▁▁"), ([], "")],
    ids=["one-week", "rising", "empty-weeks", "no-data"],
)
def test_sparkline(counts, expected):
    from relay.digest.render import sparkline

    assert sparkline(counts) == expected


# -- languages and names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item_lang", "ui_lang", "mark"),
    [("zh", "ja", "[中国語]"), ("zh", "en", "(in Chinese)"), ("ko", "ja", "[韓国語]"),
     ("ru", "en", "(in Russian)"), ("en", "ja", "[英語]"), ("ja", "en", "(in Japanese)"),
     ("ja", "ja", ""), ("en", "en", "")],
    ids=["zh-in-ja", "zh-in-en", "ko-in-ja", "ru-in-en", "en-in-ja", "ja-in-en", "ja-in-ja",
         "en-in-en"],
)
def test_lang_mark(item_lang: str, ui_lang: str, mark: str) -> None:
    assert lang_mark(item_lang, ui_lang) == mark


@pytest.mark.parametrize(
    ("ui_lang", "mark"), [("ja", "[中国語]"), ("en", "(in Chinese)")], ids=["ja", "en"])
def test_digest_marks_an_item_in_another_language(ui_lang: str, mark: str) -> None:
    rows = [row(1, 1, {"quantum": 3.0}, feed="bbc-chinese", lang="zh", title="量子计算机"),
            row(2, 2, {"quantum": 2.0}, feed="local", lang=ui_lang, title="Local news")]
    html, text = render(make_digest(rows, sub(ui_lang=ui_lang)), TZ, UNSUBSCRIBE)
    assert '<span class="lang" style="' in html and mark in html
    assert f"* 量子计算机 {mark}" in text
    assert "Local news" in text and f"Local news {mark}" not in text   # its own language
    assert text.count(mark) == 1


def test_also_line_marks_other_languages() -> None:
    rows = [row(1, 1, {"quantum": 3.0}, feed="boston-cg", kind="reports", mission="boston",
                lang="ja", day=25),
            row(2, 1, {"quantum": 2.0}, feed="ct-tech-wire", lang="en", day=24)]
    html, text = render(make_digest(rows, sub(ui_lang="ja")), TZ, UNSUBSCRIBE)
    assert "ほかの報道: Feed ct-tech-wire [英語]" in text
    assert "Feed ct-tech-wire</a> [英語]" in html


def test_english_digest_leads_with_the_english_source() -> None:
    """The demo's Connecticut story: the consulate's Japanese report and a local English
    article. An English reader gets the article as the headline, the report in "also"."""
    rows = [row(1, 1, {"quantum": 4.0}, feed="boston-cg", kind="reports", mission="boston",
                lang="ja", title="コネチカット州の量子技術投資について", day=24),
            row(2, 1, {"quantum": 3.0}, feed="ct-tech-wire", lang="en",
                title="Connecticut commits $121 million to quantum", day=25)]
    names = Names(feeds={"boston-cg": {"ja": "在ボストン日本国総領事館",
                                       "en": "Consulate-General of Japan in Boston"}},
                  missions={"boston": {"ja": "在ボストン総領事館管轄",
                                       "en": "Boston consular district"}})
    html, text = render(make_digest(rows, sub(ui_lang="en")), TZ, UNSUBSCRIBE, names=names)
    assert text.index("Connecticut commits") < text.index("also:")
    assert "コネチカット州" not in text.split("also:")[0]
    assert "also: Consulate-General of Japan in Boston (in Japanese)" in " ".join(text.split())
    html_ja, text_ja = render(make_digest(rows, sub(ui_lang="ja")), TZ, UNSUBSCRIBE,
                              names=names)
    assert text_ja.index("コネチカット州の量子技術投資について") < text_ja.index("ほかの報道")
    assert "在ボストン日本国総領事館 / 在ボストン総領事館管轄" in text_ja


@pytest.mark.parametrize(
    ("names", "ui_lang", "source", "mission"),
    [({"ja": "在ボストン日本国総領事館", "en": "Consulate-General of Japan in Boston"}, "en",
      "Consulate-General of Japan in Boston", "Boston district"),
     ({"ja": "在ボストン日本国総領事館", "en": "Consulate-General of Japan in Boston"}, "ja",
      "在ボストン日本国総領事館", "ボストン管轄"),
     ({"en": "Consulate-General of Japan in Boston"}, "ja",
      "Consulate-General of Japan in Boston", "ボストン管轄"),                 # falls back to en
     ({"de": "Generalkonsulat von Japan in Boston"}, "ja",
      "Generalkonsulat von Japan in Boston", "ボストン管轄"),                 # then to any
     ({}, "en", "Feed boston-cg", "Boston district")],                        # the archive's
    ids=["en", "ja", "en-fallback", "any-fallback", "no-names"],
)
def test_names_in_the_readers_language(names: dict[str, str], ui_lang: str, source: str,
                                       mission: str) -> None:
    rows = [row(1, 1, {"quantum": 3.0}, feed="boston-cg", kind="reports", mission="boston",
                lang=ui_lang)]
    given = Names(feeds={"boston-cg": names},
                  missions={"boston": {"ja": "ボストン管轄", "en": "Boston district"}})
    html, text = render(make_digest(rows, sub(ui_lang=ui_lang)), TZ, UNSUBSCRIBE, names=given)
    assert f"{source} / {mission} / " in text
    assert f"{source} · {mission} · " in html


def test_mission_without_names_shows_its_id() -> None:
    rows = [row(1, 1, {"quantum": 3.0}, feed="boston-cg", kind="reports", mission="boston")]
    _, text = render(make_digest(rows, sub(ui_lang="en")), TZ, UNSUBSCRIBE)
    assert "Feed boston-cg / boston / " in text
