#!/usr/bin/env bash
# make-generic-refs.sh — regenerate tests/reference-generic/*.json: llama.cpp's outputs
# from its *portable* CPU build, the one wisp's scalar kernels reproduce.
#
# node-llama-cpp ships llama.cpp with one CPU backend per x86 ISA level and loads the
# best one for the machine; on an AVX-512 machine its quantized kernels round
# differently from the portable ones (up to 0.027 mean |Δ logprob| on stories260K-q8_0).
# Keeping only libggml-cpu-x64.so makes llama.cpp use its portable build.
#
# usage: tools/make-generic-refs.sh [PEERS_DIR]   (needs network access to the npm registry,
#        ../shared, and the synthetic models of tests/gen-synth.sh in $WISP_SYNTH_DIR)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
S=${WISP_FIXTURES:-$root/../shared}
peers=${1:-$(mktemp -d)}
synth=${WISP_SYNTH_DIR:-$root/build/synth}
out=$root/tests/reference-generic
if [ ! -d "$peers/node_modules/node-llama-cpp" ]; then
  (cd "$peers" && npm init -y >/dev/null && npm i -E node-llama-cpp@3.21.1)
fi
bins=$(ls -d "$peers"/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64)
mkdir -p "$peers/hidden-cpu-variants"
for f in "$bins"/libggml-cpu-*.so; do
  [ "$(basename "$f")" = libggml-cpu-x64.so ] || mv "$f" "$peers/hidden-cpu-variants/"
done
"$root/tests/gen-synth.sh" "$synth"
ref() { # model-file prompts-file name
  node "$S/tools/ref.mjs" --peers "$peers" --model "$1" --prompts "$2" --n 64 --top 10 --threads 1 --out "$out/$3.json"
}
for m in stories260K stories260K-f16 stories260K-q8_0 stories260K-q4_0; do
  ref "$S/models/$m.gguf" "$S/reference/prompts-stories.json" "$m"
done
for m in tiny-tok512-f32 tiny-tok512-f16 tiny-tok512-q8_0 tiny-tok512-q4_0 tiny-tok512-q5_0 tiny-tok512-q4_k \
         tiny-tok512-q6_k tiny-tok512-q4_k_m tiny-spm32k-q4_0; do
  ref "$S/models/synthetic/$m.gguf" "$S/reference/prompts-stories.json" "$m"
done
for m in tiny-qwen2-q4_0 tiny-llama3-q4_0 tiny-llama3-q8_0; do
  ref "$S/models/synthetic/$m.gguf" "$S/reference/prompts-general.json" "$m"
done
for m in tiny-qwen2-q8_0 tiny-qwen2-f32 tiny-llama3-f32; do
  ref "$synth/$m.gguf" "$S/reference/prompts-general.json" "$m"
done
echo "make-generic-refs: wrote $out"
