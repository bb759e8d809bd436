//! Playlist rewrite cost: a 1,200-segment media playlist and a 10-variant master through
//! `vodgate::media::hls::rewrite::rewrite_playlist`, next to a baseline on the same text measured in
//! the same run (`str::replace` of the segment lines, the least any rewrite must do: one
//! pass over the input, one output allocation). Criterion prints its own figures; the
//! summary at the end prints medians, the ratio to the baseline and the 50 µs target.
//!
//! Run: `cargo bench --bench rewrite` (add `-- --quick` for a shorter criterion run).

use criterion::Criterion;
use std::hint::black_box;
use std::time::{Duration, Instant};
use url::Url;
use vodgate::media::hls::rewrite::{RewriteContext, UriPlan, rewrite_playlist};

const PREFIX: &str = "/play/pb_0123456789abcdef0123456789abcdef/";

/// A typical packager media playlist with `n` 4-second segments and a key.
fn media_playlist(n: usize) -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXT-X-KEY:METHOD=AES-128,URI=\"../enc.key\",IV=0x000102030405060708090a0b0c0d0e0f\n",
    );
    for i in 0..n {
        s.push_str(&format!("#EXTINF:4.000000,\nseg{i}.ts\n"));
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

/// A master with `n` variants, an audio rendition group and I-frame playlists.
fn master_playlist(n: usize) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    s.push_str("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"audio/en/index.m3u8\"\n");
    for i in 0..n {
        let h = 144 + 108 * i;
        s.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{h},CODECS=\"avc1.4d401e,mp4a.40.2\",FRAME-RATE=25.000,AUDIO=\"aac\"\n{h}p/index.m3u8\n",
            250_000 * (i + 1),
            230_000 * (i + 1),
            h * 16 / 9,
        ));
        s.push_str(&format!(
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={},URI=\"{h}p/iframes.m3u8\"\n",
            50_000 * (i + 1)
        ));
    }
    s
}

struct Case {
    name: &'static str,
    text: String,
    playlist_url: Url,
    /// What the baseline replaces: every URI line starts with this after a newline.
    baseline_from: &'static str,
    baseline_to: String,
}

fn median(mut f: impl FnMut(), total: Duration) -> Duration {
    // Batches of 100 calls; median batch, per call.
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < total || samples.len() < 11 {
        let t = Instant::now();
        for _ in 0..100 {
            f();
        }
        samples.push(t.elapsed() / 100);
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let base = Url::parse("file:///srv/media/sample/").unwrap();
    let cases = [
        Case {
            name: "media 1200 segments",
            text: media_playlist(1200),
            playlist_url: base.join("360p/index.m3u8").unwrap(),
            baseline_from: "\nseg",
            baseline_to: format!("\n{PREFIX}360p/seg"),
        },
        Case {
            name: "master 10 variants",
            text: master_playlist(10),
            playlist_url: base.join("master.m3u8").unwrap(),
            baseline_from: "\n",
            baseline_to: format!("\n{PREFIX}"),
        },
    ];
    let mut c = Criterion::default().configure_from_args();
    for case in &cases {
        let ctx = RewriteContext {
            asset_base: &base,
            playlist_url: &case.playlist_url,
            plan: UriPlan::gateway(PREFIX),
        };
        let out = rewrite_playlist(&case.text, &ctx).expect("rewrites");
        assert!(out.contains(PREFIX));
        let mut g = c.benchmark_group(case.name);
        g.throughput(criterion::Throughput::Bytes(case.text.len() as u64));
        g.bench_function("rewrite_playlist", |b| {
            b.iter(|| rewrite_playlist(black_box(&case.text), &ctx).unwrap())
        });
        g.bench_function("baseline str::replace", |b| {
            b.iter(|| black_box(&case.text).replace(case.baseline_from, &case.baseline_to))
        });
        g.finish();
    }
    c.final_summary();

    println!("\nsummary (median of 100-call batches, same run):");
    for case in &cases {
        let ctx = RewriteContext {
            asset_base: &base,
            playlist_url: &case.playlist_url,
            plan: UriPlan::gateway(PREFIX),
        };
        let budget = Duration::from_millis(if std::env::args().any(|a| a == "--quick") {
            300
        } else {
            1500
        });
        let rw = median(
            || drop(black_box(rewrite_playlist(black_box(&case.text), &ctx))),
            budget,
        );
        let bl = median(
            || {
                drop(black_box(
                    black_box(&case.text).replace(case.baseline_from, &case.baseline_to),
                ))
            },
            budget,
        );
        println!(
            "  {:<22} {:>6} bytes  rewrite_playlist {:>8.2} µs  baseline str::replace {:>8.2} µs  ratio {:.2}x",
            case.name,
            case.text.len(),
            us(rw),
            us(bl),
            us(rw) / us(bl)
        );
        if case.name.starts_with("media") {
            println!(
                "  target <= 50 µs for the 1,200-segment playlist: {}",
                if us(rw) <= 50.0 { "met" } else { "NOT met" }
            );
        }
    }
}
