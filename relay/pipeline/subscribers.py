"""The subscriber use cases: subscribe (add, or change what is given), unsubscribe
(with an unsubscribe link's token checked), import a CSV file, list.

A subscriber is validated in one place (`make_subscriber`); every driver and the CSV
import go through it.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.digest.deliver import (
    header_text_problem,
    recipient_problem,
    shown_address,
    token_matches,
    valid_address,
)
from relay.errors import UsageError
from relay.langs import primary
from relay.models import UI_LANGS, Config, Frequency, Subscriber
from relay.pipeline.ports import Archive


def make_subscriber(config: Config, email: str, topics: Sequence[str], *,
                    frequency: str = "weekly", ui_lang: str = "ja", langs: Sequence[str] = (),
                    missions: Sequence[str] = (), name: str = "", org: str = "",
                    groups: Sequence[str] = (), countries: Sequence[str] = ()) -> Subscriber:
    """A validated subscriber (UsageError names what is wrong)."""
    email = email.strip()
    if not valid_address(email):
        raise UsageError(f"{email!r} is not a valid e-mail address")
    if not topics:
        raise UsageError("a subscriber needs at least one topic", field="topics")
    known = [t.id for t in config.topics]
    for t in topics:
        if t not in known:
            raise UsageError(f"unknown topic {t!r}", where=str(config.path),
                             hint=f"known topics: {', '.join(known)}")
    codes = []
    for lang in langs:
        code = primary(lang)          # zh-CN, pt_BR: the region is dropped
        if code is None:
            raise UsageError(f"{lang.strip()!r} is not an ISO 639-1 language code",
                             hint="two letters, e.g. ja, en, zh, ko, de, fr, ru, pt (or zh-CN)")
        codes.append(code)
    langs = list(dict.fromkeys(codes))
    for label, value in (("name", name), ("organization", org)):
        if any(ch in value for ch in "\r\n\t") or len(value) > 200:
            raise UsageError(f"the {label} must be one line of at most 200 characters")
        problem = header_text_problem(value)
        if problem:
            raise UsageError(f"the {label} {problem}")
    problem = recipient_problem(email, name)
    if problem:
        raise UsageError(problem)
    if ui_lang not in UI_LANGS:
        raise UsageError(f"digest language must be one of {', '.join(UI_LANGS)}, "
                         f"not {ui_lang!r}")
    for group in groups:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", group):
            raise UsageError(f"{group!r} is not a lower-case group slug")
    try:
        freq = Frequency(frequency)
    except ValueError:
        raise UsageError(f"frequency must be weekly or daily, not {frequency!r}") from None
    return Subscriber(email=email, topics=tuple(dict.fromkeys(topics)), frequency=freq,
                      ui_lang=ui_lang, langs=tuple(langs), missions=tuple(missions),
                      name=name, org=org, groups=tuple(dict.fromkeys(groups)),
                      countries=tuple(dict.fromkeys(c.upper() for c in countries)),
                      token=secrets.token_urlsafe(18))


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)       # "line N: what is wrong"


IMPORT_COLUMNS = ("email", "name", "organization", "topics", "frequency", "ui_lang", "groups",
                  "langs")


def import_subscribers(config: Config, store: Archive, path: Path, now: datetime) -> ImportReport:
    """Add or update the subscribers of a CSV file (columns IMPORT_COLUMNS; topics,
    groups and langs space-separated). Idempotent; a bad row changes nothing and is
    reported with its line; the good rows are applied."""
    report = ImportReport()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the file: {exc}", where=str(path)) from exc
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:          # a header field over csv's 128 KB limit
        raise UsageError(f"cannot read the header: {exc}", where=f"{path}:1") from exc
    missing = [c for c in ("email", "topics") if c not in header]
    if missing:
        raise UsageError(f"the header lacks {', '.join(missing)}", where=f"{path}:1",
                         hint="columns: " + ",".join(IMPORT_COLUMNS))
    existing = {s.email: s for s in store.subscribers(active_only=False)}
    seen: dict[str, int] = {}
    for row in _records(reader, report):
        line = reader.line_num
        address = (row.get("email") or "").strip().lower()
        if address in seen:
            report.bad.append(f"line {line}: {shown_address(address)} is already on line "
                              f"{seen[address]}")
            continue
        seen[address] = line
        unknown = [k for k in row if k not in IMPORT_COLUMNS]
        if unknown and unknown != [None]:
            report.bad.append(f"line {line}: unknown column {unknown[0]!r}")
            continue
        try:
            sub = make_subscriber(
                config, row.get("email") or "", (row.get("topics") or "").split(),
                frequency=(row.get("frequency") or "weekly").strip(),
                ui_lang=(row.get("ui_lang") or "ja").strip(),
                name=(row.get("name") or "").strip(), org=(row.get("organization") or "").strip(),
                groups=(row.get("groups") or "").split(),
                langs=(row.get("langs") or "").replace(",", " ").lower().split())
        except UsageError as exc:
            report.bad.append(f"line {line}: {exc.message}")
            continue
        old = existing.get(sub.email)
        if old is not None:   # a column the file does not have keeps its value
            given = set(reader.fieldnames or ())
            sub = replace(
                sub,
                name=sub.name if "name" in given else old.name,
                org=sub.org if "organization" in given else old.org,
                frequency=sub.frequency if "frequency" in given else old.frequency,
                ui_lang=sub.ui_lang if "ui_lang" in given else old.ui_lang,
                groups=sub.groups if "groups" in given else old.groups,
                langs=sub.langs if "langs" in given else old.langs)
        same = old is not None and old.active and (
            old.topics, old.frequency, old.ui_lang, old.name, old.org, old.groups, old.langs) == (
            sub.topics, sub.frequency, sub.ui_lang, sub.name, sub.org, sub.groups, sub.langs)
        if same:
            report.unchanged.append(sub.email)
            continue
        if old is not None:   # keep what the file does not say
            sub = replace(sub, missions=old.missions, countries=old.countries)
        created = store.upsert_subscriber(sub, now)
        (report.added if created else report.updated).append(sub.email)
        existing[sub.email] = sub
    return report


def _records(reader: csv.DictReader[str], report: ImportReport) -> Iterator[dict[str, Any]]:
    """The rows of the file until one csv cannot read (a field over its 128 KB limit):
    that one is reported with its line, and the lines after it are not read."""
    try:
        yield from reader
    except csv.Error as exc:
        report.bad.append(f"line {reader.line_num + 1}: {exc}; the lines after it were not read")


NEW_NEEDS_TOPICS = "a new subscriber needs topics"


def list_subscribers(store: Archive) -> list[Subscriber]:
    """The active subscribers."""
    return store.subscribers()


def subscribe(config: Config, store: Archive, email: str, now: datetime, *,
              topics: Sequence[str] | None = None, frequency: str | None = None,
              ui_lang: str | None = None, langs: Sequence[str] | None = None,
              missions: Sequence[str] | None = None, countries: Sequence[str] | None = None,
              name: str | None = None, org: str | None = None,
              groups: Sequence[str] | None = None) -> tuple[Subscriber, bool]:
    """Add a subscriber, or change one: what is None keeps its value (a new one takes the
    defaults, and needs topics). The subscriber as stored, and whether it is new."""
    old = next((s for s in store.subscribers(active_only=False) if s.email == email.strip()),
               None)
    if old is None and topics is None:
        raise UsageError(NEW_NEEDS_TOPICS, field="topics")

    def keep(given: Sequence[str] | None, kept: Sequence[str]) -> list[str]:
        return list(given) if given is not None else list(kept)

    sub = make_subscriber(
        config, email, keep(topics, old.topics if old else ()),
        frequency=frequency or (old.frequency.value if old else "weekly"),
        ui_lang=ui_lang or (old.ui_lang if old else "ja"),
        langs=keep(langs, old.langs if old else ()),
        missions=keep(missions, old.missions if old else ()),
        name=name if name is not None else (old.name if old else ""),
        org=org if org is not None else (old.org if old else ""),
        groups=keep(groups, old.groups if old else ()),
        countries=keep(countries, old.countries if old else ()))
    return sub, store.upsert_subscriber(sub, now)


def unsubscribe(config: Config, store: Archive, email: str, token: str | None = None) -> None:
    """Stop a subscriber's digests (their history is kept). With `token` (from an
    unsubscribe link) it must be the one relay signed for this address."""
    if token is not None:
        if not config.settings.secret:
            raise UsageError("settings.secret is not set: no token can be checked")
        if not token_matches(config.settings.secret, email, token):
            raise UsageError("the token does not match this address", where=email)
    if not store.deactivate_subscriber(email.strip()):
        raise UsageError(f"no active subscriber {email!r}")
