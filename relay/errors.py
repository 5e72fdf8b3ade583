"""The one error tree of relay, and the exit codes the CLI maps it to.

RelayError                 exit 2 unless stated
  ConfigError              feeds.yaml is wrong: file, line and key say where
  UsageError               a bad argument on the command line (unknown topic, bad date)
  QueryError               a search query that cannot be parsed; an SQL query that cannot
                           run, or that would write (`relay sql`)
  CollectError             one source failed (exit 1 for the run, the run goes on)
    FetchError             HTTP or file access: url, status
    ParseError             bytes that are not a feed, or a listing page that yields no item
                           (a feed read only in part is no error: see collect.feeds)
  StoreError               the archive cannot be opened, read or written (exit 1):
                           disk full, read-only, damaged, not an archive, schema to upgrade
    LockedError            another relay process holds the database (a daemon's lock, or
                           a write transaction that outlasted the busy timeout)
  RefusedError             the archive refused what it was given (a constraint, a value
                           SQLite cannot store): relay's defect or one record's, so that
                           item, feed or subscriber fails alone (exit 1 if it ends a command)
  DeliveryError            one message could not be handed to SMTP (exit 1)
  OutputError              relay's own files (settings.digests_dir) cannot be written (exit 1)

Every error carries `where` (file:line, feed id, url, address) and an optional
`hint`; an error of a use case's input may name the input (`field`: topics, lang,
period) in the use case's words, and a driver adds its own (the CLI its option).
Foreign exceptions are translated once, at the boundary that calls the foreign library
(`raise FetchError(...) from exc`); SQLite's at the Store's public methods
(store.translate), into a StoreError, a RefusedError or a QueryError. Only `cli` prints
them.
This module imports nothing of relay.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2


class RelayError(Exception):
    """Base of every error relay raises on purpose."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, where: str = "", hint: str = "",
                 field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} ({self.where})" if self.where else self.message


class ConfigError(RelayError):
    """The configuration file is invalid."""


class UsageError(RelayError):
    """A command-line argument is invalid."""


class QueryError(RelayError):
    """A search query cannot be parsed; an SQL query cannot run, or would write."""


class CollectError(RelayError):
    """One source could not be collected; the run goes on."""

    exit_code = EXIT_FAILURES

    def __init__(
        self, message: str, *, feed_id: str = "", url: str = "", status: int | None = None,
        hint: str = "", retry_after: float | None = None,
    ) -> None:
        where = " ".join(p for p in (f"feed={feed_id}" if feed_id else "", url) if p)
        super().__init__(message, where=where, hint=hint)
        self.feed_id = feed_id
        self.url = url
        self.status = status
        self.retry_after = retry_after      # seconds the server asked us to wait (429/503)


class FetchError(CollectError):
    """The source could not be fetched (network, HTTP status, file)."""


class ParseError(CollectError):
    """The fetched bytes are not a feed relay can read, or a page that yields no item."""


class ArchiveError(RelayError):
    """Whatever the archive's engine raised, translated once where the engine is met
    (`store.translate` for SQLite): a StoreError (the archive failed: the run ends) or a
    RefusedError (it refused what it was given: that one unit fails alone)."""

    exit_code = EXIT_FAILURES


class StoreError(ArchiveError):
    """The archive cannot be opened, read or written: a failure of the system, not of
    the input (store.translate turns SQLite's errors into these)."""

    exit_code = EXIT_FAILURES


class LockedError(StoreError):
    """Another relay process holds the database."""


class RefusedError(ArchiveError):
    """The archive refused a value or broke a constraint for what relay gave it: not a
    failure of the archive (not a StoreError, which ends a run), but of the one item, feed
    or subscriber at hand, which fails alone."""

    exit_code = EXIT_FAILURES


class DeliveryError(RelayError):
    """One message could not be delivered."""

    exit_code = EXIT_FAILURES

    def __init__(
        self, message: str, *, address: str = "", temporary: bool = True, hint: str = ""
    ) -> None:
        super().__init__(message, where=address, hint=hint)
        self.address = address
        self.temporary = temporary


class OutputError(RelayError):
    """A file relay writes beside the archive (a digest, a topic's Atom feed) cannot be
    written: a failure of the system (permissions, a full disk), not of the input."""

    exit_code = EXIT_FAILURES
