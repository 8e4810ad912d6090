//! `sluice simulate-echo` end to end: the real binary writes PNG frames and raw arrays, the same
//! seed gives the same bytes, and bad flags are refused.

use std::path::Path;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("simulate-echo")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running sluice: {e}"))
}

fn run_ok(out: &Path, extra: &[&str]) {
    let dir = out.to_str().unwrap_or_else(|| panic!("non-UTF-8 temp path"));
    let mut args = vec!["--out", dir, "--frames", "4", "--size", "48"];
    args.extend_from_slice(extra);
    let o = sluice(&args);
    assert!(o.status.success(), "sluice simulate-echo {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn writes_pngs_and_raw_deterministically() {
    let a = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let b = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    run_ok(a.path(), &["--seed", "7", "--clips", "2", "--format", "both", "--clutter", "both", "--motion", "lad"]);
    run_ok(b.path(), &["--seed", "7", "--clips", "2", "--format", "both", "--clutter", "both", "--motion", "lad"]);
    for seed in ["000007", "000008"] {
        let bin = read(&a.path().join(format!("clip_{seed}.bin")));
        assert_eq!(bin.len(), 4 * 4 * 48 * 48 * 4, "four f32 arrays of 4x48x48");
        assert_eq!(bin, read(&b.path().join(format!("clip_{seed}.bin"))), "clip {seed} differs between runs");
        let meta: serde_json::Value = serde_json::from_slice(&read(&a.path().join(format!("clip_{seed}.json"))))
            .unwrap_or_else(|e| panic!("sidecar: {e}"));
        assert_eq!(meta["shape"], serde_json::json!([4, 48, 48]));
        assert_eq!(meta["arrays"], serde_json::json!(["cluttered", "clean", "mask", "labels"]));
        assert_eq!(meta["clutter"], "both");
        assert_eq!(meta["motion"], "lad");
        assert_eq!(meta["seed"].as_u64(), Some(seed.parse().unwrap_or(0)));
        for array in ["cluttered", "clean", "mask"] {
            for t in 0..4 {
                let png = a.path().join(format!("clip_{seed}/{array}/{t:03}.png"));
                let decoder = png::Decoder::new(std::io::BufReader::new(
                    std::fs::File::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display())),
                ));
                let reader = decoder.read_info().unwrap_or_else(|e| panic!("{}: {e}", png.display()));
                let info = reader.info();
                assert_eq!((info.width, info.height, info.color_type), (48, 48, png::ColorType::Grayscale));
            }
        }
    }
    // The PNG frames hold the raw array's grey levels.
    let bin = read(&a.path().join("clip_000007.bin"));
    let mut reader = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(a.path().join("clip_000007/clean/002.png")).unwrap_or_else(|e| panic!("{e}")),
    ))
    .read_info()
    .unwrap_or_else(|e| panic!("{e}"));
    let mut pixels = vec![0u8; 48 * 48];
    reader.next_frame(&mut pixels).unwrap_or_else(|e| panic!("{e}"));
    let clean_frame2 = &bin[(4 * 48 * 48 + 2 * 48 * 48) * 4..(4 * 48 * 48 + 3 * 48 * 48) * 4];
    for (k, p) in pixels.iter().enumerate() {
        let v = f32::from_le_bytes([
            clean_frame2[4 * k],
            clean_frame2[4 * k + 1],
            clean_frame2[4 * k + 2],
            clean_frame2[4 * k + 3],
        ]);
        assert_eq!(*p, (v * 255.0).round() as u8, "pixel {k}");
    }
}

#[test]
fn bad_flags_are_refused() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = d.path().to_str().unwrap_or_else(|| panic!("path"));
    for args in [
        &["--out", dir, "--size", "8"][..],
        &["--out", dir, "--frames", "1"],
        &["--out", dir, "--clips", "0"],
        &["--out", dir, "--clutter", "fog"],
        &["--out", dir, "--motion", "fast"],
        &["--out", dir, "--format", "gif"],
        &["--seed", "1"],
    ] {
        let o = sluice(args);
        assert!(!o.status.success(), "{args:?} should fail");
    }
}
