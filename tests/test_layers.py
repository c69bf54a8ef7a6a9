"""Imports point inward (DESIGN.md §2), spec/ stays pure, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "assay"
#: innermost first; a layer may import the layers before it, never those after it
LAYERS = [
    "spec", "catalog", "artifacts", "engine", "runtime", "executors",
    "automation", "operations", "server", "cli",
]  # fmt: skip
#: modules every layer may use; they import nothing of Assay's but each other
FOUNDATION = {
    "errors": set(),
    "project": {"errors", "spec"},
    # the package exports the client (imported on first use); the client speaks HTTP only
    "__init__": {"errors", "client"},
    "client": {"errors"},
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _assay_imports(path: Path) -> set[str]:
    """The top-level Assay names (``catalog``, ``errors``, …) a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "assay":
                names = [f"assay.{alias.name}" for alias in node.names]
        found.update(_top(name.split(".")[1]) for name in names if name.startswith("assay."))
    return found


def _top(name: str) -> str:
    """A package or module of Assay, or ``__init__`` for names defined in ``assay/__init__.py``."""
    exists = (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file() or name in LAYERS
    return name if exists else "__init__"


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inward(path: Path) -> None:
    part = _part(path)
    imported = _assay_imports(path) - {part}
    if part == "__main__":
        return  # the program's entry point sits outside every layer
    if part in FOUNDATION:
        assert imported <= FOUNDATION[part], f"{path.name} may only import {FOUNDATION[part]}"
        return
    assert part in LAYERS, f"{part} is neither a layer of DESIGN.md nor a foundation module"
    allowed = set(LAYERS[: LAYERS.index(part)]) | set(FOUNDATION)
    outward = imported - allowed
    assert not outward, f"{path.relative_to(PACKAGE)} ({part}) imports outer layer(s) {sorted(outward)}"


def test_the_check_catches_an_outward_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from assay.cli import app\nimport assay.runtime.execute\nfrom assay import catalog\n")
    assert _assay_imports(module) == {"cli", "runtime", "catalog"}


@pytest.mark.parametrize("path", sorted((PACKAGE / "spec").glob("*.py")), ids=lambda p: p.name)
def test_spec_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"sqlalchemy", "subprocess", "httpx", "socket", "alembic"}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_readable_in_one_sitting(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 600


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _part(p) != "catalog"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_only_the_catalog_touches_the_database(path: Path) -> None:
    """Outside catalog/, SQLAlchemy appears only as the ``Session`` type handed around."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("sqlalchemy") for a in node.names), path
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlalchemy"):
            assert node.module == "sqlalchemy.orm", f"{path}: imports {node.module}"
            assert [a.name for a in node.names] == ["Session"], f"{path}: imports {node.names}"


#: the catalog's table modules: their classes are ORM rows, which never leave catalog/
TABLE_MODULES = {
    f"assay.catalog.{m}" for m in ("tables", "registry_tables", "lineage_tables", "account_tables")
}
#: what a table module offers that is not a row
TABLE_HELPERS = {"new_id", "utcnow"}


def _rows_and_sessions(path: Path) -> list[str]:
    """Every table class and ``Session`` a module imports, wherever (``TYPE_CHECKING``, a function)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in TABLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module in TABLE_MODULES:
            found += [f"{node.module}.{a.name}" for a in node.names if a.name not in TABLE_HELPERS]
        elif isinstance(node, ast.ImportFrom) and node.module == "assay.catalog":
            found += [
                f"assay.catalog.{a.name}" for a in node.names if f"assay.catalog.{a.name}" in TABLE_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name == "Session"]
    return found


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _part(p) != "catalog"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_rows_and_sessions_never_leave_the_catalog(path: Path) -> None:
    """DESIGN.md §2: outside catalog/, code calls catalog functions that return frozen views."""
    relative = path.relative_to(PACKAGE)
    found = _rows_and_sessions(path)
    assert not found, f"{relative} imports {found}: use catalog functions that return frozen views"


#: the catalog's session openers: ``Catalog.read()`` and ``Catalog.transaction()``
SESSION_OPENERS = {"read", "transaction"}


def _sessions_opened(path: Path) -> list[int]:
    """The lines where a module opens a catalog session: ``with <anything>.read() as x`` or
    ``.transaction()`` (a file's ``read()`` is not entered with ``with … as``)."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in SESSION_OPENERS
                    and not call.args
                    and not call.keywords
                    and item.optional_vars is not None
                ):
                    lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _part(p) != "catalog"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_sessions_are_opened_only_in_the_catalog(path: Path) -> None:
    """One use case, one catalog function that opens its own session (one transaction)."""
    relative = path.relative_to(PACKAGE)
    found = _sessions_opened(path)
    assert not found, (
        f"{relative} opens a catalog session on line(s) {found}: call a catalog function that "
        "opens its own and returns frozen views"
    )


def test_the_check_catches_a_session_opened(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "def f(catalog, path):\n"
        "    with catalog.read() as session:\n"
        "        pass\n"
        "    with open(path) as handle, workspace.catalog.transaction() as session:\n"
        "        pass\n"
        "    with catalog.transaction():\n"  # a session nobody can use is not one that leaks
        "        pass\n"
        "    with lock.read(timeout=1) as held:\n"
        "        pass\n"
    )
    assert _sessions_opened(module) == [2, 4]


def test_the_check_catches_rows_and_sessions(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from assay.catalog.tables import new_id, utcnow\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy.orm import Session\n"
        "def f():\n"
        "    from assay.catalog.registry_tables import ModelVersion\n"
        "    from assay.catalog import account_tables\n"
        "    import assay.catalog.lineage_tables\n"
    )
    assert _rows_and_sessions(module) == [
        "sqlalchemy.orm.Session", "assay.catalog.registry_tables.ModelVersion",
        "assay.catalog.account_tables", "assay.catalog.lineage_tables",
    ]  # fmt: skip
    module.write_text("from assay.catalog.tables import new_id\nfrom assay.catalog import executions\n")
    assert _rows_and_sessions(module) == []


TESTS = Path(__file__).resolve().parent


#: this file names what it looks for, so it is not checked itself
OTHER_TESTS = sorted(p for p in TESTS.rglob("*.py") if p.name != "test_layers.py")


@pytest.mark.parametrize("path", OTHER_TESTS, ids=lambda p: str(p.relative_to(TESTS)))
def test_tests_read_nothing_outside_the_repository(path: Path) -> None:
    """A fresh clone is all the suite needs: fixtures live in tests/fixtures/, not beside the project."""
    text = path.read_text()
    for needle in ("parents[2]", "../shared", '"shared"'):
        assert needle not in text, f"{path.name} reaches outside the repository ({needle})"
