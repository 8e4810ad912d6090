//! Colour → grey for the clutter filter: the BT.601 luma Y' = 0.299 R' + 0.587 G' + 0.114 B'
//! (of gamma-encoded components, as in JPEG and SD video), in [0, 1].
//!
//! The network was trained on grey B-mode frames; colour inputs (an RGB export, a colour video
//! with a Doppler or ECG overlay) are reduced to that one luma. For Y'CbCr video coded with the
//! BT.601 matrix (and for RGB images, which the decoder turns into BT.601 Y'CbCr) this is the
//! coded Y' itself, range-expanded; for BT.709 video the BT.601 luma of the same R'G'B' is a
//! linear mix of Y', Cb and Cr, with chroma taken at the nearest (co-sited) sample.

use crate::video::{Colour, Matrix, Range};

/// BT.601 luma weights (Kr, Kg, Kb).
pub const BT601: [f32; 3] = [0.299, 0.587, 0.114];

/// The BT.601 luma of one R'G'B' pixel (0–255 each), in [0, 1].
#[inline]
pub fn rgb_to_grey(r: u8, g: u8, b: u8) -> f32 {
    (BT601[0] * f32::from(r) + BT601[1] * f32::from(g) + BT601[2] * f32::from(b)) * (1.0 / 255.0)
}

/// Y'CbCr code values of one convention → BT.601 grey in [0, 1], as
/// `grey = (Y − y0)/dy + (Cb − 128)·kcb + (Cr − 128)·kcr`, clamped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YcbcrToGrey {
    y0: f32,
    /// Luma span (255 or 219), divided rather than multiplied by its inverse so that white is
    /// exactly 1.
    dy: f32,
    kcb: f32,
    kcr: f32,
}

impl YcbcrToGrey {
    /// The mix for Y'CbCr of `colour`.
    pub fn new(colour: Colour) -> Self {
        let (y0, dy, sc) = match colour.range {
            Range::Full => (0.0, 255.0, 1.0 / 255.0),
            Range::Limited => (16.0, 219.0, 1.0 / 224.0),
        };
        // R' = Y' + 2(1−Kr)·Cr, B' = Y' + 2(1−Kb)·Cb, G' = (Y' − Kr·R' − Kb·B') / Kg; then the
        // BT.601 weights. For the BT.601 matrix both chroma terms vanish.
        let (kcb, kcr) = match colour.matrix {
            Matrix::Bt601 => (0.0, 0.0),
            m @ Matrix::Bt709 => {
                let (kr, kb) = m.kr_kb();
                let kg = 1.0 - kr - kb;
                let [wr, wg, wb] = BT601;
                (2.0 * (1.0 - kb) * (wb - wg * kb / kg) * sc, 2.0 * (1.0 - kr) * (wr - wg * kr / kg) * sc)
            }
        };
        Self { y0, dy, kcb, kcr }
    }

    /// Whether chroma matters (false for BT.601: grey is Y' alone).
    #[inline]
    pub fn uses_chroma(&self) -> bool {
        self.kcb != 0.0 || self.kcr != 0.0
    }

    /// Grey of one pixel, in [0, 1].
    #[inline]
    pub fn grey(&self, y: u8, cb: u8, cr: u8) -> f32 {
        let v = (f32::from(y) - self.y0) / self.dy
            + (f32::from(cb) - 128.0) * self.kcb
            + (f32::from(cr) - 128.0) * self.kcr;
        v.clamp(0.0, 1.0)
    }

    /// Grey of a luma value alone (neutral chroma), in [0, 1].
    #[inline]
    pub fn grey_of_luma(&self, y: u8) -> f32 {
        ((f32::from(y) - self.y0) / self.dy).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_uses_the_bt601_weights() {
        assert!((rgb_to_grey(255, 0, 0) - 0.299).abs() < 1e-6);
        assert!((rgb_to_grey(0, 255, 0) - 0.587).abs() < 1e-6);
        assert!((rgb_to_grey(0, 0, 255) - 0.114).abs() < 1e-6);
        assert!((rgb_to_grey(255, 255, 255) - 1.0).abs() < 1e-6);
        for v in [0u8, 1, 77, 128, 254] {
            assert!((rgb_to_grey(v, v, v) - f32::from(v) / 255.0).abs() < 1e-6, "grey {v}");
        }
    }

    #[test]
    fn ycbcr_of_every_convention_gives_the_bt601_luma_of_its_rgb() {
        let conventions = [
            Colour::JPEG,
            Colour { matrix: Matrix::Bt601, range: Range::Limited },
            Colour { matrix: Matrix::Bt709, range: Range::Limited },
            Colour { matrix: Matrix::Bt709, range: Range::Full },
        ];
        let pixels =
            [[255u8, 0, 0], [0, 255, 0], [0, 0, 255], [200, 120, 40], [90, 90, 90], [0, 0, 0], [255, 255, 255]];
        for colour in conventions {
            let mix = YcbcrToGrey::new(colour);
            assert_eq!(mix.uses_chroma(), colour.matrix == Matrix::Bt709, "{colour:?}");
            for [r, g, b] in pixels {
                let [y, cb, cr] = colour.rgb_to_ycbcr(r, g, b);
                let got = mix.grey(y, cb, cr);
                let want = rgb_to_grey(r, g, b);
                // 8-bit Y'CbCr quantisation: within about one code value.
                assert!((got - want).abs() < 1.5 / 219.0, "{colour:?} rgb {r},{g},{b}: {got} vs {want}");
            }
            // Neutral chroma: grey is the range-expanded luma.
            let [y, _, _] = colour.rgb_to_ycbcr(128, 128, 128);
            assert_eq!(mix.grey(y, 128, 128), mix.grey_of_luma(y));
        }
        // Limited-range black and white map to 0 and 1; codes beyond them clamp.
        let limited = YcbcrToGrey::new(Colour { matrix: Matrix::Bt601, range: Range::Limited });
        assert_eq!((limited.grey_of_luma(16), limited.grey_of_luma(235)), (0.0, 1.0));
        assert_eq!((limited.grey_of_luma(3), limited.grey_of_luma(250)), (0.0, 1.0));
    }
}
