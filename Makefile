# The two commands the README leads with. Each bootstraps .venv from nothing on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
LOG_DIR ?= logs/demo

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo needs only the core and the acoustic judge; the tests need every extra but vllm.
$(BIN)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[acoustic]"
	touch $@

$(BIN)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(BIN)/.demo-installed

## Offline demo: the acoustic judge on the bundled probe set, then the per-subset table.
demo: $(BIN)/.demo-installed
	$(BIN)/inspect eval anyaudio_eval/probes --model acoustic/default --log-dir $(LOG_DIR) --display plain
	$(BIN)/anyaudio report $(LOG_DIR) --latest
	@echo "Browse every verdict and listen to the clips: $(BIN)/inspect view --log-dir $(LOG_DIR)"
	@echo "Next, the real bench with a real judge: $(BIN)/inspect eval anyaudio_eval/bench --model <audio judge> (see README)"

## Lint, format check, type check (mypy reads its settings from pyproject.toml) and the whole test suite, slow tests included, offline.
test: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) logs .pytest_cache .ruff_cache .mypy_cache
