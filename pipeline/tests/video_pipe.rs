//! Streaming output: an upscale job writing WebM and fragmented MP4 into a `std::io::pipe()`,
//! as the HTTP route will, read back by ffprobe.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use sluice_pipeline::video::{BicubicUpscaler, Container, OutputTarget, UpscaleJob, UpscaleOptions};

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| panic!("running {tool}: {e}"));
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 path"))
}

#[test]
fn webm_and_fragmented_mp4_stream_through_a_pipe() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = dir.path().join("in.mp4");
    run(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48:r=25:d=1",
            "-f",
            "lavfi",
            "-i",
            "sine=d=1",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
            p(&input),
        ],
    );
    for (container, name, marker) in [(Container::WebM, "out.webm", &b"webm"[..]), (Container::Mp4, "out.mp4", b"moof")]
    {
        let upscaler = BicubicUpscaler::new(2).unwrap_or_else(|e| panic!("{e}"));
        let job =
            UpscaleJob::open(&input, Box::new(upscaler), UpscaleOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let (mut reader, writer) = std::io::pipe().unwrap_or_else(|e| panic!("{e}"));
        // The reader drains concurrently, as an HTTP body would; the pipe's buffer is small.
        let drain = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map(|_| bytes)
        });
        let summary =
            job.run(OutputTarget::Pipe(writer), container, &mut |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = drain.join().unwrap_or_else(|_| panic!("reader thread")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary.frames, 25);
        assert!(bytes.windows(marker.len()).any(|w| w == marker), "{name}: no {marker:?} in the stream");
        let out = dir.path().join(name);
        std::fs::write(&out, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let probe = run(
            "ffprobe",
            &[
                "-v",
                "error",
                "-count_frames",
                "-show_entries",
                "stream=codec_type,width,height,nb_read_frames",
                "-of",
                "csv=p=0",
                p(&out),
            ],
        );
        assert!(probe.contains("video,128,96,25"), "{name}: {probe}");
        assert!(probe.lines().any(|l| l.starts_with("audio")), "{name}: {probe}");
    }
}
