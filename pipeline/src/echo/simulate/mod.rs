//! Simulated apical-view echocardiography clips with clutter, following the recipe of
//! `specs/clutter.md`: a moving LV shell with Lagrangian speckle, a separable complex PSF on the
//! polar beam grid, TGC-compensated attenuation and electronic noise, log compression to 8 bits,
//! then scan conversion into a square-pixel fan image. Clutter (near-field haze, reverberation
//! bands, lateral ghosts) is added in the linear intensity domain before log compression; the
//! clean clip is the same simulation without it.
//!
//! Everything random comes from the seed through ChaCha8 streams, single-threaded, so a seed
//! gives identical bytes on every machine and thread count. [`Simulator::simulate`] allocates
//! its buffers per clip: it is a data generator, not a real-time stage.
//!
//! | part | module |
//! |---|---|
//! | sizes, clutter class, motion pattern | `config` |
//! | the scene's random parameters | `params` |
//! | polar grid, scan conversion | `geometry` |
//! | LV shape, motion, reflectivity | `anatomy` |
//! | Lagrangian scatterers | `scatterers` |
//! | point-spread function | `psf` |
//! | haze, bands, ghosts | `clutter` |
//! | the raw files the trainer reads | [`raw`] |

mod anatomy;
mod clutter;
mod config;
mod error;
mod geometry;
mod params;
mod psf;
pub mod raw;
mod rng;
mod scatterers;

pub use anatomy::Label;
pub use clutter::{BandParams, ClutterParams, GhostParams, HazeParams};
pub use config::{ClutterKind, MotionPattern, SimConfig};
pub use error::SimError;
pub use params::{DisplayParams, HeartParams, ProbeParams, SOUND_SPEED, SceneParams};

use anatomy::Heart;
use clutter::Clutter;
use geometry::{PolarGrid, ScanConverter};
use psf::Psf;
use rng::{Stream, gauss};
use scatterers::Scatterers;

/// FWHM of a Gaussian in σ.
const FWHM_PER_SIGMA: f32 = 2.354_82;
/// Lateral sampling margin of the scatterer cloud, as in `scatterers` (rad, mm).
const CLOUD_MARGIN_RAD: f32 = 0.06;
const CLOUD_MARGIN_MM: f32 = 6.0;

/// One simulated clip: four `frames × height × width` arrays, row-major, frame after frame.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Frames.
    pub frames: usize,
    /// Rows per frame.
    pub height: usize,
    /// Columns per frame.
    pub width: usize,
    /// Pixel width and height, mm (the fan spans the frame; the apex is at the top centre, so
    /// pixel (col, row) is at x = (col + ½ − width/2)·w, z = (row + ½)·h).
    pub pixel_mm: (f32, f32),
    /// B-mode with clutter, grey levels k/255 in [0, 1].
    pub cluttered: Vec<f32>,
    /// The same B-mode without clutter.
    pub clean: Vec<f32>,
    /// 1 where clutter was added (any of a pixel's polar sources), else 0; outside it,
    /// `cluttered == clean` exactly.
    pub mask: Vec<f32>,
    /// Tissue class per pixel ([`Label`] as f32: 0 other, 1 myocardium, 2 LV blood).
    pub labels: Vec<f32>,
    /// The scene drawn from the seed.
    pub scene: SceneParams,
    /// The clutter drawn from the seed.
    pub clutter: ClutterParams,
}

impl Clip {
    /// The four arrays in the order of [`raw::RAW_ARRAYS`] (the raw files' and PNG folders').
    pub fn arrays(&self) -> [&[f32]; 4] {
        [&self.cluttered, &self.clean, &self.mask, &self.labels]
    }

    /// Pixels per frame.
    pub fn frame_len(&self) -> usize {
        self.height * self.width
    }

    /// Frame `t` of `array` (one of this clip's arrays).
    pub fn frame<'a>(&self, array: &'a [f32], t: usize) -> &'a [f32] {
        &array[t * self.frame_len()..(t + 1) * self.frame_len()]
    }
}

/// A validated simulator set-up; [`Simulator::simulate`] makes the clip of a seed.
#[derive(Debug, Clone)]
pub struct Simulator {
    config: SimConfig,
}

impl Simulator {
    /// Checks `config` (see [`SimConfig::validate`]).
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Simulates clip `seed` (allocates; not real-time).
    pub fn simulate(&self, seed: u64) -> Clip {
        let cfg = &self.config;
        let scene = SceneParams::sample(cfg, seed);
        let (probe, disp) = (&scene.probe, &scene.display);
        let grid = PolarGrid::new(cfg.polar_samples, cfg.polar_beams, probe.depth_mm, probe.opening_deg);
        let scan = ScanConverter::new(&grid, cfg.width, cfg.height);
        let heart = Heart::new(&scene.heart, cfg.motion);
        let psf = Psf::new(&grid, probe, 1.0);
        let mut clutter_rng = rng::stream(seed, Stream::Clutter);
        let clutter_params = ClutterParams::sample(cfg.clutter, probe, &scene.heart, scan.pixel_mm.1, &mut clutter_rng);
        let clutter = Clutter::new(&clutter_params, &grid, probe, &mut clutter_rng);

        // Scatterer density from the smallest resolution cell (at the focus).
        let cell_mm2 = FWHM_PER_SIGMA * probe.sigma_axial_mm * probe.lateral_fwhm_focus_mm;
        let density = cfg.scatterers_per_cell / cell_mm2;
        let cloud_mm2 = 0.5 * (grid.opening + 2.0 * CLOUD_MARGIN_RAD) * (grid.depth + CLOUD_MARGIN_MM).powi(2);
        let count = (density * cloud_mm2).round() as usize;
        let mut scatter_rng = rng::stream(seed, Stream::Scatterers);
        let mut scatterers = Scatterers::new(count, &grid, &heart, &mut scatter_rng);
        let regenerate = (disp.regenerate_fraction * count as f32).round() as usize;
        let mut noise_rng = rng::stream(seed, Stream::Noise);

        // Per-row gain (unit mean intensity for unit reflectivity) and TGC-amplified noise.
        let lambda_mm = SOUND_SPEED / (probe.f0_mhz * 1e3);
        let two_k0 = 4.0 * std::f32::consts::PI / lambda_mm;
        let noise_amp = (0.5 * 10f32.powf(disp.noise_db / 10.0)).sqrt();
        let rows: Vec<(f32, f32)> = (0..grid.samples)
            .map(|i| {
                let r = grid.range(i);
                let expected = density * grid.dr * r * grid.dtheta * psf.energy(i);
                let loss_db = 2.0 * disp.attenuation_db_cm_mhz * probe.f0_mhz * r / 10.0;
                (1.0 / expected.sqrt(), noise_amp * 10f32.powf(loss_db / 20.0))
            })
            .collect();
        let compress = Compressor::new(disp);

        let (n, frame_len) = (grid.len(), cfg.width * cfg.height);
        let (mut re, mut im, mut tr, mut ti) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut tissue, mut clutter_i) = (vec![0.0; n], vec![0.0; n]);
        let (mut clean_polar, mut clut_polar) = (vec![0.0; n], vec![0.0; n]);
        let mut mask_polar = vec![false; n];
        let total = cfg.frames * frame_len;
        let (mut cluttered, mut clean, mut mask, mut labels) =
            (vec![0.0; total], vec![0.0; total], vec![0.0; total], vec![0.0; total]);

        for t in 0..cfg.frames {
            if t > 0 {
                scatterers.regenerate(regenerate, &heart, &mut scatter_rng);
            }
            let pose = heart.pose(t, cfg.frames);
            re.fill(0.0);
            im.fill(0.0);
            scatterers.splat(&heart, pose, &grid, two_k0, &mut re, &mut im);
            psf.apply(&mut re, &mut im, &mut tr, &mut ti);
            for (i, &(gain, noise)) in rows.iter().enumerate() {
                for k in i * grid.beams..(i + 1) * grid.beams {
                    let a = gain * re[k] + noise * gauss(&mut noise_rng);
                    let b = gain * im[k] + noise * gauss(&mut noise_rng);
                    tissue[k] = a * a + b * b;
                }
            }
            clutter.frame(t, cfg.frames, &tissue, &mut clutter_i, &mut mask_polar);
            for k in 0..n {
                clean_polar[k] = compress.apply(tissue[k]);
                clut_polar[k] = if mask_polar[k] { compress.apply(tissue[k] + clutter_i[k]) } else { clean_polar[k] };
            }
            let range = t * frame_len..(t + 1) * frame_len;
            scan.convert(&clean_polar, &mut clean[range.clone()]);
            scan.convert(&clut_polar, &mut cluttered[range.clone()]);
            quantize(&mut clean[range.clone()]);
            quantize(&mut cluttered[range.clone()]);
            scan.convert_mask(&mask_polar, &mut mask[range.clone()]);
            for (p, l) in labels[range].iter_mut().enumerate() {
                if scan.inside(p) {
                    let (x, z) = scan.pixel_position(p % cfg.width, p / cfg.width);
                    let (u, v) = heart.to_local(x, z);
                    *l = heart.label(pose, u, v) as u8 as f32;
                }
            }
        }
        Clip {
            frames: cfg.frames,
            height: cfg.height,
            width: cfg.width,
            pixel_mm: scan.pixel_mm,
            cluttered,
            clean,
            mask,
            labels,
            scene,
            clutter: clutter_params,
        }
    }
}

/// Log compression over the dynamic range, reject and grey map, 8-bit quantisation.
#[derive(Debug, Clone, Copy)]
struct Compressor {
    floor_db: f32,
    range_db: f32,
    reject: f32,
    gamma: f32,
}

impl Compressor {
    fn new(d: &DisplayParams) -> Self {
        Self {
            floor_db: d.headroom_db - d.dynamic_range_db,
            range_db: d.dynamic_range_db,
            reject: d.reject,
            gamma: d.gamma,
        }
    }

    /// Intensity (1 = mean myocardium) → grey level k/255.
    fn apply(self, intensity: f32) -> f32 {
        let level = 10.0 * intensity.max(1e-12).log10();
        let v = (level - self.floor_db) / self.range_db;
        let v = ((v - self.reject) / (1.0 - self.reject)).clamp(0.0, 1.0).powf(self.gamma);
        (v * 255.0).round() / 255.0
    }
}

/// Rounds to the nearest 8-bit grey level.
fn quantize(frame: &mut [f32]) {
    for v in frame {
        *v = (*v * 255.0).round() / 255.0;
    }
}
