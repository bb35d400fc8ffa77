#!/usr/bin/env bash
# Installs the Debian packages some tests need, in one apt-get run, when they are missing:
# chromium (the Temporal UI and HTML report browser tests) and postgresql (the ledger test against
# a real server; test/helpers/postgres.ts starts its own throwaway cluster). Idempotent.
# Never fails the caller: without root or apt, the tests that need a missing package skip (loudly).
set -uo pipefail

# package, then the path that shows it is installed, then who skips without it
wanted=(
  "chromium|/usr/bin/chromium|BROWSER TESTS"
  "postgresql|/usr/lib/postgresql/*/bin/initdb|REAL POSTGRESQL LEDGER TEST"
)
missing=()
for w in "${wanted[@]}"; do
  IFS='|' read -r pkg path _ <<<"$w"
  compgen -G "$path" >/dev/null || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

skip() {
  for w in "${wanted[@]}"; do
    IFS='|' read -r pkg path who <<<"$w"
    compgen -G "$path" >/dev/null || echo "*** $who WILL BE SKIPPED: $pkg: $1 ***" >&2
  done
  exit 0
}

# No sudo: prompting for a password would hang CI.
[ "$(id -u)" -eq 0 ] || skip "missing and not root (id -u = $(id -u)); run this script as root"
command -v apt-get >/dev/null || skip "missing and apt-get not available"

export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "setup-debian: installing ${missing[*]} with apt-get..." >&2
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 15 "$log" >&2
  skip "apt-get install failed (see above)"
fi
echo "setup-debian: ${missing[*]} installed in $(($(date +%s) - start))s" >&2
for w in "${wanted[@]}"; do
  IFS='|' read -r pkg path _ <<<"$w"
  compgen -G "$path" >/dev/null || skip "apt-get succeeded but $path is still missing"
done
