"""The package layout keeps the data flow one way: settings → probing → stored → judgement →
running / serving → service. A module never imports one that stands later in the chain, and no
two modules import each other, however indirectly. Read with `ast`, so nothing is executed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXPORTER = Path(__file__).resolve().parents[2] / "exporter"

# The top level holds what every part shares (configuration and vocabulary) and, apart, the
# entry points that wire the parts together. A new top-level module must be put in one of them.
CORE = {
    "__init__",
    "catalog",
    "clock",
    "config_text",
    "errors",
    "logs",
    "loki",
    "outcomes",
    "quantiles",
    "settings",
    "states",
    "targets",
}
ENTRY = {"__main__", "cli", "demo", "demo_pages", "service"}
# Which parts each part may import (besides the top-level core, which all may).
MAY_IMPORT = {
    "core": set(),
    "probing": {"probing"},
    "stored": {"probing", "stored"},
    "judgement": {"probing", "stored", "judgement"},
    "running": {"probing", "stored", "judgement", "running"},
    "serving": {"probing", "stored", "judgement", "serving"},
}


def part_of(module: str) -> str:
    """Return the part a dotted module name (without `exporter.`) belongs to."""
    head, _, _rest = module.partition(".")
    if head in MAY_IMPORT and head != "core":
        return head
    if head in ENTRY:
        return "entry"
    assert head in CORE, f"exporter/{head}.py is neither core nor an entry point: add it to one"
    return "core"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(EXPORTER.rglob("*.py")):
        relative = path.relative_to(EXPORTER).with_suffix("")
        parts = (
            relative.parts[:-1]
            if relative.name == "__init__" and relative.parts[:-1]
            else relative.parts
        )
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """Return the exporter modules `path` imports (anywhere in it, TYPE_CHECKING included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "exporter":  # from exporter import __version__
                continue
            if node.module.startswith("exporter."):
                base = node.module.removeprefix("exporter.")
                for alias in node.names:  # `from exporter.probing import dialects`
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in known else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("exporter."):
                    found.add(alias.name.removeprefix("exporter."))
    return found & known


GRAPH = {name: imports(path, set(modules())) for name, path in modules().items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_a_later_part(module: str) -> None:
    part = part_of(module)
    if part == "entry":
        return
    allowed = MAY_IMPORT[part] | {"core"}
    wrong = sorted(m for m in GRAPH[module] if part_of(m) not in allowed)
    assert not wrong, f"exporter.{module} ({part}) imports {wrong}, later in the flow"


def test_no_import_cycles() -> None:
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for imported in sorted(GRAPH[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


@pytest.mark.parametrize("package", sorted(set(MAY_IMPORT) - {"core"}))
def test_every_part_says_what_it_owns(package: str) -> None:
    init = EXPORTER / package / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert docstring and "import" in docstring, f"{init} must say what it owns and may import"


def test_the_checker_sees_a_forward_import(tmp_path: Path) -> None:
    """The check itself can fail: a judgement module importing a loop is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from exporter.running.scheduler import Scheduler\n")
    imported = imports(bad, set(GRAPH))
    assert imported == {"running.scheduler"}
    assert part_of("running.scheduler") not in MAY_IMPORT["judgement"]
