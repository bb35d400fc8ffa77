#!/usr/bin/env bash
# `npm test`: the tools, then the type check and lint beside the test run (the first test files
# mostly wait on servers and timeouts, so the checks' ~20 s of one core cost no wall time), then
# the summary line, printed whether or not something failed. Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-tools.sh && bash scripts/setup-debian.sh || exit 1
mkdir -p test-output
# The test processes and everything they start keep V8's compiled code for the packages they load,
# so each of the many processes after the first spends less CPU starting.
export NODE_COMPILE_CACHE="$PWD/test-output/node-compile-cache"
checks_log=test-output/static-checks.log
{ npx tsc --noEmit && npm run --silent lint; } >"$checks_log" 2>&1 &
checks_pid=$!
npx vitest run "$@"
tests=$?
wait "$checks_pid"
checks=$?
cat "$checks_log"
if [ "$checks" -eq 0 ]; then echo "type check and lint: passed"; else echo "type check and lint: FAILED (exit $checks)"; fi
node scripts/test-summary.mjs || tests=1
[ "$tests" -eq 0 ] && [ "$checks" -eq 0 ]
