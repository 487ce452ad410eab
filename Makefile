# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
HOST ?= 127.0.0.1
PORT ?= 8000

# `make run` is the local demo (manage.py's default settings, config.settings.local): debug on, SQLite,
# in-process tasks, the built-in Partner Center simulator. Only the simulator's address follows HOST and PORT.
RUN_ENV := PARTNER_CENTER_BASE_URL=$${PARTNER_CENTER_BASE_URL:-http://$(HOST):$(PORT)/simulator/partner-center}

.PHONY: run test screenshots lint format bench drill install install-test browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(BENCH_STAMP): $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

# The server starts first, then seed_demo (once the server answers), so the demo history is delivered to the
# simulator that the server itself serves. Logins are printed when seeding is done.
run: $(STAMP)
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input
	$(RUN_ENV) $(BIN)/python manage.py seed_demo --base-url http://$(HOST):$(PORT) --wait-for-server &
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Browser tests drive Debian's chromium through Playwright (a browser download is impossible here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "WARNING: could not install chromium; browser tests will be skipped"; }

test: $(TEST_STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The README's screenshots, refreshed on purpose: `make test` saves the browser tests' screenshots in a temporary folder.
SCREENSHOT_TESTS := tests/storefront/test_browser_store.py tests/mca/test_browser_enhanced.py \
	tests/bss/test_browser_bss.py tests/setup/test_setup_browser.py
screenshots: $(TEST_STAMP) browser
	$(BIN)/python -m pytest -m browser --screenshots=docs/screenshots $(SCREENSHOT_TESTS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_test_assertions.py tests
	$(BIN)/lint-imports

format: $(TEST_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The load scenario needs PostgreSQL and Redis on 127.0.0.1 (README "Benchmarks"); locust comes with the bench extra.
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Failure drills against the real stack (PostgreSQL and Redis on 127.0.0.1, docs/drills.md); not part of `make test`.
# `make drill ONLY=down,throttle` runs some of them.
drill: $(TEST_STAMP)
	$(BIN)/python -m drills $(if $(ONLY),--only $(ONLY)) $(DRILL_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .cache
