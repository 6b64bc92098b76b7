"""No function or method runs over 60 lines, so each can be read in one sitting.

Length is counted from the `def` line to the last line of the body (decorators
excluded). Numba kernels are exempt: a compiled loop is kept whole on purpose, since
splitting it costs calls in the hot path (docs/engine.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.test_layers import project_modules

MAX_LINES = 60
NUMBA_DECORATORS = frozenset({"njit", "jit"})

# Long functions allowed, with their lengths (each may only shrink). Empty since the
# reshaping of issue 9: a new entry needs a reason in a comment beside it.
ALLOWED_LONG: dict[str, int] = {
}

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _is_numba_kernel(node: FunctionNode) -> bool:
    """Decorated with njit/jit (however imported) or anything from numba."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        parts = ast.unparse(target).split(".")
        if parts[0] == "numba" or parts[-1] in NUMBA_DECORATORS:
            return True
    return False


def _functions(node: ast.AST, prefix: str) -> Iterator[tuple[str, FunctionNode]]:
    """(qualified name, node) of every function under `node`, nested ones included."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, FunctionNode | ast.ClassDef):
            name = f"{prefix}{child.name}"
            if isinstance(child, FunctionNode):
                yield name, child
            yield from _functions(child, f"{name}.")
        else:
            yield from _functions(child, prefix)


def function_lengths() -> Iterator[tuple[str, int]]:
    """(module:qualified name, lines) of every function and method, numba kernels left out."""
    for module, path in project_modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, node in _functions(tree, f"{module}:"):
            if not _is_numba_kernel(node):
                assert node.end_lineno is not None
                yield name, node.end_lineno - node.lineno + 1


def test_no_function_over_the_limit() -> None:
    too_long = sorted(
        f"{name}: {lines} lines"
        for name, lines in function_lengths()
        if lines > max(MAX_LINES, ALLOWED_LONG.get(name, 0))
    )
    assert not too_long, f"functions over {MAX_LINES} lines:\n" + "\n".join(too_long)


def test_allowed_long_functions_still_exist_and_are_long() -> None:
    lengths = dict(function_lengths())
    stale = sorted(name for name in ALLOWED_LONG if lengths.get(name, 0) <= MAX_LINES)
    assert not stale, "now short or gone: remove from ALLOWED_LONG:\n" + "\n".join(stale)


def test_numba_kernels_are_recognised() -> None:
    source = "@njit(cache=True)\ndef a(): pass\n@numba.jit\ndef b(): pass\n@cache\ndef c(): pass\n"
    nodes = [n for n in ast.parse(source).body if isinstance(n, FunctionNode)]
    assert [_is_numba_kernel(n) for n in nodes] == [True, True, False]
