#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 under ASan + UBSan and runs each for a
# bounded time. Fails on any crash, leak, timeout or sanitizer report; the input that caused it
# is left in the fuzz work directory (printed) to be added to tests/fuzz/corpus/<target>/.
#
#   LSUV_FUZZ_SECONDS   seconds per target (default 60)
#   LSUV_FUZZ_BUILD     build directory (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${LSUV_FUZZ_SECONDS:-60}"
build="${LSUV_FUZZ_BUILD:-build-fuzz}"
targets=(model_spec npy idx weights lsuv checkpoint quantized_file)

if [ ! -d "$build" ]; then
  # The library is instrumented for coverage (fuzzer-no-link) so the fuzzer sees inside it.
  CXX=clang++-14 meson setup "$build" -Dfuzz=true -Dcli=disabled -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-sanitize=vptr' \
    -Dcpp_link_args='-fno-sanitize-recover=all' >/dev/null
fi
if ! ninja -C "$build" $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") >"$build/fuzz-build.log" 2>&1; then
  cat "$build/fuzz-build.log"
  exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
work="$build/fuzz-work"
# The weights target rewrites a small file for every input: keep it in memory when possible.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
failed=()
for target in "${targets[@]}"; do
  corpus="$work/$target"
  mkdir -p "$corpus" "$work/artifacts-$target"
  log="$work/$target.log"
  printf 'fuzz %-10s %3ss ... ' "$target" "$seconds"
  # The seed corpus is read from the source tree; new inputs go to the work directory only.
  if "$build/tests/fuzz/fuzz_$target" "$corpus" "tests/fuzz/corpus/$target" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 -artifact_prefix="$work/artifacts-$target/" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "ok (${runs:-?} executions)"
  else
    echo "FAILED: see $log; reproducer in $work/artifacts-$target/"
    tail -n 40 "$log"
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}"
  exit 1
fi
