#!/usr/bin/env bash
# Install the payment providers' own libraries the webhook tests sign and check their
# events with (tests/payments/sign.cjs): Stripe's Node library and Paddle's Node SDK, from
# npm, into target/payment-helpers/ (or $VODGATE_PAYMENT_HELPERS), once; reruns are no-ops.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${VODGATE_PAYMENT_HELPERS:-target/payment-helpers}"
if [ ! -f "$dir/node_modules/stripe/package.json" ] || [ ! -f "$dir/node_modules/@paddle/paddle-node-sdk/package.json" ]; then
  mkdir -p "$dir"
  (cd "$dir" && { [ -f package.json ] || npm init -y >/dev/null; } \
    && npm install --silent --no-audit --no-fund 'stripe@23.2.0' '@paddle/paddle-node-sdk@3.10.0')
fi
