# Every target sets up .venv by itself; only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test bench team eval lint clean test-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP) $@

demo: $(STAMP)
	$(BIN)/python examples/invoice_walkthrough.py

# What the tests need from Debian: chromium (tests/test_metrics.py renders the HTML report
# in it), faketime (tests/test_clock.py runs deciders with their clocks shifted) and
# postgresql (tests/postgres.py starts a throwaway server; as root, under the system user
# hitl-pg, since PostgreSQL refuses to run as root). Installed when missing and apt-get
# is there; otherwise said, and the tests that need it skip and say why.
test-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  $(call debian,chromium)
	@command -v faketime >/dev/null 2>&1 || $(call debian,faketime)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  $(call debian,postgresql)
	@if [ "$$(id -u)" = 0 ] && ! id hitl-pg >/dev/null 2>&1; then \
	  useradd --system --no-create-home --shell /usr/sbin/nologin hitl-pg 2>/dev/null || \
	  echo "could not add the user hitl-pg: the PostgreSQL tests will skip"; fi

debian = (command -v apt-get >/dev/null 2>&1 && (apt-get update -qq || true) && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null) || \
	  echo "$(1) is not installed and could not be: the tests that need it will skip or fail"

test: $(DEV_STAMP) test-deps
	$(BIN)/python -m pytest

# The PostgreSQL half of bench/bench_team.py needs the postgres extra (in dev) and the
# server binaries (test-deps), as the tests do.
bench: $(DEV_STAMP) test-deps
	$(BIN)/python bench/run_all.py

# The team test at full size: 8 workers, 4 reviewers, 2,000 requests on one PostgreSQL,
# workers SIGKILLed and the server restarted mid-run (`make test` runs it at 120).
team: $(DEV_STAMP) test-deps
	HITL_TEAM_REQUESTS=2000 $(BIN)/python -m pytest tests/test_team.py -s

# The labelled invoice sets (evals/invoices) through the real invoice graph: escalation
# rate, precision, recall and misses by kind against the truth, and what `metrics` saw.
eval: $(STAMP)
	$(BIN)/python evals/invoices/run.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
