"""`relay run`: the daemon. APScheduler jobs over the pipeline, a lock, signals.

- One lock per database (`<database>.lock`, an flock held for the process's
  life): a second daemon on the same archive refuses to start and names the
  holder's pid. The kernel drops the lock when the process dies, so a crash
  leaves nothing to clean.
- Jobs (APScheduler 3, one worker thread, so jobs never overlap on the one
  SQLite connection): one per enabled feed on its interval, first run at the
  feed's `next_fetch_at` from the archive (a restart fetches nothing early);
  a feed in backoff is skipped until due. Weekly digests at
  `settings.digest.weekly`, daily ones at `settings.digest.daily`, in
  `settings.timezone`; each build is followed by a send, and the weekly one
  by the feed-health mail to `settings.admin_email`. A build reads feeds.yaml
  again first (`reload`), so need-to-know is as the file says now; when the
  file no longer loads, nothing is built (the queued digests are still sent)
  and the error is logged. Feeds added or removed since the start are
  scheduled at the next start. Queued deliveries
  that wait for a retry are sent every few minutes.
- SIGTERM and SIGINT stop it cleanly: the running job stops between items
  (every item it stored is complete), then the scheduler shuts down.
- Logs (every command's, set up by `log_to_stderr`) follow where they go: under
  systemd (`JOURNAL_STREAM` or `INVOCATION_ID` in the environment) the journal stamps
  each line itself, so a line carries no time of its own and starts with its syslog
  priority, `<3>` error ... `<7>` debug (sd-daemon(3)), every line of a traceback
  too; elsewhere a line starts with its time in ISO 8601 with the UTC offset.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING

from relay import pipeline
from relay.errors import LockedError, RelayError
from relay.models import Config, Frequency

if TYPE_CHECKING:   # (every command imports this module for log_to_stderr: kept light)
    from relay.pipeline.ports import Archive

log = logging.getLogger("relay.daemon")
RETRY_SEND_MINUTES = 5
# syslog severities (RFC 5424) by logging level, for the journal's "<N>" line prefix
PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
              logging.DEBUG: 7}
LINE = "%(levelname)s %(name)s %(message)s"


def under_systemd(env: Mapping[str, str]) -> bool:
    """Whether systemd runs this process with its output going to the journal."""
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


class JournalFormatter(logging.Formatter):
    """`<4>WARNING relay failed feed=...`: no time (the journal has it), each line with
    the record's priority so that a traceback's lines keep it."""

    def __init__(self) -> None:
        super().__init__(LINE)

    def format(self, record: logging.LogRecord) -> str:
        levels = [n for n in sorted(PRIORITIES) if n <= record.levelno]
        prefix = f"<{PRIORITIES[levels[-1]] if levels else 7}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class ZonedFormatter(logging.Formatter):
    """`2026-12-02T17:06:21.123+09:00 WARNING relay ...`: local time with its offset."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s " + LINE)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created).astimezone().isoformat(
            timespec="milliseconds")


def log_formatter(env: Mapping[str, str]) -> logging.Formatter:
    return JournalFormatter() if under_systemd(env) else ZonedFormatter()


def log_to_stderr(level: int, env: Mapping[str, str]) -> None:
    """The root logger to stderr at `level`, formatted for where stderr goes (a no-op
    when logging was set up already, as logging.basicConfig)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(env))
    logging.basicConfig(level=level, handlers=[handler])


class DatabaseLock:
    """An exclusive flock beside the database file."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held for the daemon's life
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise LockedError(
                f"another relay run (pid {holder}) is already using this database",
                where=str(self.path.with_suffix("")),
                hint="stop it first, or give this one another --db",
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Daemon:
    def __init__(self, config: Config, database: Path,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 reload: Callable[[], Config] | None = None) -> None:
        self.config = config
        self.reload = reload
        self.database = database
        self.clock = clock
        self.stop_event = threading.Event()
        self.lock = DatabaseLock(database)
        self.store: Archive | None = None
        # APScheduler is imported by the daemon it runs, not by every command that
        # only borrows this module's log formats (log_to_stderr)
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=config.settings.timezone,
        )

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def _guard(self, name: str, job: Callable[[Archive, datetime], None]) -> Callable[[], None]:
        def run() -> None:
            if self.should_stop() or self.store is None:
                return
            try:
                job(self.store, self.clock())
            except RelayError as exc:
                log.error("job=%s error=%r", name, str(exc))
            except Exception:  # a job's bug must not kill the daemon; it is logged in full
                log.exception("job=%s crashed", name)
        return run

    def _collect(self, feed_id: str) -> Callable[[Archive, datetime], None]:
        def job(store: Archive, now: datetime) -> None:
            pipeline.collect(self.config, store, now, [feed_id], due_only=True,
                             should_stop=self.should_stop)
        return job

    def _digest(self, frequency: Frequency) -> Callable[[Archive, datetime], None]:
        def job(store: Archive, now: datetime) -> None:
            if self.reload is not None:
                # Need-to-know as feeds.yaml says now (an audience added since the start);
                # a file that no longer loads builds nothing: when in doubt, restrict.
                try:
                    self.config = self.reload()
                except RelayError as exc:
                    log.error("digests not built: the configuration does not load: %s", exc)
                    pipeline.send_pending(self.config, store, now, should_stop=self.should_stop)
                    return
            period = pipeline.period_of(now, frequency, self.config.settings.timezone)
            results = pipeline.build_digests(self.config, store, now, period)
            log.info("digests period=%s built=%d", period,
                     sum(r.status == "built" for r in results))
            pipeline.send_pending(self.config, store, now, should_stop=self.should_stop)
            if frequency is Frequency.WEEKLY and self.config.settings.admin_email:
                try:
                    pipeline.send_health_mail(self.config, store, now)
                except RelayError as exc:
                    log.error("health mail error=%r", str(exc))
        return job

    def _send(self, store: Archive, now: datetime) -> None:
        pipeline.send_pending(self.config, store, now, should_stop=self.should_stop)

    def start(self) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        from relay.config import DAYS
        self.lock.acquire()
        self.store = pipeline.open_archive(self.database)
        pipeline.warm_up()
        now = self.clock()
        first = pipeline.schedule_feeds(self.config, self.store, now)
        for feed in self.config.feeds:
            if feed.id not in first:
                continue
            self.scheduler.add_job(
                self._guard(f"collect:{feed.id}", self._collect(feed.id)),
                IntervalTrigger(seconds=feed.interval, timezone=UTC),
                id=f"collect:{feed.id}", next_run_time=first[feed.id],
            )
        d = self.config.settings.digest
        tz = self.config.settings.timezone
        self.scheduler.add_job(
            self._guard("digest:weekly", self._digest(Frequency.WEEKLY)),
            CronTrigger(day_of_week=DAYS[d.weekly_day], hour=d.weekly_time.hour,
                        minute=d.weekly_time.minute, timezone=tz), id="digest:weekly")
        self.scheduler.add_job(
            self._guard("digest:daily", self._digest(Frequency.DAILY)),
            CronTrigger(hour=d.daily_time.hour, minute=d.daily_time.minute, timezone=tz),
            id="digest:daily")
        self.scheduler.add_job(self._guard("send", self._send),
                               IntervalTrigger(minutes=RETRY_SEND_MINUTES), id="send")
        self.scheduler.start()
        log.info("started pid=%d feeds=%d database=%s", os.getpid(),
                 sum(f.enabled for f in self.config.feeds), self.database)

    def stop(self) -> None:
        self.stop_event.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
            self.store = None
        self.lock.release()
        log.info("stopped")

    def run_forever(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal=%s stopping", signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        try:
            while not self.stop_event.wait(1.0):
                pass
        finally:
            self.stop()
