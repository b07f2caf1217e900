#!/usr/bin/env bash
# wasm/relaxed.sh IN.wasm OUT.wasm — put the relaxed-SIMD instruction where the C code
# calls its placeholder import.
#
# Debian's Emscripten 3.1.6 (LLVM 14) has no builtin for i16x8.relaxed_dot_i8x16_i7x16_s.
# src/simd128.h declares it as an import, env.wisp_relaxed_dot_i8x16_i7x16_s, with the
# instruction's exact signature; this script disassembles the module with Binaryen,
# turns every call of that import into the instruction itself, drops the import, and
# assembles the module again. An optimised Emscripten build minifies import names, so
# the import is found by its signature, (v128, v128) -> v128: no JavaScript function can
# take or return a v128, so no other import has it (the script insists on exactly one). Binaryen 108 encodes i16x8.dot_i8x16_i7x16_s as 0xfd 0x112,
# the opcode of the finished proposal (its i32x4 "add" form is still a prototype number,
# so only the i16x8 form is used). The result is checked: no call of the import may
# remain, and the instruction must be there.
set -euo pipefail
IN="$1"; OUT="$2"
WASM_DIS="${WASM_DIS:-wasm-dis}"; WASM_AS="${WASM_AS:-wasm-as}"
IMPORT=wisp_relaxed_dot_i8x16_i7x16_s
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
feats=(--enable-simd --enable-relaxed-simd --enable-bulk-memory --enable-sign-ext --enable-mutable-globals
       --enable-nontrapping-float-to-int --enable-threads)
"$WASM_DIS" "${feats[@]}" "$IN" -o "$tmp/m.wat"
sig='(param v128 v128) (result v128)'
imports="$(grep -E '^ *\(import "[^"]*" "[^"]*" \(func \$[^ ]+ \(param v128 v128\) \(result v128\)\)\)$' "$tmp/m.wat" || true)"
if [ -z "$imports" ]; then
  echo "relaxed.sh: $IN has no import $sig (the placeholder for $IMPORT)" >&2; exit 1
fi
[ "$(printf '%s\n' "$imports" | wc -l)" -eq 1 ] || { echo "relaxed.sh: more than one import $sig" >&2; exit 1; }
name="$(printf '%s\n' "$imports" | sed 's/.*(func \(\$[^ ]*\) .*/\1/')"
esc="$(printf '%s' "$name" | sed 's/\$/\\$/g')"
sed -e "/^ *(import \"[^\"]*\" \"[^\"]*\" (func $esc /d" \
    -e "s/(call $esc\$/(i16x8.dot_i8x16_i7x16_s/" -e "s/(call $esc\\([ )]\\)/(i16x8.dot_i8x16_i7x16_s\\1/" \
    "$tmp/m.wat" > "$tmp/r.wat"
if grep -qE "$esc([ )]|\$)" "$tmp/r.wat"; then
  echo "relaxed.sh: a reference to $name (the $IMPORT placeholder) is left after the rewrite" >&2; exit 1
fi
n="$(grep -c 'i16x8.dot_i8x16_i7x16_s' "$tmp/r.wat" || true)"
[ "$n" -gt 0 ] || { echo "relaxed.sh: no relaxed dot after the rewrite" >&2; exit 1; }
"$WASM_AS" -g "${feats[@]}" "$tmp/r.wat" -o "$OUT" # -g: keep the names (wasm-opt drops them later unless asked)
echo "relaxed.sh: $n relaxed dots in $OUT"
