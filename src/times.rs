//! Placeholder.
pub use crate::cli::format_duration;
