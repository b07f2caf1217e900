#!/usr/bin/env bash
# wasm/build.sh — build the two WebAssembly variants of wisp into js/dist/.
#
#   mt : -msimd128 -pthread, shared memory growable up to 4 GiB. The thread pool size
#        is decided at instantiation by js/worker.js (Module.wispPoolSize = threads-1);
#        PTHREAD_POOL_SIZE_STRICT=2 makes pthread_create fail (engine runs with fewer
#        threads) rather than deadlock if more were ever asked for. The pool may be empty
#        (threads: 1): Emscripten 3.1.6 then never releases the 'wasm-instantiate' run
#        dependency (it waits for pool workers that do not exist), so js/worker.js releases
#        it itself; hence removeRunDependency in EXPORTED_RUNTIME_METHODS.
#   st : -msimd128, no threads (src compiled with -DWISP_NO_THREADS).
#
# Both: memory grows by at most 16 MiB more than a malloc needs (Emscripten's default
# over-grows by up to 96 MiB: 20% of a 565 MB heap; never touched, but it is wasm memory the
# page holds beyond weights + KV). The big allocations (weights, KV) are one grow each anyway.
# Both: -O3, then Binaryen wasm-opt (-O3 by default; WASM_OPT_LEVEL=-Oz to compare),
# no Emscripten filesystem (models are streamed by JS into the weights buffer), and the
# exported surface is exactly wasm/exports.c (EMSCRIPTEN_KEEPALIVE) + malloc/free.
#
# Each variant is built twice: plain SIMD128, and "-relaxed" with the relaxed-SIMD
# int8 dot (-DWISP_RELAXED_SIMD=1; Chrome/Edge 114+, Firefox 120+; the worker picks it
# when WebAssembly.validate accepts a relaxed instruction). Emscripten 3.1.6 cannot emit
# that instruction, so the relaxed build calls a placeholder import (wasm/relaxed-stub.js)
# that wasm/relaxed.sh turns into the instruction before wasm-opt runs.
#
# Output (js/wisp.js finds it relative to import.meta.url as ./dist/):
#   js/dist/wisp-mt.mjs  js/dist/wisp-mt.wasm  js/dist/wisp-mt.worker.js  (+ wisp-mt-relaxed.*)
#   js/dist/wisp-st.mjs  js/dist/wisp-st.wasm                             (+ wisp-st-relaxed.*)
#   js/dist/package.json ({"type":"commonjs"}: the pthread worker script is CommonJS in Node)
#
# Usage: wasm/build.sh [mt|st|all] (each with its -relaxed twin)   env: EMCC (emcc), WASM_OPT (wasm-opt), WASM_OPT_LEVEL (-O3), OUT
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/js/dist}"
EMCC="${EMCC:-emcc}"
WASM_OPT="${WASM_OPT:-wasm-opt}"
WASM_OPT_LEVEL="${WASM_OPT_LEVEL:--O3}"
WHICH="${1:-all}"
# Debian's emscripten needs the system node modules (acorn) on NODE_PATH.
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"

command -v "$EMCC" >/dev/null || { echo "build.sh: $EMCC not found (apt-get install emscripten)" >&2; exit 1; }
mkdir -p "$OUT"
printf '{"type":"commonjs"}\n' > "$OUT/package.json"

SRCS=("$ROOT"/src/*.c "$ROOT/wasm/exports.c")
COMMON=(
  -std=c11 -O3 -msimd128 -D_POSIX_C_SOURCE=200809L -I"$ROOT/src"
  -Wall -Wno-unused-parameter
  -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createWisp
  -sENVIRONMENT=web,worker,node
  -sFILESYSTEM=0
  -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB -sMEMORY_GROWTH_GEOMETRIC_CAP=16MB
  -sTOTAL_STACK=1MB
  -sEXPORTED_FUNCTIONS=_malloc,_free
  -sEXPORTED_RUNTIME_METHODS=HEAPU8,HEAP32,UTF8ToString,removeRunDependency
  -sINCOMING_MODULE_JS_API=print,printErr,wasmBinary,instantiateWasm,locateFile,wispPoolSize,mainScriptUrlOrBlob,wasmMemory,onAbort
  -sABORTING_MALLOC=0
  --extern-pre-js "$ROOT/wasm/node-shim.js"
)

build_variant() {
  local v="$1"; shift
  local t0=$SECONDS
  echo "build.sh: building $v -> $OUT/wisp-$v.{mjs,wasm}"
  local feats=(--enable-simd --enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int)
  case "$v" in mt*) feats+=(--enable-threads) ;; esac
  case "$v" in
    *-relaxed)
      "$EMCC" "${COMMON[@]}" "$@" -DWISP_RELAXED_SIMD=1 --js-library "$ROOT/wasm/relaxed-stub.js" \
        "${SRCS[@]}" -o "$OUT/wisp-$v.mjs"
      "$ROOT/wasm/relaxed.sh" "$OUT/wisp-$v.wasm" "$OUT/wisp-$v.wasm"
      feats+=(--enable-relaxed-simd) ;;
    *) "$EMCC" "${COMMON[@]}" "$@" "${SRCS[@]}" -o "$OUT/wisp-$v.mjs" ;;
  esac
  if command -v "$WASM_OPT" >/dev/null; then
    "$WASM_OPT" $WASM_OPT_LEVEL "${feats[@]}" "$OUT/wisp-$v.wasm" -o "$OUT/wisp-$v.wasm.tmp"
    mv "$OUT/wisp-$v.wasm.tmp" "$OUT/wisp-$v.wasm"
  else
    echo "build.sh: warning: $WASM_OPT not found; skipping the Binaryen pass (apt-get install binaryen)" >&2
  fi
  echo "build.sh: $v done in $((SECONDS - t0))s: $(stat -c %s "$OUT/wisp-$v.wasm") bytes wasm"
}

MT_FLAGS=(-pthread -sUSE_PTHREADS=1 -sINITIAL_MEMORY=32MB "-sPTHREAD_POOL_SIZE=Module['wispPoolSize']|0" -sPTHREAD_POOL_SIZE_STRICT=2)
ST_FLAGS=(-DWISP_NO_THREADS -sINITIAL_MEMORY=16MB)
case "$WHICH" in
  mt|all) build_variant mt "${MT_FLAGS[@]}"; build_variant mt-relaxed "${MT_FLAGS[@]}" ;;&
  st|all) build_variant st "${ST_FLAGS[@]}"; build_variant st-relaxed "${ST_FLAGS[@]}" ;;
  mt) ;;
  *) echo "usage: $0 [mt|st|all]" >&2; exit 2 ;;
esac
