//! `sluice declutter` end to end: the real binary on a clip from `sluice simulate-echo` as a PNG
//! folder and as an MP4 made from it by the `ffmpeg` CLI; outputs probed with `ffprobe`, decoded
//! back, and compared with the input inside and outside the simulator's clutter mask. Bad inputs
//! give one clear error line and leave nothing behind.

mod media;

use media::{luma as grey_frames, p, simulate_png, tempdir, tool, video_stream as probe};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Frames and side of the simulated clip: 126 is not a multiple of 8 (the stage pads to 128).
const FRAMES: usize = 10;
const SIDE: usize = 126;

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().unwrap_or_else(|e| panic!("running sluice: {e}"))
}

/// `sluice declutter ARGS…`, requiring success; returns stdout.
fn declutter_ok(args: &[&str]) -> String {
    let mut all = vec!["declutter"];
    all.extend_from_slice(args);
    let out = sluice(&all);
    assert!(out.status.success(), "sluice {all:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sluice declutter ARGS…`, requiring failure; returns its `sluice declutter:` error line.
fn declutter_err(args: &[&str]) -> String {
    let mut all = vec!["declutter"];
    all.extend_from_slice(args);
    let out = sluice(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "sluice {all:?} should fail; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("sluice declutter: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {stderr}");
    lines[0].to_owned()
}

/// A simulated clip (`both` clutter) as PNG folders `cluttered/` and `mask/`.
fn simulate(dir: &Path) -> PathBuf {
    simulate_png(dir, SIDE, FRAMES, 5)
}

/// The grey bytes and size of a PNG.
fn read_png(path: &Path) -> (Vec<u8>, (usize, usize)) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = reader.info();
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Grayscale, png::BitDepth::Eight),
        "{}",
        path.display()
    );
    let size = (info.width as usize, info.height as usize);
    let mut buf = vec![0u8; size.0 * size.1];
    reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (buf, size)
}

/// Every PNG of a folder in name order, concatenated; checks names and sizes.
fn read_folder(dir: &Path, names: impl Fn(usize) -> String, size: (usize, usize)) -> Vec<u8> {
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")).file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    let want: Vec<String> = (0..FRAMES).map(&names).collect();
    assert_eq!(entries, want, "{}", dir.display());
    let mut all = Vec::new();
    for name in want {
        let (bytes, got) = read_png(&dir.join(name));
        assert_eq!(got, size);
        all.extend_from_slice(&bytes);
    }
    all
}

/// Every frame of a video, decoded to grey (full range) by ffmpeg.
/// Frame timestamps (seconds) as ffprobe reads them.
fn frame_times(path: &Path) -> Vec<f64> {
    let out = tool(
        "ffprobe",
        &["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", p(path)],
    );
    String::from_utf8_lossy(&out).lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect()
}

/// Mean |out − in| inside and outside the clutter mask (grey levels), over `w×h` frames where
/// `out` may be cropped to `ow×oh`.
fn change_by_mask(
    input: &[u8],
    mask: &[u8],
    out: &[u8],
    (w, h): (usize, usize),
    (ow, oh): (usize, usize),
) -> (f64, f64) {
    let (mut sum, mut n) = ([0.0f64; 2], [0usize; 2]);
    for t in 0..FRAMES {
        for y in 0..oh {
            for x in 0..ow {
                let i = t * w * h + y * w + x;
                let k = usize::from(mask[i] < 128);
                sum[k] += f64::from(input[i].abs_diff(out[t * ow * oh + y * ow + x]));
                n[k] += 1;
            }
        }
    }
    assert!(n[0] > 100 && n[1] > 100, "mask too small or too large: {n:?}");
    (sum[0] / n[0] as f64, sum[1] / n[1] as f64)
}

/// The filter acts on the clutter: it changes the mask region several times more than the rest.
fn assert_acts_on_clutter(what: &str, (inside, outside): (f64, f64)) {
    println!("{what}: mean change inside the clutter mask {inside:.2} grey levels, outside {outside:.2}");
    assert!(
        inside > 1.0 && inside > 2.5 * outside,
        "{what}: mean change inside the mask {inside:.2}, outside {outside:.2}"
    );
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")).file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.ends_with(".part"))
        .collect()
}

#[test]
fn folders_and_videos_are_decluttered_with_frames_sizes_and_timing_kept() {
    let dir = tempdir();
    let clip = simulate(dir.path());
    let (cluttered, mask) = (clip.join("cluttered"), clip.join("mask"));
    let three = |t: usize| format!("{t:03}.png");
    let input = read_folder(&cluttered, three, (SIDE, SIDE));
    let mask = read_folder(&mask, three, (SIDE, SIDE));
    let six = |t: usize| format!("{t:06}.png");

    // (a) folder → folder: same frames, same size, the clutter region changed.
    let frames = dir.path().join("frames");
    let stdout = declutter_ok(&[p(&cluttered), p(&frames)]);
    assert!(
        stdout.contains(&format!("{FRAMES} frame(s) {SIDE}×{SIDE} → {SIDE}×{SIDE}")) && stdout.contains("fps"),
        "{stdout}"
    );
    let filtered = read_folder(&frames, six, (SIDE, SIDE));
    assert_acts_on_clutter("folder → folder", change_by_mask(&input, &mask, &filtered, (SIDE, SIDE), (SIDE, SIDE)));

    // folder → MP4 at --fps 25 (lossless, so the pictures can be compared): yuv420p grey.
    let mp4 = dir.path().join("out.mp4");
    declutter_ok(&[p(&cluttered), p(&mp4), "--fps", "25", "--crf", "0"]);
    let v = probe(&mp4);
    assert_eq!((v["codec_name"].as_str(), v["pix_fmt"].as_str()), (Some("h264"), Some("yuv420p")), "{v}");
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(SIDE as u64), Some(SIDE as u64)));
    assert_eq!((v["nb_read_frames"].as_str(), v["avg_frame_rate"].as_str()), (Some("10"), Some("25/1")), "{v}");
    let times = frame_times(&mp4);
    let want: Vec<f64> = (0..FRAMES).map(|t| t as f64 / 25.0).collect();
    assert_eq!(times.len(), FRAMES);
    assert!(times.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-3), "{times:?}");
    let decoded = grey_frames(&mp4);
    let max = decoded.iter().zip(&filtered).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(255);
    assert!(max <= 1, "MP4 vs PNG output: max difference {max} grey levels (limited-range rounding only)");

    // (b) the same frames as an MP4 made by ffmpeg at 30 fps (lossless, 4:2:0) → MP4 and WebM
    // keep every frame's timestamp; → folder gives the same pictures as (a) within rounding.
    let source = dir.path().join("clip.mp4");
    let pattern = cluttered.join("%03d.png");
    tool(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-nostdin",
            "-framerate",
            "30",
            "-i",
            p(&pattern),
            "-c:v",
            "libx264",
            "-crf",
            "0",
            "-pix_fmt",
            "yuv420p",
            p(&source),
        ],
    );
    let source_times = frame_times(&source);
    assert_eq!(source_times.len(), FRAMES);
    for (ext, codec) in [("mp4", "h264"), ("webm", "vp9")] {
        let out = dir.path().join(format!("from-video.{ext}"));
        declutter_ok(&[p(&source), p(&out), "--crf", "0"]);
        let v = probe(&out);
        assert_eq!((v["codec_name"].as_str(), v["pix_fmt"].as_str()), (Some(codec), Some("yuv420p")), "{v}");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64(), v["nb_read_frames"].as_str()),
            (Some(126), Some(126), Some("10"))
        );
        assert_eq!(v["avg_frame_rate"].as_str(), Some("30/1"), "{v}");
        let times = frame_times(&out);
        assert_eq!(times.len(), FRAMES);
        assert!(
            times.iter().zip(&source_times).all(|(a, b)| (a - b).abs() < 2e-3),
            "{ext}: {times:?} vs {source_times:?}"
        );
        let decoded = grey_frames(&out);
        assert_acts_on_clutter(ext, change_by_mask(&input, &mask, &decoded, (SIDE, SIDE), (SIDE, SIDE)));
    }
    let from_video = dir.path().join("from-video");
    declutter_ok(&[p(&source), p(&from_video)]);
    let pictures = read_folder(&from_video, six, (SIDE, SIDE));
    let mad =
        pictures.iter().zip(&filtered).map(|(a, b)| f64::from(a.abs_diff(*b))).sum::<f64>() / pictures.len() as f64;
    assert!(mad < 1.0, "video → folder vs folder → folder: mean difference {mad} grey levels");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}

#[test]
fn bad_inputs_give_one_clear_line_and_leave_nothing() {
    let dir = tempdir();
    let clip = simulate(dir.path());
    let cluttered = clip.join("cluttered");
    let out_dir = tempdir();
    let out = |name: &str| out_dir.path().join(name);
    let nothing_left = |what: &str| {
        let names: Vec<String> = std::fs::read_dir(out_dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.unwrap_or_else(|e| panic!("{e}")).file_name().to_string_lossy().into_owned())
            .filter(|n| n != "full")
            .collect();
        assert!(names.is_empty(), "{what}: left behind {names:?}");
    };

    // Not a video.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, b"this is not a video at all").unwrap_or_else(|e| panic!("{e}"));
    for target in ["a.mp4", "frames"] {
        let line = declutter_err(&[p(&text), p(&out(target))]);
        assert!(line.contains("not a video"), "{line}");
        nothing_left("not a video");
    }
    // An empty folder (no image in it).
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(empty.join("readme.txt"), b"x").unwrap_or_else(|e| panic!("{e}"));
    let line = declutter_err(&[p(&empty), p(&out("a.mp4"))]);
    assert!(line.contains("no PNG or JPEG frames"), "{line}");
    nothing_left("empty folder");

    // Mixed frame sizes: a smaller frame among the others, found mid-clip.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap_or_else(|e| panic!("{e}"));
    for t in 0..4 {
        std::fs::copy(cluttered.join(format!("{t:03}.png")), mixed.join(format!("{t:03}.png")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let small = mixed.join("002.png");
    tool(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=gray:s=64x48:d=0.04",
            "-frames:v",
            "1",
            "-pix_fmt",
            "gray",
            p(&small),
        ],
    );
    for target in ["a.webm", "frames"] {
        let line = declutter_err(&[p(&mixed), p(&out(target))]);
        assert!(line.contains("002.png") && line.contains("64×48") && line.contains("one size"), "{line}");
        nothing_left("mixed sizes");
    }
    // An unreadable image.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(cluttered.join("000.png"), broken.join("000.png")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(broken.join("001.png"), b"\x89PNG garbage, not an image").unwrap_or_else(|e| panic!("{e}"));
    let line = declutter_err(&[p(&broken), p(&out("frames"))]);
    assert!(line.contains("001.png") && line.contains("unreadable image"), "{line}");
    nothing_left("unreadable image");

    // Outputs that are neither a video nor a free folder.
    let line = declutter_err(&[p(&cluttered), p(&out("a.png"))]);
    assert!(line.contains("OUT must be a video"), "{line}");
    let full = out("full");
    std::fs::create_dir(&full).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(full.join("keep.txt"), b"mine").unwrap_or_else(|e| panic!("{e}"));
    let line = declutter_err(&[p(&cluttered), p(&full)]);
    assert!(line.contains("not empty"), "{line}");
    assert_eq!(std::fs::read(full.join("keep.txt")).ok().as_deref(), Some(&b"mine"[..]));
    nothing_left("bad outputs");
}
