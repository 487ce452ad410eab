"""The README is the newcomer's first page: short, and every file, link, URL and command it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAX_LINES = 250
# Things in backticks that look like paths but live elsewhere on purpose.
NOT_IN_REPOSITORY = {
    "SPEC.md": "kept beside the repository, in shared/",
    "shared/": "beside the repository",
    "db.sqlite3": "created by make run",
    ".venv": "created by make run / make test",
    "evidence/": "written by mca_export",
    ".env": "the operator's copy of .env.example, git-ignored",
}


def code_spans(text: str) -> list[str]:
    """Every `inline code` span, and every line of the fenced blocks but the Layout's (see layout_entries)."""
    fenced = re.findall(r"^```(?!text)[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL))
    return inline + [line for block in fenced for line in block.splitlines()]


def repository_paths() -> set[str]:
    """Relative paths the README names: in backticks, in the Layout block's first column, and in links."""
    paths: set[str] = set()
    for span in code_spans(README):
        for word in re.split(r"[\s,()]+", span):
            word = word.rstrip(":.;")
            if not word or word.startswith(("/", "./", "http", "$", "-", "<")) or "<" in word or "=" in word:
                continue
            if "/" in word or re.search(r"\.(py|md|yml|toml|png|example)$", word) or word.startswith("."):
                paths.add(word.split("#")[0])
    paths |= {link.split("#")[0] for link in re.findall(r"\]\(([^)#:]+(?:#[^)]*)?)\)", README)}
    outside = set(NOT_IN_REPOSITORY)
    return {path for path in paths if path and path not in outside and path.split("/")[0] not in outside}


def layout_entries() -> dict[str, str]:
    """The Layout block: each entry of the first column (a sub-folder joined to its parent) and its description."""
    block = README.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    entries: dict[str, str] = {}
    parent = last = ""
    for line in block.splitlines():
        if not line.strip():
            continue
        if line.startswith(" " * 10):  # a continuation line of the last entry's description
            entries[last] += " " + line.strip()
            continue
        first, _, description = line.strip().partition("   ")
        for name in (part.strip() for part in first.split(",")):
            if line.startswith("  ") and parent:
                name = parent + name
            elif name.endswith("/"):
                parent = name
            entries[name] = description.strip()
            last = name
    return entries


def layout_paths() -> set[str]:
    """The entries, and the files and folders their descriptions name inside them (`gate.py`, `client/`)."""
    paths = set(layout_entries())
    for name, description in layout_entries().items():
        if name.endswith("/"):
            for word in re.findall(r"(?<![\w/])[\w.]+(?:\.py|/)(?=[\s,;:)]|$)", description):
                paths.add(name + word)
    return paths


def test_readme_is_at_most_250_lines():
    assert len(README.splitlines()) <= MAX_LINES, "move the details into docs/<topic>.md"


def test_the_check_finds_what_the_readme_names():
    """Guards the extraction itself: a broken regular expression must not make every check pass vacuously."""
    assert {"docs/architecture.md", "config/settings/base.py", "tests/conftest.py"} <= repository_paths()
    assert {"mca/", "partner_center/simulator/", "docs/", ".ci/run", "Dockerfile"} <= layout_paths()
    assert {"mca/gate.py", "config/settings/", "partner_center/client/", "benchmarks/locustfile.py"} <= layout_paths()


@pytest.mark.parametrize("path", sorted(repository_paths() | layout_paths()))
def test_every_path_the_readme_names_exists(path):
    assert (ROOT / path).exists(), f"README names {path}, which is not in the repository"


def test_layout_lists_each_top_level_entry_once():
    block = README.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    first_column = [line.split()[0] for line in block.splitlines() if line and not line.startswith(" ")]
    assert len(first_column) == len(set(first_column)), first_column


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


@pytest.mark.parametrize("target", sorted(set(re.findall(r"\bmake ([a-z][a-z-]*)", README))))
def test_every_make_target_the_readme_names_exists(target):
    assert target in make_targets()


@pytest.mark.parametrize("command", sorted(set(re.findall(r"manage\.py ([a-z_]+)", README))))
def test_every_management_command_the_readme_names_exists(command):
    assert command in get_commands()


def readme_urls() -> list[str]:
    table = README.split("## URLs", 1)[1].split("\n## ", 1)[0]
    urls = re.findall(r"^\| `(/[^`]*)` \|", table, re.MULTILINE)
    walk = re.findall(r"`(/(?:store|bss|admin)/[^`]*)`", README)
    return sorted(set(urls) | set(walk))


@pytest.mark.parametrize("url", readme_urls())
def test_every_url_the_readme_names_is_routed(url):
    try:
        resolve(url)
    except Resolver404:
        pytest.fail(f"README names {url}, which no route answers")


def test_demo_tables_list_every_demo_customer_and_login():
    from demo.accounts import DEMO_ACCOUNTS, DEMO_ORDERS, DEMO_USERS

    for username, *_ in DEMO_USERS:
        assert f"| `{username}` |" in README, f"the logins table lacks {username}"
    for demo in {account.name for account in DEMO_ACCOUNTS}:
        assert f"| {demo} (" in README, f"the customers table lacks {demo}"
    for number, *_ in DEMO_ORDERS:
        assert number in README, f"the README does not name the demo order {number}"
    assert f"The {len(DEMO_ACCOUNTS)} customers" in README
