"""The code's shape: no import cycles, layers that point one way, and no module over 500 lines.

The import graph is read from the source (every ``import`` statement, including those inside functions, which
run later but still couple the modules), so the test needs no optional dependency and imports nothing.
"""

import ast
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("tracking", "loaders")
MAX_LINES = 500

# What each layer may import (besides itself): ops and data at the bottom; loaders on data; models on ops;
# train on loaders and models; trackers on models and ops; eval runs any tracker through its protocol.
ALLOWED = {
    "tracking.ops": {"tracking.ops"},
    "tracking.data": {"tracking.data", "tracking.ops"},
    "loaders": {"loaders", "tracking.data", "tracking.ops"},
    "tracking.models": {"tracking.models", "tracking.ops", "tracking.data"},
    "tracking.train": {"tracking.train", "loaders", "tracking.models", "tracking.ops", "tracking.data"},
    "tracking.trackers": {"tracking.trackers", "tracking.models", "tracking.ops", "tracking.data"},
    "tracking.eval": {"tracking.eval", "tracking.trackers", "tracking.models", "tracking.ops", "tracking.data"},
    "tracking.settings": {"tracking.settings", "tracking.data", "tracking.models"},
    "tracking.export": {"tracking.export", "tracking.train", "tracking.models", "tracking.data", "tracking.ops",
                        "loaders"},
    "tracking.run": {"tracking.run", "tracking.trackers", "tracking.eval", "tracking.models", "tracking.ops",
                     "tracking.data"},
}


def _module_files() -> dict[str, str]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for directory, _, files in os.walk(os.path.join(REPO, package)):
            for file in files:
                if file.endswith(".py"):
                    rel = os.path.relpath(os.path.join(directory, file), REPO)[:-3].split(os.sep)
                    if rel[-1] == "__init__":
                        rel = rel[:-1]
                    modules[".".join(rel)] = os.path.join(directory, file)
    return modules


MODULES = _module_files()


def _imports(name: str, path: str) -> set[str]:
    """The project modules that module ``name`` imports (resolved to the most specific existing module)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> str | None:
    return next((layer for layer in ALLOWED if name == layer or name.startswith(layer + ".")), None)


def test_the_graph_is_read():
    assert "tracking.data.annotations" in GRAPH["tracking.data.datasets.got10k"]
    assert "tracking.eval.metrics" in GRAPH["tracking.eval.report"]  # `from . import metrics`
    assert len(MODULES) > 40


def test_no_import_cycles():
    # Tarjan's strongly connected components; any component with more than one module is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == [], f"import cycles: {cycles}"


def test_layers_point_one_way():
    wrong = []
    for name, targets in GRAPH.items():
        layer = _layer(name)
        if layer is None:
            continue
        wrong += [f"{name} imports {t}" for t in targets if _layer(t) is not None and _layer(t) not in ALLOWED[layer]]
    assert wrong == [], "\n".join(wrong)


def test_no_module_over_500_lines():
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    sizes = {}
    for file in files:
        with open(os.path.join(REPO, file), encoding="utf-8") as f:
            sizes[file] = sum(1 for _ in f)
    too_long = {f: n for f, n in sizes.items() if n > MAX_LINES}
    assert too_long == {}, f"modules over {MAX_LINES} lines: {too_long}"


def test_every_module_imports_alone():
    # In a fresh interpreter each, so that a cycle hidden by import order (or a missing import) shows up; as
    # many at a time as there are CPUs (each costs a torch import).
    code = ("import os, subprocess, sys\n"
            "from concurrent.futures import ThreadPoolExecutor\n"
            "def check(m):\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, text=True)\n"
            "    return f'{m}: {r.stderr.strip().splitlines()[-1]}' if r.returncode else ''\n"
            "with ThreadPoolExecutor(os.cpu_count() or 1) as pool:\n"
            "    print('\\n'.join(f for f in pool.map(check, sys.argv[1:]) if f))\n")
    light = [m for m in MODULES if not m.startswith(("tracking.ops", "loaders.dali")) and "__main__" not in m]
    out = subprocess.run([sys.executable, "-c", code, *light], cwd=REPO, capture_output=True, text=True,
                         timeout=600).stdout.strip()
    assert out == "", out


def test_loader_backends_do_not_import_the_api():
    # loaders.api builds the backends (lazily); a backend importing it back would be a cycle in waiting.
    tools = {"loaders.api", "loaders.visualize"}
    offenders = [m for m in GRAPH if m.startswith("loaders.") and m not in tools and "loaders.api" in GRAPH[m]]
    assert offenders == []


def test_importing_the_loaders_loads_neither_dali_nor_opencv():
    code = ("import sys, loaders, loaders.api, loaders.opencv, loaders.dali, loaders.visualize; "
            "print(','.join(m for m in ('cv2', 'nvidia.dali') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""
