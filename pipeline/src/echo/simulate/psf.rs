//! Beamforming on the polar grid: the point-spread function as two 1-D passes (axial pulse
//! envelope along each beam, then a depth-dependent lateral beam profile across beams).
//!
//! The PSF is complex: echoes are formed at baseband, and each scatterer carries its carrier
//! phase `exp(−i·2k₀·r)` into the grid (see `scatterers`), so the axial kernel is the
//! demodulated Gaussian-windowed pulse, i.e. its Gaussian envelope, and sub-sample motion
//! still changes the interference pattern as it should. Rows are normalised so a unit mean
//! reflectivity gives unit mean intensity at every depth.

use super::geometry::PolarGrid;
use super::params::ProbeParams;

/// Widest lateral kernel, in beams (near the apex a millimetre spans many beams).
const MAX_LATERAL_RADIUS: usize = 40;
/// FWHM of a Gaussian in σ.
const FWHM_PER_SIGMA: f32 = 2.354_82;

/// Separable complex PSF for one grid and probe.
#[derive(Debug, Clone)]
pub(crate) struct Psf {
    samples: usize,
    beams: usize,
    axial: Vec<f32>,
    lateral: Vec<f32>,
    lateral_start: Vec<usize>,
    lateral_radius: Vec<usize>,
    /// Σh² of the 2-D kernel per row (output intensity per unit input variance).
    energy: Vec<f32>,
}

impl Psf {
    /// The probe's PSF, with its axial σ and lateral width scaled by `blur` (1 = as imaged;
    /// larger for the near-field haze's blurred texture).
    pub fn new(grid: &PolarGrid, probe: &ProbeParams, blur: f32) -> Self {
        let sigma_ax = blur * probe.sigma_axial_mm / grid.dr;
        let ra = (3.0 * sigma_ax).ceil().max(1.0) as usize;
        let axial: Vec<f32> = (0..=2 * ra).map(|k| gaussian(k as f32 - ra as f32, sigma_ax)).collect();
        let axial_energy: f32 = axial.iter().map(|h| h * h).sum();

        let (wf, wd, zf) = (probe.lateral_fwhm_focus_mm, probe.lateral_fwhm_deep_mm, probe.focus_mm);
        let rayleigh = (grid.depth - zf).max(1.0) / ((wd / wf).powi(2) - 1.0).max(1e-3).sqrt();
        let mut lateral = Vec::new();
        let mut lateral_start = Vec::with_capacity(grid.samples);
        let mut lateral_radius = Vec::with_capacity(grid.samples);
        let mut energy = Vec::with_capacity(grid.samples);
        for i in 0..grid.samples {
            let r = grid.range(i);
            let fwhm = blur * wf * (1.0 + ((r - zf) / rayleigh).powi(2)).sqrt();
            let per_beam = r * grid.dtheta; // mm between beams at this depth
            let sigma = fwhm / FWHM_PER_SIGMA / per_beam;
            let lobe = 2.5 * fwhm / per_beam;
            let radius = ((lobe + 3.0 * sigma).ceil() as usize).clamp(1, MAX_LATERAL_RADIUS);
            lateral_start.push(lateral.len());
            lateral_radius.push(radius);
            let mut e = 0.0;
            for k in 0..=2 * radius {
                let x = k as f32 - radius as f32;
                let h = gaussian(x, sigma) + probe.side_lobe * (gaussian(x - lobe, sigma) + gaussian(x + lobe, sigma));
                e += h * h;
                lateral.push(h);
            }
            energy.push(e * axial_energy);
        }
        Self { samples: grid.samples, beams: grid.beams, axial, lateral, lateral_start, lateral_radius, energy }
    }

    /// Output intensity of row `i` per unit input variance per bin.
    pub fn energy(&self, i: usize) -> f32 {
        self.energy[i]
    }

    /// Convolves the complex field (`re`, `im`, row-major polar) in place; `tmp_*` are scratch
    /// of the same size.
    pub fn apply(&self, re: &mut [f32], im: &mut [f32], tmp_re: &mut [f32], tmp_im: &mut [f32]) {
        let (ns, nb) = (self.samples, self.beams);
        let ra = self.axial.len() / 2;
        // Axial pass: along each beam (column), zero outside the grid.
        for i in 0..ns {
            let lo = i.saturating_sub(ra);
            let hi = (i + ra).min(ns - 1);
            let out_re = &mut tmp_re[i * nb..(i + 1) * nb];
            let out_im = &mut tmp_im[i * nb..(i + 1) * nb];
            out_re.fill(0.0);
            out_im.fill(0.0);
            for src in lo..=hi {
                let h = self.axial[src + ra - i];
                let (sr, si) = (&re[src * nb..(src + 1) * nb], &im[src * nb..(src + 1) * nb]);
                for (o, x) in out_re.iter_mut().zip(sr) {
                    *o += h * x;
                }
                for (o, x) in out_im.iter_mut().zip(si) {
                    *o += h * x;
                }
            }
        }
        // Lateral pass: across beams with this row's kernel.
        for i in 0..ns {
            let radius = self.lateral_radius[i];
            let kernel = &self.lateral[self.lateral_start[i]..self.lateral_start[i] + 2 * radius + 1];
            let (sr, si) = (&tmp_re[i * nb..(i + 1) * nb], &tmp_im[i * nb..(i + 1) * nb]);
            for j in 0..nb {
                let lo = j.saturating_sub(radius);
                let hi = (j + radius).min(nb - 1);
                let (mut ar, mut ai) = (0.0, 0.0);
                for src in lo..=hi {
                    let h = kernel[src + radius - j];
                    ar += h * sr[src];
                    ai += h * si[src];
                }
                re[i * nb + j] = ar;
                im[i * nb + j] = ai;
            }
        }
    }
}

fn gaussian(x: f32, sigma: f32) -> f32 {
    (-0.5 * (x / sigma).powi(2)).exp()
}
