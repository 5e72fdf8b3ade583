"""Worker processes that prepare items (normalize, tokenize, tag, MinHash) while the
main process stores them: ingest is CPU-bound, and a collect of many feeds uses
every core this way.

- `settings.workers`: how many (0: everything in the main process; unset: the
  usable CPUs, at most MAX_AUTO, and none on a one-CPU machine).
- The processes come from a *forkserver* started once per relay process: a
  clean single-threaded parent (the daemon has scheduler threads, which a plain
  fork must not copy) that imports relay and loads the Sudachi dictionary before
  it forks each worker, so a worker starts in milliseconds and shares the
  dictionary's pages with its siblings.
- The pool starts only when a run has enough items to repay it (see
  `ingesting.POOL_MIN`); `collect` shuts it down when it ends. If a worker dies,
  or none can be started, the main process works alone for an hour.
- A worker exits when the main process does, however that dies. It imports the
  main script again (as multiprocessing does), so a script that runs relay must
  keep that code under `if __name__ == "__main__":`; one that does not gets a
  clear error in the worker, and its run goes on in the main process.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger("relay")

MAX_AUTO = 4
NICE = 5

RETRY_BROKEN = 3600.0       # seconds without workers after they failed

_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_broken: float | None = None    # when the workers failed


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve(workers: int | None) -> int:
    """The number of worker processes for a `settings.workers` value."""
    if workers is not None:
        return max(0, workers)
    cpus = usable_cpus()
    return min(MAX_AUTO, cpus) if cpus > 1 else 0


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group; the main process decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker waits on its job queue, which it holds open itself: it would outlive a
    # main process killed outright (SIGKILL, the OOM killer, `timeout`). It watches it.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    # The main process stores in order and is what the run waits for; workers run
    # ahead of it, so they yield the CPU to it when they compete.
    os.nice(NICE)


class NestedRun(RuntimeError):
    """relay was run by a worker process importing the main script again."""


def _refuse_nested() -> None:
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise NestedRun(
            "relay was run while an ingest worker process started: a script that runs "
            "relay must keep that code under `if __name__ == \"__main__\":`")


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def pool(workers: int) -> ProcessPoolExecutor | None:
    """The shared pool of `workers` processes (started now if need be), or None when
    there are to be none, the pool broke in the last hour, or this is itself a worker."""
    global _pool, _pool_size, _broken
    _refuse_nested()
    if workers <= 0 or multiprocessing.parent_process() is not None:
        return None
    if _broken is not None:
        if time.monotonic() - _broken < RETRY_BROKEN:
            return None
        _broken = None
    if _pool is not None and _pool_size == workers:
        return _pool
    shutdown()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["relay.pipeline._preload"])
    _pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)
    _pool_size = workers
    log.debug("started %d ingest worker processes", workers)
    return _pool


def running(workers: int) -> ProcessPoolExecutor | None:
    """The pool if it is already up with `workers` processes (using it costs nothing)."""
    _refuse_nested()
    return _pool if workers > 0 and _pool_size == workers else None


def mark_broken(reason: BaseException) -> None:
    """A worker died (killed, out of memory), or none could be started: the main process
    does all the work for the next RETRY_BROKEN seconds."""
    global _broken
    if _broken is None:
        log.warning("ingest worker processes failed (%s); preparing items in the main "
                    "process", reason)
    _broken = time.monotonic()
    shutdown()


def shutdown() -> None:
    global _pool, _pool_size
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool, _pool_size = None, 0


# Before concurrent.futures' own exit handler, which waits for every queued job:
# threading runs these in reverse order of registration, atexit after all of them.
getattr(threading, "_register_atexit", atexit.register)(shutdown)
