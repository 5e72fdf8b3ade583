"""A query of one's own on the archive (`relay sql`): read-only SQL through sqlite-utils.

The archive's documented views (`store.VIEWS`: archive_items, archive_story_sources,
archive_deliveries) are its stable face; the tables under them are relay's own. The
feeds' audience is applied as the configuration says now (a read-only store keeps it in
a temporary copy, see `Store.sync_feeds`), as everything that reads the archive for
someone does. The query only reads, whatever it says (`Store.query`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from relay.errors import QueryError
from relay.models import Config
from relay.pipeline.ports import Archive


@dataclass
class SqlResult:
    columns: list[str]
    rows: Iterator[tuple[Any, ...]]     # read from the archive as they are taken


def run_sql(config: Config, store: Archive, sql: str,
            params: Mapping[str, Any] | None = None) -> SqlResult:
    """The columns and rows of one read-only statement with its named parameters; a
    QueryError when it writes, is not valid SQL or lacks a parameter."""
    if not sql.strip():
        raise QueryError("the query is empty", hint="SELECT * FROM archive_items LIMIT 10")
    store.sync_feeds(config.feeds)
    columns, rows = store.query(sql, params)
    return SqlResult(columns, rows)
