#!/usr/bin/env bash
# No stack frame of the library over 4096 bytes (issue 7: a Cortex-M board has 4-16 KB of stack,
# and kernels take their large buffers from the caller's scratch instead).
#
# Builds the library alone (release, as shipped; no tests, program or io) with GCC's
# -fstack-usage for x86-64 (this machine), aarch64 and armv7 NEON (ports/crossfiles/), then lists
# every function compiled from src/core or src/kernels whose frame is over the limit or has no
# static bound (alloca, variable-length arrays). src/io and src/cli are desktop-side (file
# formats, the program: heap and big buffers are fine there) and are not built here; the
# benchmark helpers in src/kernels/bench are desktop-side too and are skipped.
# Build directories build-stack-* are reused when they exist.
#   .ci/stack_usage.sh            # all three targets
#   .ci/stack_usage.sh x86_64     # one of x86_64, aarch64, armv7, cortex-m4f, cortex-m55
# (the bare-metal ones are not in the default list, which .ci/run runs: its Cortex-M stages
# already cost a minute or two)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=4096
targets=("${@:-x86_64 aarch64 armv7}")
read -r -a targets <<<"${targets[*]}"

machine_file() {  # $1: compiler; a machine file that adds -fstack-usage to every compile
  local file
  file=$(mktemp)
  printf "[binaries]\ncpp = ['%s', '-fstack-usage']\n" "$1" >"$file"
  echo "$file"
}

failed=0
for target in "${targets[@]}"; do
  dir=build-stack-$target
  if [ ! -d "$dir" ]; then
    case $target in
      x86_64) files=(--native-file "$(machine_file g++)") ;;
      aarch64) files=(--cross-file ports/crossfiles/aarch64-linux-gnu.ini
                      --cross-file "$(machine_file aarch64-linux-gnu-g++)") ;;
      armv7) files=(--cross-file ports/crossfiles/armv7-linux-gnueabihf-neon.ini
                    --cross-file "$(machine_file arm-linux-gnueabihf-g++)") ;;
      cortex-m4f|cortex-m55) files=(--cross-file "ports/crossfiles/$target.ini"
                                    --cross-file "$(machine_file arm-none-eabi-g++)") ;;
      *) echo "stack_usage.sh: unknown target $target (x86_64, aarch64, armv7, cortex-m4f," \
              "cortex-m55)" >&2; exit 2 ;;
    esac
    meson setup "$dir" "${files[@]}" -Dtests=disabled -Dcli=disabled -Dio=false >/dev/null
  fi
  ninja -C "$dir" >/dev/null
  # .su lines: file:line:column:function<TAB>bytes<TAB>static|dynamic|dynamic,bounded. Objects
  # of src/core and src/kernels: core_*, kernels_* in the library, and the per-ISA and dispatch
  # libraries under src/kernels (not the benchmark helpers).
  mapfile -t su < <(find "$dir/src" -name '*.su' \( -path '*/liblsuv.so*' -name 'core_*' \
    -o -path '*/liblsuv.so*' -name 'kernels_*' -o -path '*/liblsuv.a*' -name 'core_*' \
    -o -path '*/liblsuv.a*' -name 'kernels_*' -o -path '*/liblsuv_kernels_*' \) | sort)
  if [ "${#su[@]}" -eq 0 ]; then
    echo "stack_usage.sh: $target: no .su files in $dir (is the compiler GCC?)" >&2
    exit 2
  fi
  over=$(awk -F'\t' -v limit="$limit" '$2 + 0 > limit || $3 == "dynamic" { print }' "${su[@]}")
  largest=$(sort -t$'\t' -k2,2n "${su[@]}" | tail -n 1)
  if [ -n "$over" ]; then
    echo "stack_usage.sh: $target: frames over $limit bytes (or unbounded):"
    echo "$over" | sort -t$'\t' -k2,2nr | sed 's/^/  /'
    failed=1
  else
    echo "stack_usage.sh: $target: ${#su[@]} objects, largest frame: $largest"
  fi
done
exit "$failed"
