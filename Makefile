# The two commands the README leads with. Each bootstraps .venv from nothing on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
LOG_DIR ?= logs/demo

.PHONY: demo test lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## Offline demo: the acoustic judge on the bundled probe set, then the per-subset table.
demo: $(BIN)/.installed
	$(BIN)/inspect eval anyaudio_eval/probes --model acoustic/default --log-dir $(LOG_DIR) --display plain
	$(BIN)/anyaudio report $(LOG_DIR) --latest

## Lint and the whole test suite (slow tests included), offline.
test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) logs .pytest_cache .ruff_cache
