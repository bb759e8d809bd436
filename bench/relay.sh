#!/usr/bin/env bash
# Segment relay throughput: vodgate (full access check, Redis) vs nginx serving the same files
# directly and behind secure_link (md5 + expiry), and vodgate behind that nginx handing the
# bytes back with X-Accel-Redirect (docs/behind-nginx.md: vodgate checks, nginx sendfiles).
# wrk, 2 threads, 50 connections, 10 s each, for a ~100 KB and a ~1.5 MB segment. Prints
# req/s, MB/s, p50/p99 and each vodgate set-up / secure_link.
#
# Run: bench/relay.sh        (needs redis-server, nginx with the secure_link module, wrk, curl)
# Env: DURATION=10s CONNECTIONS=50 THREADS=2 WORKERS=2 VODGATE_LOG=warn VODGATE_BIN=(prebuilt binary)
#      VODGATE_BIN_B=(a second binary): also runs it alone ("vodgate B", same Redis, same media)
#      right after "vodgate" in each round, and prints B / A: two builds compared minutes apart
#      on a shared machine differ more than two builds compared seconds apart.
#      ROUNDS=1: the servers of each segment are run this many times, interleaved; with more
#      than one, each ratio is also printed as min / median / max over the rounds.
#      PERF=1: also `perf record -e cpu-clock` vodgate during each of its runs and print the top
#      symbols (data kept in target/bench-relay-<server>-<segment>.perf.data).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
# vodgate (actix) runs one worker per core; nginx gets as many worker processes.
WORKERS=${WORKERS:-$(nproc)}
VODGATE_LOG=${VODGATE_LOG:-warn}
ROUNDS=${ROUNDS:-1}
KEY="vg_key_$(python3 -c 'import secrets; print(secrets.token_hex(8) + "_" + secrets.token_urlsafe(32))')"
SECRET="bench-secure-link-secret"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.025; done; echo "nothing listens on $1" >&2; exit 1; }

if [ -n "${VODGATE_BIN:-}" ]; then
    BIN=$VODGATE_BIN  # a binary built earlier (e.g. to compare two commits)
else
    echo "building vodgate (release)..." >&2
    cargo build --release --quiet --bin vodgate
    BIN=$ROOT/target/release/vodgate
fi

# Bench media: a ~100 KB and a ~1.5 MB segment cut from the sample's segments.
MEDIA=$ROOT/target/bench-media
mkdir -p "$MEDIA/sample/360p"
cat media/sample/360p/seg*.ts media/sample/360p/seg*.ts media/sample/360p/seg*.ts > "$MEDIA/sample/360p/.all"
head -c 102400 "$MEDIA/sample/360p/.all" > "$MEDIA/sample/360p/seg100k.ts"
head -c 1536000 "$MEDIA/sample/360p/.all" > "$MEDIA/sample/360p/seg1500k.ts"
rm "$MEDIA/sample/360p/.all"
printf '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=409120,RESOLUTION=640x360\n360p/index.m3u8\n' > "$MEDIA/sample/master.m3u8"
printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:4.0,\nseg100k.ts\n#EXTINF:4.0,\nseg1500k.ts\n#EXT-X-ENDLIST\n' > "$MEDIA/sample/360p/index.m3u8"
echo "Bench media" > "$MEDIA/sample/title.txt"

WORK=$(mktemp -d /tmp/vodgate-bench-relay.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >/dev/null &
PIDS+=($!)
wait_port "$RPORT"

NPORT=$(free_port)
APORT=$(free_port)   # nginx in front of a second vodgate that hands segments back (X-Accel-Redirect)
V2PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat > "$WORK/nginx/nginx.conf" <<EOF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes $WORKERS;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    types { video/mp2t ts; application/vnd.apple.mpegurl m3u8; }
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/tmp;
    fastcgi_temp_path $WORK/nginx/tmp;
    uwsgi_temp_path $WORK/nginx/tmp;
    scgi_temp_path $WORK/nginx/tmp;
    server {
        listen 127.0.0.1:$NPORT;
        location /plain/ { alias $MEDIA/; }
        location /sl/ {
            secure_link \$arg_md5,\$arg_expires;
            secure_link_md5 "\$secure_link_expires\$uri $SECRET";
            if (\$secure_link = "") { return 403; }
            if (\$secure_link = "0") { return 410; }
            alias $MEDIA/;
        }
    }
    upstream vodgate_accel { server 127.0.0.1:$V2PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$APORT;
        location /_media/ { internal; alias $MEDIA/; }
        location / {
            proxy_pass http://vodgate_accel;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)
wait_port "$NPORT"

VPORT=$(free_port)
VODGATE_LISTEN=127.0.0.1:$VPORT REDIS_URL=redis://127.0.0.1:$RPORT/ VODGATE_REDIS_PREFIX=bench: \
VODGATE_BOOTSTRAP_API_KEY=$KEY VODGATE_DEFAULT_MAX_STREAMS=100 VODGATE_MEDIA_DIR=$MEDIA RUST_LOG=$VODGATE_LOG \
    "$BIN" >/dev/null 2>"$WORK/vodgate.err" &
VPID=$!
PIDS+=($VPID)
wait_port "$VPORT"
V=http://127.0.0.1:$VPORT
# The same state (Redis), so the same cookie and playback work on both instances.
VODGATE_LISTEN=127.0.0.1:$V2PORT REDIS_URL=redis://127.0.0.1:$RPORT/ VODGATE_REDIS_PREFIX=bench: \
VODGATE_BOOTSTRAP_API_KEY=$KEY VODGATE_DEFAULT_MAX_STREAMS=100 VODGATE_MEDIA_DIR=$MEDIA RUST_LOG=$VODGATE_LOG \
VODGATE_ACCEL_REDIRECT_PREFIX=/_media/ "$BIN" >/dev/null 2>"$WORK/vodgate2.err" &
V2PID=$!
PIDS+=($V2PID)
wait_port "$V2PORT"
VBPID=
if [ -n "${VODGATE_BIN_B:-}" ]; then
    VBPORT=$(free_port)
    VODGATE_LISTEN=127.0.0.1:$VBPORT REDIS_URL=redis://127.0.0.1:$RPORT/ VODGATE_REDIS_PREFIX=bench: \
    VODGATE_BOOTSTRAP_API_KEY=$KEY VODGATE_DEFAULT_MAX_STREAMS=100 VODGATE_MEDIA_DIR=$MEDIA RUST_LOG=$VODGATE_LOG \
        "$VODGATE_BIN_B" >/dev/null 2>"$WORK/vodgate-b.err" &
    VBPID=$!
    PIDS+=($VBPID)
    wait_port "$VBPORT"
fi

# Grant, launch, watch page -> cookie and /play URL.
TOKEN=$(curl -sf "$V/auth/api-key" -H 'content-type: application/json' -d "{\"apiKey\":\"$KEY\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
ENT=$(curl -sf "$V/v1/entitlements" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"viewer_id\":\"bench\",\"video_id\":\"sample\",\"order_id\":\"relay-$RPORT\"}")
ID=$(echo "$ENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
WATCH=$(echo "$ENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["watch_url"])')
COOKIE=$(curl -s -o /dev/null -D - "$WATCH" | tr -d '\r' | awk 'tolower($1)=="set-cookie:" {split($2,a,";"); print a[1]; exit}')
MASTER=$(curl -sf -H "Cookie: $COOKIE" "$V/watch/$ID" | grep -o 'data-src="[^"]*"' | head -1 | cut -d'"' -f2)
PLAY=${MASTER%/master.m3u8}
[ -n "$COOKIE" ] && [ -n "$PLAY" ] || { echo "could not get a cookie / play URL" >&2; cat "$WORK/vodgate.err" >&2; exit 1; }
# A player loads the playlists first; check they relay.
curl -sf -H "Cookie: $COOKIE" "$V$MASTER" | grep -q "$PLAY/360p/index.m3u8"
curl -sf -H "Cookie: $COOKIE" "$V$PLAY/360p/index.m3u8" | grep -q "$PLAY/360p/seg100k.ts"

# secure_link URL: md5 = base64url(md5("$expires$uri secret")) without padding.
sl_url() {
    local uri=/sl/sample/360p/$1 exp=$(( $(date +%s) + 3600 ))
    local md5; md5=$(printf '%s' "$exp$uri $SECRET" | openssl md5 -binary | base64 | tr '+/' '-_' | tr -d '=')
    echo "http://127.0.0.1:$NPORT$uri?md5=$md5&expires=$exp"
}

to_mb() { # wrk's "12.34MB" / "512.00KB" / "1.2GB" -> MB
    awk -v v="$1" 'BEGIN { n=v+0; u=v; sub(/^[0-9.]+/,"",u);
        if (u=="GB") n*=1024; else if (u=="KB") n/=1024; else if (u=="B") n/=1048576; printf "%.1f", n }'
}
to_ms() { # wrk's "1.23ms" / "456.00us" / "1.20s" -> ms
    awk -v v="$1" 'BEGIN { n=v+0; u=v; sub(/^[0-9.]+/,"",u);
        if (u=="us") n/=1000; else if (u=="s") n*=1000; else if (u=="m") n*=60000; printf "%.3f", n }'
}

declare -A RPS MBS P50 P99
run() { # name url [cookie]
    local name=$1 url=$2 out
    local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)
    [ -n "${3:-}" ] && args+=(-H "Cookie: $3")
    code=$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "Cookie: $3"} "$url")
    [ "$code" = 200 ] || { echo "$name: $url answers $code" >&2; exit 1; }
    wrk "${args[@]}" -d2s "$url" >/dev/null  # warm-up
    local perf_pid=
    local ppid=
    case "$name" in "vodgate B"*) ppid=$VBPID ;; vodgate*) ppid=$VPID ;; nginx+vodgate*) ppid=$V2PID ;; esac
    if [ -n "${PERF:-}" ] && [ -n "$ppid" ]; then
        perf record -q -e cpu-clock -F 499 -p "$ppid" -o "$ROOT/target/bench-relay-${name//[ +]/-}.perf.data" 2>/dev/null &
        perf_pid=$!
    fi
    out=$(wrk "${args[@]}" "$url")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
        perf report -i "$ROOT/target/bench-relay-${name//[ +]/-}.perf.data" --stdio --no-children --sort dso,sym 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -25 | sed 's/^/      perf: /' || true  # head closes the pipe early
    fi
    if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "$out" | grep "Non-2xx\|Socket errors" | sed "s/^/  $name: /" >&2; fi
    RPS[$name]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    MBS[$name]=$(to_mb "$(echo "$out" | awk '/^Transfer\/sec/ {print $2}')")
    P50[$name]=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
    P99[$name]=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
    printf '  %-30s %10.0f req/s %9s MB/s   p50 %8s ms   p99 %8s ms\n' "$name" "${RPS[$name]}" "${MBS[$name]}" "${P50[$name]}" "${P99[$name]}"
}

echo "segment relay: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $(nproc) cores shared by wrk and the server"
echo "nginx: worker_processes $WORKERS (= vodgate's actix workers, one per core), sendfile on, access_log off"
echo "vodgate: release, REDIS_URL (local redis-server), RUST_LOG=$VODGATE_LOG, full check per request (cookie, entitlement, stream place)"
[ -n "$VBPID" ] && echo "vodgate B: $VODGATE_BIN_B (vodgate: $BIN)"
ratio() { # label a b: req/s and MB/s of a / b, p50 and p99 added, the targets when b is secure_link
    local label=$1 a=$2 b=$3
    awk -v who="$label" -v r1="${RPS[$a]}" -v r2="${RPS[$b]}" -v m1="${MBS[$a]}" -v m2="${MBS[$b]}" -v p1="${P99[$a]}" -v p2="${P99[$b]}" -v q1="${P50[$a]}" -v q2="${P50[$b]}" -v sl="$([[ $b == "nginx secure_link"* ]] && echo 1)" 'BEGIN {
        rr = r1 / r2; mr = m1 / m2; add = p1 - p2;
        printf "  %s: req/s %.2fx  MB/s %.2fx  p50 %+.3f ms  p99 added %+.3f ms\n", who, rr, mr, q1 - q2, add;
        if (sl) printf "    targets: req/s >= 0.9x %s, MB/s >= 0.9x %s, p99 added <= 1 ms %s\n",
            (rr >= 0.9 ? "met" : "NOT met"), (mr >= 0.9 ? "met" : "NOT met"), (add <= 1 ? "met" : "NOT met") }'
    RATIOS[$label]+="$(awk -v r1="${RPS[$a]}" -v r2="${RPS[$b]}" 'BEGIN { printf "%.3f ", r1 / r2 }')"
}
declare -A RATIOS
for seg in seg100k.ts seg1500k.ts; do
    size=$(stat -c %s "$MEDIA/sample/360p/$seg")
    echo "$seg ($((size / 1024)) KB):"
    labels=()
    for round in $(seq "$ROUNDS"); do
        r=; [ "$ROUNDS" -gt 1 ] && { r=" #$round"; echo " round $round:"; }
        run "nginx plain $seg$r" "http://127.0.0.1:$NPORT/plain/sample/360p/$seg"
        run "nginx secure_link $seg$r" "$(sl_url "$seg")"
        run "vodgate $seg$r" "$V$PLAY/360p/$seg" "$COOKIE"
        [ -n "$VBPID" ] && run "vodgate B $seg$r" "http://127.0.0.1:$VBPORT$PLAY/360p/$seg" "$COOKIE"
        run "nginx+vodgate $seg$r" "http://127.0.0.1:$APORT$PLAY/360p/$seg" "$COOKIE"
        labels=()
        for who in "vodgate" ${VBPID:+"vodgate B"} "nginx+vodgate"; do
            ratio "$who / nginx secure_link $seg" "$who $seg$r" "nginx secure_link $seg$r"
            labels+=("$who / nginx secure_link $seg")
        done
        if [ -n "$VBPID" ]; then
            ratio "vodgate B / vodgate $seg" "vodgate B $seg$r" "vodgate $seg$r"
            labels+=("vodgate B / vodgate $seg")
        fi
    done
    if [ "$ROUNDS" -gt 1 ]; then
        echo " over $ROUNDS rounds, req/s ratio min / median / max:"
        for l in "${labels[@]}"; do
            echo "${RATIOS[$l]}" | tr ' ' '\n' | grep . | sort -n | awk -v l="$l" '{ v[NR] = $1 }
                END { printf "  %-45s %.2f / %.2f / %.2f\n", l, v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[NR] }'
        done
    fi
done
