//! Placeholder.
pub use crate::cli::is_loopback_url;
