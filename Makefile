# Brook — every target installs what it needs first.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: install gen build test run bench bench-quick clean

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(NODE_MODULES_STAMP)

PROTOS := $(wildcard protos/brook/v1/*.proto)
GENERATED_STAMP := src/protocol/generated/.stamp

# Message and service types generated from protos/ (never edited by hand).
$(GENERATED_STAMP): $(PROTOS) $(NODE_MODULES_STAMP)
	rm -rf src/protocol/generated
	npx proto-loader-gen-types --longs Number --enums String --defaults --oneofs \
	  --includeComments --grpcLib @grpc/grpc-js -O src/protocol/generated -I protos -- \
	  $(patsubst protos/%,%,$(PROTOS)) > /dev/null
	node scripts/gen-messages-index.js
	@touch $@

gen: $(GENERATED_STAMP)

build: install gen
	npx tsc -p tsconfig.json

test: build
	npx jest --ci $(JEST_ARGS)

# Starts a broker on config/brook.yaml (data in ./data, gRPC 127.0.0.1:7070,
# metrics 127.0.0.1:7071); extra flags: make run ARGS="--listen 0.0.0.0:7070".
run: build
	node dist/src/cli/main.js serve $(ARGS)

bench: build
	node dist/bench/storage-bench.js
	@for src in bench/*-bench.ts; do \
	  b=$$(basename $$src .ts); [ "$$b" = storage-bench ] && continue; \
	  echo "== $$b"; node dist/bench/$$b.js || exit 1; \
	done
	scripts/install-system-deps.sh bench
	node --expose-gc dist/bench/compare.js

# The side-by-side comparison with smaller counts, same shape (under 2 minutes).
bench-quick: build
	scripts/install-system-deps.sh bench
	node --expose-gc dist/bench/compare.js --quick

clean:
	rm -rf dist

# Reliability runs (test/reliability; figures in docs/reliability.md).
.PHONY: soak fuzz load

# 200 SIGKILL/restart rounds under producers, consumers and commits; prints
# rounds, acknowledged, lost, duplicated, phantom reads (ARGS="--rounds N --seed S").
soak: build
	node dist/scripts/soak.js $(ARGS)

# Hostile input against every RPC: 100,000 calls; prints the status
# histogram and crashes (ARGS="--calls N --seed S").
fuzz: build
	node dist/scripts/fuzz.js $(ARGS)

# 1,000 connections and 2,000 partitions: rates, latencies with and without a
# slow consumer, broker RSS, start-up after clean and unclean stops.
load: build
	node dist/scripts/load.js $(ARGS)
