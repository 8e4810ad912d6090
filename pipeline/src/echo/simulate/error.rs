//! Why a simulator could not be built.

/// A [`super::SimConfig`] the simulator cannot run; fix the named field and build again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A field is outside the range the simulator supports.
    #[error("invalid simulator config: `{field}` = {value}, expected {expected}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Its value, as written.
        value: String,
        /// The accepted range.
        expected: &'static str,
    },
}
