//! `sluice upscale` end to end: the real binary on clips and images made by the `ffmpeg` CLI,
//! outputs probed with `ffprobe` and decoded back with `ffmpeg`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// Runs a tool, requiring success; returns stdout.
fn tool(name: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(out.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `ffmpeg -y -v error ARGS…`.
fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["-y", "-v", "error", "-nostdin"];
    all.extend_from_slice(args);
    tool("ffmpeg", &all)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

/// A 64×48, 25 fps, 1 s test pattern with a 440 Hz tone (AAC) in MP4; `extra` goes before the output.
fn make_clip(path: &Path, extra: &[&str]) {
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=25:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=1:r=44100",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
    ];
    args.extend_from_slice(extra);
    args.push(p(path));
    ffmpeg(&args);
}

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("upscale")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running sluice: {e}"))
}

/// Runs `sluice upscale IN OUT --scale N EXTRA…`, requiring success; returns stdout.
fn upscale_ok(input: &Path, output: &Path, scale: u32, extra: &[&str]) -> String {
    let scale = scale.to_string();
    let mut args = vec![p(input), p(output), "--scale", &scale];
    args.extend_from_slice(extra);
    let out = sluice(&args);
    assert!(out.status.success(), "sluice upscale {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// ffprobe's JSON for a file, frames counted.
fn probe(path: &Path) -> Value {
    let out =
        tool("ffprobe", &["-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", p(path)]);
    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("ffprobe JSON: {e}"))
}

fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"].as_array()?.iter().find(|s| s["codec_type"] == kind)
}

fn video(probe: &Value) -> &Value {
    stream(probe, "video").unwrap_or_else(|| panic!("no video stream: {probe}"))
}

fn num(v: &Value, key: &str) -> f64 {
    match &v[key] {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("{key}={s} is not a number")),
        other => panic!("{key} missing: {other}"),
    }
}

fn size(v: &Value) -> (u64, u64) {
    (num(v, "width") as u64, num(v, "height") as u64)
}

/// Stream duration, else the container's.
fn duration(probe: &Value, s: &Value) -> f64 {
    if s["duration"].is_string() { num(s, "duration") } else { num(&probe["format"], "duration") }
}

/// The first frame of `path` decoded by ffmpeg (autorotated) and scaled to `w×h`, as grey bytes.
fn grey_frame(path: &Path, w: u32, h: u32) -> Vec<u8> {
    let scale = format!("scale={w}:{h}:flags=area,format=gray");
    ffmpeg(&["-i", p(path), "-frames:v", "1", "-vf", &scale, "-f", "rawvideo", "-"])
}

/// The mean R, G, B of `path`'s first frame as ffmpeg decodes it (its declared range honoured).
fn mean_rgb(path: &Path) -> [f64; 3] {
    let rgb = ffmpeg(&["-i", p(path), "-frames:v", "1", "-vf", "format=rgb24", "-f", "rawvideo", "-"]);
    let n = (rgb.len() / 3) as f64;
    let mut sum = [0.0; 3];
    for px in rgb.chunks_exact(3) {
        for k in 0..3 {
            sum[k] += f64::from(px[k]);
        }
    }
    sum.map(|s| s / n)
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-10)).log10()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")).file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn mp4_keeps_frames_rate_duration_and_copies_audio() {
    let dir = tempdir();
    let (input, output) = (dir.path().join("in.mp4"), dir.path().join("out.mp4"));
    make_clip(&input, &[]);
    let stdout = upscale_ok(&input, &output, 3, &[]);
    assert!(stdout.contains("audio Copied") && stdout.contains("fps"), "{stdout}");

    let (src, out) = (probe(&input), probe(&output));
    let (sv, ov) = (video(&src), video(&out));
    assert_eq!(ov["codec_name"], "h264");
    assert_eq!(size(ov), (192, 144));
    assert_eq!(num(ov, "nb_read_frames"), num(sv, "nb_read_frames"));
    assert_eq!(num(ov, "nb_read_frames"), 25.0);
    assert_eq!(ov["avg_frame_rate"], sv["avg_frame_rate"]);
    assert!((duration(&out, ov) - duration(&src, sv)).abs() < 1e-3, "{ov} vs {sv}");
    let (sa, oa) = (stream(&src, "audio"), stream(&out, "audio"));
    let (sa, oa) = (sa.unwrap_or_else(|| panic!("input audio")), oa.unwrap_or_else(|| panic!("no audio: {out}")));
    assert_eq!(oa["codec_name"], "aac");
    assert_eq!(num(oa, "nb_read_frames"), num(sa, "nb_read_frames"), "copied packet for packet");
    assert!((duration(&out, oa) - duration(&src, sa)).abs() < 1e-3);
    // +faststart: the index comes before the media data.
    let bytes = std::fs::read(&output).unwrap_or_else(|e| panic!("{e}"));
    let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap_or(usize::MAX);
    assert!(at(b"moov") < at(b"mdat"), "moov should precede mdat");
    // The picture is the input's, enlarged: compare at the input size.
    assert!(psnr(&grey_frame(&input, 64, 48), &grey_frame(&output, 64, 48)) > 28.0);
    assert_eq!(entries(dir.path()), ["in.mp4", "out.mp4"]);
}

#[test]
fn webm_gets_vp9_and_opus_with_timestamps_kept() {
    let dir = tempdir();
    let (input, output) = (dir.path().join("in.mp4"), dir.path().join("out.webm"));
    // 30000/1001 fps exercises a non-integer rate.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=30000/1001:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=f=300:d=1:r=48000",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-shortest",
        p(&input),
    ]);
    let stdout = upscale_ok(&input, &output, 2, &["--crf", "40"]);
    assert!(stdout.contains("audio Reencoded"), "{stdout}");
    let (src, out) = (probe(&input), probe(&output));
    let (sv, ov) = (video(&src), video(&out));
    assert_eq!((ov["codec_name"].as_str(), size(ov)), (Some("vp9"), (128, 96)));
    assert_eq!(num(ov, "nb_read_frames"), num(sv, "nb_read_frames"));
    assert_eq!(ov["avg_frame_rate"], "30000/1001");
    let oa = stream(&out, "audio").unwrap_or_else(|| panic!("no audio: {out}"));
    assert_eq!(oa["codec_name"], "opus");
    // Every frame's timestamp survives (WebM stores milliseconds). Like the ffmpeg CLI, the
    // WebM muxer shifts the whole file by Opus's pre-skip (6.5 ms) to keep timestamps
    // non-negative, so compare from the first frame and bound the shift.
    let (a, b) = (frame_times(&input), frame_times(&output));
    assert_eq!((a.len(), b.len()), (30, 30));
    let shift = b[0] - a[0];
    assert!((0.0..=0.008).contains(&shift), "start moved by {shift} s");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - a[0] - (y - b[0])).abs() <= 0.0015, "timestamps {a:?} vs {b:?}");
    }
    let audio_len = duration(&out, oa);
    assert!((audio_len - 1.0).abs() < 0.05, "audio lasts {audio_len} s");
}

#[test]
fn rotation_is_kept_as_displayed() {
    let dir = tempdir();
    let (plain, rotated) = (dir.path().join("plain.mp4"), dir.path().join("rot.mp4"));
    make_clip(&plain, &[]);
    // The display-matrix side data phones write (here: shown turned a quarter).
    ffmpeg(&["-i", p(&plain), "-c", "copy", "-metadata:s:v", "rotate=90", p(&rotated)]);
    let output = dir.path().join("out.mp4");
    upscale_ok(&rotated, &output, 2, &[]);
    let out = probe(&output);
    let ov = video(&out);
    // Shown 48×64 before, so 96×128 after, upright (no rotation left to apply).
    assert_eq!(size(ov), (96, 128));
    assert!(ov.get("side_data_list").is_none(), "{ov}");
    // Same picture as ffmpeg's own autorotated decode of the input; a half turn is far off.
    let want = grey_frame(&rotated, 48, 64);
    let got = grey_frame(&output, 48, 64);
    let flipped: Vec<u8> = got.iter().rev().copied().collect();
    let (right, wrong) = (psnr(&want, &got), psnr(&want, &flipped));
    assert!(right > 25.0 && right > wrong + 10.0, "orientation: {right:.1} dB vs half turn {wrong:.1} dB");
}

#[test]
fn png_and_jpeg_images_scale_by_extension() {
    let dir = tempdir();
    let d = dir.path();
    let (png, jpg) = (d.join("in.png"), d.join("in.jpg"));
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", p(&png)]);
    ffmpeg(&["-i", p(&png), "-q:v", "2", p(&jpg)]);
    for (input, output, scale, codec) in [
        (&png, d.join("x3.png"), 3, "png"),
        (&jpg, d.join("x2.jpg"), 2, "mjpeg"),
        (&png, d.join("png_to.jpeg"), 4, "mjpeg"),
        (&jpg, d.join("jpg_to.png"), 2, "png"),
    ] {
        upscale_ok(input, &output, scale, &[]);
        let out = probe(&output);
        let v = video(&out);
        assert_eq!(v["codec_name"], codec, "{}", output.display());
        assert_eq!(size(v), (64 * u64::from(scale), 48 * u64::from(scale)), "{}", output.display());
        let back = psnr(&grey_frame(input, 64, 48), &grey_frame(&output, 64, 48));
        assert!(back > 30.0, "{}: {back:.1} dB against the input", output.display());
    }
}

/// A flat colour in limited and in full range comes back the same colour: the range is read,
/// honoured by the luma normalisation, and flagged on the output.
#[test]
fn limited_and_full_range_colour_roundtrips() {
    let dir = tempdir();
    for (name, range, pix) in [("tv", "tv", "yuv420p"), ("pc", "pc", "yuvj420p")] {
        let input = dir.path().join(format!("{name}.mp4"));
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "color=c=0x3070B0:s=64x48:r=25:d=0.2",
            "-vf",
            &format!("scale=out_range={range}:out_color_matrix=bt601,format={pix}"),
            "-color_range",
            range,
            "-colorspace",
            "smpte170m",
            "-c:v",
            "libx264",
            "-qp",
            "0",
            p(&input),
        ]);
        let output = dir.path().join(format!("{name}_x2.mp4"));
        upscale_ok(&input, &output, 2, &["--crf", "0"]);
        let out = probe(&output);
        assert_eq!(video(&out)["color_range"], range, "{name}: {out}");
        let (a, b) = (mean_rgb(&input), mean_rgb(&output));
        for k in 0..3 {
            assert!((a[k] - b[k]).abs() < 2.0, "{name}: mean RGB {a:?} → {b:?}");
        }
        assert!((a[2] - 176.0).abs() < 4.0, "{name}: the input itself should be the colour: {a:?}");
    }
}

/// Runs on a bad input, requiring failure with `message` and nothing new left in `dir`.
fn fails_cleanly(dir: &Path, input: &Path, output: &str, message: &str) {
    let before = entries(dir);
    let out = dir.join(output);
    let res = sluice(&[p(input), p(&out), "--scale", "3"]);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success(), "{} should fail", input.display());
    assert!(stderr.contains(message), "{}: stderr lacks {message:?}: {stderr}", input.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(entries(dir), before, "a failed run left files behind");
}

#[test]
fn bad_inputs_fail_with_a_message_and_no_output() {
    let dir = tempdir();
    let d = dir.path();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let path = d.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    fails_cleanly(d, &d.join("missing.mp4"), "out.mp4", "not a video");
    let text = write("notes.mp4", b"these are not the frames you are looking for");
    fails_cleanly(d, &text, "out.mp4", "not a video");

    let audio = d.join("tone.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=d=0.5", p(&audio)]);
    fails_cleanly(d, &audio, "out.mp4", "no video stream");

    // An MP4 with its index first, cut in half: the index announces frames the file lacks.
    let clip = d.join("clip.mp4");
    make_clip(&clip, &["-movflags", "+faststart"]);
    let bytes = std::fs::read(&clip).unwrap_or_else(|e| panic!("{e}"));
    let cut = write("cut.mp4", &bytes[..bytes.len() / 2]);
    fails_cleanly(d, &cut, "out.mp4", "truncated");
    // The same cut in Matroska (the stream's DURATION tag announces the length).
    let mkv = d.join("clip.mkv");
    ffmpeg(&["-i", p(&clip), "-c", "copy", p(&mkv)]);
    let bytes = std::fs::read(&mkv).unwrap_or_else(|e| panic!("{e}"));
    let cut = write("cut.mkv", &bytes[..bytes.len() / 2]);
    fails_cleanly(d, &cut, "out.webm", "truncated");
    // Cut inside the header.
    let stub = write("stub.mp4", &bytes[..200]);
    fails_cleanly(d, &stub, "out.mp4", "not a video");

    // A FourCC no decoder knows.
    let avi = d.join("mjpeg.avi");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=0.2", "-c:v", "mjpeg", p(&avi)]);
    let bytes = std::fs::read(&avi).unwrap_or_else(|e| panic!("{e}"));
    let mut patched = bytes.clone();
    for i in 0..bytes.len() - 4 {
        if &bytes[i..i + 4] == b"MJPG" {
            patched[i..i + 4].copy_from_slice(b"QQQQ");
        }
    }
    let unknown = write("unknown.avi", &patched);
    fails_cleanly(d, &unknown, "out.mp4", "unsupported video codec");

    // A stream header and no frame.
    let empty = write("empty.y4m", b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n");
    fails_cleanly(d, &empty, "out.mp4", "holds no frames");

    // 3000×16 × 3 = 9000 wide: beyond the 8K cap.
    let wide = d.join("wide.mp4");
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=s=3000x16:r=1:d=1", "-c:v", "libx264", p(&wide)]);
    fails_cleanly(d, &wide, "out.mp4", "7680×4320 cap");

    fails_cleanly(d, &clip, "out.mkv", "extension must be");
    fails_cleanly(d, &clip, "frame.png", "single-frame input");
}

/// Mono f32 samples of `path`'s audio at 48 kHz, decoded by ffmpeg.
fn audio_samples(path: &Path) -> Vec<f32> {
    let raw = ffmpeg(&["-i", p(path), "-map", "0:a", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"]);
    raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn rms_db(x: &[f32]) -> f64 {
    let ms = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * ms.max(1e-20).log10()
}

#[test]
fn denoise_audio_suppresses_noise_and_keeps_the_track_length() {
    let dir = tempdir();
    let (input, output) = (dir.path().join("noisy.mp4"), dir.path().join("clean.webm"));
    // Pink noise only, stereo at 44.1 kHz: DFN3 should remove most of it.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=25:d=1.2",
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=d=1.2:c=pink:a=0.1:r=44100",
        "-ac",
        "2",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        p(&input),
    ]);
    let stdout = upscale_ok(&input, &output, 2, &["--denoise-audio"]);
    assert!(stdout.contains("audio Denoised"), "{stdout}");
    let out = probe(&output);
    let oa = stream(&out, "audio").unwrap_or_else(|| panic!("no audio: {out}"));
    assert_eq!((oa["codec_name"].as_str(), num(oa, "channels")), (Some("opus"), 2.0));
    let (a, b) = (audio_samples(&input), audio_samples(&output));
    assert!((a.len() as f64 - b.len() as f64).abs() < 0.03 * 48_000.0, "lengths {} vs {}", a.len(), b.len());
    // Past the model's first half second of adaptation.
    let (before, after) = (rms_db(&a[24_000..48_000]), rms_db(&b[24_000..48_000]));
    assert!(after < before - 10.0, "noise {before:.1} dB → {after:.1} dB");
}

/// Presentation times of every video frame of `path`, in seconds.
fn frame_times(path: &Path) -> Vec<f64> {
    let out = tool(
        "ffprobe",
        &["-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "csv=p=0", p(path)],
    );
    String::from_utf8_lossy(&out).lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect()
}

#[test]
fn variable_frame_rate_timestamps_survive() {
    let dir = tempdir();
    let (input, output) = (dir.path().join("vfr.mp4"), dir.path().join("out.mp4"));
    // Every fourth frame dropped, timestamps passed through: gaps of 40 and 80 ms.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=25:d=1",
        "-vf",
        "select='not(eq(mod(n,4),3))'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        p(&input),
    ]);
    upscale_ok(&input, &output, 2, &[]);
    let (a, b) = (frame_times(&input), frame_times(&output));
    assert_eq!(a.len(), 19, "{a:?}");
    assert!(a.windows(2).any(|w| w[1] - w[0] > 0.07), "the input should be VFR: {a:?}");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-4, "timestamps {a:?} vs {b:?}");
    }
    let (src, out) = (probe(&input), probe(&output));
    let (ds, dout) = (duration(&src, video(&src)), duration(&out, video(&out)));
    assert!((ds - dout).abs() <= 0.041, "duration {ds} → {dout}");
}

#[test]
fn mpeg_ts_start_offset_is_removed_and_sync_kept() {
    let dir = tempdir();
    let (clip, ts, output) = (dir.path().join("clip.mp4"), dir.path().join("in.ts"), dir.path().join("out.mp4"));
    make_clip(&clip, &[]);
    // MPEG-TS timestamps start at 1.4 s.
    ffmpeg(&["-i", p(&clip), "-c", "copy", p(&ts)]);
    let src = probe(&ts);
    let start_in = num(&src["format"], "start_time");
    assert!(start_in > 1.0, "{src}");
    upscale_ok(&ts, &output, 2, &[]);
    let out = probe(&output);
    assert!(num(&out["format"], "start_time").abs() < 0.05, "{out}");
    assert!((num(&out["format"], "duration") - num(&src["format"], "duration")).abs() < 0.05, "{out}");
    // Audio keeps its place relative to the video.
    let lead = |p: &Value| {
        num(video(p), "start_time") - num(stream(p, "audio").unwrap_or_else(|| panic!("no audio: {p}")), "start_time")
    };
    assert!((lead(&src) - lead(&out)).abs() < 0.025, "A/V offset {} → {}", lead(&src), lead(&out));
}
