#!/usr/bin/env bash
# Builds the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (any report
# is fatal), warnings as errors, and runs it. Uses clang++-14 when present, g++ otherwise: in CI
# this is the clang build (clang's warnings, its optimiser at -O2, every suite).
#
#   LSUV_SANITIZE_BUILD   build directory (default build-sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."

build="${LSUV_SANITIZE_BUILD:-build-sanitize}"
if [ ! -d "$build" ]; then
  compiler=g++
  command -v clang++-14 >/dev/null && compiler=clang++-14
  # vptr checks need RTTI, which the library is built without.
  CXX="$compiler" meson setup "$build" -Dbuildtype=debugoptimized --werror \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args='-fno-sanitize-recover=all -fno-sanitize=vptr -fno-omit-frame-pointer' \
    -Dcpp_link_args='-fno-sanitize-recover=all' >/dev/null
fi
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Every suite (benchmarks are not tests); a sanitizer report makes its test fail.
meson test -C "$build" --print-errorlogs --timeout-multiplier 4
