//! Echocardiography: simulated apical-view clips with clutter, the training and test data of the
//! clutter filter (`specs/clutter.md`), and the filter itself on clips and frames ([`declutter`]).

pub mod declutter;
pub mod simulate;

pub use declutter::{
    DeclutterError, DeclutterJob, DeclutterOptions, DeclutterStage, DeclutterSummary, DeclutterTarget,
};
