# The two README commands, and the build steps they share.
#   make demo  -- set up, build native + wasm, make the bundled model, caption samples, serve the demo
#   make test  -- set up, build everything, run every test suite, print one summary line
SHELL := /bin/bash
JOBS ?= $(shell nproc)
export NODE_PATH := /usr/share/nodejs

.PHONY: setup native wasm wasm-st build test test-native test-wasm test-js demo clean

setup:
	@scripts/setup.sh

native: setup
	cmake --preset native >/dev/null
	cmake --build --preset native -j $(JOBS)

wasm: setup
	cmake --preset wasm >/dev/null
	cmake --build --preset wasm -j $(JOBS)

wasm-st: setup
	cmake --preset wasm-st >/dev/null
	cmake --build --preset wasm-st -j $(JOBS)

build: native wasm wasm-st
	node web/scripts/build.mjs

test: build
	@scripts/run_tests.sh

demo: build
	@scripts/demo.sh

clean:
	rm -rf build
