"""The test suite's own rules: every test asserts something (`make lint` runs tools/check_test_assertions.py), and a
test run writes nothing into the checkout (browser screenshots go to a temporary folder unless `make screenshots`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from django.conf import settings

from tools.check_test_assertions import find_unasserted, main

TESTS = Path(__file__).resolve().parent


def unasserted_names(source: str, helpers: str = "") -> list[str]:
    sources = {
        Path("tests/test_sample.py"): textwrap.dedent(source),
        Path("tests/helpers.py"): textwrap.dedent(helpers),
    }
    return [found.name for found in find_unasserted(sources)]


def test_check_names_tests_that_check_nothing():
    source = """
        def test_calls_only(client):
            client.get("/")

        def test_loop_only(records):
            for record in records:
                print(record)

        class TestGroup:
            def test_method_without_check(self):
                self.client.get("/")
    """
    assert unasserted_names(source) == ["test_calls_only", "test_loop_only", "test_method_without_check"]


def test_check_accepts_each_kind_of_check():
    source = """
        import pytest
        from playwright.sync_api import expect

        def test_assert():
            assert 1

        def test_raises():
            with pytest.raises(ValueError):
                int("x")

        def test_warns():
            pytest.warns(UserWarning, lambda: None)

        def test_playwright(page):
            expect(page.locator("h1")).to_be_visible()

        def test_query_count(django_assert_num_queries):
            with django_assert_num_queries(3):
                pass

        def test_named_helper():
            assert_problem(None, 400)

        def test_helper_that_asserts_through_another():
            confirm_twice()
    """
    helpers = """
        def confirm_once():
            assert True

        def confirm_twice():
            confirm_once()
            confirm_once()
    """
    assert unasserted_names(source, helpers) == []


def test_check_does_not_take_a_method_for_an_asserting_helper():
    """A helper `create` that asserts says nothing about `Order.objects.create(...)`."""
    source = """
        def test_creates(Order):
            Order.objects.create(number="1")
    """
    helpers = """
        def create():
            assert True
    """
    assert unasserted_names(source, helpers) == ["test_creates"]


def test_every_test_of_this_suite_checks_something(capsys):
    assert main([str(TESTS)]) == 0, capsys.readouterr().out


def test_browser_screenshots_go_to_a_temporary_folder(screenshot_dir):
    assert screenshot_dir.is_dir()
    assert not screenshot_dir.resolve().is_relative_to(Path(settings.BASE_DIR).resolve())
