"""Report files written by mission staff -> `Entry` values.

A `reports` feed points at a folder (`path: reports/inbox/boston`). Every
`.md`, `.markdown`, `.txt`, `.html` or `.htm` file in it is one report:
- an optional YAML front matter between `---` lines gives `title`, `date`
  (2026-11-24, 2026-11-24T09:00:00+09:00, 2026年11月24日, or any form
  `relay.collect.dates` reads; Japan time when no zone is given; one before 1970
  is none: `models.kept_date`), `author`,
  `topics` (a list of topic ids), `url` and `lang`; other keys are ignored;
- `url` is the link digests show, stored as written (not rewritten, not
  resolved): usually the article the report is about, so it is never a
  duplicate key for a report (`pipeline.ingesting`); without it the link is
  `relay-report:<feed>/<file>#<hash>`, which digests show as plain text;
- without a title, the first Markdown heading or the first line is the title;
  without a date, the file's modification time (the time its author saved
  it: a report is written for this inbox, it has no backlog of its own);
- Markdown and text bodies are kept as text; HTML bodies are stripped later
  like any feed content;
- the guid is the file's name and a hash of its bytes: the same file is
  collected once however often the folder is read, and a new report that
  reuses an old name is still new;
- after the archive has stored it, a report is moved to `<inbox>/archive/
  <YYYY-MM>/` (never deleted); a file that cannot be read is moved to
  `<inbox>/rejected/` with a `<name>.reason.txt` beside it, and the other
  files are read as usual;
- `submit` checks a file's front matter (title, a readable date, known
  topics) before it puts the file into an inbox.
A file that cannot be read or decoded raises `ParseError` naming the file.
"""

from __future__ import annotations

import hashlib
import html
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from relay.collect.dates import from_timestamp, parse_date
from relay.collect.decode import decode
from relay.collect.pages import parse_japanese_date
from relay.errors import FetchError, ParseError
from relay.models import Entry, kept_date

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


def _date(value: Any) -> datetime | None:
    """The front matter's date (YAML gives a datetime, a date or a string) in UTC, Japan
    time when it names no zone; None unless it is a date relay keeps (`kept_date`)."""
    if isinstance(value, datetime):
        return kept_date(value if value.tzinfo else value.replace(tzinfo=JST))
    if isinstance(value, date):
        return kept_date(datetime(value.year, value.month, value.day, tzinfo=JST))
    if isinstance(value, str):
        return parse_date(value, JST) or parse_japanese_date(value)
    return None


def read_report(feed_id: str, path: Path) -> Entry:
    try:
        raw = path.read_bytes()
        mtime = from_timestamp(path.stat().st_mtime)
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
    digest = hashlib.sha1(raw).hexdigest()[:12]
    return Entry(
        feed_id=feed_id, guid=f"{path.name}#{digest}",
        url=str(meta.get("url") or "").strip() or f"relay-report:{feed_id}/{path.name}#{digest}",
        title=title, content_html=content, published_at=_date(meta.get("date")) or mtime,
        author=str(meta.get("author") or ""), lang=meta.get("lang"),
        topics=tuple(str(t) for t in topics),
    )


@dataclass
class ReportBatch:
    """What one read of an inbox found."""

    entries: list[Entry] = field(default_factory=list)
    errors: list[ParseError | FetchError] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)    # guid -> file


def read_reports(feed_id: str, folder: Path) -> ReportBatch:
    """Every readable report in the folder, and one error per file that is not."""
    if not folder.is_dir():
        raise FetchError("the reports folder does not exist", feed_id=feed_id, url=str(folder))
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    batch = ReportBatch()
    for path in files:
        try:
            entry = read_report(feed_id, path)
        except (ParseError, FetchError) as exc:
            batch.errors.append(exc)
            continue
        batch.entries.append(entry)
        batch.paths[entry.guid] = path
    return batch


def _free_name(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    return target


def archive_report(path: Path, inbox: Path, now: datetime) -> Path:
    """Move a stored report out of the inbox, into archive/<YYYY-MM>/."""
    target = _free_name(inbox / "archive" / f"{now:%Y-%m}", path.name)
    path.replace(target)
    return target


def reject_report(path: Path, inbox: Path, reason: str) -> Path:
    """Move an unreadable report aside, with the reason in a file beside it."""
    target = _free_name(inbox / "rejected", path.name)
    path.replace(target)
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


def check_report(path: Path, topic_ids: set[str]) -> Entry:
    """A report as `submit` accepts it: readable, with a title, a date and known topics."""
    entry = read_report("submit", path)
    raw_meta = split_front_matter(decode(path.read_bytes())[0].replace("\r\n", "\n"))[0]
    problems = []
    if not str(raw_meta.get("title") or "").strip():
        problems.append("no title: in the front matter")
    if raw_meta.get("date") is None:
        problems.append("no date: in the front matter")
    elif _date(raw_meta.get("date")) is None:
        problems.append(f"date {raw_meta.get('date')!r} is not a date like 2026-11-24"
                        " (from 1970 on)")
    unknown = [t for t in entry.topics if t not in topic_ids]
    if unknown:
        problems.append(f"unknown topics {', '.join(unknown)}")
    if problems:
        raise ParseError("; ".join(problems), url=str(path),
                         hint="front matter: ---, title:, date:, author:, topics: [...], ---")
    return entry


def submit_report(path: Path, inbox: Path, topic_ids: set[str]) -> Path:
    """Check a report and copy it into an inbox (the original stays where it is)."""
    check_report(path, topic_ids)
    if path.suffix.lower() not in SUFFIXES:
        raise ParseError(f"a report is one of {', '.join(sorted(SUFFIXES))}", url=str(path))
    target = _free_name(inbox, path.name)
    shutil.copy2(path, target)
    return target
