# Every target sets itself up first (.ci/setup is idempotent and fast when nothing is missing).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint-self pipeline render bench snapshots

setup:
	bash .ci/setup

# The test command (README): lint the project's own code, then the whole test suite.
test: setup
	$(BIN)/ruff check generator tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# The main job end to end on built-in defaults.
pipeline: setup
	$(BIN)/rollouts pipeline

render: setup
	$(BIN)/rollouts render

bench: setup
	bash .ci/setup --bench
	$(BIN)/python bench/lint_startup.py

snapshots: setup
	$(BIN)/python -m pytest -q --snapshot-update
