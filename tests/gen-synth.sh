#!/usr/bin/env bash
# gen-synth.sh OUT_DIR — regenerate the synthetic models whose llama.cpp references are
# in shared/reference/ but whose files are too big for shared/ (tiny-qwen2 q8_0/f32,
# tiny-llama3 f32), with shared/tools/gguf_synth.py (byte-identical to the originals;
# their sha256 is checked). Needs Debian's python3-numpy. Skips files already present.
set -euo pipefail
out=${1:?usage: gen-synth.sh OUT_DIR}
fx=${WISP_FIXTURES:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
py=/usr/bin/python3
mkdir -p "$out"
gen() { # name preset type tokenizer sha256
  local f="$out/$1.gguf"
  if [ ! -s "$f" ]; then
    "$py" "$fx/tools/gguf_synth.py" --preset "$2" --type "$3" --seed 1234 --tokenizer "$4" --out "$f.tmp" >/dev/null
    mv "$f.tmp" "$f"
  fi
  echo "$5  $f" | sha256sum -c --quiet - || { echo "gen-synth: $f has the wrong sha256" >&2; rm -f "$f"; exit 1; }
}
gen tiny-qwen2-q8_0 tiny-qwen2 q8_0 "gguf:$fx/tokenizer-tests/ggml-vocab-qwen2.gguf" \
    68c1a9ac78d750587e6c47063a1eb773201b37d54da288f24ae309afdd1d8435
gen tiny-qwen2-f32 tiny-qwen2 f32 "gguf:$fx/tokenizer-tests/ggml-vocab-qwen2.gguf" \
    a9ada6fa630cbc2265f6b33eba39a9cf30d34a7038ecd7870021cd1fda24cf69
# tiny-llama3's original used Llama 3.2's encoder.json/vocab.bpe; taking the tokenizer from
# the shipped q8_0 file gives the same tensors and tokenizer (only the description and so
# the sha256 differ), so this one is checked by its references instead of a hash.
f="$out/tiny-llama3-f32.gguf"
if [ ! -s "$f" ]; then
  "$py" "$fx/tools/gguf_synth.py" --preset tiny-llama3 --type f32 --seed 1234 \
      --tokenizer "gguf:$fx/models/synthetic/tiny-llama3-q8_0.gguf" --out "$f.tmp" >/dev/null
  mv "$f.tmp" "$f"
fi
echo "gen-synth: models in $out"
