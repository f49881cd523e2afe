"""The house reads bottom-up: no import circle, no phase importing another phase, no layer importing one above it.

Every import counts, those inside functions included (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sparana_cli"

# Layers, lowest first: a module may import its own layer or any below, never one above.
LAYERS = [
    ("sparana_cli", "sparana_cli.errors", "sparana_cli.ui", "sparana_cli.files", "sparana_cli.seeding",
     "sparana_cli.signals", "sparana_cli.yamlfile"),
    ("sparana_cli.spec", "sparana_cli.data", "sparana_cli.engine", "sparana_cli.sweeps", "sparana_cli.plots",
     "sparana_cli.formats"),
    ("sparana_cli.analysis",),
    ("sparana_cli.fitting", "sparana_cli.store"),
    ("sparana_cli.phases",),
    ("sparana_cli.cli", "sparana_cli.__main__"),
]
COMPANIONS = {"sparana_cli.phases.forget": {"sparana_cli.phases.forget_compare"}}  # a phase's own helper module


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The sparana_cli modules `name` imports (a `from package import module` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def layer(name: str) -> int:
    """The layer of the longest LAYERS prefix that names the module."""
    matches = [(len(prefix), i) for i, group in enumerate(LAYERS) for prefix in group
               if name == prefix or name.startswith(prefix + ".")]
    assert matches, f"{name}: in no layer (add it to LAYERS)"
    return max(matches)[1]


def test_no_import_circle():
    edges = graph()
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_no_phase_imports_another_phase():
    for name, targets in graph().items():
        if name.startswith("sparana_cli.phases."):
            others = {t for t in targets if t.startswith("sparana_cli.phases.")} - COMPANIONS.get(name, set())
            assert not others, f"{name} imports the phase(s) {sorted(others)}"


def test_no_layer_imports_one_above_it():
    for name, targets in graph().items():
        for target in targets:
            if target == "sparana_cli":
                continue
            assert layer(target) <= layer(name), f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
