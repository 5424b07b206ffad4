# Every target sets itself up first (.ci/setup is idempotent and fast when nothing is missing).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test e2e pipeline schemas render bench snapshots

setup:
	bash .ci/setup

# The test command (README): lint the project's own code, then the whole test suite.
test:
	bash .ci/setup --tests
	$(BIN)/ruff check generator tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# The end-to-end suite on a real control plane (README, "End-to-end suite"): builds etcd, Kubernetes, kwok, Flagger
# and the Flux controllers once (scripts/e2e-build, cached by version in ~/.cache/rollouts/e2e; ~20 min cold, instant
# after), then runs only the tests marked e2e. ROLLOUTS_REQUIRE_TOOLS=1 turns a missing part into a failure.
e2e: setup
	bash scripts/e2e-build >/dev/null
	$(BIN)/python -m pytest -m e2e tests/e2e -q -p no:cacheprovider

SHARED ?= $(or $(ROLLOUTS_SHARED),../shared)

# The main job end to end on built-in defaults.
pipeline: setup schemas
	$(BIN)/rollouts pipeline

# The offline schema catalog in .rollouts/schemas, built once: from the shared catalog and CRDs when they are
# beside the checkout, else downloaded (pinned, sha256-checked). Without either, validate is reported as skipped.
schemas: setup
	@if [ -d .rollouts/schemas ]; then :; \
	elif [ -d "$(SHARED)/schemas/flux-schema-catalog/latest" ]; then \
	  $(BIN)/rollouts schemas build --catalog "$(SHARED)/schemas/flux-schema-catalog/latest" --crds "$(SHARED)/crds/linkerd"; \
	else \
	  $(BIN)/rollouts schemas fetch || echo "no schema catalog (offline?): the pipeline will say validate was skipped"; \
	fi

render: setup
	$(BIN)/rollouts render

bench: setup
	bash .ci/setup --bench
	$(BIN)/python bench/lint_startup.py

snapshots: setup
	$(BIN)/python -m pytest -q --snapshot-update
