//! The DF pathway conv `df_convp` (a grouped `kT`×1 causal conv over `c0`, then a pointwise
//! conv with bias and ReLU), computed by overlap-add.
//!
//! Run as a grouped streaming conv it kept 5 of 16 lanes busy (5 outputs per group) and
//! shifted and re-read a `kT`-frame history of `c0` (123 KB per stream) every hop: a fifth of
//! a batched stream's hop for 4 % of its multiply-adds. Both convs are linear with nothing
//! between them, so their weights are composed once into `[C] → [kT][out]` (tap-major): each
//! new frame is multiplied once, while it is hot in cache, by all `kT` taps in one GEMM, and
//! each tap's product is added into the partial sum of the output frame it belongs to. A
//! stream keeps only those `kT` partial sums (`kT·F·out` floats, 19 KB), a ring that is never
//! shifted; an output frame is complete, and gets its bias and ReLU, when its newest tap
//! lands.

use sluice_engine::{EngineError, Linear, LinearSpec, Result, WeightLayout};

const OP: &str = "dfn3 df pathway";

/// The composed pathway.
#[derive(Debug, Clone)]
pub(crate) struct Pathway {
    /// `[C] → [kT][out]`: column block `j` holds the tap that frame feeds `j` frames later.
    taps_of_frame: Linear,
    bias: Vec<f32>,
    taps: usize,
    freqs: usize,
    out: usize,
}

/// One stream's partial output sums `[kT][F][out]` and the slot of the current frame.
#[derive(Debug, Clone)]
pub(crate) struct PathwayHistory {
    sums: Vec<f32>,
    now: usize,
}

impl PathwayHistory {
    /// Back to silence (the causal conv's zero padding).
    pub fn reset(&mut self) {
        self.sums.fill(0.0);
        self.now = 0;
    }
}

impl Pathway {
    /// Composes the spatial weights `[out][C/groups][kT][1]` (ONNX layout, `groups` groups)
    /// with the pointwise `[out][out]` and its bias, for `freqs` frequency bins.
    pub fn new(
        spatial: &[f32],
        pointwise: &[f32],
        bias: &[f32],
        (ch, out, taps, groups): (usize, usize, usize, usize),
        freqs: usize,
    ) -> Result<Self> {
        let bad = |tensor: &'static str, expected: usize, got: usize| EngineError::WeightShape {
            op: OP,
            tensor,
            expected,
            got,
        };
        if groups == 0 || !ch.is_multiple_of(groups) || !out.is_multiple_of(groups) || taps == 0 {
            return Err(EngineError::InvalidSpec {
                op: OP,
                reason: format!("{groups} groups must divide {ch} channels and {out} outputs"),
            });
        }
        let (cin_g, out_g) = (ch / groups, out / groups);
        if spatial.len() != out * cin_g * taps {
            return Err(bad("spatial weights", out * cin_g * taps, spatial.len()));
        }
        if pointwise.len() != out * out {
            return Err(bad("pointwise weights", out * out, pointwise.len()));
        }
        if bias.len() != out {
            return Err(bad("pointwise bias", out, bias.len()));
        }
        // w[c][j][o2] = Σ over the spatial outputs o1 in c's group of pw[o2][o1] · spatial[o1][c][t],
        // with t = kT-1-j the tap a frame meets j frames after it arrives (t = 0 is the oldest);
        // summed in f64 so composing adds no rounding of its own.
        let n = taps * out;
        let mut w = vec![0.0f64; ch * n];
        for o1 in 0..out {
            let g = o1 / out_g;
            for cl in 0..cin_g {
                let c = g * cin_g + cl;
                for t in 0..taps {
                    let sw = f64::from(spatial[(o1 * cin_g + cl) * taps + t]);
                    let j = taps - 1 - t;
                    for o2 in 0..out {
                        w[c * n + j * out + o2] += f64::from(pointwise[o2 * out + o1]) * sw;
                    }
                }
            }
        }
        let w: Vec<f32> = w.iter().map(|&x| x as f32).collect();
        let taps_of_frame = Linear::new(&LinearSpec::new(ch, n).layout(WeightLayout::InOut), &w, None)?;
        Ok(Self { taps_of_frame, bias: bias.to_vec(), taps, freqs, out })
    }

    /// A silent history for one stream.
    pub fn new_history(&self) -> PathwayHistory {
        PathwayHistory { sums: vec![0.0; self.products_len()], now: 0 }
    }

    /// Scratch floats [`Pathway::step`] needs for the newest frame's products.
    pub fn products_len(&self) -> usize {
        self.taps * self.freqs * self.out
    }

    /// Takes the newest frame `c0` (`[F][C]`) and writes the pathway's output for it
    /// (`[F][out]`); `products` is scratch of [`Pathway::products_len`] floats. Allocates nothing.
    pub fn step(&self, hist: &mut PathwayHistory, c0: &[f32], products: &mut [f32], y: &mut [f32]) -> Result<()> {
        let (f, t, o) = (self.freqs, self.taps, self.out);
        let frame = f * o;
        if y.len() != frame {
            return Err(EngineError::BufferLength { op: OP, buffer: "output", expected: frame, got: y.len() });
        }
        if hist.sums.len() != t * frame || hist.now >= t {
            return Err(EngineError::BufferLength {
                op: OP,
                buffer: "history",
                expected: t * frame,
                got: hist.sums.len(),
            });
        }
        let got = products.len();
        let products = products.get_mut(..t * frame).ok_or(EngineError::BufferLength {
            op: OP,
            buffer: "products",
            expected: t * frame,
            got,
        })?;
        self.taps_of_frame.run(c0, products)?;
        for (fi, row) in products.chunks_exact(t * o).enumerate() {
            for (j, tap) in row.chunks_exact(o).enumerate() {
                let slot = (hist.now + j) % t;
                for (s, &p) in hist.sums[slot * frame + fi * o..][..o].iter_mut().zip(tap) {
                    *s += p;
                }
            }
        }
        let done = &mut hist.sums[hist.now * frame..][..frame];
        for (row_y, row_s) in y.chunks_exact_mut(o).zip(done.chunks_exact_mut(o)) {
            for ((v, s), &b) in row_y.iter_mut().zip(row_s.iter_mut()).zip(&self.bias) {
                *v = (*s + b).max(0.0);
                *s = 0.0;
            }
        }
        hist.now = (hist.now + 1) % t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::{Activation, ConvSpec, StreamingConv, Threads};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    /// The composed ring equals the grouped streaming conv followed by the pointwise conv, frame
    /// after frame (more frames than the ring holds, so every rotation is used), and after reset.
    #[test]
    fn equals_grouped_conv_then_pointwise() {
        let (ch, out, taps, groups, freqs) = (8, 6, 5, 2, 7);
        let mut seed = 7;
        let spatial: Vec<f32> = (0..out * ch / groups * taps).map(|_| lcg(&mut seed)).collect();
        let pw: Vec<f32> = (0..out * out).map(|_| lcg(&mut seed)).collect();
        let bias: Vec<f32> = (0..out).map(|_| lcg(&mut seed) * 0.1).collect();
        let path = Pathway::new(&spatial, &pw, &bias, (ch, out, taps, groups), freqs).unwrap_or_else(|e| panic!("{e}"));
        let spec = ConvSpec::new(ch, out, &[taps, 1]).padding(&[taps - 1, 0], &[0, 0]).groups(groups);
        let conv = StreamingConv::new(&spec, &[freqs], 1, &spatial, None).unwrap_or_else(|e| panic!("{e}"));
        let point = Linear::new(
            &LinearSpec::new(out, out).layout(WeightLayout::OutIn).activation(Activation::Relu),
            &pw,
            Some(&bias),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let th = Threads::single();
        let mut conv_hist = conv.new_state(1);
        let mut scratch = vec![0.0; conv.scratch_len(&th)];
        let mut hist = path.new_history();
        let mut products = vec![0.0; path.products_len()];
        let (mut mid, mut want, mut got) = (vec![0.0; freqs * out], vec![0.0; freqs * out], vec![0.0; freqs * out]);
        for frame in 0..17 {
            if frame == 11 {
                conv_hist.reset();
                hist.reset();
            }
            let x: Vec<f32> = (0..freqs * ch).map(|_| lcg(&mut seed)).collect();
            conv.step(&mut conv_hist, &x, &mut mid, &mut scratch, &th).unwrap_or_else(|e| panic!("{e}"));
            point.run(&mid, &mut want).unwrap_or_else(|e| panic!("{e}"));
            path.step(&mut hist, &x, &mut products, &mut got).unwrap_or_else(|e| panic!("{e}"));
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5, "frame {frame} output {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let path = Pathway::new(&[0.0; 6 * 4 * 5], &[0.0; 36], &[0.0; 6], (8, 6, 5, 2), 7);
        assert!(path.is_ok());
        assert!(Pathway::new(&[0.0; 10], &[0.0; 36], &[0.0; 6], (8, 6, 5, 2), 7).is_err());
        assert!(Pathway::new(&[0.0; 6 * 4 * 5], &[0.0; 36], &[0.0; 6], (8, 6, 5, 3), 7).is_err());
        let path = path.unwrap_or_else(|e| panic!("{e}"));
        let mut hist = path.new_history();
        let mut products = vec![0.0; path.products_len()];
        assert!(path.step(&mut hist, &[0.0; 56], &mut products, &mut [0.0; 42]).is_ok());
        assert!(path.step(&mut hist, &[0.0; 55], &mut products, &mut [0.0; 42]).is_err());
        assert!(path.step(&mut hist, &[0.0; 56], &mut products, &mut [0.0; 41]).is_err());
        assert!(path.step(&mut hist, &[0.0; 56], &mut products[..10], &mut [0.0; 42]).is_err());
    }
}
