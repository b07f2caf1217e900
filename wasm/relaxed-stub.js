// Emscripten JS library: satisfies the link-time import wisp_relaxed_dot_i8x16_i7x16_s
// (src/simd128.h). wasm/relaxed.sh replaces every call of it by the relaxed-SIMD
// instruction and removes the import, so this body never runs; if a build ever skipped
// the rewrite, the module would abort here instead of computing anything wrong.
mergeInto(LibraryManager.library, {
  wisp_relaxed_dot_i8x16_i7x16_s: function () {
    abort('wisp: relaxed SIMD placeholder called (wasm/relaxed.sh did not run on this build)');
  },
});
