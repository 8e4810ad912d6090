//! Instruction-set tiers, detected once at start-up.
//!
//! Every kernel exists as a portable scalar reference; faster tiers are used only when the
//! CPU proves it has the features. A tier can be forced with `SLUICE_ISA=scalar|avx2|avx512`
//! (tests and benches use this to exercise each tier).

use crate::error::{EngineError, Result};
use std::fmt;
use std::sync::OnceLock;

/// A SIMD tier. Ordered from least to most capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable scalar code; always available.
    Scalar,
    /// 128-bit NEON (aarch64).
    Neon,
    /// 256-bit AVX2 + FMA (x86-64-v3).
    Avx2,
    /// 512-bit AVX-512 F/BW/DQ/VL + FMA (x86-64-v4).
    Avx512,
}

impl Isa {
    /// Name as accepted by `SLUICE_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// f32 lanes of one vector register in this tier (1 for scalar).
    pub fn lanes(self) -> usize {
        match self {
            Isa::Scalar => 1,
            Isa::Neon => 4,
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }

    /// Parses a tier name (`scalar`, `neon`, `avx2`, `avx512`).
    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Isa::Scalar),
            "neon" => Some(Isa::Neon),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU can run the tier.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => avx2_supported(),
            Isa::Avx512 => avx512_supported(),
            Isa::Neon => neon_supported(),
        }
    }

    /// Returns `self` if supported, else the missing feature as an error.
    pub fn require(self) -> Result<Isa> {
        if self.is_supported() {
            Ok(self)
        } else {
            let feature = match self {
                Isa::Avx2 => "avx2+fma",
                Isa::Avx512 => "avx512f+avx512bw+avx512dq+avx512vl",
                Isa::Neon => "neon",
                Isa::Scalar => "none",
            };
            Err(EngineError::MissingCpuFeature { feature })
        }
    }

    /// The best tier this CPU supports.
    pub fn best() -> Isa {
        [Isa::Avx512, Isa::Avx2, Isa::Neon].into_iter().find(|i| i.is_supported()).unwrap_or(Isa::Scalar)
    }

    /// Every tier this CPU supports, scalar first (for conformance tests and benches).
    pub fn available() -> Vec<Isa> {
        [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512].into_iter().filter(|i| i.is_supported()).collect()
    }

    /// The tier plans use by default: `SLUICE_ISA` if set and supported, else [`Isa::best`].
    /// Decided once per process and logged once.
    pub fn active() -> Isa {
        static ACTIVE: OnceLock<Isa> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let best = Isa::best();
            let chosen = match std::env::var("SLUICE_ISA") {
                Ok(v) => match Isa::parse(&v) {
                    Some(isa) if isa.is_supported() => isa,
                    Some(isa) => {
                        tracing::warn!(requested = isa.name(), using = best.name(), "SLUICE_ISA tier not supported by this CPU");
                        best
                    }
                    None => {
                        tracing::warn!(requested = %v, using = best.name(), "SLUICE_ISA not understood (scalar|avx2|avx512|neon)");
                        best
                    }
                },
                Err(_) => best,
            };
            tracing::info!(isa = chosen.name(), lanes = chosen.lanes(), "sluice-engine kernels selected");
            chosen
        })
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_supported() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}
#[cfg(not(target_arch = "x86_64"))]
fn avx2_supported() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn avx512_supported() -> bool {
    avx2_supported()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
}
#[cfg(not(target_arch = "x86_64"))]
fn avx512_supported() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
fn neon_supported() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}
#[cfg(not(target_arch = "aarch64"))]
fn neon_supported() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips() {
        for isa in [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse("sse9"), None);
    }

    #[test]
    fn unsupported_tier_is_an_error_not_a_panic() {
        for isa in [Isa::Neon, Isa::Avx2, Isa::Avx512] {
            assert_eq!(isa.require().is_ok(), isa.is_supported());
        }
        assert!(Isa::available().contains(&Isa::best()));
    }
}
