# Emporium: the one entry point. `make run` serves the demo shop; `make test` runs the suite.

CARGO ?= cargo
ADDR ?= 127.0.0.1:8080

.PHONY: run test test-all lint fmt check openapi graphql error-codes bench clean

## Build and serve the demo shop on SQLite (./emporium.db) at http://$(ADDR)
run:
	EMPORIUM_ADDR=$(ADDR) $(CARGO) run -p emporium-gateway --bin emporium -- serve --demo

## Run every test: unit tests and the end-to-end suite. Set EMPORIUM_TEST_DATABASE_URL,
## EMPORIUM_TEST_REDIS_URL and EMPORIUM_TEST_NATS_URL to run the same suite against PostgreSQL,
## Redis and NATS. Tests that need Redis or NATS are marked ignored (the summary counts them)
## unless one of those two is set or CI=true, where they always run (NATS tests then use
## EMPORIUM_TEST_NATS_URL, else the local nats://127.0.0.1:4222).
WITH_SERVICES := $(if $(or $(EMPORIUM_TEST_REDIS_URL),$(EMPORIUM_TEST_NATS_URL),$(filter true 1,$(CI))),--include-ignored,)
test:
	$(CARGO) test --workspace --locked -- $(WITH_SERVICES)

## The suite on SQLite, then on PostgreSQL + Redis (local defaults), as CI runs it.
test-all:
	bash .ci/run

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

check: lint test

## Regenerate openapi/openapi.json from the code.
openapi:
	$(CARGO) run -q -p emporium-gateway --bin emporium -- export openapi > openapi/openapi.json

## Regenerate schema/schema.graphql from the code.
graphql:
	$(CARGO) run -q -p emporium-gateway --bin emporium -- export graphql > schema/schema.graphql

## Regenerate docs/error-codes.md from the code.
error-codes:
	$(CARGO) run -q -p emporium-gateway --bin emporium -- export error-codes > docs/error-codes.md

## Load-test a release build against the demo shop (see docs/benchmarks.md).
bench:
	bash scripts/bench.sh

clean:
	$(CARGO) clean
