#!/bin/sh
# The core's promise on a board, checked on the linked objects: the library refers to no heap
# (malloc and friends, operator new/delete), no exception or RTTI machinery, no threads and no
# file opening. Prints what it found and fails if any of it is referenced.
# usage: no_heap_symbols.sh NM LIBRARY.a...
set -eu
nm=$1
shift
forbidden='^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|_Zn[wa][jm].*|_Zd[la]Pv.*|__cxa_allocate_exception|__cxa_throw|__cxa_begin_catch|__gxx_personality_v0|_ZTI.*|pthread_.*|fopen|freopen|open|fclose)$'
found=$("$nm" -u "$@" | awk 'NF == 2 && $1 == "U" { print $2 }' | sort -u | grep -E "$forbidden" || true)
if [ -n "$found" ]; then
  echo "the library refers to:" $found >&2
  exit 1
fi
echo "no heap, exception, RTTI, thread or file-opening symbols in:" "$@"
