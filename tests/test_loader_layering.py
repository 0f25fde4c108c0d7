"""The loaders are a layer above tracking: nothing in tracking imports them, the modules of loaders/ import
each other without cycles and no backend imports loaders.api, and importing them loads no optional
dependency."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADERS = os.path.join(ROOT, "loaders")
BACKEND_MODULES = ("config", "cursor", "samples", "private_api", "opencv", "opencv_render", "dali", "dali_host",
                   "dali_pipeline")


def imported_modules(path: str, package: str) -> set[str]:
    """Absolute names of every module `path` imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = node.module if not node.level else ".".join(filter(None, (base, node.module)))
            names.add(module)
            if node.level and not node.module:  # `from . import x` imports the submodule x
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def loaders_graph() -> dict[str, set[str]]:
    graph = {}
    for name in sorted(os.listdir(LOADERS)):
        if name.endswith(".py") and name != "__init__.py":
            module = f"loaders.{name[:-3]}"
            graph[module] = {m for m in imported_modules(os.path.join(LOADERS, name), "loaders")
                             if m.startswith("loaders.")}
    return graph


def test_nothing_in_tracking_imports_loaders():
    offenders = []
    for directory, _, files in os.walk(os.path.join(ROOT, "tracking")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                package = os.path.relpath(directory, ROOT).replace(os.sep, ".")
                if any(m == "loaders" or m.startswith("loaders.") for m in imported_modules(path, package)):
                    offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []


def test_loaders_modules_have_no_import_cycle_and_backends_do_not_import_the_api():
    graph = loaders_graph()
    assert set(f"loaders.{m}" for m in BACKEND_MODULES) <= set(graph)
    for module in BACKEND_MODULES:
        assert "loaders.api" not in graph[f"loaders.{module}"], module
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import cycle: " + " -> ".join(path + [module])
        state[module] = "open"
        for dependency in sorted(graph.get(module, ())):
            visit(dependency, path + [module])
        state[module] = "done"

    for module in graph:
        visit(module, [])


def test_importing_the_loaders_loads_neither_dali_nor_opencv():
    code = ("import sys, loaders, loaders.api, loaders.opencv, loaders.dali, loaders.visualize; "
            "print(','.join(m for m in ('cv2', 'nvidia.dali') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_loaders_modules_stay_small():
    sizes = {name: sum(1 for _ in open(os.path.join(LOADERS, name))) for name in os.listdir(LOADERS)
             if name.endswith(".py")}
    assert max(sizes.values()) <= 500, sizes
