// Pre-js for the C tests compiled to wasm: pass WISP_FIXTURES and CI from Node's
// environment to getenv() (Emscripten's ENV is otherwise a fixed default set).
Module['preRun'] = Module['preRun'] || [];
Module['preRun'].push(function () {
  if (typeof process === 'object' && process.env) {
    ['WISP_FIXTURES', 'CI', 'WISP_SLOW', 'WISP_SYNTH_DIR'].forEach(function (k) {
      if (process.env[k] !== undefined) ENV[k] = process.env[k];
    });
  }
});
