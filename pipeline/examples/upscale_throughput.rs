//! End-to-end file throughput of the video pipeline (decode + luma/chroma upscale + encode +
//! mux, audio copied) with the bicubic model, and the cost of the upscale stage alone:
//! `cargo run --release -p sluice-pipeline --example upscale_throughput [SECONDS]`.
//!
//! Inputs are made with the `ffmpeg` CLI (testsrc2 + a tone, H.264/AAC): 426×240 → 1278×720
//! and 640×360 → 1920×1080, ×3, to H.264/MP4 and VP9/WebM. The real-time target is
//! ≥ 25 fps for 426×240 → 720p with ESPCN on 2 cores; these bicubic figures bound the rest of
//! the pipeline (an ESPCN frame adds its own cost on top of the bicubic one it replaces).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sluice_pipeline::video::{
    BicubicUpscaler, Colour, Container, FrameLayout, OutputTarget, Plane, PlaneMut, UpscaleJob, UpscaleOptions,
    UpscaleStage,
};

fn make_clip(path: &Path, (w, h): (usize, usize), seconds: u32) -> Result<(), Box<dyn std::error::Error>> {
    let src = format!("testsrc2=s={w}x{h}:r=25:d={seconds}");
    let sine = format!("sine=d={seconds}");
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", &src, "-f", "lavfi", "-i", &sine])
        .args(["-c:v", "libx264", "-preset", "fast", "-c:a", "aac", "-shortest"])
        .arg(path)
        .status()?;
    if !status.success() {
        return Err("ffmpeg could not make the input clip".into());
    }
    Ok(())
}

/// Best of three: milliseconds per frame of the stage alone (u8 → f32, bicubic luma and chroma, f32 → u8).
fn stage_ms((w, h): (usize, usize), scale: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let input = FrameLayout::subsampled(w, h, 1, 1);
    let output = FrameLayout::subsampled(w * scale, h * scale, 1, 1);
    let mut stage = UpscaleStage::new(Box::new(BicubicUpscaler::new(scale)?), Colour::JPEG, input, output)?;
    let y: Vec<u8> = (0..w * h).map(|i| (i * 7 % 251) as u8).collect();
    let c: Vec<u8> = (0..input.chroma.0 * input.chroma.1).map(|i| (i * 3 % 241) as u8).collect();
    let (ow, oh) = output.luma;
    let (cw, ch) = output.chroma;
    let (mut oy, mut ocb, mut ocr) = (vec![0u8; ow * oh], vec![0u8; cw * ch], vec![0u8; cw * ch]);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let n = 20;
        let t = Instant::now();
        for _ in 0..n {
            let src = [
                Plane { data: &y, stride: w, width: w, height: h },
                Plane { data: &c, stride: input.chroma.0, width: input.chroma.0, height: input.chroma.1 },
                Plane { data: &c, stride: input.chroma.0, width: input.chroma.0, height: input.chroma.1 },
            ];
            let mut dst = [
                PlaneMut { data: &mut oy, stride: ow, width: ow, height: oh },
                PlaneMut { data: &mut ocb, stride: cw, width: cw, height: ch },
                PlaneMut { data: &mut ocr, stride: cw, width: cw, height: ch },
            ];
            stage.process(src, &mut dst)?;
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e3 / f64::from(n));
    }
    Ok(best)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u32 = std::env::args().nth(1).map_or(Ok(8), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    println!("| input → output (×3) | stage alone | MP4 (x264 veryfast) | WebM (VP9 realtime) |");
    println!("|---|---|---|---|");
    for size in [(426, 240), (640, 360)] {
        let input = dir.path().join(format!("in_{}x{}.mp4", size.0, size.1));
        make_clip(&input, size, seconds)?;
        let mut fps = Vec::new();
        for (container, ext) in [(Container::Mp4, "mp4"), (Container::WebM, "webm")] {
            let job = UpscaleJob::open(&input, Box::new(BicubicUpscaler::new(3)?), UpscaleOptions::default())?;
            let out = dir.path().join(format!("out.{ext}"));
            let summary = job.run(OutputTarget::File(out), container, &mut |_| {})?;
            fps.push(summary.fps());
        }
        println!(
            "| {}×{} → {}×{} | {:.1} ms/frame | {:.1} fps | {:.1} fps |",
            size.0,
            size.1,
            size.0 * 3,
            size.1 * 3,
            stage_ms(size, 3)?,
            fps[0],
            fps[1]
        );
    }
    Ok(())
}
