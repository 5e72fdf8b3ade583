"""`relay status --format prometheus`: the archive's state in the Prometheus text
exposition format (version 0.0.4), for the node exporter's textfile collector.

- Every metric is a gauge (a count read from the archive now, or a time), named
  `relay_...` with a `# HELP` and a `# TYPE` line; times are Unix seconds
  (`..._timestamp_seconds`), a time never reached (a feed never fetched) is left out
  rather than written as 0.
- Label values are escaped as the format says (backslash, double quote, newline);
  HELP texts escape backslash and newline.
- Feeds are counted by state, one each: disabled (by feeds.yaml or a 410), else
  failing (its last fetch failed), else silent, else partial, else ok; and described
  one by one: its
  last success, consecutive errors, items collected in the last 7 days, and an info
  sample carrying its name, kind, mission and country.
- Nothing is written to the archive (the store's read-only copy of the feeds table is
  synced with the configuration, as `relay status` does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from relay import __version__
from relay.models import Config, DeliveryStatus
from relay.pipeline.health import feed_health
from relay.pipeline.ports import Archive
from relay.records import from_ts

STATES = ("ok", "partial", "silent", "failing", "disabled")

Sample = tuple[Mapping[str, str], float]


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def family(name: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    """One gauge's lines: HELP, TYPE, then a line per sample (labels in the given order)."""
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        shown = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{shown}}} {_number(value)}" if shown
                     else f"{name} {_number(value)}")
    return lines


def feed_state(row: Mapping[str, Any]) -> str:
    """A feed's one state for the count by state (see the module's docstring)."""
    if not row["enabled"]:
        return "disabled"
    if row["last_error"]:
        return "failing"
    if row["silent"]:
        return "silent"
    return "partial" if row["partial"] else "ok"


def _seconds(text: str | None) -> float | None:
    dt = from_ts(text)
    return dt.timestamp() if dt else None


def prometheus_metrics(config: Config, store: Archive, now: datetime) -> str:
    """The exposition text (ends with a newline)."""
    rows = feed_health(config, store, now)
    counts = store.status()
    kinds = {f.id: f for f in config.feeds}
    states = {s: 0 for s in STATES}
    for row in rows:
        states[feed_state(row)] += 1
    last = counts.last_collected_at.timestamp() if counts.last_collected_at else None
    out: list[str] = []
    out += family("relay_info", "relay's version and the archive it read (always 1)",
                  [({"version": __version__, "database": str(store.path)}, 1)])
    out += family("relay_feeds", "Configured feeds by state",
                  [({"state": s}, n) for s, n in states.items()])
    out += family("relay_feed_info", "One configured feed (always 1)",
                  [({"feed": r["id"], "name": kinds[r["id"]].name,
                     "kind": kinds[r["id"]].kind.value, "mission": kinds[r["id"]].mission or "",
                     "country": kinds[r["id"]].country or ""}, 1) for r in rows])
    out += family("relay_feed_last_success_timestamp_seconds",
                  "When the feed was last fetched and stored without error",
                  [({"feed": r["id"]}, t) for r in rows
                   if (t := _seconds(r["last_ok_at"])) is not None])
    out += family("relay_feed_consecutive_errors",
                  "Fetches of the feed that failed in a row (0: its last one worked)",
                  [({"feed": r["id"]}, r["error_count"]) for r in rows])
    out += family("relay_feed_items_7d", "Items of the feed collected in the last 7 days",
                  [({"feed": r["id"]}, r["items_7d"]) for r in rows])
    out += family("relay_items", "Items in the archive", [({}, counts.items)])
    out += family("relay_stories", "Stories (items that tell the same news) in the archive",
                  [({}, counts.stories)])
    out += family("relay_stories_multi_source", "Stories told by more than one item",
                  [({}, counts.multi_source_stories)])
    out += family("relay_topic_items", "Items tagged with the topic",
                  [({"topic": t}, n) for t, n in counts.topics.items()])
    out += family("relay_last_collect_timestamp_seconds", "When an item was last collected",
                  [({}, last)] if last is not None else [])
    out += family("relay_subscribers", "Active subscribers", [({}, counts.subscribers)])
    out += family("relay_digests", "Digests built", [({}, counts.digests)])
    out += family("relay_deliveries", "Deliveries by status (queued: waiting to be sent)",
                  [({"status": s.value}, counts.deliveries.get(s.value, 0))
                   for s in DeliveryStatus])
    out += family("relay_digest_failures",
                  "Subscribers whose last digest build or send failed",
                  [({}, len(counts.digest_failures))])
    return "\n".join(out) + "\n"
