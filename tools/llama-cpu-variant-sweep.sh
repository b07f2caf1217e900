#!/usr/bin/env bash
# llama-cpu-variant-sweep.sh — how much do llama.cpp's own CPU builds disagree?
#
# node-llama-cpp ships one libggml-cpu-<isa>.so per x86 ISA level and loads the best for
# the machine. This script runs ../shared/tools/ref.mjs once per variant, teacher-forced
# on the token sequences of ../shared/reference/<model>.json, and prints for each variant
# the mean and max |Δ logprob| against that reference (over llama.cpp's top-10 ids at
# every position, the same measure as tests/test_conformance.c). Results are recorded in
# docs/CONFORMANCE.md.
#
# usage: tools/llama-cpu-variant-sweep.sh PEERS_DIR [model ...]
#   PEERS_DIR holds node_modules/node-llama-cpp@3.21.1 (npm i -E node-llama-cpp@3.21.1);
#   the variants run need the CPU features they were built for (an AVX-512 machine runs all
#   but the AMX one for sure). Default models: stories260K stories260K-f16 -q8_0 -q4_0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
S=${WISP_FIXTURES:-$root/../shared}
peers=${1:?usage: $0 PEERS_DIR [model ...]}
shift
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(stories260K stories260K-f16 stories260K-q8_0 stories260K-q4_0)
bins=$peers/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# a private copy of the package tree (hard links) whose bins dir we can rearrange
cp -al "$peers/node_modules" "$work/node_modules"
cp "$peers/package.json" "$work/"
wbins=$work/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
mkdir -p "$work/variants"
cp "$bins"/libggml-cpu-*.so "$work/variants/"
rm -f "$wbins"/libggml-cpu-*.so
for m in "${models[@]}"; do
  ref=$S/reference/$m.json
  prompts=$S/reference/prompts-stories.json
  case $m in tiny-qwen2*|tiny-llama3*) prompts=$S/reference/prompts-general.json ;; esac
  model=$S/models/$m.gguf
  [ -f "$model" ] || model=$S/models/synthetic/$m.gguf
  for v in "$work"/variants/*.so; do
    name=$(basename "$v" .so); name=${name#libggml-cpu-}
    rm -f "$wbins"/libggml-cpu-*.so
    cp "$v" "$wbins/"
    if node "$S/tools/ref.mjs" --peers "$work" --model "$model" --prompts "$prompts" --teacher "$ref" \
         --n 64 --top 10 --threads 1 --out "$work/out.json" >/dev/null 2>&1; then
      node -e '
        const fs = require("fs");
        const a = JSON.parse(fs.readFileSync(process.argv[1])), b = JSON.parse(fs.readFileSync(process.argv[2]));
        let n = 0, sum = 0, max = 0;
        a.prompts.forEach((pa, i) => pa.steps.forEach((sa, j) => {
          const mine = new Map(b.prompts[i].steps[j].top.map(t => [t.id, t.logp]));
          for (const t of sa.top) if (mine.has(t.id)) { const d = Math.abs(mine.get(t.id) - t.logp); n++; sum += d; if (d > max) max = d; }
        }));
        console.log(`${process.argv[3].padEnd(20)} ${process.argv[4].padEnd(16)} mean ${(sum / n).toFixed(4)}  max ${max.toFixed(3)}`);
      ' "$ref" "$work/out.json" "$m" "$name"
    else
      printf '%-20s %-16s (does not run on this CPU)\n' "$m" "$name"
    fi
  done
done
