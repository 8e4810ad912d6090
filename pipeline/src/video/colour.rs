//! Y'CbCr colour conventions: the matrix (BT.601 / BT.709) and range (limited 16–235 / full
//! 0–255) a stream declares, the luma normalisation the upscaler contract uses, and RGB ↔ Y'CbCr.
//!
//! The upscaler sees *full-range* luma in [0, 1] (Y' of the stream's matrix): a limited-range
//! Y is expanded by (Y − 16)·255/219 before and compressed after, with clamping. Chroma is only
//! resampled (a linear operation), so it stays in the stream's own code values.

/// The luma/chroma matrix (which weights make Y' from R'G'B').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    /// ITU-R BT.601 (SD video, JPEG): Kr = 0.299, Kb = 0.114.
    Bt601,
    /// ITU-R BT.709 (HD video): Kr = 0.2126, Kb = 0.0722.
    Bt709,
}

impl Matrix {
    /// (Kr, Kb); Kg = 1 − Kr − Kb.
    pub fn kr_kb(self) -> (f32, f32) {
        match self {
            Self::Bt601 => (0.299, 0.114),
            Self::Bt709 => (0.2126, 0.0722),
        }
    }

    /// The convention for a stream that declares none: BT.601 below 720 lines, BT.709 from 720.
    pub fn default_for_height(height: usize) -> Self {
        if height >= 720 { Self::Bt709 } else { Self::Bt601 }
    }
}

/// The code value range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// "TV"/MPEG range: Y 16–235, Cb/Cr 16–240 (8-bit). The default when nothing is declared.
    Limited,
    /// "PC"/JPEG range: 0–255 for all components.
    Full,
}

impl Range {
    /// Lowest and highest legal chroma code value.
    pub fn chroma_bounds(self) -> (f32, f32) {
        match self {
            Self::Limited => (16.0, 240.0),
            Self::Full => (0.0, 255.0),
        }
    }
}

/// A stream's colour convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    /// Matrix.
    pub matrix: Matrix,
    /// Range.
    pub range: Range,
}

impl Colour {
    /// JPEG/JFIF: BT.601, full range (also what RGB inputs are converted to).
    pub const JPEG: Self = Self { matrix: Matrix::Bt601, range: Range::Full };

    /// (offset, scale) with full-range luma = (code − offset)·scale, for loops that hoist the
    /// range out of the per-pixel work.
    pub fn luma_affine(self) -> (f32, f32) {
        match self.range {
            Range::Full => (0.0, 1.0 / 255.0),
            Range::Limited => (16.0, 1.0 / 219.0),
        }
    }

    /// Luma code value → full-range luma in [0, 1].
    #[inline]
    pub fn luma_to_unit(self, y: u8) -> f32 {
        match self.range {
            Range::Full => f32::from(y) * (1.0 / 255.0),
            Range::Limited => ((f32::from(y) - 16.0) * (1.0 / 219.0)).clamp(0.0, 1.0),
        }
    }

    /// Full-range luma (clamped to [0, 1]) → luma code value, rounded.
    #[inline]
    pub fn unit_to_luma(self, v: f32) -> u8 {
        let v = v.clamp(0.0, 1.0);
        let code = match self.range {
            Range::Full => v * 255.0,
            Range::Limited => 16.0 + v * 219.0,
        };
        // In 0..=255 after the clamp, so the cast is exact after rounding.
        (code + 0.5) as u8
    }

    /// Converts one R'G'B' pixel (0–255) to Y'CbCr code values of this convention.
    #[inline]
    pub fn rgb_to_ycbcr(self, r: u8, g: u8, b: u8) -> [u8; 3] {
        let (kr, kb) = self.matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (r, g, b) = (f32::from(r) / 255.0, f32::from(g) / 255.0, f32::from(b) / 255.0);
        let y = kr * r + kg * g + kb * b;
        let cb = (b - y) / (2.0 * (1.0 - kb));
        let cr = (r - y) / (2.0 * (1.0 - kr));
        let (ys, yo, cs) = match self.range {
            Range::Full => (255.0, 0.0, 255.0),
            Range::Limited => (219.0, 16.0, 224.0),
        };
        [quantise(yo + ys * y), quantise(128.0 + cs * cb), quantise(128.0 + cs * cr)]
    }

    /// Converts one Y'CbCr pixel of this convention to R'G'B' (0–255), clamped.
    #[inline]
    pub fn ycbcr_to_rgb(self, y: u8, cb: u8, cr: u8) -> [u8; 3] {
        let (kr, kb) = self.matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (ys, yo, cs) = match self.range {
            Range::Full => (255.0, 0.0, 255.0),
            Range::Limited => (219.0, 16.0, 224.0),
        };
        let y = (f32::from(y) - yo) / ys;
        let cb = (f32::from(cb) - 128.0) / cs;
        let cr = (f32::from(cr) - 128.0) / cs;
        let r = y + 2.0 * (1.0 - kr) * cr;
        let b = y + 2.0 * (1.0 - kb) * cb;
        let g = (y - kr * r - kb * b) / kg;
        [quantise(r * 255.0), quantise(g * 255.0), quantise(b * 255.0)]
    }
}

/// Rounds and clamps a code value to 0–255.
#[inline]
fn quantise(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Colour; 4] = [
        Colour { matrix: Matrix::Bt601, range: Range::Limited },
        Colour { matrix: Matrix::Bt601, range: Range::Full },
        Colour { matrix: Matrix::Bt709, range: Range::Limited },
        Colour { matrix: Matrix::Bt709, range: Range::Full },
    ];

    /// The textbook definition in f64, unquantised.
    fn naive_ycbcr(c: Colour, rgb: [u8; 3]) -> [f64; 3] {
        let (kr, kb) = match c.matrix {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
        };
        let [r, g, b] = rgb.map(|v| f64::from(v) / 255.0);
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let (pb, pr) = ((b - y) / (2.0 * (1.0 - kb)), (r - y) / (2.0 * (1.0 - kr)));
        match c.range {
            Range::Full => [255.0 * y, 128.0 + 255.0 * pb, 128.0 + 255.0 * pr],
            Range::Limited => [16.0 + 219.0 * y, 128.0 + 224.0 * pb, 128.0 + 224.0 * pr],
        }
    }

    fn rgb_grid() -> impl Iterator<Item = [u8; 3]> {
        let steps = [0u8, 1, 17, 64, 127, 128, 200, 254, 255];
        steps.into_iter().flat_map(move |r| steps.into_iter().flat_map(move |g| steps.map(|b| [r, g, b])))
    }

    #[test]
    fn rgb_to_ycbcr_matches_the_f64_definition() {
        for c in ALL {
            for rgb in rgb_grid() {
                let got = c.rgb_to_ycbcr(rgb[0], rgb[1], rgb[2]);
                let want = naive_ycbcr(c, rgb);
                for k in 0..3 {
                    let w = want[k].clamp(0.0, 255.0);
                    assert!((f64::from(got[k]) - w).abs() <= 0.5 + 1e-3, "{c:?} {rgb:?}: {got:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    fn rgb_roundtrip_is_within_quantisation() {
        for c in ALL {
            // Limited range has fewer codes (219 luma steps), so a step of the round trip can move by 2.
            let tol = if c.range == Range::Full { 2 } else { 3 };
            for rgb in rgb_grid() {
                let [y, cb, cr] = c.rgb_to_ycbcr(rgb[0], rgb[1], rgb[2]);
                let back = c.ycbcr_to_rgb(y, cb, cr);
                for k in 0..3 {
                    assert!(back[k].abs_diff(rgb[k]) <= tol, "{c:?} {rgb:?} → {:?} → {back:?}", [y, cb, cr]);
                }
            }
        }
    }

    #[test]
    fn luma_normalisation_roundtrips_every_legal_code() {
        for c in ALL {
            let (lo, hi) = if c.range == Range::Full { (0u8, 255u8) } else { (16, 235) };
            for y in lo..=hi {
                let unit = c.luma_to_unit(y);
                let want = match c.range {
                    Range::Full => f64::from(y) / 255.0,
                    Range::Limited => (f64::from(y) - 16.0) / 219.0,
                };
                assert!((f64::from(unit) - want).abs() < 1e-6, "{c:?} {y}");
                let (offset, scale) = c.luma_affine();
                assert!(((f32::from(y) - offset) * scale - unit).abs() < 1e-6, "{c:?} {y}: affine form");
                assert_eq!(c.unit_to_luma(unit), y, "{c:?}");
            }
        }
        let limited = ALL[0];
        // Footroom/headroom codes clamp to black/white; out-of-range floats clamp too.
        assert_eq!((limited.luma_to_unit(0), limited.luma_to_unit(255)), (0.0, 1.0));
        assert_eq!((limited.unit_to_luma(-0.3), limited.unit_to_luma(1.7)), (16, 235));
        assert_eq!((ALL[1].unit_to_luma(-0.3), ALL[1].unit_to_luma(1.7)), (0, 255));
    }

    #[test]
    fn greys_have_neutral_chroma_and_sd_hd_defaults_hold() {
        for c in ALL {
            for v in [0u8, 50, 128, 255] {
                let [_, cb, cr] = c.rgb_to_ycbcr(v, v, v);
                assert_eq!((cb, cr), (128, 128), "{c:?}");
            }
        }
        assert_eq!(Matrix::default_for_height(576), Matrix::Bt601);
        assert_eq!(Matrix::default_for_height(720), Matrix::Bt709);
    }
}
