#!/usr/bin/env bash
# Installs Debian's postgresql for the ledger test against a real server (test/helpers/postgres.ts
# starts its own throwaway cluster). Idempotent.
# Never fails the caller: without root or apt, that test skips (loudly) instead.
set -uo pipefail
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && exit 0

skip() {
  echo "*** REAL POSTGRESQL LEDGER TEST WILL BE SKIPPED: $1 ***" >&2
  exit 0
}

# No sudo: prompting for a password would hang CI.
[ "$(id -u)" -eq 0 ] || skip "postgresql missing and not root (id -u = $(id -u)); run this script as root"
command -v apt-get >/dev/null || skip "postgresql missing and apt-get not available"

export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "setup-postgres: installing postgresql with apt-get..." >&2
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
  tail -n 15 "$log" >&2
  skip "apt-get install postgresql failed (see above)"
fi
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || skip "apt-get succeeded but no /usr/lib/postgresql/*/bin/initdb"
echo "setup-postgres: $(ls /usr/lib/postgresql) installed in $(($(date +%s) - start))s" >&2
