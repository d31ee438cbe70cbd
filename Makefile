# invoice-archive: the entry points people and CI use.
#   make run    set up (.venv, install, migrate, demo organisation) and serve on :6543
#   make test   set up and run the whole test suite (TEST_DATABASE_URL selects the database)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
INI    ?= development.ini
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run serve test check-migrations bench-parse bench-verify bench-archive bench-search examples clean

$(STAMP): setup.cfg pyproject.toml
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

check-migrations: install
	$(BIN)/invoice-archive -c $(INI) db upgrade
	$(BIN)/invoice-archive -c $(INI) db check

bench-parse: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_parse.py

bench-verify: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_verify.py

bench-archive: install
	$(BIN)/python benchmarks/bench_archive.py

bench-search: install
	$(BIN)/python benchmarks/bench_search.py $(BENCH_ARGS)

examples: install
	$(BIN)/invoice-archive synth-invoice --number 24992000000000000001 --out examples/dzfp_24992000000000000001.xml
	$(BIN)/invoice-archive synth-invoice --number 24992000000000000002 --out examples/dzfp_24992000000000000002.xml

clean:
	rm -rf $(VENV) var .pytest_cache
