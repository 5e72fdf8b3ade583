"""A `Digest`'s sections -> subject, HTML and plain text (Jinja2).

Rules:
- one template pair (digest.html.j2, digest.txt.j2) and a table of strings
  per digest language (ja, en); topic labels in the subscriber's language;
- every value from a feed is escaped in HTML (autoescape) and excerpted to
  2-3 sentences; links are the items' canonical URLs; no scripts, no remote
  images; the template's stylesheet is inlined into style attributes by
  css-inline, because mail clients drop <style> blocks;
- times are shown in the configured time zone; an item the source gave no
  date says so, with the time relay first saw it;
- the text part wraps at 72 columns;
- subject: 「海外現地情報 週報 2026年11月第4週 (量子技術・AI)」 or
  "Relay weekly digest, 23-29 Nov 2026 (Quantum technology, AI)";
- an item in a language other than the digest's carries a small mark with the
  language's name in the digest's language, after its headline and its name in the
  "also" line: [中国語] in a Japanese digest, (in Chinese) in an English one;
- feeds and missions are named in the digest's language when the configuration
  names them per language (`Names`), else in English, else as given; a mission
  without names shows as its id, and a mission named as the feed is named once.
Pure: the caller passes `now` and the time zone.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from relay import langs
from relay.models import Digest, Frequency, StoryItem, Topic, local_name
from relay.text import excerpt

STRINGS = {
    "ja": {
        "weekly": "週報", "daily": "日報", "brand": "海外現地情報",
        "intro": "{name}様　ご登録のトピックについて、{since}〜{until}に届いた現地情報です。",
        "also": "ほかの報道", "more": "ほか {n} 件", "source": "出典", "topics": "トピック",
        "trend": "過去8週の件数",
        "empty": "この期間、ご登録のトピックに新しい情報はありませんでした。",
        "footer": "このメールは relay が配信しています。配信停止: {unsubscribe}",
        "search": "一覧",
        "left_out": "メールのサイズ上限（{limit}）を超えないよう、重要度の低い {n} 件を省略しました。",
        "undated": "日付不明（{first_seen}取得）",
        "lang_mark": "[{name}]",
    },
    "en": {
        "weekly": "weekly digest", "daily": "daily digest", "brand": "Relay",
        "intro": "Dear {name}, here is what arrived on your topics from {since} to {until}.",
        "also": "also", "more": "and {n} more", "source": "Source", "topics": "Topics",
        "trend": "items in the last 8 weeks",
        "empty": "Nothing new on your topics in this period.",
        "footer": "Sent by relay. To unsubscribe: {unsubscribe}",
        "search": "list them",
        "left_out": "{n} less important stories were left out to keep this message under "
                    "the size limit ({limit}).",
        "undated": "undated (first seen {first_seen})",
        "lang_mark": "(in {name})",
    },
}

_env = Environment(
    loader=PackageLoader("relay.digest", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)


def subject(digest: Digest, tz: str) -> str:
    lang = digest.subscriber.ui_lang
    s = STRINGS[lang]
    # The period's last moment names it (a past week's `until` is the next Monday 00:00).
    start = (digest.until - timedelta(seconds=1)).astimezone(ZoneInfo(tz))
    labels = [sec.topic.label(lang) for sec in digest.sections][:3]
    weekly = digest.subscriber.frequency is Frequency.WEEKLY
    if lang == "ja":
        if weekly:
            monday = start - timedelta(days=start.weekday())
            when = f"{monday.year}年{monday.month}月第{(monday.day - 1) // 7 + 1}週"
        else:
            when = f"{start.year}年{start.month}月{start.day}日"
        topics = f" ({'・'.join(labels)})" if labels else ""
        return f"{s['brand']} {s['weekly' if weekly else 'daily']} {when}{topics}"
    if weekly:
        monday = start - timedelta(days=start.weekday())
        sunday = monday + timedelta(days=6)
        when = (f"{monday.day}-{sunday.day} {sunday:%b %Y}" if monday.month == sunday.month
                else f"{monday.day} {monday:%b} - {sunday.day} {sunday:%b %Y}")
    else:
        when = f"{start.day} {start:%b %Y}"
    topics = f" ({', '.join(labels)})" if labels else ""
    return f"{s['brand']} {s['weekly' if weekly else 'daily']}, {when}{topics}"


def _fmt(dt: datetime, tz: str, lang: str) -> str:
    local = dt.astimezone(ZoneInfo(tz))
    if lang == "ja":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y, %H:%M}"


def _date(published: datetime | None, first_seen: datetime | None, tz: str, lang: str) -> str:
    """An item's publication date; an undated one says so, with when relay first saw it."""
    if published is not None:
        return _fmt(published, tz, lang)
    seen = _fmt(first_seen, tz, lang) if first_seen is not None else "-"
    return STRINGS[lang]["undated"].format(first_seen=seen)


_PIECES = re.compile(r"\s+|[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]|[^\s\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]+")
_NO_LINE_START = set("、。，．・：；？！ー」』）)]｝〕〉》】ぁぃぅぇぉっゃゅょァィゥェォッャュョ")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _wrap(text: str, indent: str = "", width: int = 72) -> str:
    """Fill to `width` display columns: a CJK character counts two and may end a line
    anywhere except before closing punctuation (kinsoku); Latin words are not split."""
    if _width(text) == len(text):
        return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent,
                             break_long_words=False, break_on_hyphens=False)
    lines: list[str] = []
    line = indent
    for piece in _PIECES.findall(text):
        if piece.isspace():
            piece = " "
        fits = _width(line) + _width(piece) <= width
        if fits or line.strip() == "" or piece[0] in _NO_LINE_START:
            if not (piece == " " and line.strip() == ""):
                line += piece
            continue
        lines.append(line.rstrip())
        line = indent + ("" if piece == " " else piece)
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int]) -> str:
    """Eight weeks as eight characters, the tallest week full height ('▁▃▅█…')."""
    if not counts:
        return ""
    peak = max(counts) or 1
    return "".join(_SPARKS[min(7, round(7 * n / peak))] for n in counts)


MAX_TITLE = 300     # characters of a headline in a digest; a longer one is cut with "…"
MAX_URL = 2048      # a longer link is not shown (no mail client needs one; it only bloats)


def _safe_url(url: str) -> str:
    """Only web links become hrefs: a feed's javascript: or data: URL is dropped, and so
    is one longer than MAX_URL."""
    ok = url.lower().startswith(("https://", "http://")) and len(url) <= MAX_URL
    return url if ok else ""


def _headline(title: str) -> str:
    """A title as a digest shows it: at most MAX_TITLE characters, cut after a word when
    one ends near the limit."""
    if len(title) <= MAX_TITLE:
        return title
    cut = title[:MAX_TITLE - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_TITLE - 40 else cut).rstrip() + "…"


@dataclass(frozen=True)
class Names:
    """Names per language from the configuration: feed id / mission id -> lang -> name."""

    feeds: Mapping[str, dict[str, str]] = field(default_factory=dict)
    missions: Mapping[str, dict[str, str]] = field(default_factory=dict)

    def feed(self, item: StoryItem, lang: str) -> str:
        return local_name(self.feeds.get(item.feed_id, {}), lang, item.feed_name)

    def mission(self, mission: str | None, lang: str) -> str:
        return local_name(self.missions.get(mission, {}), lang, mission) if mission else ""


def lang_mark(item_lang: str, reader: str) -> str:
    """'' for an item in the reader's language, else '[中国語]' / '(in Chinese)'."""
    if not item_lang or item_lang == reader:
        return ""
    return STRINGS[reader]["lang_mark"].format(name=langs.name(item_lang, reader))


def _also(item: StoryItem, lang: str, names: Names) -> dict[str, str]:
    name, mark = names.feed(item, lang), lang_mark(item.lang, lang)
    return {"name": name, "url": _safe_url(item.url), "title": _headline(item.title),
            "lang_mark": mark,
            "label": f"{name} {mark}" if mark else name}


def _context(digest: Digest, tz: str, unsubscribe: str,
             topics: Sequence[Topic], names: Names) -> dict[str, object]:
    sub = digest.subscriber
    lang = sub.ui_lang
    s = STRINGS[lang]
    labels = {t.id: t.label(lang) for t in topics}
    sections = []
    for sec in digest.sections:
        stories = []
        for story in sec.stories:
            lead = story.lead
            stories.append({
                "title": _headline(lead.title),
                "url": _safe_url(lead.url),
                "lang_mark": lang_mark(lead.lang, lang),
                "source": (source := names.feed(lead, lang)),
                "mission": "" if (mission := names.mission(lead.mission, lang)) == source
                else mission,                     # a mission's own feed: named once
                "date": _date(lead.published_at, lead.collected_at, tz, lang),
                "excerpt": excerpt(lead.summary, 240 if lang == "ja" else 320),
                "also": [_also(i, lang, names) for i in story.items[1:]],
                "topics": [labels.get(t, t) for t in story.topics],
            })
        search = f"relay search --topic {sec.topic.id} --since {digest.since:%Y-%m-%d}"
        peak = max(sec.trend, default=0) or 1
        sections.append({"label": sec.topic.label(lang), "id": sec.topic.id, "count":
                         len(sec.stories) + sec.more, "stories": stories,
                         "spark": sparkline(sec.trend),
                         "bars": [max(2, round(28 * n / peak)) for n in sec.trend],
                         "trend": list(sec.trend),
                         "more": s["more"].format(n=sec.more) if sec.more else "",
                         "search": search})
    name = sub.name or sub.email
    return {
        "s": s, "lang": lang, "subject": digest.subject, "sections": sections,
        "intro": s["intro"].format(name=name, since=_fmt(digest.since, tz, lang),
                                   until=_fmt(digest.until, tz, lang)),
        "footer": s["footer"].format(unsubscribe=unsubscribe), "wrap": _wrap,
        "left_out": s["left_out"].format(n=digest.left_out, limit=_size(digest.size_limit))
        if digest.left_out else "",
        "footer_text": s["footer"].split("{unsubscribe}")[0], "unsubscribe": unsubscribe,
    }


def _size(limit: int) -> str:
    return f"{limit / 1_000_000:g} MB" if limit >= 1_000_000 else f"{limit / 1000:g} kB"


def render(digest: Digest, tz: str, unsubscribe: str,
           topics: Sequence[Topic] = (), names: Names | None = None) -> tuple[str, str]:
    """(html, text) of a digest whose subject is already set; `topics` names topic ids,
    `names` feeds and missions per language."""
    ctx = _context(digest, tz, unsubscribe, topics or [s.topic for s in digest.sections],
                   names or Names())
    html = css_inline.inline(_env.get_template("digest.html.j2").render(**ctx))
    text = _env.get_template("digest.txt.j2").render(**ctx)
    return html, text
