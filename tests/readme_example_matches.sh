#!/bin/sh
# The README's API example must be examples/seed_lsuv.cpp verbatim (the build compiles that file
# and the suite runs it), so the README never shows code that does not compile.
# usage: readme_example_matches.sh README.md examples/seed_lsuv.cpp
set -eu
shown=$(awk '/^```cpp$/ { inside = 1; next } inside && /^```$/ { exit } inside { print }' "$1")
if [ "$shown" = "$(cat "$2")" ]; then
  echo "README example matches $2"
else
  echo "README's first cpp block differs from $2" >&2
  exit 1
fi
