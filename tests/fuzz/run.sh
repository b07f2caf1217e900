#!/usr/bin/env bash
# run.sh — runs the libFuzzer targets (built by `make fuzz` into build-fuzz/) for N seconds
# each, JOBS at a time, and prints execs / coverage per target; fails if any crashed.
#   tests/fuzz/run.sh SECONDS [target...]     env: FUZZ_BUILD (build-fuzz), JOBS (2), FUZZ_ARGS
# Corpora grow in $FUZZ_BUILD/corpus/<target> (seeds: $FUZZ_BUILD/seeds/<target>); crash
# inputs land in $FUZZ_BUILD/crashes/<target>/; logs in $FUZZ_BUILD/logs/<target>.log.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
B="${FUZZ_BUILD:-$ROOT/build-fuzz}"
SECS="${1:-60}"; shift || true
JOBS="${JOBS:-2}"
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_gguf fuzz_tok_spm fuzz_tok_bpe fuzz_model)
export WISP_FIXTURES="${WISP_FIXTURES:-$ROOT/../shared}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

max_len() {
  case "$1" in
    fuzz_gguf|fuzz_model) echo 32768 ;;
    *) echo 1024 ;;
  esac
}

run_one() {
  local t="$1"
  mkdir -p "$B/corpus/$t" "$B/crashes/$t" "$B/logs"
  # -rss_limit_mb: headers may ask for big (but bounded) weight buffers
  "$B/$t" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$B/crashes/$t/" ${FUZZ_ARGS:-} \
    "$B/corpus/$t" "$B/seeds/$t" > "$B/logs/$t.log" 2>&1
  echo $? > "$B/logs/$t.rc"
}

pids=()
for t in "${TARGETS[@]}"; do
  [ -x "$B/$t" ] || { echo "run.sh: $B/$t not built (make fuzz)" >&2; exit 1; }
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

fail=0
printf '%-14s %12s %8s %8s %8s  %s\n' target execs exec/s cov ft result
for t in "${TARGETS[@]}"; do
  log="$B/logs/$t.log"
  execs=$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
  last=$(grep -aE '^#[0-9]+.*(cov|DONE)' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  rate=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' <<<"$last")
  rc=$(cat "$B/logs/$t.rc" 2>/dev/null || echo 1)
  res=ok
  if [ "$rc" != 0 ]; then
    res="CRASH (rc $rc): see $log and $B/crashes/$t/"
    fail=1
  fi
  printf '%-14s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$res"
done
exit $fail
