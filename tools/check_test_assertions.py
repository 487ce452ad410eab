"""`make lint`: every test function checks something.

A test passes whatever the code does when nothing in it can fail. This script reads the test modules (it does not
import them) and names each test function in which none of these appears:

- an `assert` statement;
- `pytest.raises`, `pytest.warns`, `pytest.fail`, `pytest.deprecated_call` (or `raises`/`warns` imported from pytest);
- a call whose name starts with `assert` or `expect` (Playwright's `expect(...)`, `self.assertEqual`,
  `responses`' `assert_call_count`, a helper named `assert_…`/`expect_…`), or pytest-django's
  `django_assert_num_queries` / `django_assert_max_num_queries`;
- a call to a helper that asserts: a function defined anywhere under the checked folders whose own body meets one of
  these conditions (followed through helpers calling helpers); raising AssertionError counts as asserting.

Helpers are recognised by name, not by import, and only when called by a plain name: a test calling `confirm()`
counts as asserting when any function named `confirm` under the folders asserts; `simulator.set_fault()` does not
(a method's name says too little about which function it reaches). A test function is a `test…` function at module
level or a `test…` method of a `Test…` class, in a `test_*.py` or `*_test.py` module (pytest's defaults).

Usage: python tools/check_test_assertions.py [FOLDER ...]   (default: tests). Exit status 1 when a test is named.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PYTEST_CHECKS = {"raises", "warns", "fail", "deprecated_call"}
ASSERTING_PREFIXES = ("assert", "expect")
# pytest-django's fixtures that fail the test when the count is off.
ASSERTING_FIXTURES = {"django_assert_num_queries", "django_assert_max_num_queries"}


@dataclass(frozen=True)
class Unasserted:
    path: Path
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name} asserts nothing (no assert, pytest.raises or asserting helper)"


def _called_name(call: ast.Call) -> str | None:
    function = call.func
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None


def _is_pytest_check(call: ast.Call) -> bool:
    function = call.func
    if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
        return function.value.id == "pytest" and function.attr in PYTEST_CHECKS
    return isinstance(function, ast.Name) and function.id in {"raises", "warns"}


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, nested functions included (a nested helper the test calls counts)."""
    for statement in function.body:
        yield from ast.walk(statement)


def _asserts_directly(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in _own_nodes(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            if _is_pytest_check(node):
                return True
            name = _called_name(node)
            if name is not None and (name.lower().startswith(ASSERTING_PREFIXES) or name in ASSERTING_FIXTURES):
                return True
    return False


def _called_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Plain-name calls only (`confirm(...)`, not `objects.create(...)`): a method call's name says too little about
    which function it reaches."""
    return {
        node.func.id for node in _own_nodes(function) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _test_functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and member.name.startswith("test"):
                    yield member


def asserting_helpers(trees: Iterable[ast.Module]) -> set[str]:
    """Names of the functions that assert, directly or through other such functions (to a fixed point)."""
    calls: dict[str, set[str]] = {}
    asserting: set[str] = set()
    for tree in trees:
        for function in _functions(tree):
            if function.name.startswith("test"):
                continue
            if _asserts_directly(function):
                asserting.add(function.name)
            calls.setdefault(function.name, set()).update(_called_names(function))
    grew = True
    while grew:
        grew = False
        for name, called in calls.items():
            if name not in asserting and called & asserting:
                asserting.add(name)
                grew = True
    return asserting


def find_unasserted(sources: dict[Path, str]) -> list[Unasserted]:
    """The test functions of `sources` (path -> module text) that check nothing."""
    trees = {path: ast.parse(text, filename=str(path)) for path, text in sources.items()}
    helpers = asserting_helpers(trees.values())
    found = []
    for path, tree in trees.items():
        if not (path.name.startswith("test_") or path.name.endswith("_test.py")):
            continue
        for test in _test_functions(tree):
            if _asserts_directly(test) or _called_names(test) & helpers:
                continue
            found.append(Unasserted(path=path, line=test.lineno, name=test.name))
    return found


def main(folders: list[str]) -> int:
    sources = {path: path.read_text() for folder in folders for path in sorted(Path(folder).rglob("*.py"))}
    found = find_unasserted(sources)
    for unasserted in found:
        print(unasserted)
    if found:
        print(f"{len(found)} test(s) assert nothing: give each a check that fails when its behaviour breaks.")
        return 1
    print(f"check_test_assertions: every test in {', '.join(folders)} asserts something.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["tests"]))
