#!/usr/bin/env bash
# install-deps.sh — install the Debian packages the build and tests need, only those
# missing. Safe to run repeatedly; needs root (or sudo) when something is missing.
set -euo pipefail
pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have cmake || pkgs+=(cmake)
have make || pkgs+=(make)
have gcc || pkgs+=(gcc)
have clang || pkgs+=(clang)
# clang's sanitizer runtime (ASan/UBSan/libFuzzer)
ls /usr/lib/llvm-14/lib/clang/14*/lib/linux/libclang_rt.asan-x86_64.a >/dev/null 2>&1 || pkgs+=(libclang-rt-14-dev)
# SIMDe: the SIMD128 kernels run natively through it (tests, profiling, sanitizers)
[ -f /usr/include/simde/wasm/simd128.h ] || pkgs+=(libsimde-dev)
have python3 || pkgs+=(python3)
# numpy for shared/tools/gguf_synth.py (regenerates synthetic test models)
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || pkgs+=(python3-numpy)
# WebAssembly build and browser tests
have emcc || pkgs+=(emscripten)
have wasm-opt || pkgs+=(binaryen)
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
have node || pkgs+=(nodejs)
have npm || pkgs+=(npm)
have gzip || pkgs+=(gzip)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "install-deps: installing ${pkgs[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${pkgs[@]}"
fi
