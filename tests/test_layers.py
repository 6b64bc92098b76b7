"""The import graph follows the layers: nothing imports upward, no module or package cycle.

The layer table below is the one place the layering is written (README.md, "Layout",
describes it). Every import of every module counts: top-level ones, imports inside
functions and imports under `if TYPE_CHECKING:`, since each is a dependency a reader
has to follow. Packages on one floor marked `siblings_apart` must not import each
other either (the engine library knows nothing of the jobs domain and vice versa;
one adapter never reaches into another). The public SDK (`pipai.client`) reaches
only the plumbing modules named in `SDK_MAY_IMPORT`, so it never pulls in the server.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layer:
    name: str
    packages: tuple[str, ...]
    siblings_apart: bool = False  # may its packages import each other?


# Bottom to top: a package may import only its own layer (if allowed) and those below.
LAYERS: tuple[Layer, ...] = (
    Layer("plumbing", ("pipai", "schemas")),
    Layer("domain and library", ("jobs", "engine"), siblings_apart=True),
    Layer("adapters", ("orchestrator", "workers", "projections"), siblings_apart=True),
    Layer("api", ("api",)),
    Layer("cli", ("cli",)),
)

# The public SDK and the only project modules it may reach (transitively).
SDK = "pipai.client"
SDK_MAY_IMPORT = frozenset({"pipai.signing", "pipai.settings"})

# Imports that break the rules, each as (importer, imported) with a comment naming the work
# that removes it. Empty since the moves of issue 9 (main at 154c0ef has no violation);
# a new entry needs a reason, and the test below fails once an entry is no longer broken.
ALLOWED_VIOLATIONS: frozenset[tuple[str, str]] = frozenset({
})


def _layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer.packages:
            return index
    raise AssertionError(f"package {package!r} is in no layer of tests/test_layers.py")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the layered packages, by dotted name."""
    modules: dict[str, Path] = {}
    for layer in LAYERS:
        for package in layer.packages:
            for path in sorted((ROOT / package).rglob("*.py")):
                modules[_module_name(path)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The most specific project module that `import name` loads, or None if not ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(module: str, path: Path) -> Iterator[str]:
    """Dotted names the module imports, relative imports resolved, `from x import sub`
    offered both as `x.sub` (a submodule) and `x` (a name in x)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (itself excluded)."""
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for name in _imported_names(module, path):
            target = _resolve(name, modules)
            if target is not None and target != module:
                graph[module].add(target)
    return graph


def _package(module: str) -> str:
    return module.split(".")[0]


def _breaks_layers(source: str, target: str) -> str | None:
    """Why `source` may not import `target`, or None if it may."""
    from_package, to_package = _package(source), _package(target)
    if from_package == to_package:
        return None
    below, above = _layer_of(from_package), _layer_of(to_package)
    if above > below:
        return f"upward: {LAYERS[below].name} -> {LAYERS[above].name}"
    if above == below and LAYERS[below].siblings_apart:
        return f"sideways inside {LAYERS[below].name}"
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.items():
        packages[_package(source)].update(_package(t) for t in targets)
    return {name: targets - {name} for name, targets in packages.items()}


def test_no_import_runs_upward_or_sideways() -> None:
    broken = sorted(
        f"{source} -> {target} ({why})"
        for source, targets in import_graph().items()
        for target in targets
        if (why := _breaks_layers(source, target)) and (source, target) not in ALLOWED_VIOLATIONS
    )
    assert not broken, "imports against the layer table:\n" + "\n".join(broken)


def test_allowed_violations_are_still_violations() -> None:
    graph = import_graph()
    stale = sorted(f"{s} -> {t}" for s, t in ALLOWED_VIOLATIONS
                   if t not in graph.get(s, set()) or not _breaks_layers(s, t))
    assert not stale, "fixed: remove from ALLOWED_VIOLATIONS:\n" + "\n".join(stale)


def test_no_module_import_cycle() -> None:
    cycles = _cycles(import_graph())
    assert not cycles, "modules importing each other:\n" + "\n".join(map(str, cycles))


def test_no_package_import_cycle() -> None:
    # Top-level packages only: a package and its own subpackages may lean on each other
    # (engine.templates uses engine.config, engine.runner uses engine.templates).
    cycles = _cycles(_package_graph(import_graph()))
    assert not cycles, "packages importing each other:\n" + "\n".join(map(str, cycles))


def test_sdk_reaches_only_its_plumbing() -> None:
    graph = import_graph()
    reached: set[str] = set()
    todo = [SDK]
    while todo:
        for target in graph[todo.pop()] - reached:
            reached.add(target)
            todo.append(target)
    assert reached <= SDK_MAY_IMPORT, f"the SDK pulls in {sorted(reached - SDK_MAY_IMPORT)}"


def test_every_package_has_a_layer() -> None:
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    layered = {package for layer in LAYERS for package in layer.packages}
    assert on_disk - {"tests", "benchmarks"} == layered


def test_the_checker_sees_an_upward_import_and_a_cycle() -> None:
    assert _breaks_layers("jobs.decider", "api.models")
    assert _breaks_layers("orchestrator.app", "workers.engine_worker")
    assert _breaks_layers("pipai.topics", "jobs.messages")
    assert not _breaks_layers("api.app", "jobs.messages")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
