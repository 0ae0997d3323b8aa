"""The package's shape: layers import only downward, no import circles, no module reads another's private names.

Every import of an `extrapbench` module is read from the source (AST), the lazy ones inside functions included:
a lazy import still ties two modules together. The layers, bottom first, are LAYERS below; a module may import
its own layer and the ones beneath it, never one above. docs/extending.md shows the same picture.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "extrapbench"

#: bottom first; a name is a top-level module or sub-package of extrapbench
LAYERS = [
    {"", "files", "hparams", "declarations", "registry", "tasks", "naming", "provenance", "device", "workarounds"},
    {"data"},
    {"splits", "backbones", "methods", "references"},
    {"config"},
    {"training"},
    {"evaluation"},
    {"jobs"},
    {"report"},
    {"records"},
    {"api", "cli", "__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every extrapbench import in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno) for alias in node.names if alias.name.startswith("extrapbench")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("extrapbench"):
                continue
            for alias in node.names:
                # `from extrapbench.data import graphs` imports a module, not a name
                submodule = f"{source}.{alias.name}"
                found.append((submodule, "", node.lineno) if submodule in known else (source, alias.name, node.lineno))
    return found


def layer_of(name: str) -> int:
    top = name.split(".")[1] if "." in name else ""
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{name}: its folder {top!r} is in no layer of tests/test_layers.py: add it to LAYERS")


def graph() -> dict[str, list[tuple[str, str, int]]]:
    known = set(modules())
    return {name: imports_of(name, path, known) for name, path in modules().items()}


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_imports_go_downward_only():
    upward = [f"{name}:{line} imports {target} (layer {layer_of(target)} above {layer_of(name)})"
              for name, edges in graph().items() for target, _, line in edges
              if layer_of(target) > layer_of(name)]
    assert not upward, "\n".join(upward)


def test_no_private_names_across_modules():
    private = [f"{name}:{line} imports {target}.{imported}" if imported else f"{name}:{line} imports {target}"
               for name, edges in graph().items() for target, imported, line in edges
               if target != name and (imported.startswith("_") or any(part.startswith("_") and part != "__main__"
                                                                     for part in target.split(".")))]
    assert not private, "\n".join(private)


def test_no_import_circles():
    edges = {name: sorted({target for target, _, _ in imports if target != name and target in modules()})
             for name, imports in graph().items()}
    # a package's __init__ that imports its own members is not a circle with them (the registry's package import)
    circles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in edges.get(node, []):
            if state.get(target) == "open":
                circles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in edges:
        if node not in state:
            visit(node, [node])
    assert not circles, "\n".join(circles)


@pytest.mark.parametrize("snippet, expected", [
    ("from extrapbench.report.tables import paper_table", ("extrapbench.report.tables", "paper_table")),
    ("from extrapbench.data import graphs", ("extrapbench.data.graphs", "")),
])
def test_the_checker_reads_both_import_forms(tmp_path, snippet, expected):
    path = tmp_path / "probe.py"
    path.write_text(snippet + "\n")
    assert imports_of("extrapbench.probe", path, set(modules()))[0][:2] == expected


def test_the_checker_catches_an_upward_import():
    assert layer_of("extrapbench.report.tables") > layer_of("extrapbench.data.graphs")
    assert layer_of("extrapbench.naming") == 0
