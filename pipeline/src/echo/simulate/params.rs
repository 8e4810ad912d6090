//! The random scene of one clip: every range of the recipe (`specs/clutter.md` §Data) sampled
//! from the seed. Recorded in the JSON sidecar so a clip can be explained afterwards.

use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::config::{ClutterKind, MotionPattern, SimConfig};
use super::rng::{self, Stream, uniform};

/// Speed of sound in tissue, m/s.
pub const SOUND_SPEED: f32 = 1540.0;

/// Probe and beamforming.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeParams {
    /// Sector opening, degrees (75–90).
    pub opening_deg: f32,
    /// Imaging depth, mm (120–160).
    pub depth_mm: f32,
    /// Centre frequency, MHz (2–3.5).
    pub f0_mhz: f32,
    /// Pulse length in cycles (1.5–2.5).
    pub cycles: f32,
    /// Axial PSF standard deviation, mm (0.3–0.5, from the pulse length).
    pub sigma_axial_mm: f32,
    /// Lateral PSF full width at half maximum at the focus, mm (≈ 1.5).
    pub lateral_fwhm_focus_mm: f32,
    /// Lateral PSF FWHM at full depth, mm (≈ 4).
    pub lateral_fwhm_deep_mm: f32,
    /// Focal depth, mm.
    pub focus_mm: f32,
    /// Side lobe amplitude relative to the main lobe.
    pub side_lobe: f32,
}

/// Heart anatomy (apical view; mm in the probe's frame, x lateral, z depth).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeartParams {
    /// Lateral position of the LV apex, mm.
    pub apex_x_mm: f32,
    /// Depth of the LV apex (endocardium), mm (30–40).
    pub apex_z_mm: f32,
    /// Depth of the LV base (mitral plane) at end-diastole, mm (110–130, within the image).
    pub base_z_mm: f32,
    /// Tilt of the LV long axis from the beam axis, degrees.
    pub tilt_deg: f32,
    /// End-diastolic endocardial half width, mm.
    pub endo_half_width_mm: f32,
    /// End-diastolic wall thickness, mm (8–12).
    pub wall_mm: f32,
    /// Longitudinal shortening at end-systole (0.12–0.18).
    pub long_shortening: f32,
    /// Ejection fraction (0.50–0.65); sets the radial endocardial shortening.
    pub ejection_fraction: f32,
    /// Wall thickening at end-systole (0.30–0.40).
    pub thickening: f32,
    /// Systole as a fraction of the cycle (≈ 0.35).
    pub systole_fraction: f32,
    /// Cardiac phase of the first frame, fraction of the cycle.
    pub start_phase: f32,
    /// Hypokinetic segment motion scale (0–0.5), used by non-normal patterns.
    pub hypokinesis: f32,
    /// Mean reflectivity of blood (0.02–0.05).
    pub blood: f32,
    /// Mean reflectivity of the pericardium (3–5).
    pub pericardium: f32,
    /// Mean reflectivity of the tissue around the heart (0.3–0.6).
    pub background: f32,
    /// Gap between epicardium and pericardium, mm.
    pub pericardium_gap_mm: f32,
    /// Pericardium thickness, mm.
    pub pericardium_mm: f32,
    /// Right ventricle: cavity half width, mm (0 = none).
    pub rv_half_width_mm: f32,
    /// Left atrium: cavity half width, mm (0 = none).
    pub la_half_width_mm: f32,
}

/// Gain, noise and display mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisplayParams {
    /// Log-compression dynamic range, dB (50–60).
    pub dynamic_range_db: f32,
    /// Level of the display's white above the mean myocardium, dB (gain jitter).
    pub headroom_db: f32,
    /// Reject: the lowest fraction of the dynamic range shown as black (0.3–0.45), as on a
    /// scanner; keeps the blood pool dark.
    pub reject: f32,
    /// Grey map exponent after log compression and reject (1.1–1.5).
    pub gamma: f32,
    /// Attenuation, dB/(cm·MHz), compensated by TGC (so it shapes only the noise).
    pub attenuation_db_cm_mhz: f32,
    /// Electronic noise power at the probe, dB relative to the mean myocardium.
    pub noise_db: f32,
    /// Fraction of scatterers regenerated per frame (0.01–0.05, out-of-plane motion).
    pub regenerate_fraction: f32,
}

/// Everything random about one clip except the clutter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SceneParams {
    /// Clip seed.
    pub seed: u64,
    /// Clutter class simulated.
    pub clutter: ClutterKind,
    /// Wall motion pattern simulated.
    pub motion: MotionPattern,
    /// Probe and PSF.
    pub probe: ProbeParams,
    /// Anatomy and motion.
    pub heart: HeartParams,
    /// Gain, noise, display.
    pub display: DisplayParams,
}

impl SceneParams {
    /// Draws the scene of clip `seed`. The draws do not depend on `config.clutter` or
    /// `config.motion`, so a seed gives the same heart under every clutter class and pattern.
    pub fn sample(config: &SimConfig, seed: u64) -> Self {
        let mut r = rng::stream(seed, Stream::Scene);
        let probe = sample_probe(&mut r);
        let heart = sample_heart(&mut r, &probe);
        let display = DisplayParams {
            dynamic_range_db: uniform(&mut r, 50.0, 60.0),
            headroom_db: uniform(&mut r, 12.0, 18.0),
            reject: uniform(&mut r, 0.3, 0.45),
            gamma: uniform(&mut r, 1.1, 1.5),
            attenuation_db_cm_mhz: uniform(&mut r, 0.3, 0.5),
            noise_db: uniform(&mut r, -60.0, -50.0),
            regenerate_fraction: uniform(&mut r, 0.01, 0.05),
        };
        Self { seed, clutter: config.clutter, motion: config.motion, probe, heart, display }
    }
}

fn sample_probe(r: &mut ChaCha8Rng) -> ProbeParams {
    let f0_mhz = uniform(r, 2.0, 3.5);
    let cycles = uniform(r, 1.5, 2.5);
    let lambda_mm = SOUND_SPEED / (f0_mhz * 1e3);
    let depth_mm = uniform(r, 120.0, 160.0);
    ProbeParams {
        opening_deg: uniform(r, 75.0, 90.0),
        depth_mm,
        f0_mhz,
        cycles,
        // Round-trip envelope of an n-cycle Gaussian pulse, held to the recipe's 0.3–0.5 mm.
        sigma_axial_mm: (cycles * lambda_mm / 4.0).clamp(0.3, 0.5),
        lateral_fwhm_focus_mm: uniform(r, 1.3, 1.8),
        lateral_fwhm_deep_mm: uniform(r, 3.5, 4.5),
        focus_mm: uniform(r, 55.0, 80.0),
        side_lobe: uniform(r, 0.02, 0.05),
    }
}

fn sample_heart(r: &mut ChaCha8Rng, probe: &ProbeParams) -> HeartParams {
    let apex_z_mm = uniform(r, 30.0, 40.0);
    let base_z_mm = uniform(r, 110.0, 130.0).min(probe.depth_mm - 8.0);
    let rv = uniform(r, 0.0, 1.0) < 0.8;
    let rv_half_width_mm = uniform(r, 12.0, 18.0);
    let la = uniform(r, 0.0, 1.0) < 0.8;
    let la_half_width_mm = uniform(r, 15.0, 20.0);
    HeartParams {
        apex_x_mm: uniform(r, -6.0, 10.0),
        apex_z_mm,
        base_z_mm,
        tilt_deg: uniform(r, -8.0, 8.0),
        endo_half_width_mm: uniform(r, 19.0, 25.0),
        wall_mm: uniform(r, 8.0, 12.0),
        long_shortening: uniform(r, 0.12, 0.18),
        ejection_fraction: uniform(r, 0.50, 0.65),
        thickening: uniform(r, 0.30, 0.40),
        systole_fraction: uniform(r, 0.32, 0.38),
        start_phase: uniform(r, 0.0, 1.0),
        hypokinesis: uniform(r, 0.0, 0.5),
        blood: uniform(r, 0.02, 0.05),
        pericardium: uniform(r, 3.0, 5.0),
        background: uniform(r, 0.3, 0.6),
        pericardium_gap_mm: uniform(r, 0.5, 2.0),
        pericardium_mm: uniform(r, 1.0, 2.0),
        rv_half_width_mm: if rv { rv_half_width_mm } else { 0.0 },
        la_half_width_mm: if la { la_half_width_mm } else { 0.0 },
    }
}
