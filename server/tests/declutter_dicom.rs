//! `sluice declutter` and `POST /v1/echo/declutter` with multi-frame DICOM and frame archives.
//! Fixtures come from an independent implementation at run time: `dicom_fixtures.py` (pydicom
//! and Pillow, Debian's python3-pydicom and python3-pil) writes the DICOM inputs from a
//! simulated echo clip and reads the outputs back; archives are made by Python's `zipfile` and
//! GNU tar. Every DICOM result is compared with `sluice declutter` of the same frames as a PNG
//! folder; bad inputs give one clear error line (or a JSON error) and leave nothing behind.

mod media;

use media::{entries, p, request, simulate_png, start, tempdir, tool, video_stream as probe};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FRAMES: usize = 6;
const SIDE: usize = 64;
/// The fixtures' identity (`dicom_fixtures.py`).
const ROOT: &str = "1.2.826.0.1.3680043.8.498.77";

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().unwrap_or_else(|e| panic!("running sluice: {e}"))
}

fn declutter_ok(input: &Path, output: &Path, extra: &[&str]) {
    let mut args = vec!["declutter", p(input), p(output)];
    args.extend_from_slice(extra);
    let out = sluice(&args);
    assert!(out.status.success(), "sluice {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// `sluice declutter IN OUT`, requiring failure; returns its one `sluice declutter:` line.
fn declutter_err(input: &Path, output: &Path) -> String {
    let out = sluice(&["declutter", p(input), p(output)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "declutter {} should fail; stderr: {stderr}", input.display());
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("sluice declutter: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    lines[0].to_owned()
}

/// Runs `dicom_fixtures.py ARGS…` with Debian's python3 (pydicom and Pillow); returns stdout.
fn py(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dicom_fixtures.py");
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(out.status.success(), "dicom_fixtures.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A DICOM fixture of `mode` made from `grey` frames (colour modes also write their colour
/// frames to `colour`).
fn make(mode: &str, out: &Path, grey: &Path, colour: &Path) -> PathBuf {
    py(&["make", mode, p(out), p(grey), p(colour)]);
    out.to_path_buf()
}

/// Reads a DICOM back with pydicom: its attributes and its frames (as a PNG folder).
fn read_back(dcm: &Path, frames: &Path) -> Value {
    let json = py(&["read", p(dcm), p(frames)]);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// A simulated 64×64 clip of 6 frames as a PNG folder.
fn simulate(dir: &Path) -> PathBuf {
    simulate_png(dir, SIDE, FRAMES, 9).join("cluttered")
}

/// Every PNG of a folder in name order as grey bytes (concatenated).
fn pixels(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = entries(dir).into_iter().filter(|n| n.ends_with(".png")).collect();
    names.sort();
    assert_eq!(names.len(), FRAMES, "{}: {names:?}", dir.display());
    let mut all = Vec::new();
    for name in names {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let info = reader.info();
        assert_eq!((info.color_type, info.width, info.height), (png::ColorType::Grayscale, 64, 64));
        let mut buf = vec![0u8; SIDE * SIDE];
        reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        all.extend_from_slice(&buf);
    }
    all
}

/// (mean, max) |a − b|.
fn diff(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let sum: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum();
    (sum / a.len() as f64, a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0))
}

/// The attributes every output must have; `jpeg` for JPEG baseline.
fn check_output(info: &Value, jpeg: bool, from_dicom: bool) {
    let ts = if jpeg { "1.2.840.10008.1.2.4.50" } else { "1.2.840.10008.1.2.1" };
    assert_eq!(info["transfer_syntax"], ts, "{info}");
    assert_eq!((info["frames"].as_u64(), info["decoded_frames"].as_u64()), (Some(6), Some(6)), "{info}");
    assert_eq!((info["rows"].as_u64(), info["columns"].as_u64()), (Some(64), Some(64)), "{info}");
    assert_eq!((info["samples"].as_u64(), info["bits_allocated"].as_u64()), (Some(1), Some(8)), "{info}");
    assert_eq!(info["photometric"], "MONOCHROME2", "{info}");
    assert_eq!(info["image_type"], serde_json::json!(["DERIVED", "SECONDARY"]), "{info}");
    assert!(info["derivation"].as_str().unwrap_or("").contains("Sluice"), "{info}");
    assert_eq!(info["sop_class"], "1.2.840.10008.5.1.4.1.1.3.1", "{info}");
    let sop = info["sop_instance"].as_str().unwrap_or("");
    assert!(sop.starts_with("2.25.") && info["media_sop_instance"] == sop, "{info}");
    assert!(info["series_uid"].as_str().unwrap_or("").starts_with("2.25."), "{info}");
    assert_eq!(info["frame_increment_pointer"], "(0018, 1063)", "{info}");
    assert_eq!(info["lossy"], if jpeg { "01" } else { "" }, "{info}");
    if from_dicom {
        // Identity, timing and geometry kept; the source referenced.
        assert_eq!(info["source_sop_instance"], format!("{ROOT}.3"), "{info}");
        assert_eq!(info["study_uid"], format!("{ROOT}.1"), "{info}");
        assert_eq!((info["patient_name"].as_str(), info["patient_id"].as_str()), (Some("Doe^Jane"), Some("SLUICE-42")));
        assert_eq!(info["study_date"], "20260102", "{info}");
        assert_eq!((info["frame_time"].as_f64(), info["cine_rate"].as_u64()), (Some(40.0), Some(25)), "{info}");
        assert_eq!(info["region_delta_x"].as_f64(), Some(0.03), "{info}");
    } else {
        assert_eq!(info["source_sop_instance"], Value::Null, "{info}");
    }
}

#[test]
fn dicom_inputs_give_derived_dicoms_with_the_folder_pictures() {
    let dir = tempdir();
    let grey = simulate(dir.path());
    let colour = dir.path().join("colour");
    let reference = dir.path().join("ref");
    declutter_ok(&grey, &reference, &[]);
    let want = pixels(&reference);

    // Grey, uncompressed: explicit VR, implicit VR, MONOCHROME1 (stored inverted). The same
    // pictures as the folder within one level; explicit VR little endian out.
    for mode in ["grey", "grey-implicit", "mono1"] {
        let input = make(mode, &dir.path().join(format!("{mode}.dcm")), &grey, &colour);
        let out = dir.path().join(format!("{mode}-out.dcm"));
        declutter_ok(&input, &out, &[]);
        let frames = dir.path().join(format!("{mode}-frames"));
        let info = read_back(&out, &frames);
        check_output(&info, false, true);
        let (mean, max) = diff(&pixels(&frames), &want);
        assert!(max <= 1, "{mode}: max |dicom − folder| {max} (mean {mean:.3})");
    }

    // Colour: RGB uncompressed, and YBR_FULL_422 JPEG baseline in two fragments per frame; the
    // reference is the folder of the same colour frames (Pillow's RGB PNGs). JPEG: quality 95
    // 4:2:2 in and quality 95 grey out on speckle, about 1.3 levels apart on average here.
    let rgb = make("rgb", &dir.path().join("rgb.dcm"), &grey, &colour);
    let colour_ref = dir.path().join("colour-ref");
    declutter_ok(&colour, &colour_ref, &[]);
    let want_colour = pixels(&colour_ref);
    for (input, jpeg, mean_limit) in
        [(rgb, false, 0.5), (make("ybr-jpeg", &dir.path().join("ybr.dcm"), &grey, &colour), true, 2.5)]
    {
        let out = dir.path().join("colour-out.dcm");
        declutter_ok(&input, &out, &[]);
        let frames = dir.path().join(format!("colour-frames-{jpeg}"));
        let info = read_back(&out, &frames);
        check_output(&info, jpeg, true);
        let (mean, max) = diff(&pixels(&frames), &want_colour);
        println!("{}: |dicom − folder| mean {mean:.3}, max {max}", input.display());
        assert!(mean < mean_limit, "{}: mean |dicom − folder| {mean:.3} (max {max})", input.display());
        std::fs::remove_file(&out).unwrap_or_else(|e| panic!("{e}"));
    }

    // Grey JPEG in → JPEG out; DICOM → MP4 runs at the Frame Time's 25 fps.
    let grey_jpeg = make("grey-jpeg", &dir.path().join("grey-jpeg.dcm"), &grey, &colour);
    let out = dir.path().join("grey-jpeg-out.dcm");
    declutter_ok(&grey_jpeg, &out, &[]);
    let info = read_back(&out, &dir.path().join("grey-jpeg-frames"));
    check_output(&info, true, true);
    let (mean, _) = diff(&pixels(&dir.path().join("grey-jpeg-frames")), &want);
    assert!(mean < 2.0, "grey JPEG: mean |dicom − folder| {mean:.3}");
    let mp4 = dir.path().join("grey.mp4");
    declutter_ok(&dir.path().join("grey.dcm"), &mp4, &[]);
    let v = probe(&mp4);
    assert_eq!((v["avg_frame_rate"].as_str(), v["nb_read_frames"].as_str()), (Some("25/1"), Some("6")), "{v}");
}

/// Python's `zipfile` (deflated) and GNU tar make the archives of a folder's frames (in a
/// subfolder).
fn archives(dir: &Path, frames: &Path) -> Vec<PathBuf> {
    let parent = frames.parent().unwrap_or_else(|| panic!("no parent"));
    let name = frames.file_name().and_then(|n| n.to_str()).unwrap_or_else(|| panic!("no name"));
    let zip = dir.join("frames.zip");
    // Deflated members, stored in directory-listing order (not sorted).
    let code = "import os, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    for n in os.listdir(sys.argv[2]):\n        z.write(os.path.join(sys.argv[2], n))";
    let out = Command::new("/usr/bin/python3")
        .current_dir(parent)
        .args(["-c", code, p(&zip), name])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (tar, tgz) = (dir.join("frames.tar"), dir.join("frames.tar.gz"));
    tool("tar", &["-cf", p(&tar), "-C", p(parent), name]);
    tool("tar", &["-czf", p(&tgz), "-C", p(parent), name]);
    vec![zip, tar, tgz]
}

#[test]
fn frame_archives_give_the_folder_pictures() {
    let dir = tempdir();
    let grey = simulate(dir.path());
    let reference = dir.path().join("ref");
    declutter_ok(&grey, &reference, &[]);
    let want = pixels(&reference);
    for archive in archives(dir.path(), &grey) {
        let out = dir.path().join("out");
        declutter_ok(&archive, &out, &[]);
        assert_eq!(pixels(&out), want, "{}", archive.display());
        std::fs::remove_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
    }
    // An archive into a DICOM: no source to keep, a fresh identity, the folder's 30 fps.
    let dcm = dir.path().join("from-zip.dcm");
    declutter_ok(&dir.path().join("frames.zip"), &dcm, &[]);
    let frames = dir.path().join("from-zip-frames");
    let info = read_back(&dcm, &frames);
    check_output(&info, false, false);
    assert!(info["study_uid"].as_str().unwrap_or("").starts_with("2.25."), "{info}");
    assert!((info["frame_time"].as_f64().unwrap_or(0.0) - 1000.0 / 30.0).abs() < 1e-3, "{info}");
    assert_eq!(pixels(&frames), want);

    // A video into a DICOM (its frames spooled until the count is known): the pictures of the
    // same video written as a folder, at the video's 30 fps, a fresh identity.
    let mp4 = dir.path().join("clip.mp4");
    declutter_ok(&grey, &mp4, &[]);
    let from_video = dir.path().join("from-video.dcm");
    declutter_ok(&mp4, &from_video, &[]);
    let video_folder = dir.path().join("from-video-folder");
    declutter_ok(&mp4, &video_folder, &[]);
    let frames = dir.path().join("from-video-frames");
    let info = read_back(&from_video, &frames);
    check_output(&info, false, false);
    assert!((info["frame_time"].as_f64().unwrap_or(0.0) - 1000.0 / 30.0).abs() < 1e-3, "{info}");
    assert_eq!(pixels(&frames), pixels(&video_folder));
    let left: Vec<String> = entries(dir.path()).into_iter().filter(|n| n.starts_with(".tmp")).collect();
    assert!(left.is_empty(), "spool or temporary files left: {left:?}");
}

#[test]
fn bad_dicoms_and_archives_give_one_clear_line_and_leave_nothing() {
    let dir = tempdir();
    let grey = simulate(dir.path());
    let colour = dir.path().join("colour");
    let out_dir = tempdir();
    let out = out_dir.path().join("out.dcm");
    let nothing_left = |what: &str| {
        let left = entries(out_dir.path());
        assert!(left.is_empty(), "{what}: left behind {left:?}");
    };
    let check = |input: &Path, needles: &[&str]| {
        for target in [&out, &out_dir.path().join("frames")] {
            let line = declutter_err(input, target);
            assert!(needles.iter().all(|n| line.contains(n)), "{}: {line}", input.display());
            nothing_left(&line);
        }
    };
    for (mode, needles) in [
        ("jpeg-lossless", &["unsupported DICOM file", "1.2.840.10008.1.2.4.70", "JPEG lossless"][..]),
        ("j2k", &["unsupported DICOM file", "JPEG 2000"]),
        ("rle", &["unsupported DICOM file", "RLE"]),
        ("deflate", &["unsupported DICOM file", "deflated"]),
        ("bits16", &["unsupported DICOM file", "16 bits allocated"]),
        ("no-pixels", &["bad DICOM file", "no pixel data"]),
        ("count-mismatch", &["bad DICOM file", "frame count mismatch", "8 frame(s)"]),
    ] {
        let input = make(mode, &dir.path().join(format!("{mode}.dcm")), &grey, &colour);
        check(&input, needles);
    }
    // Damaged files: not DICOM at all, cut in the header, cut in the pixel data.
    let good =
        std::fs::read(make("grey", &dir.path().join("grey.dcm"), &grey, &colour)).unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    check(&write("text.dcm", b"not a DICOM file at all"), &["bad DICOM file", "no 'DICM' marker"]);
    check(&write("head.dcm", &good[..400]), &["bad DICOM file", "cut short"]);
    check(&write("half.dcm", &good[..good.len() / 2]), &["bad DICOM file", "frame count mismatch"]);
    let out_crf = sluice(&["declutter", p(&dir.path().join("grey.dcm")), p(&out), "--crf", "20"]);
    let stderr = String::from_utf8_lossy(&out_crf.stderr);
    assert!(!out_crf.status.success() && stderr.contains("--crf applies to video outputs"), "{stderr}");
    nothing_left("--crf with DICOM");

    // Archives: no frames, a member that is not a frame, an unreadable frame.
    let zip = |name: &str, members: &[(&str, &[u8])]| {
        let path = dir.path().join(name);
        let code = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nfor i in range(2, len(sys.argv), 2):\n    z.write(sys.argv[i + 1], sys.argv[i])\nz.close()";
        let mut args = vec!["-c".to_owned(), code.to_owned(), p(&path).to_owned()];
        for (k, (member, bytes)) in members.iter().enumerate() {
            let file = dir.path().join(format!("member{k}"));
            std::fs::write(&file, bytes).unwrap_or_else(|e| panic!("{e}"));
            args.extend([(*member).to_owned(), p(&file).to_owned()]);
        }
        let out = Command::new("/usr/bin/python3").args(&args).output().unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        path
    };
    let frame = std::fs::read(grey.join("000.png")).unwrap_or_else(|e| panic!("{e}"));
    check(&zip("empty.zip", &[]), &["bad frame archive", "no PNG or JPEG frames"]);
    check(
        &zip("notes.zip", &[("a/000.png", &frame), ("a/notes.txt", b"hello")]),
        &["bad frame archive", "a/notes.txt"],
    );
    check(
        &zip("broken.zip", &[("a/000.png", &frame), ("a/001.png", b"\x89PNG not really")]),
        &["broken.zip:a/001.png", "unreadable image"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_takes_dicom_and_archives_and_answers_dicom() {
    let dir = tempdir();
    let spool = tempdir();
    let grey = simulate(dir.path());
    let colour = dir.path().join("colour");
    let input = make("grey", &dir.path().join("grey.dcm"), &grey, &colour);
    let upload = std::fs::read(&input).unwrap_or_else(|e| panic!("{e}"));
    let (addr, _stop) = start(spool.path()).await;

    // DICOM in → DICOM out, the same pictures as the CLI's.
    let r = request(addr, "POST", "/v1/echo/declutter?format=dcm", &upload).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers.get("content-type").map(String::as_str), Some("application/dicom"));
    assert_eq!(r.headers.get("sluice-frames").map(String::as_str), Some("6"));
    let got = dir.path().join("got.dcm");
    std::fs::write(&got, &r.body).unwrap_or_else(|e| panic!("{e}"));
    let info = read_back(&got, &dir.path().join("got-frames"));
    check_output(&info, false, true);
    let cli = dir.path().join("cli.dcm");
    declutter_ok(&input, &cli, &[]);
    read_back(&cli, &dir.path().join("cli-frames"));
    let (_, max) = diff(&pixels(&dir.path().join("got-frames")), &pixels(&dir.path().join("cli-frames")));
    assert!(max <= 1, "server vs CLI: max {max}");

    // DICOM in → WebM out at its 25 fps; an archive in → DICOM out.
    let r = request(addr, "POST", "/v1/echo/declutter?format=webm", &upload).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let webm = dir.path().join("got.webm");
    std::fs::write(&webm, &r.body).unwrap_or_else(|e| panic!("{e}"));
    let v = probe(&webm);
    assert_eq!((v["nb_read_frames"].as_str(), v["avg_frame_rate"].as_str()), (Some("6"), Some("25/1")), "{v}");
    let zip = archives(dir.path(), &grey).remove(0);
    let r =
        request(addr, "POST", "/v1/echo/declutter?format=dcm", &std::fs::read(&zip).unwrap_or_else(|e| panic!("{e}")))
            .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.get(128..132) == Some(b"DICM"), "not a DICOM answer");

    // Refusals.
    let bad = |mode: &str| {
        let path = make(mode, &dir.path().join(format!("{mode}.dcm")), &grey, &colour);
        std::fs::read(path).unwrap_or_else(|e| panic!("{e}"))
    };
    // A video in → DICOM out: the CLI's file.
    let mp4 = dir.path().join("clip.mp4");
    declutter_ok(&grey, &mp4, &[]);
    let r =
        request(addr, "POST", "/v1/echo/declutter?format=dcm", &std::fs::read(&mp4).unwrap_or_else(|e| panic!("{e}")))
            .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    std::fs::write(dir.path().join("video-got.dcm"), &r.body).unwrap_or_else(|e| panic!("{e}"));
    read_back(&dir.path().join("video-got.dcm"), &dir.path().join("video-got-frames"));
    declutter_ok(&mp4, &dir.path().join("video-cli.dcm"), &[]);
    read_back(&dir.path().join("video-cli.dcm"), &dir.path().join("video-cli-frames"));
    assert_eq!(pixels(&dir.path().join("video-got-frames")), pixels(&dir.path().join("video-cli-frames")));

    let cases: [(&str, Vec<u8>, u16, &str, &str); 4] = [
        ("/v1/echo/declutter?format=dcm", bad("j2k"), 415, "unsupported_media", "JPEG 2000"),
        ("/v1/echo/declutter", bad("count-mismatch"), 400, "bad_dicom", "frame count mismatch"),
        ("/v1/echo/declutter", bad("bits16"), 415, "unsupported_media", "16 bits"),
        ("/v1/echo/declutter?format=dcm&crf=10", upload.clone(), 400, "bad_parameter", "crf"),
    ];
    for (path, body, status, code, needle) in cases {
        let r = request(addr, "POST", path, &body).await;
        let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
        assert_eq!((r.status, r.json()["code"].as_str()), (status, Some(code)), "{path}: {message}");
        assert!(message.contains(needle), "{path}: {message}");
        assert!(!message.contains(p(spool.path())), "path leaked: {message}");
    }
    assert!(entries(spool.path()).is_empty(), "uploads left behind: {:?}", entries(spool.path()));
}
