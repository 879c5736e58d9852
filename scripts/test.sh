#!/bin/bash
# scripts/test.sh [CTEST_ARGS...]
#
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. installs missing Debian packages (scripts/deps.sh)
#   2. builds build/ and runs ctest on it
#   3. builds build-asan/ with -DXSP_SANITIZE=ON (AddressSanitizer + UBSan) and runs ctest
#      on it with leak detection; any sanitizer report fails the test that produced it
# Exits non-zero if any phase fails and says which.  CTEST_ARGS go to both ctest runs
# (e.g. -R wire).  Environment:
#   XSP_TEST_SKIP_ASAN=1  skip phase 3 for a quick local run (ignored when CI=true)
#   XSP_TEST_JOBS=N       ctest parallelism (default 2)
#   XSP_TEST_TIMEOUT=S    default per-test timeout in seconds (default 300)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

jobs=${XSP_TEST_JOBS:-2}
timeout=${XSP_TEST_TIMEOUT:-300}
summary=()
total_passed=0
total_failed=0
t0=$SECONDS

say() { echo "test.sh: $*" >&2; }

finish() {  # finish [FAILED_PHASE]
  echo
  echo "== test.sh summary =="
  local line
  for line in "${summary[@]}"; do echo "$line"; done
  echo "total time: $((SECONDS - t0)) s"
  echo "total: $total_passed passed, $total_failed failed"
  if [ $# -gt 0 ]; then
    echo "test.sh: FAILED in phase: $1"
    exit 1
  fi
  exit 0
}

phase_failed() {  # phase_failed NAME: a summary line unless run_suite already wrote one
  say "FAILED phase: $1"
  case "${summary[*]}" in *"$1"*) ;; *) summary+=("$(printf '%-22s FAILED' "$1")") ;; esac
  finish "$1"
}

# run_suite BUILD_DIR LABEL: ctest on BUILD_DIR; records the counts; returns ctest's status.
run_suite() {
  local dir=$1 label=$2 start=$SECONDS log rc line
  log="$dir/ctest-output.log"
  echo
  echo "== $label: ctest --no-tests=error --test-dir $dir =="
  ctest --no-tests=error --test-dir "$dir" --output-on-failure -j "$jobs" --timeout "$timeout" "${ctest_args[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # "100% tests passed, 0 tests failed out of 12"
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    local failed total
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    total_passed=$((total_passed + total - failed))
    total_failed=$((total_failed + failed))
  elif grep -q 'No tests were found' "$log"; then
    line="no tests found"
  else
    line="no ctest summary (ctest exit $rc)"
  fi
  summary+=("$(printf '%-22s %s (%d s)' "$label" "$line" $((SECONDS - start)))")
  return "$rc"
}

# sanitize_arg DIR ON|OFF: "-DXSP_SANITIZE=..." unless DIR is already configured that way.
# (No needless re-configure: it is slower and noisier than a plain incremental build.)
sanitize_arg() {
  local cur
  cur=$(sed -n 's/^XSP_SANITIZE:BOOL=//p' "$1/CMakeCache.txt" 2>/dev/null || true)
  [ "$cur" = "$2" ] || echo "-DXSP_SANITIZE=$2"
}

ctest_args=("$@")

# Phase 1: packages.
bash scripts/deps.sh || phase_failed "deps (scripts/deps.sh)"
export XSP_SKIP_DEPS=1

# Phase 2: plain build + suite.
s=$SECONDS
# shellcheck disable=SC2046  # sanitize_arg prints zero or one word
bash scripts/build.sh build $(sanitize_arg build OFF) || phase_failed "build (build/)"
summary+=("$(printf '%-22s ok (%d s)' "build (build/)" $((SECONDS - s)))")
run_suite build "tests (build/)" || phase_failed "tests (build/)"

# Phase 3: sanitizer build + suite.
if [ "${XSP_TEST_SKIP_ASAN:-0}" = 1 ] && [ "${CI:-}" != true ]; then
  say "skipping the ASan/UBSan phase (XSP_TEST_SKIP_ASAN=1)"
  summary+=("$(printf '%-22s SKIPPED (XSP_TEST_SKIP_ASAN=1)' "asan (build-asan/)")")
  finish
fi
[ "${XSP_TEST_SKIP_ASAN:-0}" = 1 ] && say "CI=true: ignoring XSP_TEST_SKIP_ASAN=1, running the ASan/UBSan phase"

s=$SECONDS
# shellcheck disable=SC2046
bash scripts/build.sh build-asan $(sanitize_arg build-asan ON) || phase_failed "build (build-asan/)"
summary+=("$(printf '%-22s ok (%d s)' "build (build-asan/)" $((SECONDS - s)))")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan "tests (build-asan/)" || phase_failed "tests (build-asan/)"

finish
