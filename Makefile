# The two README commands, and the build steps they share.
#   make demo  -- set up, build native + wasm, make the bundled model, caption samples, serve the demo
#   make test  -- set up, build everything, run every test suite, print one summary line
SHELL := /bin/bash
JOBS ?= $(shell nproc)
export NODE_PATH := /usr/share/nodejs

# make check -- the quick tier: native build, quick-labelled Catch2 tests + CLI tests, JS unit tests
.PHONY: check setup native wasm wasm-st wasm-relaxed wasm-relaxed-st build test test-native test-wasm test-js demo clean

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

# Relaxed-SIMD variants (clang-19 through emcc; chosen at load by engines that validate them).
wasm-relaxed: setup
	cmake --preset wasm-relaxed >/dev/null
	cmake --build --preset wasm-relaxed -j $(JOBS)

wasm-relaxed-st: setup
	cmake --preset wasm-relaxed-st >/dev/null
	cmake --build --preset wasm-relaxed-st -j $(JOBS)

build: native wasm wasm-st wasm-relaxed wasm-relaxed-st
	node web/scripts/build.mjs

test: build
	@scripts/run_tests.sh

# Quick tier (a few minutes): native only; skips the [slow] end-to-end / quality sweeps, wasm and browser.
check: native
	ctest --preset native -j $(JOBS) -LE slow
	cd web && node --test test/package.test.mjs

demo: build
	@scripts/demo.sh

clean:
	rm -rf build
