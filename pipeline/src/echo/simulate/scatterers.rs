//! Lagrangian point scatterers: fixed positions in the heart's reference frame, moved each frame
//! by the deformation, binned onto the polar grid with their carrier phase. A few percent are
//! replaced each frame (out-of-plane motion), so speckle decorrelates slowly.

use rand_chacha::ChaCha8Rng;

use super::anatomy::{Heart, Pose};
use super::geometry::PolarGrid;
use super::rng::{gauss, uniform};

/// Extra range and angle sampled beyond the sector so tissue can move into view, mm and rad.
const MARGIN_MM: f32 = 6.0;
const MARGIN_RAD: f32 = 0.06;

/// Scatterer set of one clip (structure of arrays).
#[derive(Debug, Clone)]
pub(crate) struct Scatterers {
    u: Vec<f32>,
    v: Vec<f32>,
    re: Vec<f32>,
    im: Vec<f32>,
    max_range: f32,
    half_angle: f32,
}

impl Scatterers {
    /// `count` scatterers spread uniformly over the (slightly enlarged) sector.
    pub fn new(count: usize, grid: &PolarGrid, heart: &Heart, rng: &mut ChaCha8Rng) -> Self {
        let mut s = Self {
            u: vec![0.0; count],
            v: vec![0.0; count],
            re: vec![0.0; count],
            im: vec![0.0; count],
            max_range: grid.depth + MARGIN_MM,
            half_angle: 0.5 * grid.opening + MARGIN_RAD,
        };
        for k in 0..count {
            s.spawn(k, heart, rng);
        }
        s
    }

    pub fn len(&self) -> usize {
        self.u.len()
    }

    /// Replaces scatterer `k` by a new one at a random place with a random amplitude.
    fn spawn(&mut self, k: usize, heart: &Heart, rng: &mut ChaCha8Rng) {
        // Uniform over the sector's area: r ∝ √U.
        let r = self.max_range * rng_unit(rng).sqrt();
        let theta = uniform(rng, -self.half_angle, self.half_angle);
        let (u, v) = heart.to_local(r * theta.sin(), r * theta.cos());
        let amp = (0.5 * heart.reflectivity(u, v)).sqrt();
        self.u[k] = u;
        self.v[k] = v;
        self.re[k] = amp * gauss(rng);
        self.im[k] = amp * gauss(rng);
    }

    /// Replaces `count` randomly chosen scatterers.
    pub fn regenerate(&mut self, count: usize, heart: &Heart, rng: &mut ChaCha8Rng) {
        let n = self.len();
        for _ in 0..count {
            let k = ((rng_unit(rng) * n as f32) as usize).min(n - 1);
            self.spawn(k, heart, rng);
        }
    }

    /// Adds every scatterer, moved to `pose`, to the complex field (`re`, `im`) with bilinear
    /// weights and its carrier phase `exp(−i·two_k0·r)`; `two_k0` is 4π/λ in rad/mm.
    pub fn splat(&self, heart: &Heart, pose: Pose, grid: &PolarGrid, two_k0: f32, re: &mut [f32], im: &mut [f32]) {
        let (ns, nb) = (grid.samples as isize, grid.beams as isize);
        for k in 0..self.len() {
            let (u, v) = heart.map(pose, self.u[k], self.v[k]);
            let (x, z) = heart.to_probe(u, v);
            let r = x.hypot(z);
            let (fi, fj) = grid.locate(r, x.atan2(z));
            let (i0, j0) = (fi.floor(), fj.floor());
            let (wr, wb) = (fi - i0, fj - j0);
            let (i0, j0) = (i0 as isize, j0 as isize);
            if i0 < -1 || i0 >= ns || j0 < -1 || j0 >= nb {
                continue;
            }
            let (sin, cos) = (-two_k0 * r).sin_cos();
            let ar = self.re[k] * cos - self.im[k] * sin;
            let ai = self.re[k] * sin + self.im[k] * cos;
            for (di, wi) in [(0, 1.0 - wr), (1, wr)] {
                let i = i0 + di;
                if !(0..ns).contains(&i) {
                    continue;
                }
                for (dj, wj) in [(0, 1.0 - wb), (1, wb)] {
                    let j = j0 + dj;
                    if (0..nb).contains(&j) {
                        let w = wi * wj;
                        let idx = (i * nb + j) as usize;
                        re[idx] += w * ar;
                        im[idx] += w * ai;
                    }
                }
            }
        }
    }
}

fn rng_unit(rng: &mut ChaCha8Rng) -> f32 {
    uniform(rng, 0.0, 1.0)
}
