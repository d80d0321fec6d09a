PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format bench clean

$(BIN)/pingcrawl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/pingcrawl

demo: $(BIN)/pingcrawl
	$(BIN)/pingcrawl demo

test: $(BIN)/pingcrawl
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

format: $(BIN)/pingcrawl
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/pingcrawl
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) demo.db *.egg-info
