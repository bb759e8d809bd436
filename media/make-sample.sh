#!/usr/bin/env bash
# make-sample.sh — regenerate the small HLS titles vodgate serves in demos and tests.
#
# Why this exists: vodgate relays HLS for entitled viewers, and every part of it
# (playlist rewriting, key delivery, segment relay, the browser player) needs real,
# playable, *encrypted* HLS to be exercised end to end. Rather than committing
# opaque media of unknown origin, this script documents exactly how the files were
# made, so anyone can regenerate (or tweak) them with a stock ffmpeg.
#
# Output (paths relative to this script's directory, i.e. media/):
#
#   sample/                    "Sample: Test Pattern", 16 s, AES-128 encrypted
#     title.txt                human title, one line
#     enc.key                  16-byte AES-128 key (fixed bytes, see KEY_HEX below)
#     master.m3u8              master playlist: 2 variants, BANDWIDTH/RESOLUTION/CODECS
#     180p/index.m3u8          media playlist, VOD, ENDLIST, 4 x 4 s segments
#     180p/seg0.ts .. seg3.ts  320x180 H.264 Baseline + AAC-LC, MPEG-TS, AES-128-CBC
#     360p/index.m3u8          same, 640x360 H.264 Main
#     360p/seg0.ts .. seg3.ts
#   rotating/                  "Rotating keys", 24 s, AES-128 with a NEW KEY EVERY 2 SEGMENTS
#     title.txt                (key rotation as packagers do it: in CDN delivery each key
#     keys/k0.key .. k5.key     change is a request to vodgate, the point where a revoked
#     master.m3u8               viewer is stopped; see docs/cdn.md)
#     180p/index.m3u8          media playlist, VOD, 12 x 2 s segments, an EXT-X-KEY before
#     180p/seg0.ts .. seg11.ts  every second one (../keys/kN.key, IV = the sequence number)
#   trailer/                   "Trailer", 8 s, NOT encrypted (exercises the no-key path)
#     title.txt
#     master.m3u8              master playlist with a single variant
#     360p/index.m3u8          media playlist, VOD, ENDLIST, 2 x 4 s segments
#     360p/seg0.ts seg1.ts
#
# The media playlists reference the key as
#   #EXT-X-KEY:METHOD=AES-128,URI="../enc.key",IV=0x...
# i.e. with a *relative* URI, so the tree can be served from any base URL (and so
# the gateway's playlist rewriter sees a realistic `../` reference).
#
# Content: a testsrc2 / smptebars pattern with a burned-in label and running clock
# (drawtext), plus a sine tone, so a person watching the demo can see and hear
# that playback really advances. Bitrates are kept low: everything together is
# well under 2 MB.
#
# Determinism: the key bytes and IV are fixed constants, so reruns produce the same
# key and the same playlists. x264 runs single-threaded because its VBV rate control
# (used here to cap the peak bitrate) is not bit-exact across runs with threads; so
# on the same ffmpeg/x264 build reruns give byte-identical segments (different
# builds may still encode differently, and BANDWIDTH is re-measured each run).
# NOTE: a fixed, committed key is fine for demo media and nothing else.
#
# Requirements: bash, ffmpeg + ffprobe (with libx264, lavfi, drawtext), od, awk, openssl.
# Usage:        media/make-sample.sh            (from anywhere; writes next to itself)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

for tool in ffmpeg ffprobe od awk openssl; do
    command -v "$tool" >/dev/null || { echo "make-sample.sh: '$tool' not found" >&2; exit 1; }
done

# Fixed AES-128 key (16 bytes) and IV (16 bytes, hex). Demo-only secrets.
KEY_HEX="766f 6467 6174 652d 6465 6d6f 2d6b 6579"  # ASCII "vodgate-demo-key"
# IV as 32 hex digits without "0x": ffmpeg's key-info reader has room for exactly 32
# characters and itself writes IV=0x<hex> into the playlist.
IV_HEX="000102030405060708090a0b0c0d0e0f"

SEG_SECONDS=4
FPS=25
GOP=$((SEG_SECONDS * FPS))   # one IDR per segment start, so segments are exactly 4 s

# drawtext needs a font: prefer a known file, fall back to fontconfig lookup.
FONT_FILE="${FONT_FILE:-/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf}"
if [[ -f "$FONT_FILE" ]]; then
    FONT_OPT="fontfile=${FONT_FILE}"
else
    FONT_OPT="font=Sans"
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

ffq() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# write_key FILE — write the fixed 16 key bytes with printf (no xxd dependency).
write_key() {
    local hex escaped=""
    hex="$(echo "$KEY_HEX" | tr -d ' ')"
    for ((i = 0; i < ${#hex}; i += 2)); do escaped+="\\x${hex:i:2}"; done
    printf "$escaped" >"$1"
    [[ "$(wc -c <"$1")" -eq 16 ]] || { echo "key is not 16 bytes" >&2; exit 1; }
}

# encode OUTDIR SOURCE_FILTER LABEL WIDTH HEIGHT PROFILE LEVEL VBITRATE TONE_HZ SECONDS [KEYINFO]
# Encodes one rendition as an HLS VOD media playlist OUTDIR/index.m3u8 + OUTDIR/segN.ts.
encode() {
    local outdir=$1 source=$2 label=$3 w=$4 h=$5 profile=$6 level=$7 vbr=$8 tone=$9 secs=${10}
    local keyinfo=${11:-}
    local fontsize=$((h / 12))
    local vf="drawtext=${FONT_OPT}:fontsize=${fontsize}:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=4"
    vf+=":x=(w-text_w)/2:y=h-text_h-${fontsize}/2:text='${label} %{pts\\:hms}'"
    vf+=",format=yuv420p"

    rm -rf "$outdir"
    mkdir -p "$outdir"
    local hls_key=()
    [[ -n "$keyinfo" ]] && hls_key=(-hls_key_info_file "$keyinfo")

    ffq \
        -f lavfi -i "${source}=size=${w}x${h}:rate=${FPS}:duration=${secs}" \
        -f lavfi -i "sine=frequency=${tone}:sample_rate=44100:duration=${secs}" \
        -vf "$vf" \
        -map 0:v -map 1:a -map_metadata -1 \
        -c:v libx264 -threads 1 -profile:v "$profile" -level:v "$level" -preset veryfast \
        -b:v "$vbr" -maxrate "$vbr" -bufsize "$vbr" \
        -g "$GOP" -keyint_min "$GOP" -sc_threshold 0 \
        -c:a aac -b:a 48k -ac 1 \
        -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
        -f hls -hls_time "$SEG_SECONDS" -hls_list_size 0 -hls_playlist_type vod \
        -hls_flags independent_segments \
        "${hls_key[@]}" \
        -hls_segment_filename "${outdir}/seg%d.ts" \
        "${outdir}/index.m3u8"
}

# codecs OUTDIR — RFC 6381 CODECS string read from the real stream: the avc1.PPCCLL
# bytes are copied from the first SPS NAL unit (profile_idc, constraint flags,
# level_idc), audio is AAC-LC (mp4a.40.2) by construction.
codecs() {
    local sps
    sps="$(ffmpeg -hide_banner -loglevel error -nostdin -allowed_extensions ALL \
            -i "$1/index.m3u8" -map 0:v:0 -c copy -frames:v 1 -f h264 - \
        | od -An -v -tx1 -w1 | tr -d ' ' | tr '\n' ' ' \
        | grep -o '00 00 01 67 [0-9a-f][0-9a-f] [0-9a-f][0-9a-f] [0-9a-f][0-9a-f]' | head -n1)"
    [[ -n "$sps" ]] || { echo "no SPS found in $1" >&2; exit 1; }
    # shellcheck disable=SC2086
    set -- $sps
    echo "avc1.${5}${6}${7},mp4a.40.2"
}

# bandwidth OUTDIR — prints "PEAK AVERAGE" in bits/s, measured from the segment files
# (peak = max over segments of size*8/EXTINF, as RFC 8216 defines BANDWIDTH).
bandwidth() {
    local dir=$1
    awk -v dir="$dir" '
        /^#EXTINF:/ { sub(/^#EXTINF:/, ""); sub(/,.*/, ""); dur = $0 + 0; next }
        /^[^#]/ && NF {
            cmd = "wc -c < \"" dir "/" $0 "\""; cmd | getline size; close(cmd)
            bits = size * 8; tb += bits; td += dur
            rate = bits / dur; if (rate > peak) peak = rate
        }
        END { printf "%d %d\n", peak + 0.999, tb / td + 0.999 }
    ' "$dir/index.m3u8"
}

# stream_inf OUTDIR WIDTH HEIGHT — one EXT-X-STREAM-INF line + URI line for a master playlist.
stream_inf() {
    local dir=$1 w=$2 h=$3 peak avg
    read -r peak avg < <(bandwidth "$dir")
    printf '#EXT-X-STREAM-INF:BANDWIDTH=%s,AVERAGE-BANDWIDTH=%s,RESOLUTION=%sx%s,CODECS="%s",FRAME-RATE=%s.000\n%s/index.m3u8\n' \
        "$peak" "$avg" "$w" "$h" "$(codecs "$dir")" "$FPS" "$(basename "$dir")"
}

# ---------------------------------------------------------------- sample (encrypted)
mkdir -p sample
rm -rf sample/180p sample/360p sample/master.m3u8
write_key sample/enc.key
# hls_key_info_file: line 1 = key URI written verbatim into the playlist (relative to
# the media playlist, hence ../), line 2 = key file ffmpeg reads, line 3 = fixed IV.
printf '%s\n%s\n%s\n' "../enc.key" "$HERE/sample/enc.key" "$IV_HEX" >"$TMP/sample.keyinfo"
echo "Sample: Test Pattern" >sample/title.txt

encode sample/180p testsrc2 "vodgate 180p" 320 180 baseline 2.1 150k 440 16 "$TMP/sample.keyinfo"
encode sample/360p testsrc2 "vodgate 360p" 640 360 main 3.0 300k 440 16 "$TMP/sample.keyinfo"

{
    printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n'
    stream_inf sample/180p 320 180
    stream_inf sample/360p 640 360
} >sample/master.m3u8

# ---------------------------------------------------------------- trailer (clear)
mkdir -p trailer
rm -rf trailer/360p trailer/master.m3u8
echo "Trailer" >trailer/title.txt
encode trailer/360p smptebars "vodgate trailer" 640 360 main 3.0 250k 660 8
{
    printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n'
    stream_inf trailer/360p 640 360
} >trailer/master.m3u8

# ---------------------------------------------------------------- rotating (key rotation)
# Encoded clear with 2 s segments, then each segment encrypted with openssl (AES-128-CBC,
# PKCS#7 padding, as RFC 8216 section 5.2 says) under key k<n/2>, IV = its media sequence
# number; the playlist names the key again at every change. ffmpeg's muxer can rotate keys
# only by rewriting its key-info file while it runs, which is not reproducible.
mkdir -p rotating/keys
rm -rf rotating/180p rotating/keys/* rotating/master.m3u8
echo "Rotating keys" >rotating/title.txt
SEG_SECONDS=2 GOP=$((2 * FPS)) encode rotating/180p testsrc2 "vodgate rotating" 320 180 baseline 2.1 150k 550 24
{
    printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n'
    printf '#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n'
    n=0
    while [[ -f "rotating/180p/seg${n}.ts" ]]; do
        k=$((n / 2))
        key_hex="$(printf 'vodgate-rotate-%x' "$k" | od -An -v -tx1 | tr -d ' \n')"
        iv_hex="$(printf '%032x' "$n")"
        ((n % 2 == 0)) && printf "$(echo "$key_hex" | sed 's/../\\x&/g')" >"rotating/keys/k${k}.key"
        # Before every segment, since each has its own IV; players fetch a key once per URI.
        printf '#EXT-X-KEY:METHOD=AES-128,URI="../keys/k%d.key",IV=0x%s\n' "$k" "$iv_hex"
        dur="$(awk -v f="seg${n}.ts" '/^#EXTINF:/ { d = $0 } $0 == f { sub(/^#EXTINF:/, "", d); print d; exit }' rotating/180p/index.m3u8)"
        printf '#EXTINF:%s\nseg%d.ts\n' "$dur" "$n"
        openssl enc -aes-128-cbc -K "$key_hex" -iv "$iv_hex" \
            -in "rotating/180p/seg${n}.ts" -out "$TMP/seg.enc"
        mv "$TMP/seg.enc" "rotating/180p/seg${n}.ts"
        n=$((n + 1))
    done
    printf '#EXT-X-ENDLIST\n'
} >"$TMP/rotating.m3u8"
# bandwidth reads the playlist's EXTINF lines, the encrypted sizes are what is sent.
mv "$TMP/rotating.m3u8" rotating/180p/index.m3u8
{
    printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n'
    stream_inf rotating/180p 320 180
} >rotating/master.m3u8

# ---------------------------------------------------------------- sanity checks
for title in sample rotating trailer; do
    dur="$(ffprobe -v error -allowed_extensions ALL -show_entries format=duration \
            -of default=nw=1:nk=1 "$title/master.m3u8")"
    echo "$title: duration ${dur}s, $(du -sk "$title" | cut -f1) KiB"
done
