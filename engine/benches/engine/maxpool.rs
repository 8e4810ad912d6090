//! Max-pool baseline: the direct window loop over channels-last data (`k² − 1` max per output,
//! vectorised by the compiler across channels), which is what the engine's prefix/suffix
//! and separable passes are measured against.

/// `k×k` max pool, stride 1, same padding (padding never wins), on `[H][W][C]`.
pub fn maxpool_same(input: &[f32], h: usize, w: usize, c: usize, k: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { maxpool_avx2(input, h, w, c, k, out) };
        return;
    }
    maxpool_portable(input, h, w, c, k, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn maxpool_avx2(input: &[f32], h: usize, w: usize, c: usize, k: usize, out: &mut [f32]) {
    maxpool_portable(input, h, w, c, k, out);
}

#[inline(always)]
fn maxpool_portable(input: &[f32], h: usize, w: usize, c: usize, k: usize, out: &mut [f32]) {
    let r = (k - 1) / 2;
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + k - r).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + k - r).min(w));
            let o = &mut out[(y * w + x) * c..][..c];
            o.fill(f32::NEG_INFINITY);
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let i = &input[(yy * w + xx) * c..][..c];
                    o.iter_mut().zip(i).for_each(|(a, b)| *a = a.max(*b));
                }
            }
        }
    }
}
