"""The shape of the code: the import direction, no circles, short functions.

Imports are read from the source (every ``import`` statement, those inside functions too), so
an import hidden in a function body cannot bring a circle back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import qkv

SRC = Path(qkv.__file__).parent
MAX_FUNCTION_LINES = 60
# CLI argument tables (qkv.cli.*.add_parser) may be longer: one flat list of options.


def _module_name(path: Path) -> str:
    parts = ["qkv", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _resolve(module: str, name: str | None) -> str | None:
    """The qkv module an import statement names: a submodule if ``name`` is one."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module if module in MODULES else None


def imports(module: str) -> set[str]:
    """The qkv modules ``module`` imports anywhere in its source."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                target = _resolve(base, alias.name)
                if target is not None:
                    found.add(target)
    found.discard(module)
    return found


GRAPH = {m: imports(m) for m in MODULES}


def test_the_graph_is_read():
    assert "qkv.core.softmax" in GRAPH["qkv.core.attention"]
    assert "qkv.render" in GRAPH["qkv.cli.explain"]  # an import inside a function counts


# Leaves the core may read: the error type and the size limits (modules that import nothing).
CORE_MAY_IMPORT = {"qkv.errors", "qkv.limits"}


def test_the_core_imports_nothing_of_qkv_but_errors_and_limits():
    for module, targets in GRAPH.items():
        if module.startswith("qkv.core"):
            outside = {t for t in targets if not t.startswith("qkv.core")} - CORE_MAY_IMPORT
            assert not outside, f"{module} imports {sorted(outside)}"
    for leaf in CORE_MAY_IMPORT:
        assert not GRAPH[leaf], f"{leaf} must import nothing of qkv"


def test_the_checker_does_not_import_the_renderers():
    for module, targets in GRAPH.items():
        if module.startswith("qkv.review"):
            assert not {t for t in targets if t.startswith("qkv.render")}, module


def test_the_server_is_a_face_only_the_cli_imports():
    for module, targets in GRAPH.items():
        if not module.startswith(("qkv.serve", "qkv.cli")):
            assert not {t for t in targets if t.startswith("qkv.serve")}, module


def test_no_import_circles():
    """No module reaches itself by following imports (so no two import each other)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(GRAPH[m]):
            if state.get(t) == 1:
                circle = [*path[path.index(t) :], t]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_functions_are_short():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                allowed = (module.split(".")[1:2] == ["cli"]) and node.name == "add_parser"
                if lines > MAX_FUNCTION_LINES and not allowed:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert not long, long


TEXT_SUFFIXES = {".py", ".md", ".toml", ".html", ".js", ".css", ".sh", ".json", ".txt"}


def test_no_merge_conflict_markers_are_left_in_the_sources():
    """A merge's leftover <<<<<<< / >>>>>>> lines once reached the README."""
    root = Path(__file__).resolve().parents[1]
    files = [root / "README.md", root / "pyproject.toml"]
    for folder in ("src", "tests", "docs", "benchmarks", "scripts", "examples"):
        files += [p for p in (root / folder).rglob("*") if p.suffix in TEXT_SUFFIXES]
    marked = [
        f"{p.relative_to(root)}:{n}"
        for p in files
        if p.is_file()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if line.startswith(("<<<<<<< ", ">>>>>>> "))
    ]
    assert not marked, marked


# What builds masks: the core's rules (qkv.core.masks) and the PyTorch layer's (qkv.nn.masks,
# qkv.nn.structure). The faces say what they want in an AttentionSpec (qkv.core.spec).
MASK_MODULES = {"qkv.core.masks", "qkv.nn.masks", "qkv.nn.structure"}
MASK_BUILDERS = {
    "band_allows",
    "causal_mask",
    "combine_masks",
    "documents_mask",
    "length_mask",
    "lengths_mask",
    "normalize_causal",
    "normalize_window",
    "structure_mask",
    "window_mask",
}
FACES = ("qkv.cli", "qkv.serve")


def mask_builders_in(source: str) -> set[str]:
    """The mask builders a module's source names (imported, called or reached as attributes)."""
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom | ast.Import):
            names |= {a.name.rpartition(".")[2] for a in node.names}
    return names & MASK_BUILDERS


def test_faces_do_not_build_masks():
    faces = [m for m in MODULES if m.startswith(FACES)]
    assert "qkv.serve.hand" in faces and "qkv.cli.explain" in faces
    for module in faces:
        assert not GRAPH[module] & MASK_MODULES, f"{module} imports a mask module"
        used = mask_builders_in(MODULES[module].read_text(encoding="utf-8"))
        assert not used, f"{module} builds a mask itself ({sorted(used)}): pass a spec"


def test_the_mask_check_can_fail():
    # serve/hand.py before issue 22 built its own window mask; cli/explain.py normalised causal
    served = "def f(kw):\n    from qkv.core.masks import window_mask\n    return window_mask(3, 3)"
    assert mask_builders_in(served) == {"window_mask"}
    assert mask_builders_in("import qkv.core.masks as m\nm.normalize_causal(1)") == {
        "normalize_causal"
    }
