//! What to simulate: sizes, clutter class and motion pattern. Everything else (geometry, anatomy,
//! imaging and clutter parameters) is drawn from the seed, see [`super::SceneParams`].

use serde::Serialize;

use super::SimError;

/// The clutter a clip carries (the paper's classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClutterKind {
    /// No clutter: the cluttered clip equals the clean one and the mask is empty.
    #[serde(rename = "none")]
    None,
    /// Near-field haze, static over the clip.
    #[serde(rename = "nf")]
    NearField,
    /// Reverberation bands at multiples of a reflector depth (may drift), sometimes lateral ghosts.
    #[serde(rename = "rl")]
    Reverberation,
    /// Near-field haze and reverberation together.
    #[serde(rename = "both")]
    Both,
}

impl ClutterKind {
    /// The class of clip `seed` in a mixed set: near-field, reverberation, both, in turn by
    /// seed (what `sluice simulate-echo --clutter mixed` and the training data use).
    pub fn mixed(seed: u64) -> Self {
        [Self::NearField, Self::Reverberation, Self::Both][(seed % 3) as usize]
    }
}

impl ClutterKind {
    /// Whether near-field haze is added.
    pub fn has_near_field(self) -> bool {
        matches!(self, Self::NearField | Self::Both)
    }

    /// Whether reverberation clutter is added.
    pub fn has_reverberation(self) -> bool {
        matches!(self, Self::Reverberation | Self::Both)
    }

    /// Short name (`none`, `nf`, `rl`, `both`), as in file names and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::NearField => "nf",
            Self::Reverberation => "rl",
            Self::Both => "both",
        }
    }
}

/// Left-ventricular wall motion. The hypokinetic patterns scale one coronary territory's wall
/// motion by 0–0.5 (the paper's "LAD/LCX/RCA" subjects), so training and test data can be split
/// by motion pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MotionPattern {
    /// Normal contraction everywhere.
    Normal,
    /// Hypokinetic apex and apical septum (left anterior descending artery territory).
    Lad,
    /// Hypokinetic mid/basal lateral wall (left circumflex).
    Lcx,
    /// Hypokinetic basal septum (right coronary).
    Rca,
}

impl MotionPattern {
    /// Every pattern, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Normal, Self::Lad, Self::Lcx, Self::Rca];

    /// The hypokinetic segment as (centre, half width) of the angle ψ around the LV centre in
    /// degrees (0 = apex, negative = septum, ±90 = base), or `None` for normal motion.
    pub fn segment_deg(self) -> Option<(f32, f32)> {
        match self {
            Self::Normal => None,
            Self::Lad => Some((-20.0, 40.0)),
            Self::Lcx => Some((65.0, 30.0)),
            Self::Rca => Some((-72.0, 25.0)),
        }
    }

    /// Short name (`normal`, `lad`, `lcx`, `rca`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Lad => "lad",
            Self::Lcx => "lcx",
            Self::Rca => "rca",
        }
    }
}

/// Simulator settings. [`Default`] is the training set-up: 128×128 output, 32 frames (one
/// cardiac cycle), a 384×128 polar grid, both clutter classes, normal motion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    /// Output width in pixels.
    pub width: usize,
    /// Output height in pixels.
    pub height: usize,
    /// Frames per clip, covering one cardiac cycle.
    pub frames: usize,
    /// Samples per beam (range direction) of the polar grid.
    pub polar_samples: usize,
    /// Beams across the sector.
    pub polar_beams: usize,
    /// Clutter to add.
    pub clutter: ClutterKind,
    /// Wall motion pattern.
    pub motion: MotionPattern,
    /// Point scatterers per resolution cell (≥ 10 gives fully developed speckle).
    pub scatterers_per_cell: f32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            width: 128,
            height: 128,
            frames: 32,
            polar_samples: 384,
            polar_beams: 128,
            clutter: ClutterKind::Both,
            motion: MotionPattern::Normal,
            scatterers_per_cell: 10.0,
        }
    }
}

impl SimConfig {
    /// Checks every field against the range the simulator supports.
    pub fn validate(&self) -> Result<(), SimError> {
        check_range("width", self.width, 16..=1024, "16..=1024")?;
        check_range("height", self.height, 16..=1024, "16..=1024")?;
        check_range("frames", self.frames, 2..=1000, "2..=1000")?;
        check_range("polar_samples", self.polar_samples, 64..=4096, "64..=4096")?;
        check_range("polar_beams", self.polar_beams, 32..=1024, "32..=1024")?;
        let s = self.scatterers_per_cell;
        if !(s.is_finite() && (1.0..=100.0).contains(&s)) {
            return Err(SimError::InvalidConfig {
                field: "scatterers_per_cell",
                value: s.to_string(),
                expected: "a number in 1..=100",
            });
        }
        Ok(())
    }
}

fn check_range(
    field: &'static str,
    value: usize,
    range: std::ops::RangeInclusive<usize>,
    expected: &'static str,
) -> Result<(), SimError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(SimError::InvalidConfig { field, value: value.to_string(), expected })
    }
}
