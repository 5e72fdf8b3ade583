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
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "relay"


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
