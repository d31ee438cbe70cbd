# invoice-archive: the entry points people and CI use.
#   make run    set up (.venv, install, migrate, demo organisation) and serve on :6543
#   make test   set up and run the whole test suite (TEST_DATABASE_URL selects the database)
#   make check-wheel  build the wheel, install it in a fresh venv outside the checkout and
#               migrate a SQLite database with it (what a deployment does)
#   make acceptance   the evaluators' acceptance command against the local demo service
#               (started as make run starts it, stopped afterwards); report in acceptance-report/

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
INI    ?= development.ini
STAMP  := $(VENV)/.installed-stamp
ACCEPTANCE_PORT ?= 6544
ACCEPTANCE_OUT  ?= acceptance-report

.PHONY: install run serve test acceptance check-migrations check-wheel bench-parse bench-verify bench-archive bench-search bench-http examples clean

$(STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/invoice-archive -c $(INI) db upgrade
	@echo "== demo tokens (one per person; use them as 'Authorization: Bearer <token>') =="
	@$(BIN)/invoice-archive -c $(INI) demo-setup | tee var/demo-tokens.txt
	$(BIN)/pserve $(INI)

serve: install
	$(BIN)/pserve $(INI)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The local demo on its embedded defaults (development.ini: SQLite and the store under var/,
# the demo organisation and its tokens, as make run), served on ACCEPTANCE_PORT with its
# worker beside it; the acceptance command runs against it over HTTP, then both stop.
acceptance: install
	$(BIN)/invoice-archive -c $(INI) db upgrade
	@mkdir -p var && $(BIN)/invoice-archive -c $(INI) demo-setup > var/demo-tokens.txt
	set -eu; \
	$(BIN)/invoice-archive -c $(INI) serve --processes 1 --listen 127.0.0.1:$(ACCEPTANCE_PORT) & server=$$!; \
	$(BIN)/invoice-archive -c $(INI) worker --poll 1 >/dev/null & worker=$$!; \
	trap 'kill $$server $$worker 2>/dev/null; wait $$server $$worker 2>/dev/null || true' EXIT; \
	$(BIN)/invoice-archive acceptance --url http://127.0.0.1:$(ACCEPTANCE_PORT) \
	    --token-file var/demo-tokens.txt --out $(ACCEPTANCE_OUT)

check-migrations: install
	$(BIN)/invoice-archive -c $(INI) db upgrade
	$(BIN)/invoice-archive -c $(INI) db check

# The wheel alone, away from the checkout: its console script finds the migrations it
# ships (invoice_archive.migrations) and every adapter module imports without the test extra.
# (build/ goes first: setuptools would pack files left there by an earlier build.)
check-wheel: install
	set -eu; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	rm -rf build; \
	$(BIN)/python -m pip wheel --quiet --no-deps -w "$$tmp/dist" .; \
	$(BIN)/python -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet "$$tmp"/dist/invoice_archive-*.whl; \
	printf '[app:main]\nuse = egg:invoice-archive\nsqlalchemy.url = sqlite:///%%(here)s/var/check.sqlite\narchive.store_url = file://%%(here)s/var/archive-store\n' > "$$tmp/check.ini"; \
	cd "$$tmp"; \
	env -u DATABASE_URL -u ARCHIVE_STORE_URL "$$tmp/venv/bin/invoice-archive" -c check.ini db upgrade; \
	env -u DATABASE_URL -u ARCHIVE_STORE_URL "$$tmp/venv/bin/invoice-archive" -c check.ini db check; \
	"$$tmp/venv/bin/python" $(CURDIR)/.ci/check_wheel.py

bench-parse: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_parse.py

bench-verify: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_verify.py

bench-archive: install
	$(BIN)/python benchmarks/bench_archive.py $(BENCH_ARGS)

bench-search: install
	$(BIN)/python benchmarks/bench_search.py $(BENCH_ARGS)

bench-http: install
	$(BIN)/python benchmarks/bench_http.py $(BENCH_ARGS)

examples: install
	$(BIN)/invoice-archive synth-invoice --number 24992000000000000001 --out examples/dzfp_24992000000000000001.xml
	$(BIN)/invoice-archive synth-invoice --number 24992000000000000002 --out examples/dzfp_24992000000000000002.xml

clean:
	rm -rf $(VENV) var .pytest_cache
