//! Memory stays bounded whatever the length: the peak resident size of a 12 s job is within a
//! few MiB of a 1 s job's (frames stream through; nothing is buffered per frame). Its own test
//! binary, since it reads the process-wide peak (`VmHWM`, reset through `/proc/self/clear_refs`).

use std::path::Path;
use std::process::Command;

use sluice_pipeline::video::{BicubicUpscaler, Container, OutputTarget, UpscaleJob, UpscaleOptions};

fn make_clip(path: &Path, seconds: u32) {
    let src = format!("testsrc2=s=320x240:r=25:d={seconds}");
    let sine = format!("sine=d={seconds}");
    let out = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", &src, "-f", "lavfi", "-i", &sine])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("running ffmpeg: {e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Peak resident size since the last reset, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| panic!("{e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/self/status"))
}

fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap_or_else(|e| panic!("resetting VmHWM: {e}"));
}

/// Upscales `input` ×2 into a WebM file and returns the peak RSS during the job.
fn job_peak(input: &Path, output: &Path) -> u64 {
    reset_peak();
    let upscaler = BicubicUpscaler::new(2).unwrap_or_else(|e| panic!("{e}"));
    let job = UpscaleJob::open(input, Box::new(upscaler), UpscaleOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let summary = job
        .run(OutputTarget::File(output.to_path_buf()), Container::WebM, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(summary.frames >= 25);
    peak_kib()
}

#[test]
fn peak_memory_does_not_grow_with_length() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (short, long) = (dir.path().join("short.mp4"), dir.path().join("long.mp4"));
    make_clip(&short, 1);
    make_clip(&long, 12);
    let out = dir.path().join("out.webm");
    job_peak(&short, &out); // warm-up: first-use allocations of FFmpeg and the allocator
    let one = job_peak(&short, &out);
    let twelve = job_peak(&long, &out);
    eprintln!("peak RSS: 1 s {one} KiB, 12 s {twelve} KiB");
    // 300 frames of 640×480 4:2:0 output held in memory would be ~135 MiB.
    assert!(twelve < one + 16 * 1024, "peak RSS: 1 s clip {one} KiB, 12 s clip {twelve} KiB");
}
