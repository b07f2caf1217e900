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
	WISP_CONFORMANCE_PROMPTS=2 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure

test: test-native test-asan
	@echo "make test: all suites passed"

deps:
	./scripts/install-deps.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

# ---------------------------------------------------------------- WebAssembly + JS
# make wasm       build js/dist/wisp-{mt,st}[-relaxed].{mjs,wasm} (emscripten + binaryen; see wasm/build.sh)
# make test-wasm  the C tests compiled with emcc under Node, the JS loader tests (node --test,
#                 fault-injecting HTTP server) and headless Chromium (playwright-core + /usr/bin/chromium)
.PHONY: wasm test-wasm test-wasm-c test-wasm-js test-browser
all: wasm
test: test-wasm

js/dist/.stamp: wasm/build.sh wasm/relaxed.sh wasm/relaxed-stub.js wasm/exports.c wasm/node-shim.js $(wildcard src/*.c src/*.h)
	./wasm/build.sh
	@touch $@
wasm: js/dist/.stamp

node_modules/playwright-core/package.json: package.json
	npm install --no-audit --no-fund
	@touch $@

test-wasm-c:
	./tests/js/run-c-tests-wasm.sh
	RELAXED=1 ./tests/js/run-c-tests-wasm.sh test_simd test_quants test_conformance

test-wasm-js: wasm
	node --test tests/js/

test-browser: wasm node_modules/playwright-core/package.json
	node --test tests/e2e/

test-wasm: test-wasm-js test-browser test-wasm-c

# ---------------------------------------------------------------- chat page + widget (web/)
# make serve      installs what is missing (npm ci, make wasm), then serves the chat page on
#                 http://127.0.0.1:$(PORT)/ with COOP/COEP + Range (tools/serve.mjs), opening on
#                 $(SERVE_MODEL) when that file exists, else on the first catalog model
# make vendor     re-vendors @huggingface/jinja into js/vendor/jinja.js (committed; MIT)
# The browser tests of the page and the widget are tests/e2e/chat*.test.mjs and widget-*.test.mjs
# (part of test-browser; screenshots in tests/out/).
.PHONY: serve vendor
PORT        ?= 8080
SERVE_MODEL ?= $(WISP_FIXTURES)/models/stories260K.gguf

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

vendor: node_modules/.package-lock.json
	node tools/vendor-jinja.mjs

serve: node_modules/.package-lock.json wasm
	@node tools/vendor-jinja.mjs --check || node tools/vendor-jinja.mjs
	node tools/serve.mjs --port $(PORT) $(if $(wildcard $(SERVE_MODEL)),--model $(SERVE_MODEL))

# ---------------------------------------------------------------- reliability: fuzzing + soak
# make fuzz [FUZZ_SECONDS=N]  build the libFuzzer targets (tests/fuzz/, clang, ASan+UBSan) into
#                             build-fuzz/, write seed corpora from the fixtures, run each target N s
# make test-fuzz              the committed reproducers (ctest), then each target for FUZZ_CI_SECONDS
# make test-soak              chat soak in headless Chromium (SOAK_TURNS turns; README: the long form)
# (tests/test_faults.c runs in every C suite via the tests/test_*.c glob; tests/js/faults.test.mjs
#  in test-wasm-js via `node --test tests/js/`.)
BUILD_FUZZ      ?= build-fuzz
FUZZ_SECONDS    ?= 60
FUZZ_CI_SECONDS ?= 60
SOAK_TURNS      ?= 50
.PHONY: fuzz fuzz-build test-fuzz test-soak
test: test-fuzz test-soak

fuzz-build:
	cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DWISP_SANITIZE=ON -DWISP_FUZZ=ON
	cmake --build $(BUILD_FUZZ) -j$(JOBS) --target fuzz_gguf fuzz_tok_spm fuzz_tok_bpe fuzz_model fuzz_seedgen
	$(BUILD_FUZZ)/fuzz_seedgen $(WISP_FIXTURES) $(BUILD_FUZZ)/seeds

fuzz: fuzz-build
	FUZZ_BUILD=$(abspath $(BUILD_FUZZ)) JOBS=$(JOBS) tests/fuzz/run.sh $(FUZZ_SECONDS)

test-fuzz: fuzz-build
	ctest --test-dir $(BUILD_FUZZ) -R _regressions --output-on-failure
	FUZZ_BUILD=$(abspath $(BUILD_FUZZ)) JOBS=$(JOBS) tests/fuzz/run.sh $(FUZZ_CI_SECONDS)

test-soak: wasm node_modules/playwright-core/package.json
	node tests/e2e/soak.mjs --turns $(SOAK_TURNS) --every 10

# ---------------------------------------------------------------- benchmarks (not part of make test)
# make bench        wisp vs wllama in headless Chromium on the synthetic SmolLM2-135M and
#                   Qwen2.5-0.5B shapes (q4_0, q8_0, q4_k_m), threads 1 and 2, plus a wasm memory
#                   bandwidth probe; prints a table and writes docs/BENCHMARKS.md
# make bench-native build/wisp bench on the same files (-p 128 -n 128 -r 3, threads 1 and 2)
# make bench-load   load time and peak memory (Node and Chromium, mt and st) of stories260K and the
#                   531 MB qwen2.5-0.5b q8_0 against weights + KV + 64 MiB (tools/bench/load-bench.mjs)
.PHONY: bench bench-models bench-native bench-load
BENCH_DIR := $(BUILD)/models-big
BENCH_SMOL := $(foreach t,q4_0 q8_0 q4_k_m,$(BENCH_DIR)/smollm2-135m-synth-$(t).gguf)
BENCH_QWEN := $(foreach t,q4_0 q8_0 q4_k_m,$(BENCH_DIR)/qwen2.5-0.5b-synth-$(t).gguf)

$(BENCH_DIR)/smollm2-135m-synth-%.gguf:
	@mkdir -p $(BENCH_DIR)
	/usr/bin/python3 $(WISP_FIXTURES)/tools/gguf_synth.py --preset smollm2-135m --type $* --seed 1234 \
	  --tokenizer gguf:$(WISP_FIXTURES)/tokenizer-tests/ggml-vocab-starcoder.gguf --out $@
$(BENCH_DIR)/qwen2.5-0.5b-synth-%.gguf:
	@mkdir -p $(BENCH_DIR)
	/usr/bin/python3 $(WISP_FIXTURES)/tools/gguf_synth.py --preset qwen2.5-0.5b --type $* --seed 1234 \
	  --tokenizer gguf:$(WISP_FIXTURES)/tokenizer-tests/ggml-vocab-qwen2.gguf --out $@
bench-models: $(BENCH_SMOL) $(BENCH_QWEN)

$(BUILD)/bench/bwprobe.wasm: tools/bench/bwprobe.c
	@mkdir -p $(dir $@)
	NODE_PATH=/usr/share/nodejs emcc -O3 -msimd128 --no-entry -sSTANDALONE_WASM -sINITIAL_MEMORY=320MB \
	  -sALLOW_MEMORY_GROWTH=0 -o $@ $<

node_modules/@wllama/wllama/package.json: package.json
	npm install --no-audit --no-fund
	@touch $@

bench: wasm bench-models $(BUILD)/bench/bwprobe.wasm node_modules/playwright-core/package.json node_modules/@wllama/wllama/package.json
	node tools/bench/browser-bench.mjs

bench-load: wasm $(BENCH_DIR)/qwen2.5-0.5b-synth-q8_0.gguf
	node tools/bench/load-bench.mjs

bench-native: native bench-models
	@for m in $(BENCH_SMOL) $(BENCH_QWEN); do for t in 1 2; do \
	  $(BUILD)/wisp bench $$m -p 128 -n 128 -t $$t -r 3; done; done
