//! Echocardiography: simulated apical-view clips with clutter, the training and test data of the
//! clutter filter (`specs/clutter.md`).

pub mod simulate;
