//! Seeded random streams. ChaCha8 is a fixed algorithm, so a seed gives the same clip on every
//! platform and release; independent streams keep the clean clip the same whatever clutter is
//! added (clutter draws from its own stream).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which part of the simulation a stream feeds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    /// Scene parameters (geometry, anatomy, imaging).
    Scene = 0,
    /// Scatterer positions, amplitudes and regeneration.
    Scatterers = 1,
    /// Electronic noise.
    Noise = 2,
    /// Clutter parameters and textures.
    Clutter = 3,
}

/// A generator for `stream` of clip `seed`.
pub(crate) fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// Uniform in `[lo, hi)`.
pub(crate) fn uniform(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Standard normal (Box–Muller; one of the pair is discarded to keep the stream simple).
pub(crate) fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    let u1 = 1.0 - rng.random::<f32>(); // (0, 1]
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}
