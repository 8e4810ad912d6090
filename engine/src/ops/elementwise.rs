//! Elementwise add and multiply, with per-channel and per-pixel (gate) broadcasts.

use super::batch;
use crate::error::{Result, check_len, invalid};

/// How the second operand `y` is laid out against `x` (`[pixels][C]` per image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Broadcast {
    /// `y` has `x`'s shape: `out = x ⊙ y`.
    Same,
    /// `y` is one `[C]` vector for every pixel of every image: `out[p, c] = x[p, c] ⊙ y[c]`.
    PerChannel,
    /// `y` is `[pixels]` per image (a `[..., 1]` gate): `out[p, c] = x[p, c] ⊙ y[p]`, as the
    /// echo network's attention gate `x[d,h,w,c] · a[d,h,w]`.
    PerPixel,
}

/// The shared shape logic of [`Add`] and [`Mul`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binary {
    op: &'static str,
    c: usize,
    image_len: usize,
    broadcast: Broadcast,
}

impl Binary {
    fn new(op: &'static str, channels: usize, pixels: usize, broadcast: Broadcast) -> Result<Self> {
        if channels == 0 || pixels == 0 {
            return Err(invalid(op, format!("channels {channels} and pixels {pixels} must be at least 1")));
        }
        Ok(Self { op, c: channels, image_len: channels * pixels, broadcast })
    }

    /// Checks `x`, `y`, `out` lengths for a batch (`BufferLength` naming the wrong one).
    fn check(&self, x: usize, y: usize, out: usize) -> Result<()> {
        let n = batch(self.op, "x", self.image_len, x)?;
        let want_y = match self.broadcast {
            Broadcast::Same => x,
            Broadcast::PerChannel => self.c,
            Broadcast::PerPixel => n * self.image_len / self.c,
        };
        check_len(self.op, "y", want_y, y)?;
        check_len(self.op, "output", x, out)
    }

    fn run(&self, x: &[f32], y: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32 + Copy) -> Result<()> {
        self.check(x.len(), y.len(), out.len())?;
        apply(self.broadcast, self.c, x, y, out, f);
        Ok(())
    }

    fn run_in_place(&self, x: &mut [f32], y: &[f32], f: impl Fn(f32, f32) -> f32 + Copy) -> Result<()> {
        self.check(x.len(), y.len(), x.len())?;
        match self.broadcast {
            Broadcast::Same => x.iter_mut().zip(y).for_each(|(a, b)| *a = f(*a, *b)),
            Broadcast::PerChannel => {
                for px in x.chunks_exact_mut(self.c) {
                    px.iter_mut().zip(y).for_each(|(a, b)| *a = f(*a, *b));
                }
            }
            Broadcast::PerPixel => {
                for (px, g) in x.chunks_exact_mut(self.c).zip(y) {
                    px.iter_mut().for_each(|a| *a = f(*a, *g));
                }
            }
        }
        Ok(())
    }
}

#[inline(always)]
fn apply(b: Broadcast, c: usize, x: &[f32], y: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32 + Copy) {
    match b {
        Broadcast::Same => out.iter_mut().zip(x).zip(y).for_each(|((o, a), b)| *o = f(*a, *b)),
        Broadcast::PerChannel => {
            for (o, px) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                o.iter_mut().zip(px).zip(y).for_each(|((o, a), b)| *o = f(*a, *b));
            }
        }
        Broadcast::PerPixel => {
            for ((o, px), g) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(y) {
                o.iter_mut().zip(px).for_each(|(o, a)| *o = f(*a, *g));
            }
        }
    }
}

macro_rules! binary_op {
    ($name:ident, $op:literal, $sym:tt, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(Binary);

        impl $name {
            /// Plans the op for images of `pixels` pixels × `channels` channels with `y` laid
            /// out as `broadcast` says.
            pub fn new(channels: usize, pixels: usize, broadcast: Broadcast) -> Result<Self> {
                Binary::new($op, channels, pixels, broadcast).map(Self)
            }

            /// Elements of `y` for a batch of `n` images.
            pub fn y_len(&self, n: usize) -> usize {
                match self.0.broadcast {
                    Broadcast::Same => n * self.0.image_len,
                    Broadcast::PerChannel => self.0.c,
                    Broadcast::PerPixel => n * self.0.image_len / self.0.c,
                }
            }

            /// Elements of one image of `x` (and of the output).
            pub fn image_len(&self) -> usize {
                self.0.image_len
            }

            /// `out = x ⊙ y` for `n ≥ 1` images (`x.len() = n · image_len()`).
            pub fn run(&self, x: &[f32], y: &[f32], out: &mut [f32]) -> Result<()> {
                self.0.run(x, y, out, |a, b| a $sym b)
            }

            /// `x = x ⊙ y` in place.
            pub fn run_in_place(&self, x: &mut [f32], y: &[f32]) -> Result<()> {
                self.0.run_in_place(x, y, |a, b| a $sym b)
            }
        }
    };
}

binary_op!(Add, "add", +, "Elementwise sum `x + y` (residual connections, biases).");
binary_op!(Mul, "mul", *, "Elementwise product `x · y` (attention gates, channel scales).");
