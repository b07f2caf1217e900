#!/usr/bin/env bash
# run-c-tests-wasm.sh — compile every tests/test_*.c (+ tests/support/*.c + src/*.c) with
# emcc (the st variant: -msimd128, -DWISP_NO_THREADS) and run each under Node with
# -sNODERAWFS=1 so the fixtures are read straight from disk. Same pass/fail as native.
#   env: WISP_FIXTURES (default ../shared), CI, BUILD_DIR (build-wasm-tests), JOBS (2),
#        RELAXED=1: the relaxed-SIMD build (-DWISP_RELAXED_SIMD=1, wasm/relaxed.sh after the
#        link, Node run with --experimental-wasm-relaxed-simd; BUILD_DIR build-wasm-tests-relaxed)
#   args: optional test names to run (e.g. test_gguf)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RELAXED="${RELAXED:-0}"
if [ "$RELAXED" = 1 ]; then B="${BUILD_DIR:-$ROOT/build-wasm-tests-relaxed}"; else B="${BUILD_DIR:-$ROOT/build-wasm-tests}"; fi
FIX="$(cd "${WISP_FIXTURES:-$ROOT/../shared}" 2>/dev/null && pwd || echo "${WISP_FIXTURES:-$ROOT/../shared}")"
export WISP_FIXTURES="$FIX"
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
JOBS="${JOBS:-2}"
mkdir -p "$B/obj"

CFLAGS=(-std=c11 -O2 -msimd128 -DWISP_NO_THREADS -D_POSIX_C_SOURCE=200809L -I"$ROOT/src" -I"$ROOT/tests" -I"$ROOT/tests/support"
        "-DWISP_DEFAULT_FIXTURES=\"$FIX\"" "-DWISP_GENERIC_REFS=\"$ROOT/tests/reference-generic\"" -Wno-unused-parameter)
LDFLAGS=(-O2 -msimd128 -sNODERAWFS=1 -sENVIRONMENT=node -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB
         -sTOTAL_STACK=16MB -sINITIAL_MEMORY=64MB -sEXIT_RUNTIME=1 '-sDEFAULT_LIBRARY_FUNCS_TO_INCLUDE=$ENV'
         --pre-js "$ROOT/tests/js/c-tests-pre.js")
NODE_FLAGS=(--no-experimental-fetch)
if [ "$RELAXED" = 1 ]; then
  CFLAGS+=(-DWISP_RELAXED_SIMD=1)
  LDFLAGS+=(--js-library "$ROOT/wasm/relaxed-stub.js")
  NODE_FLAGS+=(--experimental-wasm-relaxed-simd)
fi
label="wasm"; [ "$RELAXED" = 1 ] && label="wasm-relaxed"
# objects are rebuilt when their source, or any header of src/, is newer
newest_h="$(ls -t "$ROOT"/src/*.h | head -1)"
export newest_h

# 1. objects (incremental: rebuilt when the source is newer)
compile() {
  local src="$1" obj="$2"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_h" -nt "$obj" ]; then
    emcc "${CFLAGS[@]}" -c "$src" -o "$obj"
  fi
}
export -f compile
objs=()
pids=()
for src in "$ROOT"/src/*.c "$ROOT"/tests/support/*.c; do
  name="$(basename "$(dirname "$src")")_$(basename "${src%.c}").o"
  objs+=("$B/obj/$name")
  compile "$src" "$B/obj/$name" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

# 2. link + run each test
tests=()
if [ $# -gt 0 ]; then for n in "$@"; do tests+=("$ROOT/tests/$n.c"); done
else tests=("$ROOT"/tests/test_*.c); fi
pass=0; fail=0; failed=()
for src in "${tests[@]}"; do
  name="$(basename "${src%.c}")"
  js="$B/$name.js"
  emcc "${CFLAGS[@]}" "$src" "${objs[@]}" "${LDFLAGS[@]}" -o "$js"
  if [ "$RELAXED" = 1 ]; then
    # a test that never reaches a Q4/Q5 kernel has no placeholder import to rewrite
    "$ROOT/wasm/relaxed.sh" "${js%.js}.wasm" "${js%.js}.wasm" 2>"$B/$name.relaxed.log" \
      || grep -q "has no import" "$B/$name.relaxed.log" || { cat "$B/$name.relaxed.log"; exit 1; }
  fi
  t0=$SECONDS
  if (cd "$B" && node "${NODE_FLAGS[@]}" "$js") > "$B/$name.log" 2>&1; then
    pass=$((pass + 1)); echo "$label $name: PASS ($((SECONDS - t0))s)"
  else
    fail=$((fail + 1)); failed+=("$name"); echo "$label $name: FAIL ($((SECONDS - t0))s) — last lines of $B/$name.log:"; tail -20 "$B/$name.log"
  fi
  grep -i "skip" "$B/$name.log" | head -5 || true
done
echo "$label C tests: $pass passed, $fail failed${failed:+ (${failed[*]})}"
[ "$fail" -eq 0 ]
