//! The raw form of a simulated clip, the one `models/train/clutter/` reads: `NAME.bin` holds
//! four little-endian f32 arrays of `[T, H, W]` one after the other (`cluttered`, `clean`,
//! `mask`, `labels`), `NAME.json` names them with the shape and every simulation parameter.
//! Here rather than in the CLI so that a build of this crate alone (no FFmpeg or ALSA to link,
//! see `examples/simulate_raw.rs`) writes the same bytes as `sluice simulate-echo`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Clip;

/// The arrays of a clip, in file order.
pub const RAW_ARRAYS: [&str; 4] = ["cluttered", "clean", "mask", "labels"];

/// Why a raw clip could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// Creating or writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The sidecar could not be serialised.
    #[error("cannot serialise the sidecar of {path}: {source}")]
    Json {
        /// The sidecar's path.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Writes `dir/NAME.bin` and `dir/NAME.json` for `clip`.
pub fn write_raw(dir: &Path, name: &str, clip: &Clip) -> Result<(), RawError> {
    let bin = dir.join(format!("{name}.bin"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RawError::Io { path, source }
    };
    let mut w = BufWriter::new(fs::File::create(&bin).map_err(io(&bin))?);
    for array in clip.arrays() {
        for v in array.iter() {
            w.write_all(&v.to_le_bytes()).map_err(io(&bin))?;
        }
    }
    w.flush().map_err(io(&bin))?;
    let json = dir.join(format!("{name}.json"));
    let sidecar = serde_json::json!({
        "shape": [clip.frames, clip.height, clip.width],
        "dtype": "float32",
        "byte_order": "little",
        "arrays": RAW_ARRAYS,
        "labels": { "0": "other", "1": "lv_myocardium", "2": "lv_blood" },
        "pixel_mm": [clip.pixel_mm.0, clip.pixel_mm.1],
        "seed": clip.scene.seed,
        "clutter": clip.scene.clutter,
        "motion": clip.scene.motion,
        "scene": clip.scene,
        "clutter_params": clip.clutter,
    });
    let text =
        serde_json::to_string_pretty(&sidecar).map_err(|source| RawError::Json { path: json.clone(), source })?;
    fs::write(&json, text).map_err(io(&json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::echo::simulate::{ClutterKind, SimConfig, Simulator};

    #[test]
    fn raw_files_hold_the_four_arrays_and_their_shape() {
        let config = SimConfig { width: 32, height: 24, frames: 3, clutter: ClutterKind::Both, ..SimConfig::default() };
        let clip = Simulator::new(config).unwrap_or_else(|e| panic!("{e}")).simulate(5);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write_raw(dir.path(), "clip_000005", &clip).unwrap_or_else(|e| panic!("{e}"));
        let bytes = fs::read(dir.path().join("clip_000005.bin")).unwrap_or_else(|e| panic!("{e}"));
        let n = 3 * 24 * 32;
        assert_eq!(bytes.len(), 4 * 4 * n);
        let at =
            |k: usize| f32::from_le_bytes(bytes[4 * k..4 * k + 4].try_into().unwrap_or_else(|_| panic!("4 bytes")));
        assert_eq!((0..n).map(at).collect::<Vec<_>>(), clip.cluttered);
        assert_eq!((3 * n..4 * n).map(at).collect::<Vec<_>>(), clip.labels);
        let text = fs::read_to_string(dir.path().join("clip_000005.json")).unwrap_or_else(|e| panic!("{e}"));
        let meta: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta["shape"], serde_json::json!([3, 24, 32]));
        assert_eq!(meta["arrays"], serde_json::json!(RAW_ARRAYS));
        assert_eq!(meta["seed"], 5);
        let err = write_raw(&dir.path().join("missing"), "x", &clip).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("missing") && err.contains("x.bin"), "{err}");
    }
}
