//! Typed errors for plan construction and plan execution.

use thiserror::Error;

/// Everything that can go wrong when building or running an engine plan.
///
/// Construction errors (`InvalidSpec`, `WeightShape`) mean the caller described an
/// impossible layer; `BufferLength` means a run was given slices of the wrong size.
/// Neither is recoverable by retrying with the same arguments.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The layer description is inconsistent (e.g. channels not divisible by groups).
    #[error("invalid {op} spec: {reason}")]
    InvalidSpec {
        /// Which op was being planned.
        op: &'static str,
        /// What is wrong, in words.
        reason: String,
    },
    /// A weight or bias tensor has the wrong number of elements.
    #[error("{op}: {tensor} has {got} elements, expected {expected}")]
    WeightShape {
        /// Which op was being planned.
        op: &'static str,
        /// Which tensor (weights, bias, ...).
        tensor: &'static str,
        /// Expected element count.
        expected: usize,
        /// Element count given.
        got: usize,
    },
    /// A buffer passed to `run` has the wrong length.
    #[error("{op}: {buffer} buffer has {got} elements, expected {expected}")]
    BufferLength {
        /// Which op was running.
        op: &'static str,
        /// Which buffer (input, output, scratch, state, ...).
        buffer: &'static str,
        /// Expected element count.
        expected: usize,
        /// Element count given.
        got: usize,
    },
    /// A forced ISA tier is not supported by this CPU.
    #[error("CPU feature {feature} is not available on this machine")]
    MissingCpuFeature {
        /// The missing feature (e.g. "avx512f").
        feature: &'static str,
    },
}

/// Result alias for engine operations.
pub type Result<T> = std::result::Result<T, EngineError>;

/// Checks a buffer length, naming the op and buffer on mismatch.
pub(crate) fn check_len(op: &'static str, buffer: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got { Ok(()) } else { Err(EngineError::BufferLength { op, buffer, expected, got }) }
}

/// Builds an `InvalidSpec` error.
pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> EngineError {
    EngineError::InvalidSpec { op, reason: reason.into() }
}
