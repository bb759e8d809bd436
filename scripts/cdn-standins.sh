#!/usr/bin/env bash
# Install the independent token implementations the CDN tests check vodgate's tokens with
# (tests/cdn/): Akamai's akamai-edgeauth, cryptography and botocore from PyPI in a venv, and
# Eyevinn's @eyevinn/cat from npm. Into target/cdn-standins/ (or $VODGATE_CDN_STANDINS),
# once; reruns are no-ops. Needs python3 (with venv) and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${VODGATE_CDN_STANDINS:-target/cdn-standins}"
mkdir -p "$dir"
if [ ! -x "$dir/venv/bin/python" ] || ! "$dir/venv/bin/python" -c 'import akamai.edgeauth, botocore, cryptography' 2>/dev/null; then
  rm -rf "$dir/venv"
  if ! python3 -m venv "$dir/venv" 2>/dev/null; then
    # Debian's own python3 keeps venv (ensurepip) in a separate package.
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
      rm -rf "$dir/venv"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$dir/venv"
    else
      echo "scripts/cdn-standins.sh: python3 -m venv failed; install python3-venv (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  "$dir/venv/bin/pip" install -q 'akamai-edgeauth==0.3.2' 'cryptography==50.0.2' 'botocore==1.44.8'
fi
if [ ! -f "$dir/node/node_modules/@eyevinn/cat/package.json" ]; then
  mkdir -p "$dir/node"
  (cd "$dir/node" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund '@eyevinn/cat@0.16.4')
fi
