//! SIGINT and SIGTERM: noted, not obeyed at once.
//!
//! The handler only records the signal. The export loop checks `received()` after each page
//! is written and its state saved, and the retry loop checks it while sleeping, so the process
//! stops at a point a resume can continue from. A second signal while stopping is left to the
//! same path. SIGKILL cannot be caught; resume copes with it through the saved state.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The signal received so far (its number), if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// The signal's name for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

#[cfg(unix)]
pub fn install() {
    extern "C" fn note(signal: i32) {
        // Only an atomic store: async-signal-safe.
        RECEIVED.store(signal, Ordering::SeqCst);
    }
    extern "C" {
        // From the C library std already links; `sighandler_t` is pointer-sized.
        fn signal(signum: i32, handler: usize) -> usize;
    }
    // SAFETY: `note` is an `extern "C" fn(i32)` that performs a single atomic store, which is
    // async-signal-safe, and it lives for the whole program.
    unsafe {
        signal(SIGINT, note as extern "C" fn(i32) as usize);
        signal(SIGTERM, note as extern "C" fn(i32) as usize);
    }
}

#[cfg(not(unix))]
pub fn install() {}

/// Why the run must stop, once SIGINT or SIGTERM arrived.
pub fn stop_reason() -> Option<String> {
    received().map(|s| format!("interrupted by {}", name(s)))
}
