//! Where the weight files committed in `models/weights/` are found at run time.
//!
//! The compile-time path of this crate is only a last resort: cargo keeps a build whose source
//! tree has moved (a cached target directory shared by clones at different paths), and the
//! baked-in path then names a tree that is gone or, worse, older.

use std::path::{Path, PathBuf};

/// Environment variable naming the directory that holds the bundled weight files.
pub const MODELS_DIR_ENV: &str = "SLUICE_MODELS_DIR";

/// The weights directory relative to a checkout's root.
const CHECKOUT_DIR: &str = "models/weights";

/// Path of the bundled weight file `name`: `$SLUICE_MODELS_DIR/name` when set; else the first
/// `models/weights/name` found in the working directory or its ancestors (a checkout, where
/// `cargo test`/`cargo run` start), then beside the executable or its ancestors; else this
/// crate's source tree as compiled (errors then name that path).
pub fn path(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(MODELS_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join(name);
    }
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
    [cwd, exe]
        .into_iter()
        .flatten()
        .find_map(|start| search_up(&start, name))
        .unwrap_or_else(|| Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/weights")).join(name))
}

/// `dir/models/weights/name` for `dir` = `start` and each ancestor, the first that exists.
fn search_up(start: &Path, name: &str) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join(CHECKOUT_DIR).join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_checkout_weights_from_a_subdirectory() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or_else(|| panic!("no workspace root"));
        let found = search_up(&root.join("server/src"), "DeepFilterNet3_onnx.tar.gz");
        assert_eq!(found, Some(root.join("models/weights/DeepFilterNet3_onnx.tar.gz")));
        assert_eq!(search_up(&root.join("server"), "no-such-file.bin"), None);
    }
}
