#!/usr/bin/env bash
# Fuzz the admin API against its own OpenAPI document with schemathesis: build vodgate, start
# it on the embedded store on a free loopback port with a throwaway API key, get a bearer from
# /auth/api-key, and let schemathesis generate requests for every documented operation from
# GET /openapi.json. Fails (non-zero) on a 5xx, a panic, a response whose status, content type,
# headers or body the document does not describe, invalid input accepted, or auth not enforced
# (the checks are listed in scripts/schemathesis.toml).
#
#   scripts/schemathesis.sh                      # needs `schemathesis` (pip install schemathesis==4.32.5)
#   SCHEMATHESIS_MAX_EXAMPLES=200 scripts/schemathesis.sh
#
# Bounded: at most SCHEMATHESIS_MAX_EXAMPLES cases per operation and phase (default 50) and
# SCHEMATHESIS_MAX_TIME seconds in all (default 300). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-300}"
ST="${SCHEMATHESIS:-schemathesis}"
if ! command -v "$ST" >/dev/null; then
  echo "schemathesis.sh: \`$ST\` not found; pip install 'schemathesis==4.32.5' (or set SCHEMATHESIS=/path/to/schemathesis)" >&2
  exit 2
fi

cargo build --locked --quiet --bin vodgate
bin="${CARGO_TARGET_DIR:-target}/debug/vodgate"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
key="vg_key_$(python3 -c 'import secrets; print(secrets.token_hex(8) + "_" + secrets.token_urlsafe(32))')"
base="http://127.0.0.1:${port}"

# Embedded store (no REDIS_URL), the sample media, a webhook secret (so signatures are checked,
# not just refused as unconfigured), and no throttle: schemathesis fails authentication on
# purpose thousands of times, and a 429 for everything after the tenth would test nothing.
env -u REDIS_URL -u VODGATE_CONFIG \
  VODGATE_LISTEN="127.0.0.1:${port}" \
  VODGATE_BOOTSTRAP_API_KEY="$key" \
  VODGATE_AUTH_FAILURES_PER_MINUTE=1000000000 \
  VODGATE_WEBHOOK_SECRET=whsec_schemathesis_only \
  VODGATE_DEMO=false \
  RUST_LOG="${RUST_LOG:-warn}" \
  "$bin" >"$work/vodgate.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -sf "$base/healthz" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "vodgate exited:" >&2; cat "$work/vodgate.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "$base/healthz" >/dev/null || { echo "vodgate did not start on $base" >&2; cat "$work/vodgate.log" >&2; exit 1; }

token="$(curl -sf "$base/auth/api-key" -H 'content-type: application/json' -d "{\"apiKey\":\"$key\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"

status=0
"$ST" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --request-timeout 10 \
  --generation-database none \
  --no-color \
  "$@" || status=$?

if ! kill -0 "$pid" 2>/dev/null; then
  echo "vodgate died during the run:" >&2
  status=1
fi
if [ "$status" -ne 0 ] || grep -q "panicked" "$work/vodgate.log"; then
  echo "--- vodgate log (last 50 lines) ---" >&2
  tail -n 50 "$work/vodgate.log" >&2
  grep -q "panicked" "$work/vodgate.log" && status=1
fi
exit "$status"
