# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

# Root installs system packages directly; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint fuzz bench vectors keys-example clean postgresql chromium screenshots

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install -q --prefer-binary -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PY) -m pip install -q --prefer-binary -e '.[test]'
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(PY) examples/demo.py

# The suite runs the ledger on SQLite and on a private PostgreSQL server that
# tests/pgserver.py initialises in a temporary directory, starts on a Unix
# socket only, and stops and removes when pytest ends.
test: $(STAMP_TEST) postgresql chromium
	$(PY) tests/vectors/generate.py --check
	$(PY) tests/pgserver.py run -- $(PY) -m pytest -q

# PostgreSQL's server binaries, from the system package manager where missing.
postgresql:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "Installing PostgreSQL (apt-get)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

# Chromium for the portal's browser tests (Playwright drives the system's browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Chromium (apt-get)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The README's screenshots of the portal, taken by the browser tests.
screenshots: $(STAMP_TEST) postgresql chromium
	LICSIGN_SCREENSHOTS=1 $(PY) tests/pgserver.py run -- $(PY) -m pytest -q tests/test_browser.py -k sqlite

lint: $(STAMP_TEST)
	$(PY) -m pip install -q 'ruff>=0.6' 'mypy>=1.10'
	$(PY) -m ruff check licverify licsign examples bench
	$(PY) -m ruff format --check licverify licsign examples bench
	$(PY) -m mypy licverify licsign

fuzz: $(STAMP_TEST)
	mkdir -p .fuzz-corpus
	$(PY) -c "import sys; sys.path.insert(0, 'tests/fuzz'); import fuzz_documents as f; [open(f'.fuzz-corpus/seed-{i}', 'wb').write(s) for i, s in enumerate(f.seeds())]"
	$(PY) tests/fuzz/fuzz_documents.py -max_total_time=$${FUZZ_SECONDS:-300} .fuzz-corpus

bench: $(STAMP_RUN)
	$(PY) bench/verify.py
	$(PY) bench/issue.py $${BENCH_POSTGRES:+--postgres "$$BENCH_POSTGRES"}
	$(PY) bench/ledger_scale.py $${BENCH_POSTGRES:+--postgres "$$BENCH_POSTGRES"}
	$(PY) bench/portal.py

vectors: $(STAMP_TEST)
	$(PY) tests/vectors/generate.py

keys-example: $(STAMP_RUN)
	$(PY) keys-example/regenerate.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
