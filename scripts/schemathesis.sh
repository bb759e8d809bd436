#!/usr/bin/env bash
# Fuzz the admin API against its own OpenAPI document with schemathesis: build vodgate, start
# it on the embedded store on a free loopback port with a throwaway API key, get a bearer from
# /auth/api-key, and let schemathesis generate requests for every documented operation from
# GET /openapi.json. Fails (non-zero) on a 5xx, a panic, a response whose status, content type,
# headers or body the document does not describe, invalid input accepted, or auth not enforced
# (the checks are listed in scripts/schemathesis.toml).
#
# Two passes: (1) every operation, with the local origin (the upload-token operations answer
# 404 `not_configured` there); (2) the upload-token operations again, with the api.video origin
# pointed at apivideo-sim (the workspace's stand-in for api.video, also on loopback).
#
#   scripts/schemathesis.sh                      # needs `schemathesis` (pip install schemathesis==4.32.5)
#   SCHEMATHESIS_MAX_EXAMPLES=200 scripts/schemathesis.sh
#   scripts/schemathesis.sh --include-tag entitlements   # extra arguments go to `schemathesis run`
#
# Bounded: at most SCHEMATHESIS_MAX_EXAMPLES cases per operation and phase (default 50),
# SCHEMATHESIS_MAX_TIME seconds for pass 1 (default 300) and SCHEMATHESIS_UPLOADS_MAX_TIME for
# pass 2 (default 90; 0 skips it). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-300}"
UPLOADS_MAX_TIME="${SCHEMATHESIS_UPLOADS_MAX_TIME:-90}"
ST="${SCHEMATHESIS:-schemathesis}"
if ! command -v "$ST" >/dev/null; then
  echo "schemathesis.sh: \`$ST\` not found; pip install 'schemathesis==4.32.5' (or set SCHEMATHESIS=/path/to/schemathesis)" >&2
  exit 2
fi

cargo build --locked --quiet --bin vodgate
cargo build --locked --quiet -p apivideo-sim --bin apivideo-sim
bin_dir="${CARGO_TARGET_DIR:-target}/debug"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
key="vg_key_$(python3 -c 'import secrets; print(secrets.token_hex(8) + "_" + secrets.token_urlsafe(32))')"

# start_vodgate LOG [VAR=value…]: vodgate on a free port with the embedded store (no REDIS_URL),
# this run's API key, webhook secrets for vodgate's and the providers' endpoints (so
# signatures are checked, not just refused as unconfigured) and no throttle (schemathesis fails authentication on purpose thousands of
# times; a 429 for everything after the tenth would test nothing). Sets `base` and `vg_pid`.
start_vodgate() {
  local log="$1"
  shift
  local port
  port="$(free_port)"
  base="http://127.0.0.1:${port}"
  env -u REDIS_URL -u VODGATE_CONFIG \
    VODGATE_LISTEN="127.0.0.1:${port}" \
    VODGATE_BOOTSTRAP_API_KEY="$key" \
    VODGATE_AUTH_FAILURES_PER_MINUTE=1000000000 \
    VODGATE_WEBHOOK_SECRET=whsec_schemathesis_only \
    VODGATE_STRIPE_WEBHOOK_SECRET=whsec_schemathesis_only \
    VODGATE_PADDLE_WEBHOOK_SECRET=pdl_schemathesis_only \
    VODGATE_LEMONSQUEEZY_WEBHOOK_SECRET=ls_schemathesis_only \
    VODGATE_DEMO=false \
    RUST_LOG="${RUST_LOG:-warn}" \
    "$@" \
    "$bin_dir/vodgate" >"$log" 2>&1 &
  vg_pid=$!
  pids+=("$vg_pid")
  for _ in $(seq 1 100); do
    curl -sf "$base/healthz" >/dev/null && return 0
    kill -0 "$vg_pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "vodgate did not start on $base:" >&2
  cat "$log" >&2
  exit 1
}

# fuzz LOG MAX_TIME [schemathesis args…]: one schemathesis run against the vodgate at `base`.
fuzz() {
  local log="$1" max_time="$2"
  shift 2
  local token rc=0
  token="$(curl -sf "$base/auth/api-key" -H 'content-type: application/json' -d "{\"apiKey\":\"$key\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
  "$ST" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
    --header "Authorization: Bearer $token" \
    --max-examples "$MAX_EXAMPLES" \
    --max-time "$max_time" \
    --request-timeout 10 \
    --generation-database none \
    --no-color \
    "$@" || rc=$?
  if ! kill -0 "$vg_pid" 2>/dev/null; then
    echo "vodgate died during the run" >&2
    rc=1
  fi
  if grep -q "panicked" "$log"; then
    echo "vodgate panicked during the run" >&2
    rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    echo "--- vodgate log (last 50 lines) ---" >&2
    tail -n 50 "$log" >&2
  fi
  return "$rc"
}

status=0

echo "=== schemathesis pass 1: every operation, local origin ==="
start_vodgate "$work/vodgate-local.log"
fuzz "$work/vodgate-local.log" "$MAX_TIME" "$@" || status=$?

if [ "$UPLOADS_MAX_TIME" -gt 0 ]; then
  echo "=== schemathesis pass 2: upload tokens, api.video origin (apivideo-sim) ==="
  sim_port="$(free_port)"
  "$bin_dir/apivideo-sim" --listen "127.0.0.1:${sim_port}" --media media --api-key sim-api-key \
    --rate-limit 1000000000 >"$work/sim.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:${sim_port}/" && break
    sleep 0.1
  done
  start_vodgate "$work/vodgate-apivideo.log" \
    VODGATE_ORIGIN=apivideo APIVIDEO_API_KEY=sim-api-key APIVIDEO_BASE_URL="http://127.0.0.1:${sim_port}"
  fuzz "$work/vodgate-apivideo.log" "$UPLOADS_MAX_TIME" --include-tag uploads "$@" || status=$?
fi

exit "$status"
