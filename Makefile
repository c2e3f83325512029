# wholesale-billing-reports — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint asl clean install

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## run: the local stack (moto S3+DynamoDB, demo data, API on :8000); Ctrl-C stops it
run: $(STAMP)
	$(BIN)/wbr dev

## test: the whole default suite (unit + integration + e2e); CI runs exactly this
test: $(STAMP)
	$(BIN)/python -m pytest

## bench: benchmarks (not part of `make test`)
bench: $(STAMP)
	$(BIN)/python -m pytest -m bench -o addopts="" -q -s tests/bench

lint: $(STAMP)
	$(BIN)/ruff check chalicelib tests app.py

asl: $(STAMP)
	$(BIN)/wbr asl

clean:
	rm -rf $(VENV) .local .pytest_cache .hypothesis
