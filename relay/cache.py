"""The user's cache folder: what relay derives once from files it ships and would
otherwise derive again in every process (py3langid's unpacked model, the built-in
taxonomy read). `$XDG_CACHE_HOME/relay`, else `~/.cache/relay`. Each file is named after
what it was derived from, so a changed source is another file; deleting the folder only
costs the next process the time to derive them again. A file is written to a temporary
name and renamed, so that processes writing at once never read half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def folder() -> Path:
    """The cache folder; an OSError when there is none (no absolute $XDG_CACHE_HOME, which
    the XDG spec says to ignore when relative, and no home directory: a service's user)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return Path(base) / "relay"
    try:
        return Path.home() / ".cache" / "relay"
    except RuntimeError as exc:     # Path.home() when HOME is unset and the user has none
        raise OSError(f"no cache folder: {exc}") from exc


def keep(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """`path`, written by `write` if it does not exist yet."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as tmp:
        try:
            write(tmp)
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, path)
    return path
