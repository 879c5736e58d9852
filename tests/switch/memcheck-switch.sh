#!/bin/sh
# Runs xsp-switch ($XSP_MEMCHECK_TARGET) under valgrind memcheck for the memcheck.* tests:
# any invalid access or definite/indirect leak makes it exit 99, which the harness sees
# as a failed stop.
exec valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$XSP_MEMCHECK_TARGET" "$@"
