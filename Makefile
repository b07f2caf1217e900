# wisp — top-level entry points for people and scripts. CMake does the real work.
#   make          build the native library, CLI (build/wisp) and tests
#   make test     run every test suite (native, then the same C tests under ASan+UBSan)
#   make deps     install missing Debian packages (needs root)

BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= 2
export WISP_FIXTURES ?= $(abspath ../shared)
# Synthetic models whose references are in ../shared but whose files are not (tests/gen-synth.sh)
export WISP_SYNTH_DIR ?= $(abspath $(BUILD)/synth)

.PHONY: all native asan synth test test-native test-asan deps clean

all: native

native:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

asan:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWISP_SANITIZE=ON -DCMAKE_C_COMPILER=clang
	cmake --build $(BUILD_ASAN) -j$(JOBS)

synth:
	tests/gen-synth.sh $(WISP_SYNTH_DIR)

test-native: native synth
	ctest --test-dir $(BUILD) --output-on-failure

test-asan: asan synth
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure

test: test-native test-asan
	@echo "make test: all suites passed"

deps:
	./scripts/install-deps.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

# ---------------------------------------------------------------- WebAssembly + JS
# make wasm       build js/dist/wisp-{mt,st}.{mjs,wasm} (emscripten + binaryen; see wasm/build.sh)
# make test-wasm  the C tests compiled with emcc under Node, the JS loader tests (node --test,
#                 fault-injecting HTTP server) and headless Chromium (playwright-core + /usr/bin/chromium)
.PHONY: wasm test-wasm test-wasm-c test-wasm-js test-browser
all: wasm
test: test-wasm

js/dist/.stamp: wasm/build.sh wasm/exports.c wasm/node-shim.js $(wildcard src/*.c src/*.h)
	./wasm/build.sh
	@touch $@
wasm: js/dist/.stamp

node_modules/playwright-core/package.json: package.json
	npm install --no-audit --no-fund
	@touch $@

test-wasm-c:
	./tests/js/run-c-tests-wasm.sh

test-wasm-js: wasm
	node --test tests/js/

test-browser: wasm node_modules/playwright-core/package.json
	node --test tests/e2e/

test-wasm: test-wasm-js test-browser test-wasm-c
