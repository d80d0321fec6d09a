PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pywb, the replay tool the archive test serves a WACZ with, in a venv of its own: its
# brotlipy dependency replaces the Brotli module the crawler's bounded inflater uses.
REPLAY := .venv-replay/bin/wayback

.PHONY: demo test lint format bench clean

$(BIN)/pingcrawl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/pingcrawl

demo: $(BIN)/pingcrawl
	$(BIN)/pingcrawl demo

$(REPLAY):
	$(PYTHON) -m venv .venv-replay
	.venv-replay/bin/pip install --quiet 'pywb>=2.8'

test: $(BIN)/pingcrawl $(REPLAY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy crawler db
	$(BIN)/pytest -q

format: $(BIN)/pingcrawl
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/pingcrawl
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .venv-replay demo.db *.egg-info
