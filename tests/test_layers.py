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
    "cache": set(),         # the user's cache folder (what is derived once from shipped files)
    "text": {"langs", "cache"},
    "tokens": set(),
    "names": {"tokens"},
    "tag": {"models"},
    "dedup": {"names"},     # pure functions (ARCHITECTURE.md allows it)
    "schedule": {"models"},
    "search": {"errors", "langs"},
    "records": {"errors", "models"},
    "store": {"errors", "models", "records"},
    "config": {"errors", "models", "langs", "cache"},
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


def test_only_the_archive_use_case_names_the_engine():
    """The pipeline reaches the archive through `ports.Archive`; only `pipeline/archive.py`
    (open_archive, schema_version) names the SQLite store, so a second engine is added
    there and in a module of its own, touching no stage."""
    for path in sorted((PACKAGE / "pipeline").glob("*.py")):
        if path.name != "archive.py":
            assert "store" not in _relay_imports(path), path.name


def test_no_sqlite3_exception_is_met_outside_the_store():
    """The store translates every error SQLite raises at its public methods
    (store.translate): no other module names sqlite3, so none catches its exceptions."""
    for path in MODULES:
        if path.name != "store.py":
            assert "sqlite3" not in path.read_text(encoding="utf-8"), path.name


def test_only_store_speaks_sql():
    for path in MODULES:
        if path.name in ("store.py",) or "test" in path.name:
            continue
        text = path.read_text(encoding="utf-8")
        assert "import sqlite3" not in text and "sqlite_utils" not in text, path.name


# The drivers are skins over the use cases: they may import only these relay modules
# (and every module of the command line its own package and the drivers it starts: the
# daemon for `relay run` and its log formats, the demo for `relay demo`).
DRIVER_ALLOWED = {"pipeline", "config", "errors", "models", "__version__"}
DRIVER_FILES = sorted([*(PACKAGE / "cli").rglob("*.py"), PACKAGE / "daemon.py",
                       *(PACKAGE / "demo").rglob("*.py")])
STARTS = {"cli": {"cli", "daemon", "demo"}}


def test_the_driver_rule_covers_every_module_of_the_command_line():
    names = {p.name for p in DRIVER_FILES if p.parent.name == "cli"}
    assert {"__init__.py", "_base.py", "_render.py", "feeds.py", "status.py"} <= names
    assert not (PACKAGE / "cli.py").exists()


@pytest.mark.parametrize("path", DRIVER_FILES,
                         ids=[str(p.relative_to(PACKAGE)) for p in DRIVER_FILES])
def test_drivers_import_only_the_use_cases(path):
    imported = _relay_imports(path)
    allowed = DRIVER_ALLOWED | STARTS.get(path.parent.name, set())
    assert imported <= allowed, f"{path.relative_to(PACKAGE)} imports {sorted(imported - allowed)}"


def test_the_driver_rule_sees_a_forbidden_import(tmp_path):
    """The rule's own check: a driver that reached for the store would be caught,
    wherever the import stands (a function's body too)."""
    driver = tmp_path / "cli.py"
    driver.write_text("def f():\n    from relay.store import Store\n    import relay.search\n",
                      encoding="utf-8")
    assert _relay_imports(driver) - DRIVER_ALLOWED == {"store", "search"}


def test_the_store_is_an_archive():
    """The SQLite store offers everything the pipeline asks of an archive (ports.Archive):
    each method of the Protocol, with the same parameters."""
    import inspect

    from relay.pipeline.ports import Archive
    from relay.store import Store
    wanted = [n for n, v in vars(Archive).items()
              if callable(v) and not n.startswith("_")]
    assert len(wanted) > 40
    for name in wanted:
        ours = inspect.signature(getattr(Store, name)).parameters
        theirs = inspect.signature(getattr(Archive, name)).parameters
        assert list(ours) == list(theirs), name


def test_the_pipeline_package_names_each_use_case_where_it_lives():
    """relay.pipeline imports its use cases when first asked for (`_HOMES`); mypy reads
    the same names from its imports under TYPE_CHECKING: the two, and __all__, agree, and
    each name is found in its module."""
    import relay.pipeline as pipeline
    tree = ast.parse((PACKAGE / "pipeline" / "__init__.py").read_text(encoding="utf-8"))
    checked = next(n for n in tree.body if isinstance(n, ast.If)
                   and getattr(n.test, "id", "") == "TYPE_CHECKING")
    typed = {alias.name: node.module for node in checked.body
             if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert typed == pipeline._HOMES
    assert sorted(pipeline.__all__) == sorted(pipeline._HOMES)
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None, name
    with pytest.raises(AttributeError):
        pipeline.no_such_use_case  # noqa: B018
