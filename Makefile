# Every target sets itself up first (.ci/setup is idempotent and fast when nothing is missing).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test e2e pipeline schemas render bench snapshots demo-success demo-failure demo-ab

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
# after), and the analysis controller's image (scripts/controller-image: podman, buildah, runc and debootstrap from
# Debian; ~4 min cold, seconds when the sources are unchanged, ~3 min after a change), then runs only the tests marked
# e2e. ROLLOUTS_REQUIRE_TOOLS=1 turns a missing part into a failure.
e2e:
	bash .ci/setup --images
	bash scripts/e2e-build >/dev/null
	bash scripts/controller-image >/dev/null
	$(BIN)/python -m pytest -m e2e tests/e2e -q -p no:cacheprovider

# The lab (docs/lab.md): one example service on the e2e suite's control plane with real Flagger and Prometheus,
# a release driven with healthy or failing traffic and its timeline printed live until promotion or rollback:
# demo-success (checkout, canary, promoted), demo-failure (the same with 30% errors: rolled back), demo-ab
# (frontend, A/B, promoted). ROLLOUTS_LAB_INTERVAL (default 30s) sets every strategy.interval. Needs root.
demo-success demo-failure demo-ab:
	bash .ci/setup --images
	bash scripts/e2e-build >/dev/null
	$(BIN)/python -m tests.e2e.lab $(patsubst demo-%,%,$@)

SHARED ?= $(or $(ROLLOUTS_SHARED),../shared)

# The main job end to end on built-in defaults.
pipeline: setup schemas
	$(BIN)/rollouts pipeline

# validate needs no setup: without a catalog in .rollouts/schemas (`rollouts schemas build`/`fetch`, which add or
# override kinds) it uses the schemas shipped in the package plus the Kubernetes core kinds of kubernetes-validate.
schemas: setup
	@if [ -d .rollouts/schemas ]; then echo "validate uses the catalog in .rollouts/schemas"; \
	else echo "validate uses the schemas shipped in generator/catalog/shipped (regenerate: scripts/build-schemas --shared $(SHARED)); add kinds with \`rollouts schemas build\` or \`fetch\`"; fi

render: setup
	$(BIN)/rollouts render

bench: setup
	bash .ci/setup --bench
	$(BIN)/python bench/lint_startup.py

snapshots: setup
	$(BIN)/python -m pytest -q --snapshot-update
