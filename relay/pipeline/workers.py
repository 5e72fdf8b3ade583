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
  `ingesting.POOL_MIN`), lives until the process exits, and is dropped (the
  main process prepares alone) if a worker dies.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger("relay")

MAX_AUTO = 4
NICE = 5

_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_broken = False


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
    # The main process stores in order and is what the run waits for; workers run
    # ahead of it, so they yield the CPU to it when they compete.
    os.nice(NICE)


def pool(workers: int) -> ProcessPoolExecutor | None:
    """The shared pool of `workers` processes (started now if need be), or None when
    there are to be none or the pool broke earlier in this process."""
    global _pool, _pool_size
    if workers <= 0 or _broken:
        return None
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
    return _pool if workers > 0 and not _broken and _pool_size == workers else None


def mark_broken(reason: BaseException) -> None:
    """A worker died (killed, out of memory): prepare in the main process from now on."""
    global _broken
    if not _broken:
        log.warning("ingest worker processes failed (%s); preparing items in the main "
                    "process", reason)
    _broken = True
    shutdown()


def shutdown() -> None:
    global _pool, _pool_size
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool, _pool_size = None, 0


atexit.register(shutdown)
