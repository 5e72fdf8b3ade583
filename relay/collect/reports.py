"""Report files written by mission staff -> `Entry` values.

A `reports` feed points at a folder (`path: reports/inbox/boston`). Every
`.md`, `.markdown`, `.txt`, `.html` or `.htm` file in it is one report:
- an optional YAML front matter between `---` lines gives `title`, `date`
  (2026-11-24, 2026-11-24T09:00:00+09:00, 2026年11月24日), `author`,
  `topics` (a list of topic ids), `url` and `lang`; other keys are ignored;
- without a title, the first Markdown heading or the first line is the title;
  without a date, the file's modification time;
- Markdown and text bodies are kept as text; HTML bodies are stripped later
  like any feed content;
- the guid is the file's name, so a report is collected once however often
  the folder is read.
A file that cannot be read or decoded raises `ParseError` naming the file.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from relay.collect.decode import decode
from relay.collect.pages import parse_japanese_date
from relay.errors import FetchError, ParseError
from relay.models import Entry

SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm"}
JST = timezone(timedelta(hours=9))


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        return {}, text
    head = text[3:end]
    body = text[end + 4 :].lstrip("-").lstrip("\n")
    data = YAML(typ="safe").load(head) or {}
    if not isinstance(data, dict):
        raise ValueError("the front matter must be a mapping")
    return data, body


def _date(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=JST)).astimezone(UTC)
    if hasattr(value, "year") and hasattr(value, "month"):  # a date
        return datetime(value.year, value.month, value.day, tzinfo=JST).astimezone(UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=JST)).astimezone(UTC)
        except ValueError:
            return parse_japanese_date(value) or fallback
    return fallback


def read_report(feed_id: str, path: Path) -> Entry:
    try:
        raw = path.read_bytes()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError as exc:
        raise FetchError(f"cannot read report: {exc.strerror or exc}", feed_id=feed_id,
                         url=str(path)) from exc
    text, _codec = decode(raw)
    try:
        meta, body = split_front_matter(text.replace("\r\n", "\n"))
    except (YAMLError, ValueError) as exc:
        raise ParseError(f"bad front matter: {str(exc).splitlines()[0]}", feed_id=feed_id,
                         url=str(path)) from exc
    title = str(meta.get("title") or "").strip()
    if not title:
        lines = [ln for ln in body.splitlines() if ln.strip()]
        heading = next((ln for ln in lines if ln.lstrip().startswith("#")), None)
        title = (heading or (lines[0] if lines else path.stem)).strip().lstrip("#").strip()
    is_html = path.suffix.lower() in (".html", ".htm")
    content = body if is_html else "".join(
        f"<p>{html.escape(p.strip())}</p>" for p in body.split("\n\n") if p.strip())
    topics = meta.get("topics") or []
    if isinstance(topics, str):
        topics = topics.replace(",", " ").split()
    return Entry(
        feed_id=feed_id, guid=path.name, url=str(meta.get("url") or path.resolve().as_uri()),
        title=title, content_html=content, published_at=_date(meta.get("date"), mtime),
        author=str(meta.get("author") or ""), lang=meta.get("lang"),
        topics=tuple(str(t) for t in topics),
    )


def read_reports(feed_id: str, folder: Path) -> tuple[list[Entry], list[ParseError | FetchError]]:
    """Every readable report in the folder, and one error per file that is not."""
    if not folder.is_dir():
        raise FetchError("the reports folder does not exist", feed_id=feed_id, url=str(folder))
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    entries: list[Entry] = []
    errors: list[ParseError | FetchError] = []
    for path in files:
        try:
            entries.append(read_report(feed_id, path))
        except (ParseError, FetchError) as exc:
            errors.append(exc)
    return entries, errors
