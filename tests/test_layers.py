"""The import rules of ARCHITECTURE.md, kept by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "relay"

# module -> relay modules it may import (prefix match); models and errors import none.
ALLOWED = {
    "errors": set(),
    "models": set(),
    "langs": set(),
    "text": {"langs"},
    "tokens": set(),
    "names": {"tokens"},
    "tag": {"models"},
    "dedup": {"names"},     # pure functions (ARCHITECTURE.md allows it)
    "schedule": {"models"},
    "search": {"errors", "langs"},
    "store": {"errors", "models"},
    "config": {"errors", "models", "langs"},
    "collect": {"errors", "models", "collect", "__init__"},
    "digest": {"errors", "models", "text", "digest", "langs"},
}
DRIVERS = {"pipeline", "daemon", "cli", "demo", "__main__", "__init__"}


def _relay_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("relay"):
            parts = node.module.split(".")
            if len(parts) == 1:  # from relay import x
                found.update(alias.name for alias in node.names)
            else:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("relay."))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_stage_imports_follow_the_layers(path):
    top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if top in DRIVERS:
        return
    allowed = ALLOWED[top] | {"__version__"}
    imported = _relay_imports(path)
    assert imported <= allowed, f"{path.name} imports {sorted(imported - allowed)}"


def test_only_store_speaks_sql():
    for path in MODULES:
        if path.name in ("store.py",) or "test" in path.name:
            continue
        text = path.read_text(encoding="utf-8")
        assert "import sqlite3" not in text and "sqlite_utils" not in text, path.name
