# Brook — every target installs what it needs first.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: install build test run bench bench-quick clean

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES_STAMP)

build: install
	npx tsc -p tsconfig.json

test: build
	npx jest --ci $(JEST_ARGS)

run: build
	node dist/src/cli/main.js serve $(ARGS)

bench: build
	node dist/bench/storage-bench.js

clean:
	rm -rf dist
