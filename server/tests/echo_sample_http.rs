//! `GET /v1/echo/sample` on a real socket: the clip comes as asked (ffprobe counts its frames and
//! reads its size, codec and rate), holds the simulator's cluttered frames, is the clip
//! `sluice simulate-echo --format mp4` writes, is the same for the same seed, and bad queries
//! get JSON 400s.

mod media;

use media::{luma, p, request, start, tempdir, tool, video_stream as probe};
use std::path::Path;
use std::process::Command;

fn simulate(dir: &Path, extra: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["simulate-echo", "--out", p(dir), "--seed", "5", "--frames", "10", "--size", "64"])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_are_the_simulated_clip_as_asked_and_bad_queries_are_refused() {
    let dir = tempdir();
    let spool = tempdir();
    let (addr, _stop) = start(spool.path()).await;
    let get = |query: &str| {
        let path = format!("/v1/echo/sample?{query}");
        async move { request(addr, "GET", &path, b"").await }
    };

    let mut pictures = Vec::new();
    for (query, name, codec, rate) in [
        ("seed=5&frames=10&size=64&format=mp4", "a.mp4", "h264", "30/1"),
        ("seed=5&frames=10&size=64&format=webm&fps=25", "b.webm", "vp9", "25/1"),
        ("seed=5&frames=10&size=64&format=mp4", "c.mp4", "h264", "30/1"),
        ("seed=6&frames=10&size=64&format=mp4", "d.mp4", "h264", "30/1"),
    ] {
        let r = get(query).await;
        assert_eq!(r.status, 200, "{query}: {}", String::from_utf8_lossy(&r.body));
        let ty = if codec == "vp9" { "video/webm" } else { "video/mp4" };
        assert_eq!(r.headers.get("content-type").map(String::as_str), Some(ty), "{query}");
        assert_eq!(r.headers.get("sluice-frames").map(String::as_str), Some("10"), "{query}");
        assert_eq!(r.headers.get("sluice-output-size").map(String::as_str), Some("64x64"), "{query}");
        assert!(r.headers.contains_key("sluice-job"), "{query}");
        let path = dir.path().join(name);
        std::fs::write(&path, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = probe(&path);
        assert_eq!((v["codec_name"].as_str(), v["pix_fmt"].as_str()), (Some(codec), Some("yuv420p")), "{v}");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64(), v["nb_read_frames"].as_str(), v["r_frame_rate"].as_str()),
            (Some(64), Some(64), Some("10"), Some(rate)),
            "{query}"
        );
        pictures.push(luma(&path));
    }
    assert_eq!(pictures[0], pictures[2], "the same seed gives the same pictures");
    assert_ne!(pictures[0], pictures[3], "another seed gives another clip");

    // The clip `sluice simulate-echo --format mp4` writes for the same settings.
    let cli = tempdir();
    simulate(cli.path(), &["--format", "mp4"]);
    assert_eq!(luma(&cli.path().join("clip_000005.mp4")), pictures[0], "route and CLI differ");

    // Lossless, the pictures are the simulator's cluttered frames (its PNGs), to rounding
    // through limited-range luma.
    let r = get("seed=5&frames=10&size=64&format=mp4&crf=0").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let lossless = dir.path().join("lossless.mp4");
    std::fs::write(&lossless, &r.body).unwrap_or_else(|e| panic!("{e}"));
    simulate(cli.path(), &["--format", "png"]);
    let pattern = cli.path().join("clip_000005/cluttered/%03d.png");
    let png =
        tool("ffmpeg", &["-v", "error", "-nostdin", "-i", p(&pattern), "-f", "rawvideo", "-pix_fmt", "gray", "-"]);
    let got = luma(&lossless);
    assert_eq!(got.len(), png.len());
    let max = got.iter().zip(&png).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(255);
    assert!(max <= 2, "max |sample − simulator| = {max} grey levels");
    assert!(png.iter().any(|&v| v > 100), "the clip is not blank");

    for bad in ["frames=1", "frames=97", "size=31", "size=300", "fps=0", "fps=121", "format=avi", "seed=-1", "crf=64"] {
        let r = get(bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["code"], "bad_parameter", "{bad}");
    }
    assert!(media::entries(spool.path()).is_empty(), "nothing spooled");
}
