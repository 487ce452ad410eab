"""The layers hold: channels parse input and call `bss.services`; only the services submit the acceptance form."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = [
    *sorted((ROOT / "storefront").rglob("*.py")),
    *sorted((ROOT / "api").rglob("*.py")),
    ROOT / "bss" / "views.py",
    ROOT / "bss" / "admin.py",
    ROOT / "bss" / "tasks.py",
]


def _calls_to(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))

    def names(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Attribute):
            return {node.attr}
        if isinstance(node, ast.Name):
            return {node.id}
        if isinstance(node, ast.ImportFrom):
            return {alias.name for alias in node.names}
        return set()

    return [node.lineno for node in ast.walk(tree) if name in names(node)]


@pytest.mark.parametrize("path", CHANNELS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_channel_submits_the_acceptance_form_to_the_gate_itself(path):
    assert _calls_to(path, "submit_acceptance") == [], "call bss.services (an operation, or confirm_acceptance)"


def test_the_check_sees_a_direct_call():
    """The test above would see a channel calling the gate's submit (its attack, on a module that does)."""
    assert _calls_to(ROOT / "bss" / "services" / "acceptance.py", "submit_acceptance")
