#!/usr/bin/env bash
# Reproduce the vendored hls.js: static/hls.min.js and static/hls.LICENSE come from the
# npm package `hls.js` at the version below (fetched with the ordinary npm client, no CDN).
# vodgate serves these bytes itself (src/routes/static_files.rs embeds them at build time),
# so the watch page works under `script-src 'self'` and without any third-party host.
#
# Upgrade: change HLS_VERSION, run this script, check `git diff --stat static/`, run the
# browser tests (tests/api/browser.rs), commit.
set -euo pipefail

HLS_VERSION=1.7.4

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "hls.js@${HLS_VERSION}" >/dev/null
tar xzf "hls.js-${HLS_VERSION}.tgz"

cp package/dist/hls.min.js "$here/hls.min.js"
cp package/LICENSE "$here/hls.LICENSE"
echo "hls.js ${HLS_VERSION}" >"$here/hls.VERSION"
echo "vendored hls.js ${HLS_VERSION} into ${here}"
