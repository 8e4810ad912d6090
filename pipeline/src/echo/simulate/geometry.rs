//! The sector: the polar (beam) grid the echoes are formed on, and its bilinear scan conversion
//! to the Cartesian image (zero outside the fan), computed once per clip.

/// Polar grid: `samples` range cells × `beams` beams, row-major by range (`i * beams + j`).
#[derive(Debug, Clone)]
pub(crate) struct PolarGrid {
    pub samples: usize,
    pub beams: usize,
    /// Imaging depth, mm.
    pub depth: f32,
    /// Sector opening, radians.
    pub opening: f32,
    /// Range cell, mm.
    pub dr: f32,
    /// Beam spacing, radians.
    pub dtheta: f32,
}

impl PolarGrid {
    pub fn new(samples: usize, beams: usize, depth_mm: f32, opening_deg: f32) -> Self {
        let opening = opening_deg.to_radians();
        Self {
            samples,
            beams,
            depth: depth_mm,
            opening,
            dr: depth_mm / samples as f32,
            dtheta: opening / (beams - 1) as f32,
        }
    }

    /// Range of sample `i`'s centre, mm.
    pub fn range(&self, i: usize) -> f32 {
        (i as f32 + 0.5) * self.dr
    }

    /// Angle of beam `j`, radians (0 = straight down).
    pub fn angle(&self, j: usize) -> f32 {
        -0.5 * self.opening + j as f32 * self.dtheta
    }

    /// Fractional (sample, beam) indices of a point at range `r` mm and angle `theta` rad.
    pub fn locate(&self, r: f32, theta: f32) -> (f32, f32) {
        (r / self.dr - 0.5, (theta + 0.5 * self.opening) / self.dtheta)
    }

    pub fn len(&self) -> usize {
        self.samples * self.beams
    }
}

/// One output pixel's source: the top-left polar sample and the bilinear weights.
#[derive(Debug, Clone, Copy)]
struct Tap {
    index: u32,
    wr: f32,
    wb: f32,
}

/// Cartesian image of the sector: apex at the top centre, the fan's width spanning the columns
/// and its depth the rows (pixels are not square: a 128×128 frame would otherwise leave a third
/// of its rows below the fan; the paper's frames are resized the same way).
#[derive(Debug, Clone)]
pub(crate) struct ScanConverter {
    width: usize,
    beams: usize,
    /// Pixel width and height, mm.
    pub pixel_mm: (f32, f32),
    taps: Vec<Option<Tap>>,
}

impl ScanConverter {
    pub fn new(grid: &PolarGrid, width: usize, height: usize) -> Self {
        let fan_width = 2.0 * grid.depth * (0.5 * grid.opening).sin();
        let pixel_mm = (fan_width / width as f32, grid.depth / height as f32);
        let mut taps = Vec::with_capacity(width * height);
        for row in 0..height {
            for col in 0..width {
                let (x, z) = Self::position(pixel_mm, width, col, row);
                taps.push(Self::tap(grid, x, z));
            }
        }
        Self { width, beams: grid.beams, pixel_mm, taps }
    }

    /// Centre of pixel (`col`, `row`) in mm: x lateral from the apex, z depth.
    pub fn position(pixel_mm: (f32, f32), width: usize, col: usize, row: usize) -> (f32, f32) {
        ((col as f32 + 0.5 - 0.5 * width as f32) * pixel_mm.0, (row as f32 + 0.5) * pixel_mm.1)
    }

    /// Centre of pixel (`col`, `row`) of this image in mm.
    pub fn pixel_position(&self, col: usize, row: usize) -> (f32, f32) {
        Self::position(self.pixel_mm, self.width, col, row)
    }

    fn tap(grid: &PolarGrid, x: f32, z: f32) -> Option<Tap> {
        let r = x.hypot(z);
        let theta = x.atan2(z);
        let (fi, fj) = grid.locate(r, theta);
        let last_i = (grid.samples - 1) as f32;
        let last_j = (grid.beams - 1) as f32;
        if r > grid.depth || !(0.0..=last_j).contains(&fj) {
            return None;
        }
        let fi = fi.clamp(0.0, last_i);
        let i0 = (fi.floor() as usize).min(grid.samples - 2);
        let j0 = (fj.floor() as usize).min(grid.beams - 2);
        Some(Tap { index: (i0 * grid.beams + j0) as u32, wr: fi - i0 as f32, wb: fj - j0 as f32 })
    }

    /// Whether pixel `p` (row-major) lies in the fan.
    pub fn inside(&self, p: usize) -> bool {
        self.taps[p].is_some()
    }

    /// Bilinear interpolation of `polar` into `out` (row-major image), zero outside the fan.
    pub fn convert(&self, polar: &[f32], out: &mut [f32]) {
        let nb = self.beams;
        for (o, tap) in out.iter_mut().zip(&self.taps) {
            *o = match tap {
                Some(t) => {
                    let k = t.index as usize;
                    let top = polar[k] + t.wb * (polar[k + 1] - polar[k]);
                    let bottom = polar[k + nb] + t.wb * (polar[k + nb + 1] - polar[k + nb]);
                    top + t.wr * (bottom - top)
                }
                None => 0.0,
            };
        }
    }

    /// 1 where any of a pixel's four polar sources is set in `mask`, else 0: a pixel marked 0
    /// is interpolated only from samples the mask leaves alone.
    pub fn convert_mask(&self, mask: &[bool], out: &mut [f32]) {
        let nb = self.beams;
        for (o, tap) in out.iter_mut().zip(&self.taps) {
            let hit = tap.is_some_and(|t| {
                let k = t.index as usize;
                mask[k] || mask[k + 1] || mask[k + nb] || mask[k + nb + 1]
            });
            *o = if hit { 1.0 } else { 0.0 };
        }
    }
}
