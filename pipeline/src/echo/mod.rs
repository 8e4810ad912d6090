//! Echocardiography: simulated apical-view clips with clutter, the training and test data of the
//! clutter filter (`specs/clutter.md`), the filter itself on clips and frames ([`declutter`]), and
//! grey clips written as video ([`grey_video`]).

pub mod declutter;
pub mod grey_video;
pub mod simulate;

pub use declutter::{
    DeclutterError, DeclutterJob, DeclutterOptions, DeclutterStage, DeclutterSummary, DeclutterTarget,
};
pub use grey_video::GreyVideo;
