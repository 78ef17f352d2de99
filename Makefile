# Fast-Flow's entry points. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

GO ?= go
# Where the tests find PostgreSQL; scripts/test-env.sh makes this one answer.
export FASTFLOW_TEST_POSTGRES_URL ?= postgres://fastflow:fastflow@127.0.0.1:5432/postgres?sslmode=disable

# Pinned so every machine lints alike; 2026.2.2 is checked against Go 1.26.
STATICCHECK_VERSION := v0.8.2
TOOLS := $(CURDIR)/bin/tools
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)

# The Go files gofmt must accept: everything but test inputs and local state.
GO_FILES = $(shell find . -name '*.go' -not -path './.git/*' -not -path './.demo/*' \
	-not -path './bin/*' -not -path '*/testdata/*')

.PHONY: help build test fmt-check vet lint bench demo clean worker-image image compose-cli kube-up kube-down

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# What `fastflow version` reports for a build from this checkout.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT)

build: ## build bin/fastflow
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/fastflow ./cmd/fastflow

image: ## build the image fastflow:local from the Dockerfile, on base images bootstrapped from the machine's apt sources
	bash scripts/image.sh

compose-cli: ## install the Docker Compose CLI plugin (built from source, cached by version) if missing
	bash scripts/compose-cli.sh

kube-up: ## start the single-node Kubernetes test cluster (binaries built once, cached by version) (for kubectl: eval the output of scripts/k8s-cluster.sh env)
	bash scripts/k8s-cluster.sh up

kube-down: ## stop the Kubernetes test cluster and undo its host side effects (the caches stay)
	bash scripts/k8s-cluster.sh down

worker-image: ## build the local worker image fastflow-worker:local (only when missing or its recipe changed)
	bash scripts/worker-image.sh

# ./deploy and ./runtime/kubernetes run after the rest, not beside it: each
# Compose project adds a network, each pod a veth, and Chromium abandons
# the browser tests' page loads when the machine's network interfaces
# change (ERR_NETWORK_CHANGED).
test: ## start PostgreSQL, Docker, nginx, Compose, a Kubernetes test cluster and build the images if missing, then gofmt, go vet and go test -race
	bash scripts/test-env.sh
	bash scripts/worker-image.sh
	bash scripts/compose-cli.sh
	bash scripts/image.sh
	$(MAKE) --no-print-directory fmt-check vet
	bash scripts/with-k8s-cluster.sh bash -c '$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e "/deploy$$" -e "/runtime/kubernetes$$") && $(GO) test -race -count=1 -timeout 10m ./runtime/kubernetes ./deploy'

.PHONY: chaos
chaos: ## like test, but the chaos tests: a private dockerd stopped and killed under running pipelines (minutes)
	bash scripts/test-env.sh
	bash scripts/worker-image.sh
	FASTFLOW_CHAOS=1 $(GO) test -race -count=1 -run 'Chaos' -timeout 30m ./operator/...

fmt-check: ## fail on files gofmt would change
	@unformatted="$$(gofmt -l $(GO_FILES) </dev/null)"; \
	if [[ -n "$$unformatted" ]]; then \
		echo "gofmt: these files are not formatted (run gofmt -w):"; \
		echo "$$unformatted"; \
		exit 1; \
	fi

vet: ## go vet every package
	$(GO) vet ./...

lint: fmt-check vet $(STATICCHECK) ## gofmt check, go vet and staticcheck
	$(STATICCHECK) ./...

$(STATICCHECK):
	mkdir -p $(TOOLS)/.install
	GOBIN=$(TOOLS)/.install $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/.install/staticcheck $@

bench: ## run the benchmarks and print their figures (the run benchmarks need Docker and the worker image)
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...

demo: build ## serve the example pipelines from a local git repository in .demo/ and run them
	FASTFLOW_TEST_ENV_SKIP="postgres chromium" bash scripts/test-env.sh
	bash scripts/worker-image.sh
	bash scripts/demo.sh

clean: ## remove the binary, the lint tools and the demo's state
	rm -rf bin .demo
