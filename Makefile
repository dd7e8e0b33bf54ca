# The two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test setup browser postgres bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/corpus-monitor digest

# Debian's Chromium and CJK fonts, for the test that renders the digest in a real browser: installed when
# missing and this user may (root, as in CI); elsewhere that one test is skipped, saying so.
browser:
	@dpkg-query -W chromium fonts-noto-cjk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium and fonts-noto-cjk"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium is missing (apt-get install chromium fonts-noto-cjk): the browser test will be skipped"; fi; }

# Debian's PostgreSQL server, which the tests of the shared store start on 127.0.0.1 (initdb into a temporary
# folder): installed when missing and this user may (root, as in CI); elsewhere those tests are skipped, saying so.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's postgresql"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL is missing (apt-get install postgresql): the tests of the shared store will be skipped"; fi; }

test: $(STAMP) browser postgres
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/ingest.py
	$(VENV)/bin/python benchmarks/ingest.py --pages extraction
	$(VENV)/bin/python benchmarks/scan_speed.py
	$(VENV)/bin/python benchmarks/dates.py
	$(VENV)/bin/python benchmarks/novelty.py
	$(VENV)/bin/python benchmarks/poll.py --urlwatch --httpx-transport
	$(VENV)/bin/python benchmarks/hostile.py
	$(VENV)/bin/python benchmarks/faults.py --trials 6 --pages 16

clean:
	rm -rf $(VENV) var
