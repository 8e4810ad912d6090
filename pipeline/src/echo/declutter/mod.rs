//! The echocardiography clutter filter for users: grey frames of any size, a whole clip (video
//! file or frame folder) into a video or a frame folder, on the network of
//! `sluice_models::clutter` (spec `clutter.md`).
//!
//! | concern | module |
//! |---|---|
//! | error type | [`DeclutterError`] |
//! | colour → BT.601 grey | [`grey`] |
//! | one frame through the network, padding and cropping | [`stage`] |
//! | PNG/JPEG frame folders | [`frames`] |
//! | the whole-clip pass | [`job`] |
//!
//! Rules: colour input is reduced to its BT.601 luma ([`grey`]); a frame whose sides are not
//! multiples of 4 is zero-padded at the bottom and right and cropped back ([`stage`]); frames go
//! through the network one at a time, in order, 0 frames late. All FFmpeg work is blocking.

mod error;
pub mod frames;
pub mod grey;
pub mod job;
pub mod stage;

pub use error::DeclutterError;
pub use job::{ClipInfo, DeclutterJob, DeclutterOptions, DeclutterSummary, DeclutterTarget};
pub use stage::DeclutterStage;

/// Largest frame the filter takes, in pixels: 1280×1024 (either orientation, or any shape of
/// that area). The network's working set grows with the area (about 0.5 KiB per pixel).
pub const MAX_PIXELS: usize = 1280 * 1024;
