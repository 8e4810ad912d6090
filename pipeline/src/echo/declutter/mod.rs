//! The echocardiography clutter filter for users: grey frames of any size, a whole clip (video
//! file, frame folder or archive, multi-frame DICOM) into a video, a frame folder or a DICOM, on the network of
//! `sluice_models::clutter` (spec `clutter.md`).
//!
//! | concern | module |
//! |---|---|
//! | error type | [`DeclutterError`] |
//! | colour → BT.601 grey | [`grey`] |
//! | one frame through the network, padding and cropping | [`stage`] |
//! | PNG/JPEG frame folders | [`frames`] |
//! | ZIP/tar archives of frames | [`archive`] |
//! | multi-frame DICOM read and write | [`dicom`] |
//! | the whole-clip pass | [`job`] |
//!
//! Rules: colour input is reduced to its BT.601 luma ([`grey`]); a frame whose sides are not
//! multiples of 8 is zero-padded at the bottom and right and cropped back ([`stage`]); frames go
//! through the network one at a time, in order, 0 frames late. All FFmpeg work is blocking.

pub mod archive;
pub mod dicom;
mod error;
pub mod frames;
pub mod grey;
pub mod job;
pub mod stage;

pub use error::DeclutterError;
pub use job::{ClipInfo, DeclutterJob, DeclutterOptions, DeclutterSummary, DeclutterTarget, InputKind, input_kind};
pub use stage::DeclutterStage;

/// Largest frame the filter takes, in pixels: 640×480 (either orientation, or any shape of that
/// area). The network's working set grows with the area, about 3.2 KiB per pixel (measured: 0.98
/// GB resident for a 640×480 `sluice declutter`; 1.21 GB before each layer wrote into the next
/// conv's history slots), so this keeps a job under 1 GB, within the deploy manifests' 2–4 GiB;
/// and the network was trained on
/// 128×128 frames of a whole sector (about 1 mm per pixel), so much finer frames are outside what
/// it learnt.
pub const MAX_PIXELS: usize = 640 * 480;
